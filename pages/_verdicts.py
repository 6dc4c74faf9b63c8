"""Verdicts on a run (``core.analysis.verdicts``) as the pages show them: the callout of a model that
predicts one class or is no better than chance (Run page, Compare), its short mark in the Runs list,
the sensitivity floors of the champion promotion, and the low-precision hint of Predict.

    from pages import _verdicts
    _verdicts.one_class_callout(summary, predictions, class_names, evaluation=ev)   # Run page
    _verdicts.show_warning(one_class_warning(summary, pred, names), label="Run #12")  # Compare
"""
from __future__ import annotations

import streamlit as st

from core.analysis.verdicts import Shortfall, Verdict, one_class_verdict
from core.store.artifacts import RunFolder
from pages import _artifacts, _format

__all__ = ["show_warning", "one_class_callout", "list_mark", "shortfalls_notice", "low_precision_hint"]

ICON = ":material/report:"
#: the Runs list reads a run's stored evaluation (its predicted counts) only when its summary leaves a
#: one-class model possible: a class predicted for >= 95 % of the images has specificity <= 0.5 unless
#: it is over 90 % of the test split
_SPECIFICITY_SKIP = 0.5


def show_warning(text: str | None, *, label: str | None = None, where=None) -> None:
    """The plain-words warning of ``core.analysis.verdicts.one_class_warning`` as a callout (nothing for None);
    ``label`` names the run (Compare shows several), ``where`` is a container (default: the page)."""
    if not text:
        return
    head = f"**{_format.md_text(label)}: not a working classifier.** " if label else "**Not a working classifier.** "
    (where or st).warning(head + _format.md_text(text), icon=ICON)


def one_class_callout(summary, predictions=None, class_names=None, *, evaluation=None, label: str | None = None,
                      where=None) -> Verdict | None:
    """Run page: the callout of a model predicting one class or at chance; returns the verdict (None: none)."""
    v = one_class_verdict(summary, predictions, class_names, evaluation=evaluation)
    show_warning(None if v is None else v.text, label=label, where=where)
    return v


@st.cache_data(show_spinner=False, max_entries=1024)
def _stored_counts(folder: str, mtime: float) -> dict | None:
    """What the list needs of a run's evaluation: class names and predicted counts (cached per file time)."""
    try:
        ev = RunFolder(folder).read_json("evaluation")
    except (OSError, ValueError):
        return None
    if not ev or not ev.get("per_class"):
        return None
    return {"class_names": ev.get("class_names"),
            "per_class": [{"index": c["index"], "predicted": c.get("predicted")} for c in ev["per_class"]]}


def list_mark(r) -> str:
    """The Runs list's mark of a run: "one class", "at chance" or "" (runs without metrics: "")."""
    s = r.summary or {}
    if getattr(r, "status", None) != "succeeded" or not s:
        return ""
    ev = None
    spec = s.get("min_specificity")
    if spec is None or spec <= _SPECIFICITY_SKIP:
        rf = _artifacts.run_folder(r)
        ev = _stored_counts(str(rf.path), rf.mtime("evaluation"))
    v = one_class_verdict(s, evaluation=ev)
    return "" if v is None else v.kind


def shortfalls_notice(dataset: str, shortfalls: list[Shortfall], where=None) -> None:
    """Champion promotion: the classes under the dataset's sensitivity floor, one a line, and what it takes."""
    lines = "\n".join(f"- {_format.md_text(s.text())}" for s in shortfalls)
    (where or st).warning(
        f"**Below the sensitivity floor of {_format.md_text(dataset)}.** On its test split this run finds too few "
        f"images of {_format.plural(len(shortfalls), 'class', 'classes')}:\n{lines}\n\nMaking it champion needs a "
        "note saying why; the note and these numbers are kept with the champion record.", icon=ICON)


def low_precision_hint(text: str | None, where=None) -> None:
    """Predict: the predicted class is rarely right on the run's test split (``low_precision_warning``)."""
    if text:
        (where or st).warning(f"**Often wrong for this class.** {_format.md_text(text)}", icon=":material/rule:")
