"""The Augmentation studio (AppTest, real digits): the controls and the original image come
before the variants, which are cached per (image, spec, n, seed); presets are named by what they
do; the preview is a grid of one image per column; "Use in training" hands the setting to the
Train page."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, cache_bytes, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


def test_augmentation_draws_original_first_and_caches_variants(lab_env):
    at = app_at("augmentation")
    assert problems(at) == []
    captions = [img.proto.imgs[0].caption for img in at.image]
    assert captions[0].startswith("original · ") and captions[1:] == [f"variant {i}" for i in range(1, 9)]
    cached = cache_bytes("_preview_cached")
    assert cached > 0

    again = app_at("augmentation")  # same image, spec, n and seed: no new preview computed
    assert problems(again) == []
    assert len(again.image) == 9 and cache_bytes("_preview_cached") == cached
    again.button(key="aug_reroll").click().run()  # a new seed: a new entry
    assert problems(again) == [] and len(again.image) == 9
    assert cache_bytes("_preview_cached") > cached


def test_augmentation_preset_goes_to_training(lab_env):
    at = app_at("augmentation")
    assert problems(at) == []
    at.selectbox(key="aug_preset").set_value("flips_small_rotations").run()  # report C's set
    assert at.slider(key="aug_rotation").value == 20.0 and at.toggle(key="aug_horizontal_flip").value is True
    n_before = len(at.image)
    at.button(key="aug_reroll").click().run()
    assert at.number_input(key="aug_seed").value == 1 and len(at.image) == n_before == 9  # original + 8
    at.button(key="aug_use").click().run()
    assert problems(at) == []
    at.switch_page("pages/train.py").run()
    assert problems(at) == []
    assert any("rotation 20" in c.value for c in at.caption)


def test_augmentation_grid_labels_and_use_in_training(lab_env):
    from core.data.augment import preset_names

    at = app_at("augmentation")
    assert problems(at) == []
    sb = at.selectbox(key="aug_preset")
    assert sb.options == ["No augmentation", "Strong geometric + flip", "Small rotations + shifts",
                          "Flips + small rotations", "Strong geometric + colour + noise"]
    assert not any("Report" in o for o in sb.options)
    sb.set_value("flips_small_rotations").run()
    assert problems(at) == []
    assert at.slider(key="aug_rotation").value == 20.0 and at.toggle(key="aug_horizontal_flip").value is True
    assert any("as in report C" in c.value for c in at.caption)
    assert sorted(preset_names()) == sorted(["none", "strong_geometric", "small_rotations_shifts",
                                             "flips_small_rotations", "any_rotation_colour_noise"])
    # the preview is a grid: rows of columns holding ONE image each (the old layout put two
    # 220 px images in one of 5 narrow columns, so they overlapped and ran past the page)
    cols_with_images = [c for c in at.columns if len(c.image) and not any(len(cc.image) for cc in c.columns)]
    assert len(at.image) == 9  # original + 8 variants
    assert [len(c.image) for c in cols_with_images] == [1] * 9
    assert at.image[0].captions[0].startswith("original")
    # "Use in training" says what it applies to, and the Train page receives it
    assert any("Previewed here on: Digits" in c.value and "dataset you choose on that page" in c.value
               for c in at.caption)
    at.button(key="aug_use").click().run()
    assert problems(at) == []
    ok = " ".join(s.value for s in at.success)
    assert "rotation 20" in ok and "next run you submit on Train" in ok and "Digits" in ok
    at.switch_page("pages/train.py").run()
    assert problems(at) == []
    assert any("rotation 20" in c.value and "Digits" in c.value for c in at.caption)
