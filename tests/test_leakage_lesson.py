"""The leakage lesson measured on the real reduced HAM10000 set: split by image, a large share of
the test images has a sibling photo of the same lesion in training (none when grouped by
lesion); a memorising model (1-nearest-neighbour on small normalised thumbnails) scores higher
on the image-level split; the Pitfalls tab explains it with these numbers."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, page_texts, problems


@pytest.fixture(scope="module")
def ham_config(shared_datasets):
    return {"name": "ham10000", "params": {"path": str(shared_datasets / "ham10000" / "reduced_200x150")}}


@pytest.fixture(scope="module")
def lesson(ham_config):
    from core.recipes.pitfalls import measure_leakage_lesson

    return measure_leakage_lesson(ham_config)


def test_leaked_share_and_memoriser_accuracy_on_real_ham10000(lesson):
    img, grp = lesson["image_split"], lesson["grouped_split"]
    assert lesson["images"] == 9959 and lesson["lesions"] == 7442
    assert img["leaked_share"] > 0.2
    assert grp["leaked_share"] == 0
    assert img["knn_accuracy"] > grp["knn_accuracy"]
    # same test images, the training images of their lesions removed: the memoriser loses
    assert img["knn_accuracy"] > img["knn_accuracy_without_test_lesions"]
    assert 0 < img["same_lesion_nn_share"] < 1
    assert img["knn_accuracy_leaked"] < img["knn_accuracy_other"]  # sibling lesions are mostly not nevi: harder
    assert img["lesion_memory_accuracy"] > img["knn_accuracy"]


def test_the_lesson_is_cached(ham_config, lesson):
    from core.recipes.pitfalls import measure_leakage_lesson

    assert measure_leakage_lesson(ham_config) is lesson


def test_pitfalls_tab_explains_the_leak_with_numbers(lab_env, monkeypatch, ham_config, lesson):
    monkeypatch.setenv("LAB_HAM10000_DIR", ham_config["params"]["path"])
    at = app_at("recipes")
    at.session_state["rc_tab"] = "Pitfalls"
    at.run()
    assert problems(at) == []
    text = page_texts(at)
    img = lesson["image_split"]
    assert f"{img['leaked_share']:.0%} of the test images" in text, text
    assert f"{img['same_lesion_nn_share']:.0%}" in text
    assert f"{img['knn_accuracy']:.3f}" in text and f"{lesson['grouped_split']['knn_accuracy']:.3f}" in text
    assert "memoris" in text and "weak" in text
