"""The case sheet: one predicted image as a self-contained, printable HTML page.

:func:`case_sheet_html` writes the image and its explanation overlay (inlined as base64 PNGs), the
top classes with their calibrated probabilities, how the model did on its own test split for the
predicted class (sensitivity, specificity, precision, n: the run's evaluation), how it did for that
class on each external validation set (``store.list_external_evaluations``; "no external validation
yet" when there is none), the warnings the prediction came with, and the research-use notice for
medical (lesion, fundus) models. Every stored or typed text (the image's name, the run's name, class
names, warnings, the names of external sets) is escaped for HTML, its invisible and bidirectional
characters shown by their code. No script, no link, nothing fetched; print CSS keeps it on paper.
"""
from __future__ import annotations

import datetime as _dt
import html
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.analysis.model_card import CSS, DOMAIN_MODELS, RESEARCH_NOTICE, _png_b64
from core.serving.inference import display_copy
from core.text import fmt_num, plain_text

__all__ = ["case_sheet_html", "class_results", "external_rows", "case_sheet_file_name", "RESEARCH_NOTICE"]

CASE_CSS = CSS + """
body{max-width:900px}.imgs{display:flex;gap:1.2em;flex-wrap:wrap}.imgs figure{margin:0;flex:1 1 260px}
.imgs img{width:100%;max-width:360px;image-rendering:pixelated;border:1px solid #d0d7de}
figcaption{font-size:.85em;color:#59636e}.warn{border:1px solid #d4a72c;background:#fff8c5;padding:.5em 1em;
margin:.4em 0}td{white-space:nowrap}td:first-child{white-space:normal}
.bar{display:inline-block;height:.8em;background:#1f77b4;vertical-align:middle}
@media print{body{margin:0;max-width:none;font-size:11pt}.imgs img{max-width:7cm}h2{break-after:avoid}
table,figure,.notice,.warn{break-inside:avoid}@page{margin:1.5cm}}
"""
TOP_K = 5
_NUMBER = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?|—)$")
MAX_SIDE = 800  # pixels of the longer side of the images inlined (enough for a printed page)
DEFAULT_CALIBRATION_NOTE = ("Probabilities as Predict showed them: calibrated by the run's temperature scaling (fitted "
                            "on its validation split) when the run has one, else the model's own.")


def _e(value: Any) -> str:
    return html.escape(plain_text(value), quote=True)


def class_results(evaluation: dict | None, class_name: str) -> dict | None:
    """The per-class row of ``evaluation`` (the run's test evaluation, or an external one's result)
    for ``class_name``: {"sensitivity", "specificity", "precision", "n"}; None when it has none."""
    for row in (evaluation or {}).get("per_class") or []:
        if str(row.get("class")) == str(class_name):
            return {"sensitivity": row.get("sensitivity"), "specificity": row.get("specificity"),
                    "precision": row.get("precision"), "n": row.get("support")}
    return None


def external_rows(evaluations: Sequence[Any], class_name: str) -> list[dict]:
    """For each external evaluation (``ExternalEvaluation``s, newest first): its name, date, images
    scored and the results for ``class_name`` (None when the set has no such class)."""
    out = []
    for ev in evaluations or []:
        created = getattr(ev, "created_at", None)
        out.append({"name": getattr(ev, "name", "") or f"external set {getattr(ev, 'id', '?')}",
                    "date": created.strftime("%Y-%m-%d") if created else "",
                    "n_images": getattr(ev, "n_images", None),
                    "results": class_results(getattr(ev, "result", None), class_name)})
    return out


def case_sheet_file_name(name: str, run_id: Any) -> str:
    """``<image stem>_case_run<id>.html``: the user's own image name, with only safe characters."""
    stem = str(name or "image").rsplit(".", 1)[0]
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:80].strip("_") or "image"
    return f"{safe}_case_run{run_id}.html"


def _results_cells(res: dict | None) -> list[str]:
    if res is None:
        return ["—", "—", "—", "—"]
    n = res.get("n")
    return [fmt_num(res.get("sensitivity")), fmt_num(res.get("specificity")), fmt_num(res.get("precision")),
            "—" if n is None else str(int(n))]


def _row(cells: Sequence[str], *, head: bool = False) -> str:
    if head:
        return "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in cells) + "</tr>"
    return "<tr>" + "".join(f"<td class=num>{_e(c)}</td>" if _NUMBER.match(str(c)) else f"<td>{_e(c)}</td>"
                            for c in cells) + "</tr>"


