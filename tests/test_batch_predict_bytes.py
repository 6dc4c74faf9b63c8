"""``core.serving.batch.predict_bytes``, the in-memory entry point of the Predict page: images held
as bytes give the rows the file path gives for the same images (probabilities, warnings, errors),
named by the names given, with a small thumbnail when asked."""
from __future__ import annotations

import numpy as np

from lab_pages_support import digit_png, png


def test_bytes_give_the_rows_files_give(trained, tmp_path):
    from core.serving.batch import choose_runtime, predict_bytes, predict_files
    from core.serving.trained_model import load_trained

    tm = load_trained(f"{trained['env']['LAB_MODELS_DIR']}/{trained['ids'][0]}")
    photo = png(np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    items = [(f"set/d{i}.png", digit_png(i)[0]) for i in range(5)] + [("photo.png", photo),
                                                                       ("notes.png", b"not an image")]
    paths = []
    for i, (_, data) in enumerate(items):
        (tmp_path / f"{i}.png").write_bytes(data)
        paths.append(str(tmp_path / f"{i}.png"))
    rt = choose_runtime(tm, "keras")
    by_bytes = list(predict_bytes(tm, items, runtime=rt, batch_size=3, thumbnail=20))
    by_files = list(predict_files(tm, paths, runtime=rt, batch_size=3))
    assert [r.file for r in by_bytes] == [n for n, _ in items]
    for b, f in zip(by_bytes, by_files):
        assert b.warnings == f.warnings and b.notices == f.notices
        assert (b.error is None) == (f.error is None)
        if f.probs is not None:
            np.testing.assert_allclose(b.probs, f.probs, atol=1e-6)
            assert b.thumbnail is not None and max(b.thumbnail.shape[:2]) <= 20
        assert f.thumbnail is None
    assert by_bytes[-1].error and by_bytes[-1].probs is None
    assert any("in colour" in w for w in by_bytes[5].warnings)
