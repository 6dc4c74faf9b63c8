"""The Runs list (AppTest, the shared store of real finished runs): parameter columns that tell
runs apart, more columns on demand, and the Filter / Sort / Page popovers with a caption that
says what is in effect."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, problems

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


def test_runs_table_has_parameter_columns(trained):
    at = app_at("runs")
    assert problems(at) == []
    df = at.dataframe[0].value
    missing = [c for c in ("input", "epochs", "batch", "lr", "optimizer", "augment", "weights", "accuracy")
               if c not in df.columns]
    assert missing == [], f"no {missing} column(s): {list(df.columns)}"
    mine = df[df["id"].isin(trained["ids"])]
    assert set(mine["optimizer"]) == {"adam", "adamax"}  # the two runs can be told apart
    assert set(mine["input"]) == {"8x8"} and set(mine["epochs"]) == {"2"} and set(mine["batch"]) == {"64"}
    assert set(mine["lr"]) == {"0.001"} and set(mine["augment"]) == {"none"} and set(mine["weights"]) == {"random init"}
    # more columns on demand, fewer by default so that the table fits at 1400 px
    at.pills(key="r_cols").set_value(["Parameters", "Metrics", "More metrics", "Dataset, duration, tags, date"]).run()
    assert {"macro F1", "dataset", "created"} <= set(at.dataframe[0].value.columns)


def _popover_of_keys(at) -> dict[str, str]:
    """{widget key: label of the popover it sits in} for every keyed widget inside a popover."""
    out: dict[str, str] = {}

    def walk(node, label=None):
        for child in getattr(node, "children", {}).values():
            here = label
            if getattr(child, "type", None) == "popover":
                here = child.proto.popover.label
            if here and getattr(child, "key", None):
                out[child.key] = here
            walk(child, here)

    walk(at.main)
    return out


def test_runs_filter_sort_and_page_open_from_buttons_and_say_what_is_in_effect(trained):
    """The list's controls are in Filter / Sort / Page popovers, whose content
    the browser draws only once opened (bench/README.md), and a caption beside them says what is
    in effect; filtering, sorting and paging work as before."""
    at = app_at("runs")
    assert problems(at) == []
    where = _popover_of_keys(at)
    assert {k: where.get(k) for k in ("r_text", "r_ds", "r_model", "r_status", "r_tag", "r_sort", "r_page")} == {
        "r_text": "Filter", "r_ds": "Filter", "r_model": "Filter", "r_status": "Filter", "r_tag": "Filter",
        "r_sort": "Sort", "r_page": "Page"}
    said = " ".join(str(c.value) for c in at.caption)
    assert "sorted by newest" in said and "no filters" in said and "page 1 of 1" in said
    first = at.dataframe[0].value
    assert len(first) == len(trained["ids"])

    target = first.iloc[-1]
    at.text_input(key="r_text").set_value(str(target["name"])).run()
    assert problems(at) == []
    shown = at.dataframe[0].value
    assert list(shown["id"]) == [target["id"]]
    said = " ".join(str(c.value) for c in at.caption)
    assert "1 run · showing 1–1" in said and "filters: text" in said

    at.text_input(key="r_text").set_value("").run()
    at.selectbox(key="r_sort").set_value("oldest").run()
    assert list(at.dataframe[0].value["id"]) == sorted(first["id"])
    at.multiselect(key="r_status").set_value(["failed"]).run()
    assert problems(at) == [] and len(at.dataframe) == 0
    assert any("No run matches these filters" in str(i.value) for i in at.info)
    assert any("filters: status failed" in str(c.value) for c in at.caption)
