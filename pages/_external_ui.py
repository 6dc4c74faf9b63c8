"""The Run page's "External validation" tab: the run scored on labelled image sets it has never seen
(another hospital, another camera), beside its own test results.

Lists the run's external evaluations (``store.list_external_evaluations``); for the chosen one: the drop of every
metric from the run's own test split (with its interval, ``core.analysis.comparison.drop_table``), the results
drawn by the same figures as the internal ones (``core.analysis.plots``), the confusion matrix with its images
(``core.analysis.cells``; the set's folder is listed again and its file list checked first), the slices, the
shift report and what was left out as overlapping the run's own data. A user with the "validate" right starts a
new one from here (``core.analysis.external``). Only widgets here; every failure is a message.

Hook-up: Run page, tab "External validation": ``_external_ui.external_tab(r, ev, meta)``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import streamlit as st

from core.validation import LabError
from pages import _artifacts, _format, _resources, _widgets

__all__ = ["external_tab", "list_evaluations", "evaluations_frame", "feature_auc_words"]

log = logging.getLogger("lab.pages")

SPLITS = ("train", "val", "test")
PER_PAGE = 12


# ------------------------------------------------------------------ the tab
def external_tab(r, ev, meta) -> None:
    """The run's external evaluations, a way to start one, and the chosen one's results."""
    st.subheader("External validation")
    st.caption("The model scored on a labelled image set it has never seen (another clinic, camera or time): how "
               "much of its test result holds outside its own data. Images that overlap its training, validation "
               "or test data are found and left out first.")
    if r.status != "succeeded":
        st.info(f"Run #{r.id} is {r.status}: only a succeeded run can be validated on an external set.",
                icon=":material/info:")
        return
    start_section(r)
    jobs_caption(r)
    evals = list_evaluations(r)
    if not evals:
        st.info("No external validation of this run yet.", icon=":material/info:")
        return
    st.dataframe(evaluations_frame(evals), hide_index=True, width="stretch", key=f"x_list_{r.id}")
    labels = {x.id: f"{x.name} · {x.created_at:%Y-%m-%d %H:%M} · {_format.plural(int(x.n_images), 'image')}"
              for x in evals}
    pick = st.selectbox("External set", list(labels), format_func=labels.get, key=f"x_pick_{r.id}")
    x = next(x for x in evals if x.id == pick)
    try:
        evaluation_view(r, ev, meta, x)
    except Exception as err:  # noqa: BLE001 - a damaged record is a message, the page stays
        log.exception("external evaluation %s of run %s could not be shown", x.id, r.id)
        st.error(f"External evaluation '{_format.md_text(x.name)}' cannot be shown: {type(err).__name__}: "
                 f"{_format.md_text(err)}", icon=":material/bug_report:")


def jobs_caption(r) -> None:
    """The run's validation jobs still queued or running (background jobs of large sets)."""
    from core.store.schema import FINAL_STATUSES

    store = _resources.guarded_store()
    try:
        rows, _ = store.list_runs(parent_id=r.id, kind="validation", limit=5)
    except LabError:
        return
    waiting = [c for c in rows if c.status not in FINAL_STATUSES]
    failed = [c for c in rows if c.status in ("failed", "cancelled")]
    if waiting:
        st.info("Validation " + "; ".join(f"job #{c.id} ({_format.md_text(c.name)}) is {c.status}" for c in waiting)
                + ". Its results appear here when it has finished.", icon=":material/schedule:")
    for c in failed[:2]:
        st.caption(f":material/error: Validation job #{c.id} {c.status}: {_format.md_text(c.error or 'no reason given')}")


def list_evaluations(r) -> list:
    """The run's external evaluations, newest first, read through the actor's guarded store."""
    return list(_resources.guarded_store().list_external_evaluations(r.id))


OVERLAP_BY = {"lesion_id": "lesion id", "patient_id": "patient id", "image_hash": "image content"}


def _overlap_text(x) -> str:
    counts = (x.overlap or {}).get("counts") or {}
    by = OVERLAP_BY.get((x.overlap or {}).get("by"), (x.overlap or {}).get("by") or "?")
    parts = [f"{s} {int(counts.get(s) or 0)}" for s in SPLITS]
    return f"{int(x.n_overlap or 0)} ({', '.join(parts)}; by {by})"