def _top_classes(probs: np.ndarray, class_names: Sequence[str], pred: int, top_k: int, note: str | None) -> str:
    order = np.argsort(-probs, kind="stable")[:top_k]
    rows = []
    for i in order:
        p = float(probs[i])
        bar = f"<span class=bar style=\"width:{max(0.0, min(1.0, p)) * 120:.0f}px\"></span>"
        mark = " (predicted)" if int(i) == pred else ""
        rows.append(f"<tr><td>{_e(class_names[int(i)])}{mark}</td><td class=num>{p:.1%}</td><td>{bar}</td></tr>")
    return ("<table><tr><th>class</th><th>probability</th><th></th></tr>" + "".join(rows) + "</table>"
            f"<p class=muted>{_e(note or DEFAULT_CALIBRATION_NOTE)}</p>")


def _internal_html(ev: dict | None, cls: str) -> str:
    res = class_results(ev, cls)
    if res is None:
        return "<p class=muted>This run has no test results for this class.</p>"
    head = _row(["set", "sensitivity", "specificity", "precision", "n (images of the class)"], head=True)
    return (f"<table>{head}{_row(['internal test split', *_results_cells(res)])}</table>"
            "<p class=muted>The run's own test split: images of the training data's source it never trained on.</p>")


def _external_html(rows: list[dict], cls: str) -> str:
    if not rows:
        return ("<p><b>No external validation yet.</b> The model has been tested only on images from the same source "
                "as its training data; results on other hospitals, cameras or populations are unknown.</p>")
    head = _row(["external set", "date", "images scored", "sensitivity", "specificity", "precision",
                 "n (images of the class)"], head=True)
    body = "".join(_row([r["name"], r["date"], "—" if r["n_images"] is None else str(r["n_images"]),
                         *_results_cells(r["results"])]) for r in rows)
    missing = [r["name"] for r in rows if r["results"] is None]
    note = (f"<p class=muted>Not in {_e(', '.join(missing))}: that set has no images of class {_e(cls)}.</p>"
            if missing else "")
    return f"<table>{head}{body}</table>{note}"


def case_sheet_html(*, run: Any, class_names: Sequence[str], name: str, image: np.ndarray, overlay: np.ndarray,
                    probs: Sequence[float], warnings: Sequence[str] = (), method: str = "", ev: dict | None = None,
                    external: Sequence[Any] = (), domain: str | None = None, top_k: int = TOP_K,
                    when: _dt.datetime | None = None, calibration_note: str | None = None) -> str:
    """The case sheet of one predicted image as one printable HTML page (see the module's text).
    ``run``: the run (id, name, dataset, model); ``ev``: its test evaluation; ``external``: its
    external evaluations; ``domain``: the model's domain (``lesion``/``fundus`` add the notice)."""
    p = np.asarray(probs, dtype=float).ravel()
    names = [str(c) for c in class_names]
    if p.size != len(names) or p.size == 0:
        raise ValueError(f"{p.size} probabilities for {len(names)} classes; a case sheet needs one per class.")
    pred = int(np.argmax(p))
    cls = names[pred]
    when = when or _dt.datetime.now(_dt.UTC)
    image, overlay = display_copy(image, MAX_SIDE), display_copy(overlay, MAX_SIDE)
    notice = f"<div class=notice>{_e(RESEARCH_NOTICE)}</div>" if domain in DOMAIN_MODELS else ""
    run_line = (f"Run #{_e(getattr(run, 'id', '?'))} · {_e(getattr(run, 'name', ''))} · dataset "
                f"{_e(getattr(run, 'dataset', '') or '?')} · model {_e(getattr(run, 'model', '') or '?')}")
    warns = "".join(f"<div class=warn>{_e(w)}</div>" for w in warnings) or "<p class=muted>No warnings.</p>"
    method_text = _e(method or "explanation")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Case sheet: {_e(name)}</title>
<style>{CASE_CSS}</style></head><body>
<h1>Case sheet: {_e(name)}</h1>
<p class=muted>{run_line}<br>Made {when:%Y-%m-%d %H:%M} UTC by the image-classification lab.</p>
{notice}
<h2>Prediction: {_e(cls)} ({p[pred]:.1%})</h2>
<div class=imgs><figure><img alt="the image" src="data:image/png;base64,{_png_b64(image)}">
<figcaption>The image as the model saw it.</figcaption></figure>
<figure><img alt="{method_text} overlay" src="data:image/png;base64,{_png_b64(overlay)}">
<figcaption>{method_text} overlay: where the model looked for its answer.</figcaption></figure></div>
<h2>Top classes</h2>
{_top_classes(p, names, pred, top_k, calibration_note)}
<h2>How the model did for class {_e(cls)}</h2>
<h3>Internal test results</h3>
{_internal_html(ev, cls)}
<h3>External validation</h3>
{_external_html(external_rows(external, cls), cls)}
<h2>Warnings</h2>
{warns}
<p class=muted>Sensitivity: share of the images of this class the model found. Specificity: share of the other images
it did not call this class. Precision: share of its "{_e(cls)}" answers that were right.</p>
</body></html>
"""
