"""The model card of a succeeded run — self-contained HTML and Markdown, the
command line and the Run page's download buttons.

A real stored digits run (the shared runs trained by the real worker); the numbers on the card are
checked against the run's own evaluation.json, the page is parsed to prove it fetches nothing."""
from __future__ import annotations

import contextlib
import io
import json
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from lab_pages_support import app_at, problems

pytestmark = pytest.mark.slow


class _Refs(HTMLParser):
    """Every attribute that could load or link something, and every tag name."""

    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "action", "data")]


def _table_after(page: str, heading: str) -> list[list[str]]:
    """The cell texts, row by row, of the first table after ``<h2>heading</h2>``."""
    import html

    part = page.split(f"<h2>{heading}</h2>", 1)[1]
    table = part[part.index("<table"):part.index("</table>")]
    return [[html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr)]
            for tr in re.findall(r"<tr>(.*?)</tr>", table)]


@pytest.fixture(scope="module")
def card(trained):
    """The facts of the first shared run's card (slices with few resamples; 2 + 2 Grad-CAM examples)."""
    from core.analysis.model_card import collect
    from core.store import Store
    from core.store.artifacts import RunFolder

    store = Store()
    rid = trained["ids"][0]
    run = store.get_run(rid)
    c = collect(run, store=store, examples=2, slices_bootstrap=100)
    ev = json.loads((RunFolder.of(run, store).path / "evaluation.json").read_text())
    store.close()
    return {"card": c, "id": rid, "ev": ev}


def test_html_card_has_metrics_with_intervals_per_class_and_confusion(card):
    from core.analysis.model_card import render_html, render_markdown

    c, ev = card["card"], card["ev"]
    page, md = render_html(c), render_markdown(c)
    s = ev["summary"]
    metrics = {r[0]: r[1:] for r in _table_after(page, "Metrics on the test split")}
    for key, label in (("accuracy", "Accuracy"), ("balanced_accuracy", "Balanced accuracy"), ("macro_f1", "Macro F1"),
                       ("macro_auc", "Macro AUC (one-vs-rest)")):
        assert metrics[label] == [f"{s[key]:.3f}", f"{s[f'ci_low_{key}']:.3f} – {s[f'ci_high_{key}']:.3f}"], key
        assert f"| {s[key]:.3f} | {s[f'ci_low_{key}']:.3f} – {s[f'ci_high_{key}']:.3f} |" in md
    assert f"{s['ece']:.3f}" in page  # calibration
    per_class = _table_after(page, "Per class")  # one row per class: support, precision, sensitivity, ...
    assert per_class[0][:4] == ["class", "support", "precision", "sensitivity"]
    assert [r[:4] for r in per_class[1:]] == [[str(r["class"]), str(r["support"]), f"{r['precision']:.3f}",
                                               f"{r['sensitivity']:.3f}"] for r in ev["per_class"]]
    cm = _table_after(page, "Confusion matrix")
    assert cm[0][1:] == ev["class_names"]
    assert [[int(v) for v in r[1:]] for r in cm[1:]] == ev["confusion"]["counts"]
    for heading in ("Intended use", "Data and split", "Training", "Slices of the test split", "Grad-CAM examples",
                    "Known limitations"):
        assert f"<h2>{heading}</h2>" in page and f"## {heading}" in md
    assert "max_per_class" in page and "not pretrained" in page  # limitations from config and meta
    assert "Research use only" not in page  # a digits model carries no clinical notice
    # sizes per class of every part of the split
    assert c["split"]["counts"]["test"] == [r["support"] for r in ev["per_class"]]
    assert (sum(c["split"]["counts"]["train"]), sum(c["split"]["counts"]["val"])) == (c["meta"]["n_train"],
                                                                                      c["meta"]["n_val"])
    assert not c["slices"].get("skipped"), c["slices"]
    assert c["slices"]["rows"][0]["n"] == s["n_samples"]


def test_html_card_is_self_contained(card):
    from core.analysis.model_card import render_html

    page = render_html(card["card"])
    p = _Refs()
    p.feed(page)
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    assert p.refs, "the Grad-CAM examples are inline images"
    assert all(v.startswith("data:image/png;base64,") for _, k, v in p.refs if k == "src")
    assert {k for _, k, _ in p.refs} == {"src"}
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", page)
    assert "http://" not in page and "https://" not in page and "url(" not in page
    items = card["card"]["examples"]["items"]
    assert [i["kind"] for i in items] == ["right", "right", "wrong", "wrong"]
    assert page.count("data:image/png;base64,") == 2 * len(items)


@pytest.mark.parametrize("domain", ["lesion", "fundus"])
def test_lesion_and_fundus_cards_carry_the_research_notice(card, domain):
    from core.analysis.model_card import RESEARCH_NOTICE, intended_use, limitations, render_html, render_markdown

    c = json.loads(json.dumps(card["card"]))
    c["meta"]["domain"] = domain
    page, md = render_html(c), render_markdown(c)
    assert f"<div class=notice>{RESEARCH_NOTICE}</div>" in page
    assert f"> **{RESEARCH_NOTICE}**" in md
    assert any("must not be used to diagnose" in x for x in intended_use(c))
    assert any("not grouped by patient or lesion" in x for x in limitations(c))
    assert RESEARCH_NOTICE not in render_html(card["card"])  # the digits card itself has none


def test_card_refuses_a_run_that_has_not_succeeded(trained):
    from core.analysis.model_card import collect
    from core.validation import ValidationError

    with pytest.raises(ValidationError, match="status queued: a model card needs a succeeded run"):
        collect(SimpleNamespace(id=99, name="x", status="queued", config={}, artifacts=[]))


def _cli(argv: list[str]) -> tuple[int, str, str]:
    """``python -m core ARGV`` in this process (core.cli.main)."""
    from core.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def test_cli_writes_the_card_and_exits_2_for_an_unknown_run(trained, tmp_path):
    rid = trained["ids"][1]
    out, md = tmp_path / "card.html", tmp_path / "card.md"
    rc, so, se = _cli(["model-card", str(rid), "--out", str(out), "--markdown", str(md), "--examples", "1",
                       "--no-slices"])
    assert rc == 0, se
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and f"run #{rid}" in page and "https://" not in page
    assert md.read_text().startswith(f"# Model card: run #{rid}")
    assert str(out) in so
    rc, so, se = _cli(["model-card", "987654", "--out", str(tmp_path / "x.html")])
    assert rc == 2 and "987654" in se and not (tmp_path / "x.html").exists()


def test_run_page_builds_the_card_and_offers_both_downloads(trained):
    rid = trained["ids"][0]
    at = app_at("runs", {"run": str(rid)})
    at.session_state["r_tab"] = "Manage"
    at.run()
    assert problems(at) == []
    assert not [b for b in at.get("download_button") if "card" in str(b.proto.label)]
    next(b for b in at.button if b.key == f"r_card_build_{rid}").click().run()
    assert problems(at) == []
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Model card (HTML)" in labels and "Model card (Markdown)" in labels
    page, md = at.session_state[f"r_card_{rid}"]
    assert f"Model card: run #{rid}" in page and md.startswith(f"# Model card: run #{rid}")