def evaluations_frame(evals) -> pd.DataFrame:
    """One row per external evaluation (text cells)."""
    return pd.DataFrame([{
        "name": _format.plain_text(x.name), "date": f"{x.created_at:%Y-%m-%d %H:%M}",
        "images scored": f"{int(x.n_images):,}", "left out as overlapping": _overlap_text(x),
        "balanced acc.": _format.fmt_num(((x.result or {}).get("summary") or {}).get("balanced_accuracy")),
        "folder": _format.plain_text((x.source or {}).get("data_dir") or ""),
        "file list": (x.files_hash or "")[:12],
    } for x in evals])


# ------------------------------------------------------------------ starting one
CSV_COLUMNS = "HAM10000: lesion_id, image_id, dx; EyePACS: image, level; APTOS: id_code, diagnosis"


def _background_above() -> int:
    from core.analysis.external import BACKGROUND_ABOVE

    return BACKGROUND_ABOVE


def start_section(r) -> None:
    """A folder on the server, an optional labels CSV and a name -> a new external validation (only for an actor
    with the "validate" right; others see why not)."""
    if not _widgets.permitted("validate", r):
        return
    with st.expander("Validate on an external image set", icon=":material/travel_explore:"):
        st.caption("A folder on this server with the images: one sub-folder per class (named as the run's "
                   f"classes), or the images with a labels CSV ({CSV_COLUMNS}). Images already in the run's own "
                   f"data are found and left out. Up to {_format.plural(_background_above(), 'image')} are scored "
                   "while you wait; a larger set becomes a background job.")
        c = st.columns([3, 3, 2])
        folder = c[0].text_input("Folder on the server", key=f"x_dir_{r.id}", placeholder="/data/clinic_b/images")
        labels = c[1].text_input("Labels CSV (optional)", key=f"x_csv_{r.id}", placeholder="/data/clinic_b/labels.csv")
        name = c[2].text_input("Name", key=f"x_name_{r.id}", placeholder="clinic B, 2025")
        if not st.button("Validate", key=f"x_go_{r.id}", icon=":material/play_arrow:", type="primary"):
            return
        problem = check_inputs(folder, labels)
        if problem:
            st.error(problem, icon=":material/error:")
            return
        start_validation(r, folder.strip(), labels.strip() or None, name.strip() or None)


def check_inputs(folder: str, labels: str) -> str | None:
    """What is wrong with the folder and labels CSV typed (Markdown), or None."""
    folder, labels = (folder or "").strip(), (labels or "").strip()
    if not folder:
        return "Give the folder on the server that holds the external images (an absolute path)."
    if not Path(folder).is_dir():
        return (f"There is no folder {_format.md_text(folder)} on the server. Give the absolute path of a folder "
                "that holds the images (class sub-folders, or images with a labels CSV).")
    if labels:
        p = Path(labels)
        if not p.is_file():
            return (f"There is no file {_format.md_text(labels)} on the server. Give the absolute path of a CSV "
                    "file, or leave the box empty when the folder has one sub-folder per class.")
        try:
            head = pd.read_csv(p, nrows=5)
        except (ValueError, OSError, UnicodeDecodeError) as err:
            return (f"{_format.md_text(labels)} cannot be read as a CSV file ({_format.md_text(err)}). A labels "
                    f"CSV has a header row and one row per image ({CSV_COLUMNS}).")
        if head.shape[1] < 2:
            return (f"{_format.md_text(labels)} has {head.shape[1]} column; a labels CSV needs at least an image "
                    f"column and a label column ({CSV_COLUMNS}).")
    from core.analysis.external import detect_format

    try:
        detect_format(folder, labels or None)
    except LabError as err:
        return _format.md_text(err)
    return None


