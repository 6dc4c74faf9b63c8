"""Prediction and explanation speed on CPU. Printed, not asserted; ratios come from one run.

(a) The batch path (``core.serving.batch``): images per second through ``predict_files`` (decode
    in threads, the lab's resize, one runtime call per batch) and through the runtime call alone
    (pixels already decoded), Keras (``model.predict`` for backbones, the direct call for the small
    CNN: ``batch._keras_runtime``) vs ONNX Runtime (``batch.choose_runtime(tm, "onnx")``, which only
    takes an export whose parity the lab verified: made here with ``export_model_file`` and checked
    with ``verify_export`` on the same images, the report written where ``list_exports`` finds it);
    plus one image's latency both ways. Models: the report B CNN (``report_b_cnn5``, Fashion-MNIST
    28x28 PNGs) and backbones at 224x224 (random weights: speed does not depend on their values;
    HAM10000 JPEGs of 200x150, resized by the lab).
(b) CAM speed: ``core.models.cam.cam`` one image per call (as the Predict page calls it), Grad-CAM,
    Grad-CAM++, Score-CAM (Faster, max_n 10) and SmoothGrad (20 samples), today's code ("before",
    ``--before DIR``: a git worktree of the commit before the change, timed in a child process that
    imports that tree, or a folder with copies of core/models/cam.py and core/serving/inference.py)
    against the current one on the same images, with the largest absolute difference of
    the heat maps (SmoothGrad with the same seed, so the same noise); and ``predict_and_explain``
    (probabilities + Grad-CAM + overlay) both ways. The report CNN is trained for one epoch on
    3,000 Fashion-MNIST images first so that its maps are not those of random weights.

    .venv/bin/python bench/bench_predict.py [--part a|b] [--backbones mobilenetv2,densenet121]
        [--images 256] [--backbone-images 64] [--batch 64] [--cam-images 8] [--backbone-cam-images 2]
        [--gradcam-only-backbones] [--before /tmp/before_cam]
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("LAB_BENCH_CODE_ROOT") or str(ROOT))  # a child timing "before" code: its tree

import numpy as np  # noqa: E402

SHARED = Path(os.environ.get("LAB_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
CNN = ("report_b_cnn5", (28, 28, 1), 10, {"normalization": "rescale"})


def _load(label: str) -> str:
    return f"{label} load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# --------------------------------------------------------------------------------------
# images and models
# --------------------------------------------------------------------------------------
def fashion(n: int, *, train: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` Fashion-MNIST images (N, 28, 28, 1) uint8 and labels, read from the IDX files."""
    stem = "train" if train else "t10k"
    with gzip.open(SHARED / "fashion_mnist" / f"{stem}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(SHARED / "fashion_mnist" / f"{stem}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x[:n].copy(), y[:n].astype(int)


def ham_files(n: int) -> list[str]:
    files = sorted((SHARED / "ham10000" / "reduced_200x150").rglob("*.jpg"))
    step = max(1, len(files) // max(n, 1))
    return [str(f) for f in files[::step][:n]]


def fashion_files(folder: Path, n: int) -> list[str]:
    from PIL import Image

    x, _ = fashion(n)
    out = []
    for i, img in enumerate(x):
        p = folder / f"fm_{i:05d}.png"
        Image.fromarray(img[:, :, 0]).save(p)
        out.append(str(p))
    return out


def trained_model(name, shape, k, norm, folder: Path, *, model=None):
    """A ``TrainedModel`` around a freshly built (or given) model, its folder ``folder``."""
    from core.data.preprocess import Preprocessing
    from core.models.base import build_model
    from core.serving.trained_model import TrainedModel

    if model is None:
        opts = {"weights": None} if norm.get("normalization") == "backbone" else {}
        model = build_model(name, input_shape=shape, num_classes=k, **opts).model
    folder.mkdir(parents=True, exist_ok=True)
    prep = Preprocessing(tuple(shape[:2]), shape[2], **norm)
    meta = {"class_names": [str(i) for i in range(k)], "input_shape": list(shape), "preprocessing": prep.to_dict(),
            "backbone": norm.get("backbone")}
    return TrainedModel(model, meta, prep, folder / "model.keras")


def verified_onnx_export(tm, pixels: np.ndarray) -> dict:
    """Export ``tm`` to ONNX in its folder's exports/ and verify it (the lab's own check) on ``pixels``,
    writing the report where ``core.serving.batch.verified_onnx`` looks for it."""
    from core.serving.export import SCHEMA, _check_parity, export_model_file, pixel_model, verify_export

    dest = tm.path.parent / "exports"
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "bench_onnx.onnx"
    t = time.perf_counter()
    export_model_file(pixel_model(tm), path, "onnx", None, None)
    secs = time.perf_counter() - t
    y = np.zeros(len(pixels), int)
    parity = verify_export(tm, path, "onnx", [(pixels[i:i + 32], y[i:i + 32]) for i in range(0, len(pixels), 32)])
    _check_parity(parity, "onnx", None)
    report = {"schema": SCHEMA, "format": "onnx", "quantize": None, "file": path.name, "parity": parity,
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds_convert": secs}
    (dest / (path.name + ".json")).write_text(json.dumps(report, default=str))
    return report


# --------------------------------------------------------------------------------------
# (a) the batch path
# --------------------------------------------------------------------------------------
def _throughput(tm, files, runtime, pixels, batch: int, repeats: int) -> dict:
    from core.serving.batch import predict_files

    runtime.run(pixels[:batch])  # warm-up: graph building, allocation
    list(predict_files(tm, files[:batch], runtime=runtime, batch_size=batch))
    t_files = _median(lambda: list(predict_files(tm, files, runtime=runtime, batch_size=batch)), repeats)
    t_run = _median(lambda: [runtime.run(pixels[i:i + batch]) for i in range(0, len(pixels), batch)], repeats)
    one = pixels[:1]
    runtime.run(one)
    t_one = _median(lambda: runtime.run(one), max(5, repeats * 3))
    t_one_file = _median(lambda: list(predict_files(tm, files[:1], runtime=runtime, batch_size=1)), max(3, repeats))
    return {"files_per_s": len(files) / t_files, "run_per_s": len(pixels) / t_run, "one_ms": t_one * 1e3,
            "one_file_ms": t_one_file * 1e3}


def bench_batch(spec, files: list[str], folder: Path, batch: int, repeats: int) -> None:
    from core.serving.batch import _decode, choose_runtime

    name, shape, k, norm = spec
    print(f"\n(a) {name} at {'x'.join(map(str, shape))}: {len(files)} files, batch size {batch}")
    tm = trained_model(name, shape, k, norm, folder)
    pixels = np.stack([_decode(tm, f)[1] for f in files])
    rep = verified_onnx_export(tm, pixels[:64])
    p = rep["parity"]
    print(f"  ONNX export {rep['seconds_convert']:.1f} s; parity on {p['images']} of these images: max |delta p| "
          f"{p['max_abs_diff']:.2g}, agreement {p['agreement']:.0%}, meets the goal: {p['meets_goal']}")
    rows = {}
    for asked in ("keras", "onnx"):
        rt = choose_runtime(tm, asked)
        rows[asked] = _throughput(tm, files, rt, pixels, batch, repeats)
        print(f"  {asked:<5} = {rt.describe}")
    kr, ox = rows["keras"], rows["onnx"]
    print(f"  {'':<28} {'Keras':>10} {'ONNX RT':>10} {'ratio':>7}")
    for key, label, better in (("files_per_s", "files -> rows, images/s", "hi"),
                               ("run_per_s", "runtime call only, images/s", "hi"),
                               ("one_ms", "one image, runtime call, ms", "lo"),
                               ("one_file_ms", "one file -> row, ms", "lo")):
        ratio = ox[key] / kr[key] if better == "hi" else kr[key] / ox[key]
        print(f"  {label:<28} {kr[key]:10.1f} {ox[key]:10.1f} {ratio:6.2f}x")


def part_a(args, root: Path) -> None:
    folder = root / "files"
    folder.mkdir()
    bench_batch(CNN, fashion_files(folder, args.images), root / "cnn", args.batch, args.repeats)
    for bb in args.backbones:
        spec = (bb, (224, 224, 3), 7, {"normalization": "backbone", "backbone": bb})
        bench_batch(spec, ham_files(args.backbone_images), root / bb, args.batch, args.repeats)


# --------------------------------------------------------------------------------------
# (b) CAM speed, before and after
# --------------------------------------------------------------------------------------
def load_before(folder: Path):
    """The "before" code: a git worktree (``git worktree add DIR HEAD``: timed in a child process that
    imports that tree's ``core``) or a folder with copies of cam.py and inference.py (loaded as modules;
    they import today's other modules); None when absent."""
    if (folder / "core" / "models" / "cam.py").is_file():
        return WorktreeBefore(folder)
    mods = []
    for stem in ("cam", "inference"):
        path = folder / f"{stem}.py"
        if not path.is_file():
            return None
        spec = importlib.util.spec_from_file_location(f"before_{stem}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        mods.append(mod)
    return ModuleBefore(mods[0], mods[1])


class ModuleBefore:
    """Copies of cam.py and inference.py, timed in this process."""

    def __init__(self, cam, inference) -> None:
        self.cam, self.inference = cam, inference

    def cam_times(self, model, x, idx, methods) -> dict:
        return {m: _time_cam(self.cam, model, x, idx, m, o) for m, o in methods}

    def pe_time(self, tm, images, repeats: int) -> float:
        with cam_module(self.cam):
            return _pe_time(self.inference, tm, images, repeats)


class WorktreeBefore:
    """A whole tree (a git worktree of the commit before the change), timed in a child process with that
    tree first on ``sys.path``; the model goes over as a .keras file, the images as .npz."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _child(self, job: dict, model, arrays: dict) -> tuple[dict, dict]:
        import subprocess

        with tempfile.TemporaryDirectory() as d:
            folder = Path(d)
            model.save(folder / "model.keras")
            np.savez(folder / "in.npz", **arrays)
            (folder / "job.json").write_text(json.dumps(job))
            env = dict(os.environ, LAB_BENCH_CODE_ROOT=str(self.root))
            subprocess.run([sys.executable, __file__, "--child", str(folder)], env=env, check=True)
            with np.load(folder / "out.npz") as z:
                return json.loads((folder / "out.json").read_text()), dict(z)

    def cam_times(self, model, x, idx, methods) -> dict:
        meta, maps = self._child({"kind": "cam", "methods": [list(m) for m in methods]}, model, {"x": x, "idx": idx})
        return {m: (meta[m][0], meta[m][1], maps[m]) for m, _ in methods}

    def pe_time(self, tm, images, repeats: int) -> float:
        job = {"kind": "pe", "repeats": repeats, "meta": tm.meta}
        meta, _ = self._child(job, tm.model, {f"im{i}": im for i, im in enumerate(images)})
        return meta["seconds"]


def child(folder: Path) -> None:
    """Run one "before" job of :class:`WorktreeBefore` (this process imports the tree's ``core``)."""
    import keras

    from core.models import cam
    from core.serving import inference

    job = json.loads((folder / "job.json").read_text())
    model = keras.saving.load_model(folder / "model.keras")
    with np.load(folder / "in.npz") as z:
        arrays = dict(z)
    out, maps = {}, {}
    if job["kind"] == "cam":
        for method, opts in job["methods"]:
            t_first, t_med, m = _time_cam(cam, model, arrays["x"], arrays["idx"], method, opts)
            out[method], maps[method] = (t_first, t_med), m
    else:
        from core.data.preprocess import Preprocessing
        from core.serving.trained_model import TrainedModel

        meta = job["meta"]
        tm = TrainedModel(model, meta, Preprocessing.from_dict(meta["preprocessing"]), folder / "model.keras")
        images = [arrays[f"im{i}"] for i in range(len(arrays))]
        out["seconds"] = _pe_time(inference, tm, images, job["repeats"])
    (folder / "out.json").write_text(json.dumps(out))
    np.savez(folder / "out.npz", **maps)


@contextlib.contextmanager
def cam_module(mod):
    """``from core.models import cam`` gives ``mod`` inside (today's predict_and_explain imports it so)."""
    import core.models
    import core.models.cam as current

    core.models.cam = sys.modules["core.models.cam"] = mod
    try:
        yield
    finally:
        core.models.cam = sys.modules["core.models.cam"] = current


CAM_METHODS = (("gradcam", {}), ("gradcam++", {}), ("scorecam", {"max_n": 10}), ("saliency", {"smooth_samples": 20}))


def _time_cam(mod, model, x, idx, method, opts) -> tuple[float, float, np.ndarray]:
    """First call (builds, traces) and the median of one-image calls over ``x``, and the maps."""
    t = time.perf_counter()
    first = mod.cam(model, x[:1], method=method, class_index=int(idx[0]), **opts)
    t_first = time.perf_counter() - t
    maps, times = [first], []
    for i in range(len(x)):
        t = time.perf_counter()
        maps.append(mod.cam(model, x[i:i + 1], method=method, class_index=int(idx[i]), **opts))
        times.append(time.perf_counter() - t)
    return t_first, statistics.median(times), np.concatenate(maps[1:])


def bench_cam(label: str, model, x: np.ndarray, before, methods) -> dict:
    from core.models import cam as after

    idx = np.asarray(model(x, training=False)).argmax(1)
    print(f"\n(b) {label}: {len(x)} images, one per call; ms per image (first call in brackets); {_load('now')}")
    res_before = before.cam_times(model, x, idx, methods) if before else {}
    print(f"  {'method':<10} {'before':>18} {'after':>18} {'speed-up':>9} {'max |map diff|':>15}")
    out = {}
    for method, opts in methods:
        a = _time_cam(after, model, x, idx, method, opts)
        b = res_before.get(method)
        out[method] = a[1]
        diff = f"{np.abs(a[2] - b[2]).max():15.2e}" if b else f"{'-':>15}"
        bt = f"{b[1] * 1e3:8.1f} ({b[0] * 1e3:7.0f})" if b else f"{'-':>18}"
        up = f"{b[1] / a[1]:8.1f}x" if b else f"{'-':>9}"
        print(f"  {method:<10} {bt} {a[1] * 1e3:8.1f} ({a[0] * 1e3:7.0f}) {up} {diff}")
    if {"scorecam", "saliency"} <= set(out):
        library_diffs(model, x, idx)
        forward_floor(model, x, out["gradcam"])
    g = out["gradcam"]
    print("  after, relative to Grad-CAM: " + ", ".join(f"{m} {t / g:.1f}x" for m, t in out.items() if m != "gradcam"))
    print(f"  {_load('after these')}")
    return out


def library_diffs(model, x: np.ndarray, idx: np.ndarray) -> None:
    """The largest absolute difference between today's Score-CAM (max_n 10) and SmoothGrad (20 samples,
    seed 0, no blur) maps and tf-keras-vis's own (a fresh ``ReplaceToLinear`` clone, ``model.predict`` on
    the masked copies, ``Saliency(smooth_samples=20)`` after ``np.random.seed(0)``), all images in one call."""
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    from core.models import cam

    layer, score = cam.resolve_cam_layer(model), CategoricalScore([int(i) for i in idx])
    sc = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)
    sc.model.predict = lambda a, batch_size=32: type(sc.model).predict(sc.model, a, batch_size=batch_size, verbose=0)
    want = sc(score, x, penultimate_layer=layer, seek_penultimate_conv_layer=False, max_N=10)
    got = cam.cam(model, x, method="scorecam", class_index=[int(i) for i in idx], max_n=10)
    d_sc = np.abs(got - want).max()
    state = np.random.get_state()
    np.random.seed(0)
    want = Saliency(model, model_modifier=ReplaceToLinear(), clone=True)(score, x, smooth_samples=20)
    np.random.set_state(state)
    got = cam.cam(model, x, method="saliency", class_index=[int(i) for i in idx], smooth_samples=20, smooth_blur=0)
    print(f"  vs tf-keras-vis's own maps, max |diff|: Score-CAM {d_sc:.2e}, SmoothGrad {np.abs(got - want).max():.2e}")


def forward_floor(model, x: np.ndarray, gradcam_s: float) -> None:
    """What SmoothGrad's 20 and Score-CAM's 10 copies of one image cost in model passes alone: the
    compiled forward pass (the CAM clone's) on 20 and 10 copies, relative to one Grad-CAM call."""
    from core.models import cam_cache

    clone = cam_cache.explainer(model, "saliency").model
    parts = []
    for n in (1, 10, 20):
        rows = np.repeat(x[:1], n, axis=0)
        clone.predict(rows, batch_size=n)
        parts.append(f"{n} copies {_median(lambda r=rows, n=n: clone.predict(r, batch_size=n), 7) * 1e3:.1f} ms")
    print(f"  compiled forward pass alone: {', '.join(parts)} (Grad-CAM {gradcam_s * 1e3:.1f} ms)")


def _pe_time(inference, tm, images, repeats: int) -> float:
    inference.predict_and_explain(tm, images[0], method="gradcam")  # first call: builds, traces
    per = [_median(lambda im=im: inference.predict_and_explain(tm, im, method="gradcam"), repeats) for im in images]
    return statistics.median(per)


def bench_predict_and_explain(label: str, tm, images: list[np.ndarray], before, repeats: int) -> None:
    from core.serving import inference as after

    res = {}
    if before:
        res["before"] = before.pe_time(tm, images, repeats)
    res["after"] = _pe_time(after, tm, images, repeats)
    line = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in res.items())
    ratio = f" ({res['before'] / res['after']:.1f}x)" if "before" in res else ""
    print(f"  predict_and_explain (probabilities + Grad-CAM + overlay), {label}, median per image: {line}{ratio}")


def _trained_cnn(folder: Path):
    import keras

    from core.models.base import build_model

    keras.utils.set_random_seed(0)
    name, shape, k, norm = CNN
    model = build_model(name, input_shape=shape, num_classes=k).model
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = fashion(3000, train=True)
    model.fit(x.astype(np.float32) / 255.0, y, epochs=1, batch_size=64, verbose=0)
    return trained_model(name, shape, k, norm, folder, model=model)


def part_b(args, root: Path) -> None:
    before = load_before(Path(args.before))
    print(f"\n(b) before = {args.before}: " + ("loaded" if before else "not found: only the current code is timed"))
    tm = _trained_cnn(root / "cam_cnn")
    imgs, _ = fashion(args.cam_images)
    bench_cam("report_b_cnn5, Fashion-MNIST 28x28 (1 epoch)", tm.model, tm.preprocess(imgs), before, CAM_METHODS)
    bench_predict_and_explain("report_b_cnn5", tm, list(imgs[:4]), before, args.repeats)
    from core.data.images import load_image

    for bb in args.backbones:
        norm = {"normalization": "backbone", "backbone": bb}
        tm = trained_model(bb, (224, 224, 3), 7, norm, root / f"cam_{bb}")
        raw = [np.asarray(load_image(Path(f)).array) for f in ham_files(args.backbone_cam_images)]
        x = np.concatenate([tm.preprocess(r) for r in raw])
        methods = CAM_METHODS if args.all_backbone_methods else CAM_METHODS[:1]
        bench_cam(f"{bb} 224x224 (random weights), HAM10000", tm.model, x, before, methods)
        bench_predict_and_explain(bb, tm, raw[:2], before, 1)


# --------------------------------------------------------------------------------------
# (c) the Predict page: photos -> the full table, in a browser
# --------------------------------------------------------------------------------------
def _predict_page_once(pg, base: str, rid: int, photos: list[Path]) -> tuple[float, str]:
    """Upload ``photos`` to a fresh Predict page (the model already loaded by the server) and wait for
    the full table: the seconds from the upload to the table drawn, and the page's own "Predicted ..." line."""
    import re

    from playwright.sync_api import expect

    pg.goto(f"{base}/predict?run={rid}")
    expect(pg.get_by_text("Upload one or more images")).to_be_visible()
    files = [{"name": p.name, "mimeType": "image/jpeg", "buffer": p.read_bytes()} for p in photos]
    start = time.monotonic()
    pg.locator("input[type='file']").set_input_files(files=files)
    expect(pg.get_by_text(f"{len(photos)} images ·")).to_be_visible(timeout=120_000)
    expect(pg.locator("[data-testid='stDataFrame']")).to_be_visible()
    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    secs = time.monotonic() - start
    line = pg.get_by_text(re.compile(r"Predicted \d+ images in")).first.inner_text()
    return secs, line


def part_c(args, root: Path) -> None:
    """A store with a small_cnn HAM10000 run (64x64, one epoch), the lab served, headless Chromium:
    ``--page-photos`` photos (a new set each time, so nothing comes from the page's cache) uploaded to
    the Predict page once the model is loaded (a first upload of 4 other photos), to the full table."""
    sys.path.insert(0, str(ROOT / "tests"))
    from playwright.sync_api import expect, sync_playwright

    from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, make_finished_runs

    ham = SHARED / "ham10000"
    (rid,) = make_finished_runs(root, [{
        "name": "ham small", "epochs": 1, "batch_size": 32, "input_size": [64, 64],
        "dataset": {"name": "ham10000", "params": {"path": str(ham / "reduced_200x150"),
                                                   "metadata_csv": str(ham / "HAM10000_metadata.csv"),
                                                   "max_per_class": 8}}}])
    n, rounds = args.page_photos, args.page_repeats
    photos = [Path(f) for f in ham_files(4 + n * rounds)]
    print(f"\n(c) Predict page, small_cnn 64x64 HAM10000 run, {n} photos (200x150 JPEG) -> full table; {_load('now')}")
    with StreamlitServer(root) as srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100})
        expect.set_options(timeout=120_000)
        _predict_page_once(pg, srv.base, rid, photos[:4])  # loads TensorFlow and the model in the server
        for r in range(rounds):
            secs, line = _predict_page_once(pg, srv.base, rid, photos[4 + r * n: 4 + (r + 1) * n])
            print(f"  round {r + 1}: {secs:.2f} s to the full table (page: {line.strip()}); {_load('now')}")
        if args.page_shot:
            pg.screenshot(path=args.page_shot, full_page=True)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("a", "b", "c"), default=None,
                    help="only (a) the batch path, (b) CAM or (c) the Predict page in a browser")
    ap.add_argument("--page-photos", type=int, default=28, help="(c) photos per upload")
    ap.add_argument("--page-repeats", type=int, default=3, help="(c) uploads timed (a new set of photos each)")
    ap.add_argument("--page-shot", default=None, help="(c) a screenshot of the last table to this PNG path")
    ap.add_argument("--backbones", default="mobilenetv2,densenet121", help="comma-separated 224x224 backbones")
    ap.add_argument("--images", type=int, default=256, help="(a) Fashion-MNIST files for the CNN")
    ap.add_argument("--backbone-images", type=int, default=64, help="(a) HAM10000 files for each backbone")
    ap.add_argument("--batch", type=int, default=64, help="(a) batch size")
    ap.add_argument("--repeats", type=int, default=2, help="timed repeats (median)")
    ap.add_argument("--cam-images", type=int, default=8, help="(b) images for the report CNN")
    ap.add_argument("--backbone-cam-images", type=int, default=2, help="(b) images for each backbone")
    ap.add_argument("--all-backbone-methods", action="store_true", default=True,
                    help="(b) Grad-CAM++, Score-CAM and SmoothGrad on the backbones too (default)")
    ap.add_argument("--gradcam-only-backbones", dest="all_backbone_methods", action="store_false",
                    help="(b) only Grad-CAM on the backbones (SmoothGrad before the change takes minutes)")
    ap.add_argument("--before", default="/tmp/before_cam",
                    help="(b) the code before the change: a git worktree (git worktree add DIR HEAD) or a folder "
                         "with copies of cam.py and inference.py")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(Path(args.child))
    args.backbones = [b for b in args.backbones.split(",") if b]
    import keras
    import onnxruntime
    import tensorflow as tf

    print(f"CPU count {os.cpu_count()}; Keras {keras.__version__}, TensorFlow {tf.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; {_load('start')}")
    with tempfile.TemporaryDirectory() as d:
        if args.part in (None, "a"):
            part_a(args, Path(d))
        print(f"\n{_load('after (a)' if args.part is None else 'now')}")
        if args.part in (None, "b"):
            part_b(args, Path(d))
        if args.part in (None, "c"):
            (Path(d) / "store").mkdir()
            part_c(args, Path(d) / "store")
    print(f"\n{_load('end')}")


if __name__ == "__main__":
    main()
