"""Error-analysis sections of the Compare and Run pages: the paired comparison of two runs
and the slices of one run. Only widgets here; the numbers and figures come from ``core.analysis`` and
``core.analysis.slices``. Every failure (no predictions, a dataset that cannot be reloaded, runs that are not
comparable) becomes a message, never a traceback.

Hook-ups: Compare page ``_analysis_ui.paired_section_for(details)`` (or ``paired_section(a, b)``);
Run page: a "Slices" tab drawing ``_analysis_ui.slices_section(r)``.
"""
from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import streamlit as st

from core.metrics.bootstrap import INTERVAL_RESAMPLES
from core.validation import LabError
from pages import _artifacts, _format

__all__ = ["paired_section", "paired_section_for", "slices_section"]

log = logging.getLogger("lab.pages")

N_BOOTSTRAP = INTERVAL_RESAMPLES  # the model card's and the CLI's too


def _run_key(run) -> tuple:
    """What the cached computations need of a run (hashable): id, name, status, folder, file time, config."""
    rf = _artifacts.run_folder(run)
    return (int(run.id), str(run.name), str(run.status), str(rf.path), rf.mtime("predictions"),
            json.dumps(getattr(run, "config", None) or {}, sort_keys=True, default=str))


def _as_run(key: tuple):
    rid, name, status, folder, _mt, config = key
    return SimpleNamespace(id=rid, name=name, status=status, config=json.loads(config), artifacts=[]), Path(folder)


@st.cache_data(show_spinner=False, max_entries=64)
def _paired(key_a: tuple, key_b: tuple, n_bootstrap: int) -> dict:
    from core.analysis.paired import NotComparable, load_run_predictions, paired_comparison

    ra, fa = _as_run(key_a)
    rb, fb = _as_run(key_b)
    a, b = load_run_predictions(ra, fa), load_run_predictions(rb, fb)
    try:
        return paired_comparison(a, b, n_bootstrap=n_bootstrap)
    except NotComparable as e:
        return {"comparable": False, "reason": str(e), "reasons": e.reasons}


def _report_error(err: Exception, what: str) -> None:
    if isinstance(err, LabError):
        st.info(_format.md_text(err), icon=":material/info:")
    else:  # a bug: a message here, the traceback in the server log
        log.error("%s failed\n%s", what, traceback.format_exc())
        st.error(f"The {what} could not be computed: {type(err).__name__}: {_format.md_text(err)}. "
                 "The details are in the server log.", icon=":material/bug_report:")


def paired_section(run_a, run_b) -> None:
    """Compare page: McNemar's test and paired bootstrap intervals of run B - run A, in words, with a
    table and a figure; a message instead when the runs cannot be paired or lack predictions."""
    from core.analysis.paired import METRIC_WORDS, paired_figure

    st.subheader("Paired comparison")
    st.caption(f"Run #{run_a.id} (A) against run #{run_b.id} (B) on the same test images: McNemar's exact test "
               "on which images each gets right, and paired bootstrap intervals (the same resampled images for "
               "both runs) for the differences B - A.")
    try:
        with st.spinner("Pairing the test predictions…"):
            res = _paired(_run_key(run_a), _run_key(run_b), N_BOOTSTRAP)
    except Exception as err:  # noqa: BLE001 - every failure is a message
        _report_error(err, "paired comparison")
        return
    if not res.get("comparable"):
        st.warning(_format.md_text(res.get("reason")), icon=":material/compare_arrows:")
        return
    for s in res["sentences"]:
        st.markdown("- " + _format.md_text(s))
    rows = [{"metric": METRIC_WORDS[m], "A": v["a"], "B": v["b"], "B - A": v["difference"], "CI low": v["ci"][0],
             "CI high": v["ci"][1], "verdict": v["verdict"].replace("_", " ")} for m, v in res["metrics"].items()]
    fmt = {c: st.column_config.NumberColumn(c, format="%.3f") for c in ("A", "B", "B - A", "CI low", "CI high")}
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=fmt, key="an_paired_table")
    st.plotly_chart(paired_figure(res), width="stretch", key="an_paired_fig")