def start_validation(r, folder: str, labels: str | None, name: str | None) -> None:
    """A set of up to ``core.analysis.external.BACKGROUND_ABOVE`` images is scored now (``validate_run``, with a
    progress bar); a larger one is queued as a background "validation" job (``core.jobs.validation``)."""
    from core.analysis import external

    n = _count_images(folder)
    try:
        with _widgets.single_click(f"validate_{r.id}") as act:
            if not act:
                return
            if n is not None and n > external.BACKGROUND_ABOVE and _queue(r, folder, labels, name, n):
                return
            count = f" ({_format.plural(n, 'image')})" if n else ""
            bar = st.progress(0.0, text=f"Reading the external set{count}…")
            eid = external.validate_run(_resources.guarded_store(), r.id, folder, labels_csv=labels, name=name,
                                        progress=lambda f, text: bar.progress(min(1.0, max(0.0, float(f))),
                                                                              text=_format.md_text(text)))
    except external.NothingLeftError as err:
        st.error(_format.md_text(err), icon=":material/join_inner:")
        with st.expander("The overlapping images"):
            st.text("\n".join(err.listing()[:500]))
        return
    except LabError as err:  # a folder the loaders cannot read, a CSV without the expected columns, ...
        st.error(_format.md_text(err), icon=":material/error:")
        return
    bar.empty()
    st.success(f"External validation #{eid} recorded: choose it below.", icon=":material/check_circle:")
    st.session_state[f"x_pick_{r.id}"] = eid


def _count_images(folder: str) -> int | None:
    from core.datasets.common import scan_images

    try:
        return len(scan_images(Path(folder)))
    except Exception:  # noqa: BLE001 - validate_run reports a folder it cannot read, in its own words
        return None


def _queue(r, folder: str, labels: str | None, name: str | None, n: int) -> bool:
    """Queue a background validation job; False when this lab has no such job (then it is scored now)."""
    try:
        from core.jobs.validation import submit_validation
    except ImportError:
        return False
    rid = submit_validation(_resources.guarded_store(), r.id, folder, labels_csv=labels, name=name)
    st.success(f"{_format.plural(n, 'image')}: queued as background job #{rid}. Its result appears here when it has "
               "finished (the sidebar shows its progress).", icon=":material/schedule:")
    return True


# ------------------------------------------------------------------ one evaluation
def evaluation_view(r, ev, meta, x) -> None:
    """The chosen external evaluation: source, overlap, drop, results, confusion with images, curves, slices,
    shift."""
    src = x.source or {}
    st.caption(f"Folder {_format.md_text(src.get('data_dir') or '?')} ({_format.md_text(src.get('format') or '?')}"
               + (f", labels {_format.md_text(src['labels_csv'])}" if src.get("labels_csv") else "")
               + f") · file list {_format.md_text((x.files_hash or '')[:12])} · made {x.created_at:%Y-%m-%d %H:%M}")
    if meta.get("domain") in ("lesion", "fundus"):
        st.caption(f":material/health_and_safety: {_format.RESEARCH_NOTICE}")
    overlap_section(x)
    drop_section(ev, x)
    shift_section(x)
    results_section(ev, x)
    confusion_section(r, x)
    curves_section(x)
    slices_section(x)


def overlap_section(x) -> None:
    st.markdown("**Overlap with the run's own data**")
    ov = x.overlap or {}
    counts = ov.get("counts") or {}
    n = int(x.n_overlap or 0)
    by = OVERLAP_BY.get(ov.get("by"), ov.get("by") or "?")
    if n == 0:
        st.caption(f"No image of this set was found in the run's training, validation or test data (matched by "
                   f"{_format.md_text(by)}); all {_format.plural(int(x.n_images), 'image')} were scored.")
        return
    where = ", ".join(f"{int(counts.get(s) or 0)} in {w}" for s, w in zip(SPLITS, ("training", "validation", "test"),
                                                                              strict=True))
    st.warning(f"{_format.plural(n, 'image')} of this set were already in the run's own data ({where}; matched by "
               f"{_format.md_text(by)}). They were **left out**: the results below are on the other "
               f"{_format.plural(int(x.n_images), 'image')} only.", icon=":material/join_inner:")


def drop_section(ev, x) -> None:
    from core.analysis.comparison import drop_table

    st.markdown("**From the internal test split to the external set**")
    internal = (ev or {}).get("summary") or {}
    external = (x.result or {}).get("summary") or {}
    if not internal or not external:
        st.info("The run's own test evaluation or this set's results are missing, so the drop cannot be shown.")
        return
    df = drop_table(internal, external)
    st.dataframe(df, hide_index=True, width="stretch", key=f"x_drop_{x.id}")
    level = round(100 * float(((ev or {}).get("options") or {}).get("ci_level") or 0.95))
    st.caption(f"Drop = internal − external: positive means lower on the external set (for the calibration error, "
               f"negative means worse). Each value's {level} % bootstrap interval is over its own images; the drop's "
               "interval combines the two (the two sets share no image). 'No clear change' means the interval "
               "includes 0.")


