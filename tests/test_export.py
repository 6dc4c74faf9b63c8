"""ONNX and LiteRT export of a succeeded run, verified on its test split.

Real runs trained by the real worker (a digits small_cnn; a HAM10000 subset on a VGG16 backbone cut
at block2_pool, 32x32, weights none: caffe preprocessing in the graph), real converters (Keras'
model.export: tf2onnx, the TFLite converter), real runtimes (onnxruntime, ai_edge_litert). Parity is
asserted against the goal (max |delta p| < 1e-4, 100 % agreement), never against exact values."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab_pages_support import app_at, lab_environ, make_finished_runs, problems

pytestmark = pytest.mark.slow
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def runs(shared_datasets, tmp_path_factory):
    """One store with a digits run (accurate enough for the parity to mean something) and a HAM10000
    backbone run (VGG16 cut at block2_pool, 32x32, weights none); the environment points at it."""
    ham = shared_datasets / "ham10000"
    root = tmp_path_factory.mktemp("export_runs")
    digits, ham_id = make_finished_runs(root, [
        {"name": "digits export", "epochs": 6, "seed": 3},
        {"name": "ham backbone", "epochs": 1, "batch_size": 32, "input_size": [32, 32], "model": "vgg16",
         "weights": None, "model_options": {"cut_layer": "block2_pool"},
         "dataset": {"name": "ham10000", "params": {"path": str(ham / "reduced_200x150"),
                                                    "metadata_csv": str(ham / "HAM10000_metadata.csv"),
                                                    "max_per_class": 12}}}])
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    from core.store import Store

    store = Store()
    yield {"root": root, "digits": digits, "ham": ham_id, "store": store}
    store.close()
    mp.undo()


def _folder(store, rid) -> Path:
    from core.store.artifacts import RunFolder

    return RunFolder.of(store.get_run(rid), store).path


def _onnx_inputs(path) -> list[str]:
    import onnx

    g = onnx.load(str(path)).graph
    init = {i.name for i in g.initializer}
    return [i.name for i in g.input if i.name not in init]


def _leftovers(folder: Path) -> list[str]:
    d = folder / "exports"
    return sorted(p.name for p in d.iterdir() if p.name.startswith(".")) if d.is_dir() else []


# ---------------------------------------------------------------- the graph: one input, normalisation inside
@pytest.mark.parametrize("kw", [
    {"normalization": "rescale"}, {"normalization": "minmax", "min_value": 3.0, "max_value": 250.0},
    {"normalization": "per_image_mean"}, {"normalization": "none"},
    {"normalization": "backbone", "backbone": "vgg16"}, {"normalization": "backbone", "backbone": "mobilenetv2"},
    {"normalization": "backbone", "backbone": "densenet121"},
    {"normalization": "backbone", "backbone": "efficientnetb0"},
])
def test_normalisation_in_the_graph_equals_the_lab_preprocessing(kw):
    import keras

    from core.data.preprocess import Preprocessing
    from core.serving.export import normalize_graph

    prep = Preprocessing((6, 5), 3, **kw)
    x = np.random.default_rng(0).integers(0, 256, (4, 6, 5, 3)).astype(np.float32)
    inp = keras.Input((6, 5, 3))
    got = np.asarray(keras.Model(inp, normalize_graph(inp, prep))(x))
    want = np.asarray(prep.normalize_tf(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_a_normalization_layer_is_exported_as_constants_with_one_onnx_input(tmp_path):
    """The pitfall: Keras' Normalization layer becomes extra ONNX inputs; the lab's export has one."""
    import keras

    from core.data.preprocess import Preprocessing
    from core.serving.export import export_model_file, exported_predictor, keras_probabilities, pixel_model
    from core.serving.trained_model import TrainedModel

    inp = keras.Input((8, 8, 3), name="input")
    x = keras.layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.05, 0.06], name="norm")(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    tm = TrainedModel(keras.Model(inp, out), {"class_names": ["a", "b", "c"]}, Preprocessing((8, 8), 3, "rescale"),
                      tmp_path / "model.keras")
    plain = tmp_path / "plain.onnx"
    tm.model(np.zeros((1, 8, 8, 3), np.float32))
    tm.model.export(str(plain), format="onnx", verbose=False)
    assert len(_onnx_inputs(plain)) > 1  # what Keras' own export of this model gives
    path = tmp_path / "lab.onnx"
    export_model_file(pixel_model(tm), path, "onnx")
    assert _onnx_inputs(path) == ["pixels"]
    px = np.random.default_rng(1).integers(0, 256, (16, 8, 8, 3)).astype(np.float32)
    diff = np.abs(exported_predictor(path, "onnx")(px) - keras_probabilities(tm, px)).max()
    assert diff < 1e-4


# ---------------------------------------------------------------- real runs: ONNX, LiteRT, quantisation
def test_digits_onnx_export_meets_the_parity_goal_and_is_registered(runs):
    from core.serving.export import export_run, list_exports

    store, rid = runs["store"], runs["digits"]
    rep = export_run(store, rid, "onnx")
    folder = _folder(store, rid)
    p = rep["parity"]
    n_test = len(json.loads((folder / "split.json").read_text())["test"])
    assert p["images"] == n_test and p["split"] == "test"
    assert p["max_abs_diff"] < 1e-4 and p["agreement"] == 1.0 and p["meets_goal"] is True
    stored = json.loads((folder / "evaluation.json").read_text())["summary"]["accuracy"]
    assert abs(p["accuracy_keras"] - stored) <= 1.0 / n_test  # the Keras side is the run's own evaluation
    assert p["accuracy_keras"] > 0.5  # a model that learnt something: the parity is not between constants
    assert _onnx_inputs(rep["path"]) == ["pixels"]
    side = json.loads(Path(rep["report_path"]).read_text())
    assert side["input"]["shape"] == [None, 8, 8, 1] and side["input"]["normalization"]["in_graph"] is True
    assert side["input"]["resize"]["in_graph"] is False and side["class_names"] == [str(i) for i in range(10)]
    kinds = {(a.kind, a.path.name) for a in store.get_run(rid).artifacts}
    assert {("export", Path(rep["path"]).name), ("export_parity", Path(rep["report_path"]).name)} <= kinds
    assert [e["file"] for e in list_exports(folder)] == [Path(rep["path"]).name]
    assert _leftovers(folder) == []


@pytest.mark.parametrize("quantize", [None, "float16", "int8"])
def test_digits_litert_exports_store_parity_and_accuracy(runs, quantize):
    from core.serving.export import export_run

    rep = export_run(runs["store"], runs["digits"], "tflite", quantize=quantize)
    p = json.loads(Path(rep["report_path"]).read_text())["parity"]
    assert rep["path"].endswith(".tflite") and rep["quantize"] == quantize
    assert 0 <= p["accuracy_export"] <= 1 and p["accuracy_cost"] == pytest.approx(p["accuracy_keras"] -
                                                                                  p["accuracy_export"])
    if quantize is None:
        assert p["max_abs_diff"] < 1e-4 and p["agreement"] == 1.0
    else:  # quantised: measured and stored, no goal
        assert p["meets_goal"] is None and p["max_abs_diff"] < 0.5 and p["agreement"] > 0.8
    assert _leftovers(_folder(runs["store"], runs["digits"])) == []


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_ham10000_backbone_export_meets_the_parity_goal(runs, fmt):
    """VGG16 (caffe preprocessing: RGB->BGR, ImageNet mean) on HAM10000 lesion images read from files."""
    import pandas as pd

    from core.serving.export import export_run

    store, rid = runs["store"], runs["ham"]
    pred = pd.read_csv(_folder(store, rid) / "predictions.csv")
    assert pred.filter(like="p_").std().max() > 1e-3  # outputs vary between images: the parity is informative
    rep = export_run(store, rid, fmt)
    p = rep["parity"]
    assert p["images"] == len(pred) and p["max_abs_diff"] < 1e-4 and p["agreement"] == 1.0
    assert rep["input"]["normalization"]["preprocessing"]["backbone"] == "vgg16"
    assert rep["input"]["shape"] == [None, 32, 32, 3] and rep["input"]["color"] == "rgb"
    if fmt == "onnx":
        assert _onnx_inputs(rep["path"]) == ["pixels"]


def test_the_reference_script_predicts_like_the_lab_without_tensorflow(runs, tmp_path):
    """scripts/predict_exported.py (numpy + pillow + onnxruntime) on a real 8x8 digits image."""
    from PIL import Image

    from core.serving.export import export_name
    from core.serving.trained_model import load_trained

    store, rid = runs["store"], runs["digits"]
    folder = _folder(store, rid)
    model = folder / "exports" / export_name(rid, "onnx")
    if not model.is_file():
        from core.serving.export import export_run

        export_run(store, rid, "onnx")
    from sklearn.datasets import load_digits

    img = (load_digits().images[5] / 16.0 * 255).round().astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "d.png")
    wrapper = ("import sys, runpy\nsys.argv = ['predict_exported.py'] + sys.argv[1:]\n"
               "try:\n    runpy.run_path('scripts/predict_exported.py', run_name='__main__')\n"
               "except SystemExit as e:\n    assert not e.code, e.code\n"
               "print('TF' if 'tensorflow' in sys.modules or 'core' in sys.modules else 'NO-TF')\n")
    out = subprocess.run([sys.executable, "-c", wrapper, str(model), str(tmp_path / "d.png"), "--json"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "NO-TF"
    got = json.loads(lines[0])[0]["probabilities"]
    want = load_trained(folder).predict(img)[0]
    assert max(abs(got[str(k)] - want[k]) for k in range(10)) < 1e-4


# ---------------------------------------------------------------- refusals: unsupported op, damaged file
def _run_with_model(store, src_rid: int, model, name: str) -> int:
    """A succeeded run like ``src_rid`` whose saved model is ``model`` (its folder: the source's
    meta, split and evaluation)."""
    src = _folder(store, src_rid)
    run = store.get_run(src_rid)
    rid = store.create_run(run.config, name=name, dataset=run.dataset, model=run.model, status="running")
    dest = store.run_dir(rid)
    dest.mkdir(parents=True)
    for f in ("meta.json", "split.json", "evaluation.json", "predictions.csv"):
        shutil.copy(src / f, dest / f)
    if model is not None:
        model.save(dest / "model.keras")
        store.add_artifact(rid, "model", dest / "model.keras")
    store.set_status(rid, "succeeded")
    return rid


@pytest.fixture(scope="module")
def unsupported_run(runs):
    """A succeeded digits run whose model has an anti-aliased Resizing layer (tf2onnx lacks
    ScaleAndTranslate; LiteRT's built-in ops too)."""
    import keras

    inp = keras.Input((8, 8, 1), name="input")
    x = keras.layers.Resizing(4, 4, antialias=True, name="aa_resize")(inp)
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    m = keras.Model(inp, out)
    m(np.zeros((1, 8, 8, 1), np.float32))
    return _run_with_model(runs["store"], runs["digits"], m, "antialias resize")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_layer_the_converter_lacks_is_refused_naming_it_and_leaves_no_file(runs, unsupported_run, fmt):
    from core.serving.export import ExportError, export_run

    with pytest.raises(ExportError, match=r"ScaleAndTranslate.*'aa_resize' \(Resizing\)"):
        export_run(runs["store"], unsupported_run, fmt)
    d = _folder(runs["store"], unsupported_run) / "exports"
    assert not d.exists() or list(d.iterdir()) == []
    kinds = {a.kind for a in runs["store"].get_run(unsupported_run).artifacts}
    assert "export" not in kinds


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_damaged_export_file_is_refused_at_verification(runs, tmp_path, fmt):
    from core.serving.export import ExportError, export_name, export_run, exported_predictor, verify_export

    store, rid = runs["store"], runs["digits"]
    good = _folder(store, rid) / "exports" / export_name(rid, fmt)
    if not good.is_file():
        export_run(store, rid, fmt)
    bad = tmp_path / good.name
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(ExportError, match="cannot be loaded by .*damaged, truncated"):
        exported_predictor(bad, fmt)
    with pytest.raises(ExportError, match="cannot be loaded"):
        verify_export(None, bad, fmt, [])


# ---------------------------------------------------------------- command line
def _cli(argv: list[str]) -> tuple[int, str, str]:
    from core.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def test_cli_exports_and_prints_parity(runs, tmp_path):
    rid = runs["digits"]
    rc, so, se = _cli(["export", str(rid), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert rc == 0, se
    assert "max |delta p|" in so and "agreement 100.00%" in so and "goal" in so
    assert (tmp_path / "m.onnx").is_file() and json.loads((tmp_path / "m.onnx.json").read_text())["format"] == "onnx"


@pytest.fixture(scope="module")
def cli_runs(runs, unsupported_run) -> dict:
    """The runs the command line must refuse to export, with the digits run: a queued one, one
    whose model file is missing and one whose model the converters lack a layer for."""
    store, rid = runs["store"], runs["digits"]
    return {"digits": rid, "queued": store.create_run({"model": "small_cnn"}, name="queued one"),
            "no_model": _run_with_model(store, rid, None, "model missing"), "unsupported": unsupported_run}


# user error -> (the arguments, given the runs and a temporary folder; what stderr says)
CLI_USER_ERRORS = {
    "unknown run": (lambda r, tmp: ["export", "987654", "--format", "onnx"], "987654"),
    "queued run": (lambda r, tmp: ["export", str(r["queued"]), "--format", "onnx"], "status queued"),
    "no model file": (lambda r, tmp: ["export", str(r["no_model"]), "--format", "tflite"], "no model file"),
    "missing out folder": (lambda r, tmp: ["export", str(r["digits"]), "--format", "onnx", "--out",
                                           str(tmp / "no" / "such" / "m.onnx")], "does not exist"),
    "int8 for onnx": (lambda r, tmp: ["export", str(r["digits"]), "--format", "onnx", "--quantize", "int8"],
                      "LiteRT exports only"),
    "unsupported layer": (lambda r, tmp: ["export", str(r["unsupported"]), "--format", "onnx"], "ScaleAndTranslate"),
}


@pytest.mark.parametrize("argv, msg", list(CLI_USER_ERRORS.values()), ids=list(CLI_USER_ERRORS))
def test_cli_export_exits_2_for_a_user_error(cli_runs, tmp_path, argv, msg):
    rc, so, se = _cli(argv(cli_runs, tmp_path))
    assert rc == 2 and msg in se, (rc, se)
    assert not (tmp_path / "no").exists()


# ---------------------------------------------------------------- the Run page
def test_run_page_exports_shows_parity_offers_the_download_and_lists_exports(runs):
    rid = runs["digits"]
    at = app_at("runs", {"run": str(rid)})
    at.session_state["r_tab"] = "Manage"
    at.run()
    assert problems(at) == []
    assert any("**Export**" in m.value for m in at.markdown)
    at.selectbox(key=f"r_exp_fmt_{rid}").set_value("tflite").run()
    at.selectbox(key=f"r_exp_q_{rid}").set_value("float16").run()
    next(b for b in at.button if b.key == f"r_exp_go_{rid}").click().run()
    assert problems(at) == [] and not [w for w in at.warning if "Not exported" in w.value]
    labels = [m.label for m in at.metric]
    assert {"max |Δp| vs Keras", "Agreement", "Test accuracy (export)"} <= set(labels)
    dl = [b.proto.label for b in at.get("download_button")]
    assert f"Download run{rid}_tflite_float16.tflite" in dl
    table = at.dataframe[-1].value
    assert f"run{rid}_tflite_float16.tflite" in set(table["file"])


def test_run_page_says_why_an_unsupported_model_is_not_exported(runs, unsupported_run):
    at = app_at("runs", {"run": str(unsupported_run)})
    at.session_state["r_tab"] = "Manage"
    at.run()
    next(b for b in at.button if b.key == f"r_exp_go_{unsupported_run}").click().run()
    assert problems(at) == []
    assert any("ScaleAndTranslate" in w.value and "aa_resize" in w.value for w in at.warning)
