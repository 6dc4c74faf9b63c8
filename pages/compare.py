"""Compare: 2+ runs -> config differences, overlaid curves, the report B table (+ balanced
accuracy, macro AUC, kappa), per-class F1, confusion matrices, ROC overlays.

Every run keeps one colour in every figure of the page (``plots.run_colors``); runs trained
on different datasets or splits are flagged, and per-class results are only put side by side
for runs that share the same classes. The tables, warnings and figures are built by ``core.analysis.comparison``,
so the shareable HTML report (``core.analysis.report``; a title, a note and a download button here) shows the same."""
from __future__ import annotations

import streamlit as st

from core.analysis import comparison
from core.analysis.comparison import config_diff, run_name
from pages import _analysis_ui, _artifacts, _format, _frame, _resources, _streamlit_internals, _verdicts, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

TIME_HELP = (f"**{comparison.TRAIN_TIME}**: the seconds spent fitting the model (all epochs, validation after each "
             f"epoch included). **{comparison.WALL_TIME}**: from the moment the job started to the moment it ended, "
             f"so it also counts loading and preparing the data, building the model, evaluating on the test set and "
             f"saving the model; it is always the longer of the two.")
REPORT_KEY = "c_report"


@_widgets.guarded
def body() -> None:
    st.title("Compare runs")
    store = _resources.guarded_store()  # only the runs this session's actor may see
    details = chosen_runs(store)
    if details is None:
        return
    arts = {r.id: _artifacts.run_artifacts(r) for r in details}

    from core.analysis import plots

    names = {r.id: run_name(r) for r in details}
    colors = plots.run_colors([names[r.id] for r in details])  # one colour per run, in every figure below
    champs = store.champions()
    st.markdown("&emsp;".join(f'<span style="color:{colors[names[r.id]]};font-size:1.2em">■</span> '
                              f"{_format.md_text(names[r.id])}{champion_badge(r, champs)}" for r in details),
                unsafe_allow_html=True)
    report_section(store, details)
    comp = comparison.comparability(details, arts)
    for name, text in comp["verdicts"].items():
        _verdicts.show_warning(text, label=name)
    for msg in comp["warnings"]:
        st.warning(_format.md_text(msg), icon=":material/compare_arrows:")

    st.subheader("Results")
    st.dataframe(comparison.results_table(details, arts, champs), width="stretch")
    st.caption(TIME_HELP)
    _analysis_ui.paired_section_for(details)
    external_section(store, details, arts)
    st.subheader("Configuration differences")
    diff = config_diff(details)
    if diff.empty:
        st.caption("The configurations are identical.")
    else:
        st.dataframe(diff, width="stretch", height=min(38 + 35 * len(diff), 900))  # every row in view
    curves_section(store, [r.id for r in details], names, colors)
    evs = {names[r.id]: arts[r.id][0] for r in details if arts[r.id][0]}
    if evs:
        evaluation_sections(evs, comp["class_groups"], colors)


def external_section(store, details: list, arts: dict) -> None:
    """The runs' external validations (each scored on an image set it had never seen), when they have any."""
    evals = comparison.external_evaluations(store, details)
    if not any(evals.values()):
        return
    st.subheader("External validations")
    st.dataframe(comparison.external_table(details, evals, arts), hide_index=True, width="stretch", key="c_external")
    st.caption("Each run scored on labelled image sets it had never seen (its page, tab External validation, has the "
               "details). Balanced accuracy with its 95 % bootstrap interval; drop = the run's own test result − the "
               "external one (positive: lower outside), with the interval of the difference.")


def champion_badge(r, champs: dict[str, int]) -> str:
    """Markdown (escaped) after a run's name in the legend: ' ★ champion of digits', or ''."""
    return f" ★ champion of {_format.md_text(r.dataset)}" if comparison.is_champion(r, champs) else ""


def _report_pair(details: list) -> tuple[int, int]:
    """The two runs of the page's paired comparison (its A/B choice with 3+ runs, else the first two)."""
    ids = [r.id for r in details]
    a, b = st.session_state.get("an_pair_a"), st.session_state.get("an_pair_b")
    return (a, b) if len(ids) > 2 and a in ids and b in ids and a != b else (ids[0], ids[1])