def results_section(ev, x) -> None:
    """The headline metrics with intervals and the per-class table, the internal values beside them."""
    res = x.result or {}
    s = res.get("summary") or {}
    st.markdown(f"**Results on {_format.md_text(x.name)}**")
    keys = [("balanced_accuracy", "Balanced accuracy"), ("macro_auc", "Macro AUC"), ("accuracy", "Accuracy"),
            ("kappa_quadratic", "Quadratic kappa") if "kappa_quadratic" in s else ("macro_f1", "Macro F1"),
            ("ece", "ECE")]
    for col, (k, label) in zip(st.columns(len(keys)), keys, strict=True):
        lo, hi = s.get(f"ci_low_{k}"), s.get(f"ci_high_{k}")
        col.metric(label, _format.fmt_num(s.get(k)))
        if lo is not None and hi is not None:
            col.caption(f"95% CI {_format.fmt_num(lo)}–{_format.fmt_num(hi)}")
    pc = per_class_frame(ev, res)
    if pc is not None:
        st.dataframe(pc, hide_index=True, width="stretch", key=f"x_pc_{x.id}",
                     column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in pc.columns
                                    if c not in ("class", "support")})
    for n in res.get("notices", []):
        st.caption(_format.md_text(n))


def per_class_frame(ev, res) -> pd.DataFrame | None:
    """Per class: the external support, sensitivity and specificity beside the internal ones, AUC, F1."""
    rows = res.get("per_class") or []
    if not rows:
        return None
    own = {str(p.get("class")): p for p in (ev or {}).get("per_class") or []}
    out = []
    for p in rows:
        i = own.get(str(p.get("class")), {})
        out.append({"class": _format.plain_text(p.get("class")), "support": p.get("support"),
                    "sensitivity (internal)": i.get("sensitivity"), "sensitivity (external)": p.get("sensitivity"),
                    "specificity (internal)": i.get("specificity"), "specificity (external)": p.get("specificity"),
                    "AUC (internal)": i.get("auc"), "AUC (external)": p.get("auc"), "F1 (external)": p.get("f1")})
    return pd.DataFrame(out)


def curves_section(x) -> None:
    from core.analysis import plots

    res = x.result or {}
    if not res.get("roc"):
        return
    a, b = st.columns(2)
    a.plotly_chart(plots.roc_curves(res), width="stretch", key=f"x_roc_{x.id}")
    if res.get("pr"):
        b.plotly_chart(plots.pr_curves(res), width="stretch", key=f"x_pr_{x.id}")
    if res.get("calibration"):
        st.plotly_chart(plots.calibration(res, title="Reliability on the external set"), width="stretch",
                        key=f"x_cal_{x.id}")


def slices_section(x) -> None:
    """The external set's slices (when it has metadata), drawn as the run's own Slices tab draws them."""
    res = (x.result or {}).get("slices")
    if not res or not res.get("slices"):
        return
    from core.analysis.slices import flagged_sentences, slices_figure, slices_frame

    st.markdown("**Slices of the external set**")
    for line in flagged_sentences(res):
        st.markdown("- " + _format.md_text(line))
    st.dataframe(slices_frame(res), hide_index=True, width="stretch", key=f"x_slices_{x.id}")
    st.plotly_chart(slices_figure(res, "balanced_accuracy"), width="stretch", key=f"x_slices_fig_{x.id}")


# ------------------------------------------------------------------ shift
def feature_auc_words(auc, ci=None) -> str:
    """What the feature-space AUC means, in plain words (its bands are ``core.analysis.shift``'s)."""
    if auc is None:
        return "The model's features of this set could not be compared with those of its training images."
    from core.analysis.shift import _band

    a = float(auc)
    iv = f" (95% interval {float(ci[0]):.2f}–{float(ci[1]):.2f})" if ci and None not in ci else ""
    band = _band(a)
    return (f"A simple classifier given only the model's own image features tells a training image from an "
            f"external one with AUC {a:.2f}{iv}: to the model, this set "
            f"{band if band.startswith('looks') else 'is ' + band}. 0.5 would mean it cannot tell them apart at "
            "all; near 1 means the external images differ from the ones the model learnt from (camera, lighting, "
            "population, preparation), so its errors and calibration there can differ from its test result.")


