"""The parts of external validation that need no trained run: the dataset parameter that leaves
listed images or lesions out, reading an external set in the run's class order, the near-duplicate
image check across resolutions (real HAM10000 photos) and the shift verdict's words."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.analysis import overlap as ov
from core.analysis.external import class_mapping, detect_format, files_hash, load_external
from core.analysis.shift import verdict
from core.datasets import load_dataset
from core.validation import DatasetError


def _folder(root, classes=("cat", "dog"), n=3):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(root / c / f"{c}{i}.png")
    return root


def test_exclude_ids_leaves_listed_images_out_and_is_recorded(tmp_path):
    data = _folder(tmp_path / "data")
    ids = tmp_path / "holdout.txt"
    ids.write_text("# kept for validation\ncat0.png\ndog/dog2\n\nnot_there\n")
    ds = load_dataset("image_folder", path=str(data), exclude_ids=str(ids))
    assert sorted(ds.ids) == ["cat/cat1", "cat/cat2", "dog/dog0", "dog/dog1"]
    assert ds.spec["params"]["exclude_ids"] == str(ids.resolve())
    assert ds.report["excluded"] == {"file": str(ids.resolve()), "listed": 3, "images_left_out": 2,
                                     "ids_not_found": 1}
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(DatasetError, match="lists no id. Expected one image or lesion/patient id per line"):
        load_dataset("image_folder", path=str(data), exclude_ids=str(empty))
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("image_folder", path=str(data), exclude_ids=str(tmp_path / "nope.txt"))


def test_exclude_ids_leaves_whole_lesions_out_of_ham10000(shared_datasets, tmp_path):
    lesions = ["HAM_0003105", "HAM_0007303"]
    f = tmp_path / "ids.txt"
    f.write_text("\n".join(lesions))
    ds = load_dataset("ham10000", path=str(shared_datasets / "ham10000" / "images"), exclude_ids=str(f))
    assert len(ds) == 40 and not set(ds.groups) & set(lesions)
    assert ds.spec["params"]["exclude_ids"] == str(f.resolve())


def test_external_set_is_read_in_the_runs_class_order_by_name_or_code(tmp_path):
    data = _folder(tmp_path / "set", classes=("DOG", "cat"))
    es = load_external(data, class_names=["Cat", "Dog", "Bird"], class_codes=["cat", "dog", "bird"])
    assert es.rel_paths == sorted(es.rel_paths) and es.source["format"] == "folders"
    assert [int(x) for x in es.ds.labels] == [1, 1, 1, 0, 0, 0]  # DOG/... sorts first; labels in the run's order
    assert files_hash(es.rel_paths) == files_hash(list(reversed(es.rel_paths)))
    with pytest.raises(DatasetError, match=r"class\(es\) the run does not know: fish.*Cat \(cat\), Dog \(dog\)"):
        class_mapping(["fish"], None, ["Cat", "Dog"], ["cat", "dog"], [0])
    (data / "labels.csv").write_text("a,b\n1,2\n")
    assert detect_format(data) == ("folders", None)
    with pytest.raises(DatasetError, match="neither the HAM10000 columns"):
        detect_format(data, data / "labels.csv")


def test_near_duplicate_check_matches_a_photo_across_resolutions_and_nothing_else(shared_datasets):
    ham = shared_datasets / "ham10000"
    originals = sorted((ham / "images").glob("*/*.jpg"))
    copies = [ham / "reduced_200x150" / p.parent.name / p.name for p in originals]
    others = sorted((ham / "reduced_200x150" / "nv").glob("*.jpg"))[:300]
    a = [ov.fingerprint(str(p)) for p in originals]
    b = [ov.fingerprint(str(p)) for p in copies + [o for o in others if o.name not in {p.name for p in originals}]]
    a_bits, a_th = np.array([x[0] for x in a]), np.array([x[1] for x in a])
    b_bits, b_th = np.array([x[0] for x in b]), np.array([x[1] for x in b])
    pairs = ov.near_duplicates(a_bits, a_th, b_bits, b_th)
    assert sorted((i, j) for i, j, _, _ in pairs) == [(i, i) for i in range(len(originals))]
    assert all(bits <= ov.MAX_HASH_BITS and corr >= ov.MIN_THUMB_CORRELATION for _, _, bits, corr in pairs)
    # without their copies, no original matches any of the other photos
    assert ov.near_duplicates(a_bits, a_th, b_bits[len(copies):], b_th[len(copies):]) == []


def test_verdict_says_in_plain_words_whether_the_own_figures_carry_over():
    far = verdict({"auc": 0.95, "interval": [0.9, 0.98]}, 0.05, 0.2, 0.8, 0.55)
    assert "very different from the training images" in far and "much worse calibrated" in far
    assert "drops a lot" in far and "Do not rely on the run's own test figures" in far
    near = verdict({"auc": 0.52, "interval": [0.45, 0.6]}, 0.05, 0.06, 0.8, 0.79)
    assert "looks like the training images" in near and "a fair guide" in near


def test_a_much_worse_calibration_is_not_called_a_fair_guide_for_probabilities():
    v = verdict({"auc": 0.63, "interval": [0.53, 0.72]}, 0.099, 0.283, 0.38, 0.48)
    assert "this set is slightly different from the training images" in v
    assert "much worse calibrated" in v and "its probabilities are not" in v and "recalibrate" in v
