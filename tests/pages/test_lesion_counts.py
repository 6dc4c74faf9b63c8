"""Lesion counts say what they count (AppTest): HAM10000_metadata.csv lists 7,470 lesions, the
shared reduced folder has images of 7,442 of them; the Pitfalls tab and the Data explorer name
which number they show."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, page_texts, problems

pytestmark = pytest.mark.usefixtures("page_jobs_cleanup")


def test_pitfalls_tab_says_the_lesions_are_counted_in_the_metadata(lab_env):
    at = app_at("recipes")
    at.session_state["rc_tab"] = "Pitfalls"
    at.run()
    assert problems(at) == []
    assert "7,470 lesions in the metadata" in page_texts(at)


def test_data_explorer_counts_lesions_with_images_and_in_the_metadata(lab_env, shared_datasets, tmp_path):
    import shutil

    ham = shared_datasets / "ham10000"
    folder = tmp_path / "ham"  # the full metadata next to the reduced images, as a user's folder would be
    folder.mkdir()
    shutil.copyfile(ham / "HAM10000_metadata.csv", folder / "HAM10000_metadata.csv")
    (folder / "images").symlink_to(ham / "reduced_200x150", target_is_directory=True)
    at = app_at("data_explorer")
    at.selectbox(key="eda_name").set_value("ham10000").run()
    at.text_input(key="eda_path_ham10000").set_value(str(folder)).run()
    assert problems(at) == []
    metrics = {m.label: m.value for m in at.metric}
    assert metrics.get("Lesions with images present here") == "7,442", metrics
    assert "7,470 lesions in the metadata" in page_texts(at)
