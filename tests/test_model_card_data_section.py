"""The model card's "Data and split" section reads as text: the dataset and each of its options
in a table (HTML and Markdown), never a raw JSON dict. The card is made from the legacy store's
real digits run (copied first), without slices or Grad-CAM examples."""
from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

LEGACY = Path(__file__).resolve().parent / "data" / "legacy_store"


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    from core.analysis.model_card import collect
    from core.store import Store

    root = tmp_path_factory.mktemp("legacy_card")
    shutil.copytree(LEGACY / "models", root / "models")
    shutil.copy(LEGACY / "runs.db", root / "runs.db")
    store = Store(f"sqlite:///{root / 'runs.db'}", models_dir=root / "models")
    try:
        return collect(store.get_run(1), store=store, examples=0, slices=False)
    finally:
        store.close()


def _section(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def _rows(part: str) -> list[list[str]]:
    return [[html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr)]
            for tr in re.findall(r"<tr>(.*?)</tr>", part)]


def test_data_section_lists_the_dataset_options_as_a_table(card):
    from core.analysis.model_card import render_html, render_markdown

    card = {**card, "meta": {**card["meta"], "dataset": {"name": "digits", "params": {
        "max_per_class": 100, "path": "/data/digits", "classes": ["0", "1"], "grouped": None}}}}
    page = _section(render_html(card), "<h2>Data and split</h2>", "<h2>")
    md = _section(render_markdown(card), "## Data and split", "\n## ")
    for text in (page, md):
        assert "{" not in text and '"max_per_class"' not in text and "null" not in text
    rows = _rows(page)
    assert ["dataset", "digits"] in rows
    assert ["max per class", "100"] in rows and ["path", "/data/digits"] in rows
    assert ["classes", "0, 1"] in rows and ["grouped", "not set"] in rows
    assert "| dataset | digits |" in md and "| max per class | 100 |" in md and "| classes | 0, 1 |" in md
    assert "Split: " in page and "Split: " in md  # the split in words, then sizes per class
    assert ["class", "train", "val", "test"] in rows


def test_a_dataset_without_options_says_so(card):
    from core.analysis.model_card import render_html, render_markdown

    page = _section(render_html(card), "<h2>Data and split</h2>", "<h2>")
    md = _section(render_markdown(card), "## Data and split", "\n## ")
    assert "{" not in page and "{" not in md and "null" not in page and "null" not in md
    assert ["dataset", "digits"] in _rows(page)
    assert ["max per class", "all images"] in _rows(page) and "| max per class | all images |" in md


def test_training_options_read_as_text(card):
    from core.analysis.model_card import render_html

    card = {**card, "config": {**card["config"], "augment": {"flip": "horizontal", "rotation": 0.1}}}
    page = _section(render_html(card), "<h2>Training</h2>", "<h2>")
    assert ["augment", "flip horizontal; rotation 0.100"] in _rows(page)
