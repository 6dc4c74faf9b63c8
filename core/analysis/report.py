"""The Compare report: a comparison of 2+ stored runs as one self-contained HTML file to share, readable
without the lab (as W&B Reports are used in a class).

:func:`collect` gathers what the Compare page shows (``core.analysis.comparison``: the results table, here with
its bootstrap intervals, the paired comparison of two runs, the configuration differences in order of importance,
the comparability warnings, per-class F1, the training curves, ROC overlay and confusion matrices, one colour per
run) plus a title and a note; :func:`render_html` writes the page: a header (title, date, the research-use notice
when a run is on a medical dataset, the note), then the sections. The figures are plotly figures with plotly.js
inlined once: the file works offline, fetches nothing and refers to no local file. Every stored or typed text
(run names, tags, notes, the title) is escaped for HTML, its invisible and bidirectional characters shown by
their code.

``python -m core compare-report RUN RUN [RUN ...] --out report.html [--title T] [--note N]`` writes it (exit 2
for fewer than two runs or an unknown one); the command is core.cli.report.
"""
from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from core.analysis.comparison import (
    TIME_HELP,
    comparability,
    config_diff,
    confusion_figures,
    curves_figures,
    external_evaluations,
    external_table,
    paired_result,
    per_class_f1,
    results_table,
    roc_figure,
    run_artifacts,
    run_name,
)
from core.analysis.model_card import CSS, DOMAIN_MODELS, RESEARCH_NOTICE
from core.text import plain_text
from core.validation import ValidationError

__all__ = ["collect", "render_html", "compare_report", "write_compare_report", "report_file_name"]

VERDICT_WORDS = {"a_better": "A better", "b_better": "B better", "no_difference": "no difference"}
MAX_TITLE = 200
MAX_NOTE = 20_000
REPORT_CSS = CSS + """
body{max-width:1100px}.note{border-left:4px solid #0969da;background:#f6f8fa;padding:.6em 1em;margin:1em 0;
white-space:normal}.warn{border:1px solid #d4a72c;background:#fff8c5;padding:.6em 1em;margin:.6em 0}
.swatch{font-size:1.2em}.fig{margin:.4em 0 1em}
"""


def _check_inputs(run_ids, title: str, note: str) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in run_ids))
    if len(ids) < 2:
        raise ValidationError(f"A comparison report needs at least two runs; got {len(ids)} "
                              f"({', '.join(map(str, ids)) or 'none'}). Pass two or more different run ids.")
    for what, text, most in (("title", title, MAX_TITLE), ("note", note, MAX_NOTE)):
        if not isinstance(text, str):
            raise ValidationError(f"The report's {what} must be text. Got {type(text).__name__}.")
        if len(text) > most:
            raise ValidationError(f"The report's {what} is {len(text):,} characters long; at most {most:,} are "
                                  "accepted. Shorten it.")
    return ids


def collect(store, run_ids, *, title: str = "", note: str = "", pair: tuple[int, int] | None = None,
            normalize: bool = True, n_bootstrap: int = 1000) -> dict[str, Any]:
    """The report's contents for the runs ``run_ids`` of ``store`` (plotly figures included). ``pair``: the
    two runs of the paired comparison (A, B; default the first two); ``normalize``: confusion matrices
    coloured by row share."""
    from core.analysis import plots

    ids = _check_inputs(run_ids, title, note)
    details = [store.get_run(i) for i in ids]  # NotFoundError for an unknown id
    arts = {r.id: run_artifacts(r, store) for r in details}
    names = {r.id: run_name(r) for r in details}
    colors = plots.run_colors([names[r.id] for r in details])
    comp = comparability(details, arts)
    by_id = {r.id: r for r in details}
    a, b = (by_id[int(pair[0])], by_id[int(pair[1])]) if pair and set(map(int, pair)) <= set(by_id) \
        and int(pair[0]) != int(pair[1]) else (details[0], details[1])
    paired = paired_result(a, b, store, n_bootstrap=n_bootstrap)
    evs = {names[r.id]: arts[r.id][0] for r in details if arts[r.id][0]}
    curves, times = curves_figures(store.get_histories(ids), names, colors)
    ev0 = next(iter(evs.values()), {})
    return {
        "title": title.strip() or f"Comparison of {len(details)} runs", "note": note.strip(),
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": [{"id": r.id, "label": names[r.id], "color": colors[names[r.id]], "dataset": r.dataset,
                  "model": r.model, "status": r.status, "tags": r.tags, "notes": r.notes,
                  "created": r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else "",
                  "domain": arts[r.id][2].get("domain") or (arts[r.id][0] or {}).get("domain") or "general"}
                 for r in details],
        "warnings": [f"{name}: not a working classifier. {text}" for name, text in comp["verdicts"].items()]
        + comp["warnings"], "results": results_table(details, arts, intervals=True),
        "ci_level": (ev0.get("options") or {}).get("ci_level", 0.95),
        "n_bootstrap": (ev0.get("options") or {}).get("n_bootstrap"),
        "pair": {"a": names[a.id], "b": names[b.id], "a_id": a.id, "b_id": b.id}, "paired": paired,
        "config_diff": config_diff(details), "per_class": per_class_f1(evs, comp["class_groups"]),
        "external": external_table(details, external_evaluations(store, details), arts),
        "figures": {"curves": curves, "epoch_times": times, "roc": roc_figure(evs, colors) if evs else None,
                    "paired": _paired_figure(paired), "confusions": confusion_figures(evs, colors, normalize=normalize)},
    }


