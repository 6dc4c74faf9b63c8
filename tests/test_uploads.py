"""Bad and odd uploads through the Predict page (AppTest file_uploader): each gives a clear
message or a converted, upright image, and the app keeps serving. Also the upload function
directly (core.serving.inference.decode_upload: bytes in, outcome out; nothing written to disk), and
the CLI's ``predict`` giving the page's warnings for an image unlike the training data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab_pages_support import EXPECTED, bad_uploads, digit_png, shared_trained_store

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FILES = bad_uploads()
# words the refusal message must contain (what was wrong / what is accepted)
ERROR_WORDS = {
    "zero_byte": ["empty"],
    "truncated_jpeg": ["truncated"],
    "text_as_jpg": ["JPEG", "PNG"],
    "decompression_bomb": ["pixels"],
}


@pytest.fixture(scope="module")
def predict_page():
    shared = shared_trained_store()
    mp = pytest.MonkeyPatch()
    for k, v in shared["env"].items():
        mp.setenv(k, v)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/predict.py").run()
    assert not at.exception
    yield at
    mp.undo()


@pytest.mark.parametrize("case", list(FILES))
def test_bad_upload_on_predict_page(predict_page, case):
    at = predict_page
    name, data = FILES[case]
    good, _ = digit_png(3)
    # the odd file next to a good one: the good one must still be explained
    at.file_uploader(key="p_files").set_value([(name, data, "application/octet-stream"),
                                               ("good.png", good, "image/png")]).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    if EXPECTED[case] == "error":
        assert len(errors) == 1 and errors[0].startswith(name), errors
        for w in ERROR_WORDS[case]:
            assert w.lower() in errors[0].lower(), errors[0]
        assert "Traceback" not in errors[0]
        n_overlays = 1
    else:
        assert errors == []
        n_overlays = 2
    # each explained image shows the upload and its overlay
    assert len(at.image) == 2 * n_overlays
    assert sum("Prediction:" in m.value for m in at.markdown) == n_overlays


def test_upload_outcomes_directly():
    from core.serving.inference import decode_upload

    meta = {"train_stats": {"channels": 3, "min_size": [100, 100], "max_size": [200, 200],
                            "brightness_percentiles": {"1": 80.0, "99": 180.0}},
            "preprocessing": {"channels": 3}}
    out = {k: decode_upload(n, d, meta) for k, (n, d) in FILES.items()}
    wrong = {k: o.error for k, o in out.items() if (o.error is None) != (EXPECTED[k] == "ok")}
    assert wrong == {}, f"outcome not as expected ({EXPECTED}) for: {wrong}"
    assert out["cmyk_jpeg"].image.shape[2] == 3 and out["cmyk_jpeg"].notices
    assert out["png_16bit"].image.dtype == np.uint8
    assert out["png_alpha"].image.shape[2] == 3
    assert out["exif_rotated"].image.shape[:2] == (80, 40)  # shown upright (portrait)
    assert out["animated_gif"].notices and "frame" in " ".join(out["animated_gif"].notices).lower()
    assert max(out["huge_photo"].image.shape[:2]) < 8000 and out["huge_photo"].notices
    assert any("grayscale" in w for w in out["grayscale"].warnings)
    assert any("far larger" in w for w in out["huge_photo"].warnings)
    dark = decode_upload("dark.png", _png(np.zeros((150, 150, 3), np.uint8)), meta)
    assert any("brightness" in w for w in dark.warnings)


def test_cli_predict_gives_the_pages_warnings(predict_page, tmp_path, capsys):
    """A colour photo, far larger than the 8x8 grey digits of the run: the Predict page and
    ``python -m core predict`` give the same warnings, read from the run's saved statistics."""
    from core.cli.main import main
    from core.store import Store
    from pages._format import md_text

    shared = shared_trained_store()
    rid = shared["ids"][0]
    at = predict_page
    at.selectbox(key="p_run").set_value(rid).run()
    rng = np.random.default_rng(1)
    data = _png(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    at.file_uploader(key="p_files").set_value([("mismatch.png", data, "image/png")]).run()
    assert not at.exception, [e.value for e in at.exception]
    page = [w.value for w in at.warning if w.value.startswith("mismatch.png: ")]

    env = shared["env"]
    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    model = next(a.path for a in store.get_run(rid).artifacts if a.kind == "model")
    store.close()
    (tmp_path / "mismatch.png").write_bytes(data)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "mismatch.png"), "--model", str(model)]) == 0
    prefix = f"warning ({tmp_path / 'mismatch.png'}): "
    cli = [ln[len(prefix):] for ln in capsys.readouterr().err.splitlines() if ln.startswith(prefix)]
    assert any("in colour" in w for w in cli) and any("far larger" in w for w in cli), cli
    assert page == [f"mismatch.png: {md_text(w)}" for w in cli]


def _png(arr):
    from lab_pages_support import png

    return png(arr)