def report_section(store, details: list) -> None:
    """Share this comparison: a title and a note, then one self-contained HTML file (core.analysis.report)."""
    from core.analysis.report import MAX_NOTE, MAX_TITLE, compare_report, report_file_name

    with st.expander("Share this comparison as a report (one HTML file)", icon=":material/share:"):
        st.caption("The curves, the results with their intervals, the paired test, the configuration differences "
                   "and the confusion matrices in one file that opens in any browser, offline: no lab needed.")
        title = st.text_input("Title", key="c_report_title", max_chars=MAX_TITLE,
                              placeholder=f"Comparison of {_format.plural(len(details), 'run')}")
        note = st.text_area("Note", key="c_report_note", max_chars=MAX_NOTE, height=100,
                            placeholder="What was compared and what you conclude")
        ids = [r.id for r in details]
        want = (tuple(ids), title, note, _report_pair(details), bool(st.session_state.get("c_cm_norm", True)))
        c = st.columns(2)
        refused = next((r for r in details if not _resources.may("share_report", r)), None)
        if refused is not None:
            st.caption(f":material/lock: {_format.md_text(_resources.may('share_report', refused).reason)}")
        elif c[0].button("Build report", key="c_report_build", icon=":material/description:"):
            try:
                with st.spinner("Building the report (paired bootstrap and figures)…"):
                    text = compare_report(store, ids, title=title, note=note, pair=want[3], normalize=want[4])
                st.session_state[REPORT_KEY] = {"key": want, "html": text.encode("utf-8"),
                                                "file_name": report_file_name(title, ids)}
            except Exception as err:  # noqa: BLE001 - say why, keep the page
                st.warning(f"The report cannot be built: {_format.md_text(err)}", icon=":material/warning:")
        built = st.session_state.get(REPORT_KEY)
        if built and built["key"] == want:
            c[1].download_button("Download report (HTML)", data=built["html"], file_name=built["file_name"],
                                 mime="text/html", key="c_report_download", on_click="ignore",
                                 icon=":material/download:")
            st.caption(f"{len(built['html']) / 1e6:.1f} MB, plotly.js included so the charts work offline.")
        elif built:
            st.caption("The runs, title or note changed since the report was built: build it again.")


def chosen_runs(store) -> list | None:
    """The runs picked to compare (2 or more; ``?runs=3,7`` preselects), else None with a hint."""
    c = st.columns([2, 3])
    text = c[0].text_input("Filter runs", key="c_text", placeholder="name, dataset, model, tag")
    # only the newest 100 finished runs are offered (fast with thousands stored); ?runs= adds others
    rows, total = store.list_runs(status="succeeded", kind="train", text=text.strip() or None, limit=100)
    if total < 2 and not text:
        st.info("Compare needs at least two succeeded runs. Train some on **Train** (or the quick start on **Home**).",
                icon=":material/info:")
        return None
    labels = {r.id: _format.run_label(r) for r in rows}
    # ?runs=3,7 (or ?runs=3&runs=7) preselects runs
    pre = [int(x) for v in st.query_params.get_all("runs") for x in v.split(",") if x.strip().isdigit()]
    for rid in pre:  # preselected runs older than the newest 100
        if rid not in labels and store.exists(rid):
            labels[rid] = _format.run_label(store.get_run(rid))
    default = [i for i in pre if i in labels] or list(labels)[:2]
    chosen = c[1].multiselect("Runs", list(labels), default=default, format_func=labels.get, key="c_runs")
    if len(chosen) < 2:
        st.info("Choose at least two runs.")
        return None
    return [store.get_run(i) for i in chosen]


def curves_section(store, ids: list[int], names: dict, colors: dict) -> None:
    """The runs' training curves (and epoch timings) overlaid, one colour per run."""
    curves, times = comparison.curves_figures(store.get_histories(ids), names, colors)
    if curves is None:
        return
    st.subheader("Training curves")
    st.plotly_chart(curves, width="stretch", key="c_curves")
    if times is not None:
        st.plotly_chart(times, width="content", key="c_epoch_times")
        st.caption("Epoch timings are not a training curve; the first epoch also builds the model graph, so it "
                   "is usually the slowest.")


def evaluation_sections(evs: dict, groups: dict, colors: dict) -> None:
    """Per-class F1 (side by side only within runs sharing their classes), ROC overlays, confusion matrices."""
    st.subheader("Per-class F1")
    for gi, (classes, members, pcf) in enumerate(comparison.per_class_f1(evs, groups)):
        if len(groups) > 1:
            st.markdown(f"**{len(classes)} classes** — " + ", ".join(_format.md_text(m) for m in members))
        st.dataframe(pcf, width="stretch", key=f"c_pcf_{gi}",
                     column_config={k: st.column_config.NumberColumn(k, format="%.3f") for k in pcf.columns})
    st.subheader("ROC curves")
    st.plotly_chart(comparison.roc_figure(evs, colors), width="stretch", key="c_roc")
    st.subheader("Confusion matrices")
    normalize = st.toggle("Colour by row share (cells always show count and row %)", value=True, key="c_cm_norm")
    # one per row: readable for any number of runs and classes
    for i, fig in enumerate(comparison.confusion_figures(evs, colors, normalize=normalize)):
        st.plotly_chart(fig, width="stretch", key=f"c_cm_{i}")


body()