def paired_section_for(details: list) -> None:
    """Compare page with 2+ runs: the paired comparison of the first two, or of two chosen ones."""
    if len(details) < 2:
        return
    a, b = details[0], details[1]
    if len(details) > 2:
        labels = {r.id: f"#{r.id} · {r.name}" for r in details}
        c = st.columns(2)
        ia = c[0].selectbox("Run A (baseline)", list(labels), format_func=labels.get, key="an_pair_a")
        ib = c[1].selectbox("Run B", [i for i in labels if i != ia], format_func=labels.get, key="an_pair_b")
        by_id = {r.id: r for r in details}
        a, b = by_id[ia], by_id[ib]
    paired_section(a, b)


@st.cache_data(show_spinner=False, max_entries=32)
def _slices(key: tuple, n_bootstrap: int) -> dict:
    from core.analysis.slices import run_slices

    run, folder = _as_run(key)
    return run_slices(run, folder, n_bootstrap=n_bootstrap)


def _styled(df: pd.DataFrame):
    from core.analysis.slices import BELOW, TOO_SMALL

    def colour(row):
        c = ("background-color: rgba(214,39,40,0.15)" if row["status"] == BELOW else
             "color: #9E9E9E" if row["status"] == TOO_SMALL else "")
        return [c] * len(row)

    return df.style.apply(colour, axis=1).format(precision=3, na_rep="—")


def slices_section(run) -> None:
    """Run page: metrics per subgroup of the test split (metadata, brightness, size) as a table and a
    figure with interval bars; flagged slices highlighted, too-small ones greyed, never hidden."""
    from core.analysis.slices import flagged_sentences, sensitivity_frame, slices_figure, slices_frame

    st.subheader("Slices")
    if getattr(run, "status", "succeeded") != "succeeded":
        st.info(f"Run #{run.id} is {run.status}: slices need the test predictions of a finished run.",
                icon=":material/info:")
        return
    try:
        with st.spinner("Computing the slices (the first time reads the dataset's metadata and images)…"):
            res = _slices(_run_key(run), N_BOOTSTRAP)
    except Exception as err:  # noqa: BLE001 - every failure is a message
        _report_error(err, "slices")
        return
    if not res["slices"]:
        st.info("This dataset has no metadata or image property to slice by. "
                + " ".join(_format.md_text(f"{c}: {w}.") for c, w in res["skipped"].items()), icon=":material/info:")
        return
    cols = res["columns"]
    c = st.columns([3, 2])
    chosen = c[0].multiselect("Slice by", cols, default=cols, key="an_slice_by")
    metric = c[1].radio("Metric", ["accuracy", "balanced_accuracy"], horizontal=True, key="an_slice_metric",
                        format_func=lambda m: m.replace("_", " "))
    for line in flagged_sentences(res):
        st.markdown("- " + _format.md_text(line))
    df = slices_frame(res)
    df = df[(df["by"] == "whole test set") | df["by"].isin(chosen)]
    st.dataframe(_styled(df), hide_index=True, width="stretch", key="an_slice_table")
    if chosen:
        st.plotly_chart(slices_figure(res, metric, columns=chosen), width="stretch", key="an_slice_fig")
    with st.expander("Per-class sensitivity with intervals"):
        sens = sensitivity_frame(res)
        sens = sens[(sens["by"] == "whole test set") | sens["by"].isin(chosen)]
        st.dataframe(sens, hide_index=True, width="stretch", key="an_slice_sens",
                     column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                    for c in ("sensitivity", "low", "high")})
    notes = [*res["notices"], *(f"Not sliced by {c}: {w}." for c, w in res["skipped"].items())]
    o = res["options"]
    st.caption(f"{round(100 * o['level'])} % bootstrap intervals ({o['n_bootstrap']} resamples within each slice). "
               "Red: the slice's interval lies below the whole test set's. Grey: fewer than "
               f"{_format.plural(o['min_n'], 'image')}, too small to say; a class with fewer than "
               f"{_format.plural(o['min_class'], 'image')} in a slice gets no sensitivity "
               "and makes that slice's balanced accuracy too small to say. " + " ".join(map(_format.md_text, notes)))