def _paired_figure(res: dict):
    from core.analysis.paired import paired_figure

    return paired_figure(res) if res.get("comparable") else None


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    """Stored or typed text as HTML text: invisible characters by their code, then escaped."""
    return html.escape(plain_text(value), quote=True)


def _lines(value: Any) -> str:
    return "<br>".join(_e(line) for line in str(value or "").replace("\r\n", "\n").split("\n"))


def _cell(v: Any, tag: str = "td") -> str:
    text = str(v)
    num = tag == "td" and text[:1].isdigit()
    return f"<{tag}{' class=num' if num else ''}>{_e(text)}</{tag}>"


def _frame_table(df, corner: str = "") -> str:
    head = "<tr>" + _cell(corner, "th") + "".join(_cell(c, "th") for c in df.columns) + "</tr>"
    body = "".join("<tr>" + _cell(i, "th") + "".join(_cell(v) for v in row) + "</tr>"
                   for i, row in zip(df.index, df.itertuples(index=False), strict=True))
    return f"<table>{head}{body}</table>"


class _Figures:
    """Figures as HTML divs: plotly.js inlined with the first one only, nothing fetched."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig) -> str:
        if fig is None:
            return ""
        import plotly.io as pio

        height = fig.layout.height or 450
        out = pio.to_html(fig, full_html=False, include_plotlyjs=self.first, include_mathjax=False,
                          config={"displaylogo": False, "responsive": True}, default_height=f"{height}px")
        self.first = False
        return f"<div class=fig>{out}</div>"


def _runs_html(rep: dict) -> str:
    rows = "".join(
        f"<tr><td><span class=swatch style=\"color:{_e(r['color'])}\">■</span> {_e(r['label'])}</td>"
        f"<td>{_e(r['dataset'] or '?')}</td><td>{_e(r['model'] or '?')}</td><td>{_e(r['status'])}</td>"
        f"<td>{_e(r['created'])}</td><td>{_e(', '.join(f'{k}={v}' if v else k for k, v in (r['tags'] or {}).items()))}"
        f"</td><td>{_lines(r['notes'])}</td></tr>" for r in rep["runs"])
    head = "".join(f"<th>{h}</th>" for h in ("run", "dataset", "model", "status", "created", "tags", "notes"))
    warns = "".join(f"<div class=warn>{_e(w)}</div>" for w in rep["warnings"])
    return f"<table><tr>{head}</tr>{rows}</table>{warns}"


def _results_html(rep: dict) -> str:
    level = round(100 * float(rep["ci_level"] or 0.95))
    n = f", {rep['n_bootstrap']:,} resamples" if rep.get("n_bootstrap") else ""
    return (_frame_table(rep["results"], "metric")
            + f"<p class=muted>Metrics on each run's test split: value ({level} % bootstrap interval over the test "
              f"images{n}).</p><p class=muted>{_e(TIME_HELP)}</p>")


def _paired_html(rep: dict, fig_html) -> str:
    from core.analysis.paired import METRIC_WORDS

    p, res = rep["pair"], rep["paired"]
    intro = (f"<p class=muted>Run {_e(p['a'])} (A) against run {_e(p['b'])} (B) on the same test images: McNemar's "
             "exact test on which images each gets right, and paired bootstrap intervals (the same resampled images "
             "for both runs) for the differences B - A.</p>")
    if not res.get("comparable"):
        return intro + f"<div class=warn>{_e(res.get('reason'))}</div>"

    def f(v):
        return "—" if v is None else f"{v:.3f}"

    rows = "".join(f"<tr><th>{_e(METRIC_WORDS[m])}</th><td class=num>{f(v['a'])}</td><td class=num>{f(v['b'])}</td>"
                   f"<td class=num>{f(v['difference'])}</td><td class=num>{f(v['ci'][0])}</td>"
                   f"<td class=num>{f(v['ci'][1])}</td><td>{_e(VERDICT_WORDS.get(v['verdict'], v['verdict']))}</td></tr>"
                   for m, v in res["metrics"].items())
    head = "".join(f"<th>{h}</th>" for h in ("metric", "A", "B", "B - A", "CI low", "CI high", "verdict"))
    sentences = "".join(f"<li>{_e(s)}</li>" for s in res["sentences"])
    return intro + f"<ul>{sentences}</ul><table><tr>{head}</tr>{rows}</table>" + fig_html(rep["figures"]["paired"])


def _external_html(rep: dict) -> str:
    df = rep["external"]
    return _frame_table(df.set_index("run")) + (
        "<p class=muted>Each run scored on labelled image sets it had never seen; images overlapping its own data "
        "were left out. Balanced accuracy with its 95 % bootstrap interval; drop = the run's own test result - "
        "the external one (positive: lower outside), with the interval of the difference.</p>")


def _config_html(rep: dict) -> str:
    diff = rep["config_diff"]
    return "<p>The configurations are identical.</p>" if diff.empty else \
        _frame_table(diff, "setting") + "<p class=muted>Only the settings that differ, the ones that matter most " \
                                        "first (data, model and input, training; augmentation last).</p>"


def _curves_html(rep: dict, fig_html) -> str:
    figs = rep["figures"]
    if figs["curves"] is None:
        return "<p class=muted>No training curves stored.</p>"
    times = "" if figs["epoch_times"] is None else fig_html(figs["epoch_times"]) + \
        "<p class=muted>Epoch timings are not a training curve; the first epoch also builds the model graph, so " \
        "it is usually the slowest.</p>"
    return fig_html(figs["curves"]) + times


def _per_class_html(rep: dict) -> str:
    parts = []
    for classes, members, frame in rep["per_class"]:
        if len(rep["per_class"]) > 1:
            parts.append(f"<p><b>{len(classes)} classes</b> — {_e(', '.join(members))}</p>")
        parts.append(_frame_table(frame.map(lambda v: "—" if v is None or v != v else f"{v:.3f}"), "class"))
    return "".join(parts) or "<p class=muted>No evaluation stored.</p>"


def render_html(rep: dict) -> str:
    """The report as one self-contained HTML page (inline CSS, plotly.js inlined once; nothing fetched)."""
    fig_html = _Figures()
    medical = any(r["domain"] in DOMAIN_MODELS for r in rep["runs"])
    notice = f"<div class=notice>{_e(RESEARCH_NOTICE)}</div>" if medical else ""
    note = f"<div class=note>{_lines(rep['note'])}</div>" if rep["note"] else ""
    sections = [
        ("Runs", _runs_html(rep)),
        ("Results", _results_html(rep)),
        ("Paired comparison", _paired_html(rep, fig_html)),
        *([("External validations", _external_html(rep))] if len(rep.get("external", ())) else []),
        ("Configuration differences", _config_html(rep)),
        ("Training curves", _curves_html(rep, fig_html)),
        ("Per-class F1", _per_class_html(rep)),
        ("ROC curves", fig_html(rep["figures"]["roc"]) or "<p class=muted>No evaluation stored.</p>"),
        ("Confusion matrices", "".join(map(fig_html, rep["figures"]["confusions"]))
         + "<p class=muted>Rows: actual class; columns: predicted class; each cell: count and share of the row.</p>"),
    ]
    body = "".join(f"<h2>{_e(h)}</h2>{c}" for h, c in sections)
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content=\"width=device-width, initial-scale=1\"><title>" + _e(rep["title"])
            + "</title><style>" + REPORT_CSS + "</style></head><body><h1>" + _e(rep["title"])
            + f"</h1><p class=muted>Generated {_e(rep['generated'])} by the image-classification lab from the stored "
              f"results of {len(rep['runs'])} runs.</p>" + notice + note + body + "</body></html>")


def compare_report(store, run_ids, **options) -> str:
    """:func:`render_html` of :func:`collect` (same options)."""
    return render_html(collect(store, run_ids, **options))


def report_file_name(title: str, run_ids) -> str:
    """A safe download name: ``compare_3_7.html`` (letters, digits, ``_`` and ``-`` of the title first)."""
    stem = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in (title or "").strip())
    stem = "_".join(filter(None, stem.split("_")))[:60]
    return f"{stem or 'compare'}_{'_'.join(str(int(i)) for i in run_ids)}.html"


def write_compare_report(store, run_ids, out: str | Path, **options) -> Path:
    """Write the report of ``run_ids`` to ``out`` (atomically); returns the path."""
    from core.files import atomic_write

    out, text = Path(out), compare_report(store, run_ids, **options)
    atomic_write(out, lambda p: Path(p).write_text(text, encoding="utf-8"))
    return out
