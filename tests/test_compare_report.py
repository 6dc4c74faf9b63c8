"""The Compare report (core.analysis.report): one self-contained HTML file of two real finished runs with
their curves, metrics with intervals, the paired test, confusion matrices, configuration differences, a title
and a note; it works offline (plotly.js inline once, nothing fetched) and shows hostile stored text only as
text. Also the ``compare-report`` command."""
from __future__ import annotations

import html
import re
import shutil

import pytest

from lab_pages_support import lab_environ, shared_trained_store

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert(1)</script>"
NOTE = "Adam against Adamax <b>bold?</b> \u202egpj.exe & more\nsecond line"


@pytest.fixture(scope="module")
def report_store(tmp_path_factory):
    """A copy of the shared store of two trained digits runs; the second renamed to a hostile name."""
    from core.store import Store

    shared = shared_trained_store()
    root = tmp_path_factory.mktemp("report") / "lab"
    shutil.copytree(shared["root"], root)
    env = lab_environ(root)
    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    a, b = shared["ids"]
    store.rename_run(b, HOSTILE)
    yield {"store": store, "ids": [a, b], "env": env}
    store.close()


@pytest.fixture(scope="module")
def report(report_store):
    from core.analysis.report import compare_report

    return compare_report(report_store["store"], report_store["ids"], title="Week 3: <optimisers>", note=NOTE)


def _external_refs(text: str) -> list[str]:
    """Every src/href of a script, link, img or iframe tag (an offline file has none)."""
    return re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=[^>]*>", text, flags=re.I)


def test_report_holds_every_section_of_the_comparison(report, report_store):
    from core.analysis.comparison import config_diff
    from core.analysis.paired import compare_runs
    from core.store.artifacts import RunFolder

    store, (a, b) = report_store["store"], report_store["ids"]
    assert report.startswith("<!DOCTYPE html>") and report.count("<html") == 1
    assert "<title>Week 3: &lt;optimisers&gt;</title>" in report and "<h1>Week 3: &lt;optimisers&gt;</h1>" in report
    assert html.escape(f"#{a} adam run") in report and html.escape(f"#{b} {HOSTILE}") in report
    # the metrics with their bootstrap intervals, as stored in each run's evaluation
    for rid in (a, b):
        s = RunFolder.of(store.get_run(rid), store).read_json("evaluation")["summary"]
        assert f"{s['accuracy']:.3f} ({s['ci_low_accuracy']:.3f}–{s['ci_high_accuracy']:.3f})" in report
    assert "95 % bootstrap interval" in report
    # the paired test, as the Compare page states it
    paired = compare_runs(store, a, b)
    assert "McNemar" in report and html.escape(paired["sentences"][0]) in report
    assert html.escape(paired["sentences"][1]) in report
    # the confusion matrices (one heatmap per run) and the training curves
    assert report.count('"hovertemplate":"actual %{y}') == 2
    assert "Training curves" in report and "Confusion matrices" in report
    # the configuration differences, in the page's order (the ones that matter most first)
    diff = config_diff([store.get_run(a), store.get_run(b)])
    assert "optimizer" in diff.index
    cfg = report[report.index("<h2>Configuration differences</h2>"):]
    positions = [cfg.index(f"<th>{html.escape(k)}</th>") for k in diff.index]
    assert positions == sorted(positions)
    assert "<td>adamax</td>" in cfg
    # the note, escaped, its invisible characters shown by their code, its line breaks kept
    assert "Adam against Adamax &lt;b&gt;bold?&lt;/b&gt; [U+202E]gpj.exe &amp; more<br>second line" in report
    assert "\u202e" not in report


def test_report_works_offline_and_shows_hostile_names_only_as_text(report):
    assert _external_refs(report) == []
    assert report.count("* plotly.js v") == 1, "plotly.js is inlined exactly once"
    assert report.count('class="plotly-graph-div"') >= 5  # curves, epoch times, ROC, paired, 2 confusions
    assert HOSTILE not in report
    assert html.escape(HOSTILE) in report
    assert "not a diagnosis" not in report  # digits: no notice


def test_report_of_medical_runs_carries_the_research_notice(report_store):
    from core.analysis.model_card import RESEARCH_NOTICE
    from core.analysis.report import collect, render_html

    rep = collect(report_store["store"], report_store["ids"], title="", note="")
    rep["runs"][0]["domain"] = "lesion"
    out = render_html(rep)
    assert html.escape(RESEARCH_NOTICE) in out
    assert "<h1>Comparison of 2 runs</h1>" in out  # a default title


def test_report_refuses_fewer_than_two_runs_and_unknown_ones(report_store):
    from core.analysis.report import compare_report
    from core.validation import LabError

    store, (a, _b) = report_store["store"], report_store["ids"]
    with pytest.raises(LabError, match="at least two runs"):
        compare_report(store, [a])
    with pytest.raises(LabError, match="9999"):
        compare_report(store, [a, 9999])


def test_compare_report_command_writes_the_file(report_store, tmp_path, monkeypatch, capsys):
    from core.cli.main import main

    for k, v in report_store["env"].items():
        monkeypatch.setenv(k, v)
    a, b = report_store["ids"]
    out = tmp_path / "report.html"
    assert main(["compare-report", str(a), str(b), "--out", str(out), "--title", "From the shell",
                 "--note", "two optimisers"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<h1>From the shell</h1>" in text and "two optimisers" in text and _external_refs(text) == []
    assert str(out) in capsys.readouterr().out
    assert main(["compare-report", str(a), "--out", str(out)]) == 2
    assert "at least two runs" in capsys.readouterr().err