def shift_section(x) -> None:
    """The shift report: the verdict, the feature-space AUC in words, calibration before/after, image statistics."""
    sh = x.shift or {}
    st.markdown("**Dataset shift**")
    if not sh:
        st.caption("No shift report was stored for this set.")
        return
    if sh.get("verdict"):
        st.info(_format.md_text(sh["verdict"]), icon=":material/difference:")
    st.markdown(_format.md_text(feature_auc_words(sh.get("feature_auc"), sh.get("feature_auc_interval"))))
    cal = sh.get("calibration") or {}
    if cal:
        c = st.columns(2)
        c[0].metric("ECE on the internal test split", _format.fmt_num(cal.get("ece_internal")))
        c[1].metric("ECE on the external set", _format.fmt_num(cal.get("ece_external")),
                    delta=_delta(cal.get("ece_internal"), cal.get("ece_external")), delta_color="inverse")
        st.caption("Expected calibration error: how far the model's stated confidence is from how often it is "
                   "right (0 = perfectly calibrated). Higher on the external set = its probabilities are less "
                   "trustworthy there.")
    stats = image_stats_frame(sh.get("image_stats"))
    if stats is not None:
        st.dataframe(stats, hide_index=True, width="stretch", key=f"x_stats_{x.id}")
        st.caption("Image size (pixels), brightness and colour (0–255) of a sample of the run's training images "
                   "and of the external set.")


def _delta(a, b) -> str | None:
    try:
        return f"{float(b) - float(a):+.3f}"
    except (TypeError, ValueError):
        return None


def image_stats_frame(stats) -> pd.DataFrame | None:
    """The stored image statistics as a table: one row per statistic, a column per set (or per stored key)."""
    if not stats or not isinstance(stats, dict):
        return None
    if all(isinstance(v, dict) for v in stats.values()):
        df = pd.DataFrame(stats)
        df.index = [str(i).replace("_", " ") for i in df.index]
        df = df.reset_index(names="statistic")
    else:
        df = pd.DataFrame({"statistic": [str(k).replace("_", " ") for k in stats], "value": list(stats.values())})
    return df.map(lambda v: _format.fmt_num(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                  else _format.plain_text(v))


# ------------------------------------------------------------------ confusion matrix and its images
def predictions_path(r, x) -> Path:
    """Where the per-image predictions of external evaluation ``x`` are kept (the run folder's external/)."""
    from core.store.external import predictions_path as path_in

    return path_in(_artifacts.run_folder(r).path, x.id)


def _cell_frame(path: Path) -> pd.DataFrame:
    """The stored predictions (index, label, pred, p_k) as ``core.analysis.cells`` reads a run's (id, y_true,
    y_pred, p_k); the id is the position in the set's sorted file list."""
    df = pd.read_csv(path)
    df = df.rename(columns={"label": "y_true", "pred": "y_pred"})
    df.insert(0, "id", df.pop("index").map(lambda i: f"{int(i):06d}"))
    return df


@st.cache_data(show_spinner=False, max_entries=16)
def _cell_table(path: str, mtime: float, names: tuple):
    from core.analysis.cells import cell_table

    return cell_table(_cell_frame(Path(path)), list(names))


def confusion_section(r, x) -> None:
    from core.analysis import cells, plots

    res = x.result or {}
    if not res.get("confusion"):
        return
    st.markdown("**Confusion matrix on the external set**")
    fig = plots.confusion_matrix(res, normalize=True)
    names = [str(c) for c in res.get("class_names") or []]
    path = predictions_path(r, x)
    table, why = None, "The per-image predictions of this set are not stored, so the images of a cell cannot be shown."
    if path.is_file() and names:
        try:
            table = _cell_table(str(path), path.stat().st_mtime, tuple(names))
        except (LabError, ValueError, KeyError) as err:
            why = f"The images of a cell cannot be shown: {_format.md_text(err)}"
    key = f"x_cm_{x.id}"
    if table is None:
        st.plotly_chart(fig, width="stretch", key=key)
        st.info(why)
        return
    counts = cells.cell_counts(table, names)
    cells.add_click_targets(fig, names, counts)
    kt, kp = f"x_cell_true_{x.id}", f"x_cell_pred_{x.id}"
    if kt not in st.session_state or kp not in st.session_state:
        st.session_state[kt], st.session_state[kp] = cells.most_confused_cell(counts)
    st.plotly_chart(fig, width="stretch", key=key, on_select=lambda: _cell_clicked(key, names, kt, kp),
                    selection_mode="points")
    st.caption("Click a cell, or choose a true and a predicted class, to see that cell's external images.")
    cell_browser(x, table, names, counts, kt, kp)


def _cell_clicked(chart_key: str, names: list, kt: str, kp: str) -> None:
    from core.analysis.cells import cell_from_selection

    cell = cell_from_selection(st.session_state.get(chart_key), names)
    if cell is not None:
        st.session_state[kt], st.session_state[kp] = cell


def cell_browser(x, table, names, counts, kt, kp) -> None:
    """The chosen cell's external images, most confident first, paged; no image when the folder changed."""
    from core.analysis import cells

    c = st.columns(2)
    i = c[0].selectbox("True class", list(range(len(names))), key=kt, format_func=lambda v: names[v])
    j = c[1].selectbox("Predicted class", list(range(len(names))), key=kp, format_func=lambda v: names[v])
    total = int(counts[i, j])
    if total == 0:
        st.info(f"No external image has true class {_format.md_text(names[i])} and predicted class "
                f"{_format.md_text(names[j])}.")
        return
    pages = max(1, -(-total // PER_PAGE))
    page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"x_cell_page_{x.id}_{i}_{j}")) \
        if pages > 1 else 1
    pg = cells.cell_page(table, names, i, j, page=page, per_page=PER_PAGE)
    files, why = current_files(x)
    if files is None:
        st.warning(why, icon=":material/folder_off:")
    st.caption(f"True {_format.md_text(names[i])} → predicted {_format.md_text(names[j])}: "
               f"{_format.plural(total, 'image')}; showing {pg.first}–{pg.last}, most confident first. Caption: "
               "file · p = the model's probability for its prediction.")
    cols = st.columns(4)
    for n, row in pg.rows.iterrows():
        pos = int(row["id"])
        known = files is not None and pos < len(files)
        caption = f"{Path(files[pos]).name if known else f'image {pos}'} · p {row['confidence']:.2f}"
        img = _image(files[pos]) if known else None
        if img is not None:
            cols[n % 4].image(cells.display_image(img), caption=_format.md_text(caption), width="stretch", clamp=True)
        else:
            cols[n % 4].markdown(_format.md_text(caption))


# ------------------------------------------------------------------ the set's files
def current_files(x) -> tuple[list[str] | None, str]:
    """The set's relative file list now, in the order of its predictions (None and why when its folder is gone,
    cannot be read or changed since it was scored: then an index may name another image)."""
    folder = (x.source or {}).get("data_dir") or ""
    if not folder or not Path(folder).is_dir():
        return None, (f"The folder of this set ({_format.md_text(folder or '?')}) is not on the server any more, so "
                      "its images cannot be shown.")
    try:
        rel, paths, same = _listing(x)
    except (LabError, OSError) as err:
        return None, f"The folder of this set cannot be read ({_format.md_text(err)}), so its images cannot be shown."
    if not same:
        return None, (f"The folder {_format.md_text(folder)} changed since this set was scored (its file list no "
                      "longer matches the recorded one), so images are not shown: they might not be the ones "
                      "scored.")
    return paths, ""


def _listing(x) -> tuple[list[str], list[str], bool]:
    """Listed on every view, never cached: a file added or removed a moment ago must be seen."""
    from core.analysis.external import evaluation_files

    return evaluation_files(_resources.get_store(), x)


def _image(path: str):
    from core.datasets.io import decode_file

    try:
        return decode_file(path, max_side=320)
    except (LabError, OSError, ValueError):
        return None
