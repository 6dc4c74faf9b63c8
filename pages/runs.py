"""Runs: a filtered, sorted, paged table of all runs; one run's page (?run=ID) with config,
curves, metrics with CIs, confusion matrix, ROC/PR, calibration, prediction gallery, and
tag / notes / delete / download / re-run, the champion of its dataset, and the run bundle that moves
it to another lab (imported on the list's "Import a run bundle")."""
from __future__ import annotations

import io
from datetime import datetime

import pandas as pd
import streamlit as st

from core.store.artifacts import file_name
from core.store.schema import STATUSES
from core.validation import LabError
from pages import _analysis_ui, _artifacts, _format, _frame, _jobs_ui, _resources, _search_ui, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

SORTS = {"newest": ("created_at", True), "oldest": ("created_at", False), "accuracy": ("accuracy", True),
         "balanced accuracy": ("balanced_accuracy", True), "macro F1": ("macro_f1", True),
         "macro AUC": ("macro_auc", True), "duration": ("duration", True), "name": ("name", False)}
PAGE_SIZE = 50


@_widgets.guarded
def body() -> None:
    rid = st.query_params.get("run")
    if rid:
        try:
            run_id = int(rid)
        except ValueError:
            st.error(f"'?run={_format.md_text(rid)}' is not a run id: use a whole number such as ?run=12.")
            return
        run_page(run_id)  # its ValidationErrors (ValueErrors too) are the guard's to show
        return
    st.title("Runs")
    runs_table()
    import_section()


# ------------------------------------------------------------------ the list
def runs_table() -> None:
    store = _resources.guarded_store()  # only the runs this session's actor may see
    # Filter, Sort and Page are buttons that open popovers (as in W&B's runs table), and a line
    # beside them says what is in effect: the table is what a visit comes for, and the browser
    # loads the scripts of text boxes, multiselects and number inputs only once a popover opens
    # (five kinds of input above the table delayed its first render by ~0.25 s, bench/README.md)
    bar = st.container(horizontal=True, vertical_alignment="center")
    with bar.popover("Filter", icon=":material/filter_list:", key="r_filter_box"):
        text = st.text_input("Search", key="r_text", placeholder="name, dataset, model, notes, tag")
        datasets = st.multiselect("Dataset", _distinct("dataset"), key="r_ds")
        models = st.multiselect("Model", _distinct("model"), key="r_model")
        status = st.multiselect("Status", list(STATUSES), key="r_status")
        tag = st.text_input("Tag (key or key=value)", key="r_tag")
    with bar.popover("Sort", icon=":material/sort:", key="r_sort_box"):
        sort = st.selectbox("Sort by", list(SORTS), key="r_sort")
    sort_key, desc = SORTS[sort]
    filters = filter_summary(text, datasets, models, status, tag)
    n_total = store.list_runs(dataset=datasets or None, model=models or None, status=status or None,
                              tag=tag.strip() or None, text=text.strip() or None, limit=0)[1]
    if n_total == 0:
        bar.caption(_format.md_text(f"Sorted by {sort}" + (f" · filters: {filters}" if filters else "")))
        if not filters:
            st.info("No runs yet. Start one on **Train** or with the quick start on **Home**.", icon=":material/info:")
        else:
            st.info("No run matches these filters: change them under **Filter**.")
        return
    pages = max(1, -(-n_total // PAGE_SIZE))
    with bar.popover("Page", icon=":material/menu_book:", key="r_page_box"):
        page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="r_page"))
    rows, _ = store.list_runs(dataset=datasets or None, model=models or None, status=status or None,
                              tag=tag.strip() or None, text=text.strip() or None, sort=sort_key, descending=desc,
                              limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    df = runs_frame(store, rows)
    first = (page - 1) * PAGE_SIZE + 1
    bar.caption(_format.md_text(f"{_format.plural(n_total, 'run')} · showing {first}–{first + len(df) - 1} (page {page} of "
                               f"{pages}) · sorted by {sort} · " + (f"filters: {filters}" if filters else "no filters")))
    groups = st.pills("Columns", list(COLUMN_GROUPS), default=["Parameters", "Metrics"], selection_mode="multi",
                      key="r_cols", help="Choose which groups of columns the table shows; id and name always show.")
    cols = FIXED_COLUMNS + [c for g in COLUMN_GROUPS if g in (groups or []) for c in COLUMN_GROUPS[g]]
    if (df["champion"] != "").any():  # the champion mark, beside the name, when this page shows one
        cols.insert(cols.index("name") + 1, "champion")
    if (df["verdict"] != "").any():  # a model at chance or predicting one class, beside the name
        cols.insert(cols.index("status"), "verdict")
    st.dataframe(df[cols], hide_index=True, width="stretch", column_config=column_config())
    if sum(WIDTHS[c] for c in cols) > TABLE_WIDTH_PX:
        st.caption(":material/swap_horiz: More columns than fit: scroll the table sideways (id and name stay in "
                   "place), or show fewer column groups.")
    imported_caption(rows)
    open_run_picker(rows)


def runs_frame(store, rows) -> pd.DataFrame:
    """One table row per run of this page: parameters, main metrics, duration, tags, champion mark,
    when it was imported. Every cell is text: a missing value is "—" (or empty where the run has no
    such thing, as a group's model parameters), never "None"."""
    from pages._verdicts import list_mark

    configs = store.get_configs([r.id for r in rows])
    champs = store.champions()
    return pd.DataFrame([{
        "open": f"?run={r.id}", "id": r.id, "name": short_name(_format.plain_text(r.name)),
        "status": parent_status(store, r) if is_parent(r) else _jobs_ui.status_text(r),
        "champion": "★" if r.dataset and champs.get(r.dataset) == r.id else "", "dataset": r.dataset or "",
        "verdict": "" if is_parent(r) else list_mark(r),
        **(parent_cells(r) if is_parent(r) else
           {"model": r.model or "", **run_params(configs.get(r.id) or {}, _input_shape(r)), **metric_cells(r)}),
        "duration": _format.fmt_duration(r.duration_s),
        "tags": _format.plain_text(", ".join(f"{k}={v}" if v else k for k, v in r.tags.items())),
        "created": r.created_at, "imported": (import_facts(r) or ("", ""))[1],
    } for r in rows])


METRIC_COLUMNS = {"accuracy": "accuracy", "balanced acc.": "balanced_accuracy", "macro F1": "macro_f1",
                  "macro AUC": "macro_auc", "min sens.": "min_sensitivity", "kappa": "kappa_quadratic"}
PARAM_COLUMNS = ("input", "epochs", "batch", "lr", "optimizer", "augment", "weights")
NAME_CHARS = 22  # what the name column shows (WIDTHS["name"]) before a long name is cut


def metric_cells(r) -> dict:
    """The list's metrics as text with three decimals ("—" when the run has none)."""
    return {col: _format.fmt_num(r.summary.get(key)) for col, key in METRIC_COLUMNS.items()}


def parent_cells(r) -> dict:
    """A group or search trains nothing itself: what it is in the model column, its other cells empty."""
    return {"model": "recipe group" if r.kind == "group" else "search", **dict.fromkeys(PARAM_COLUMNS, ""),
            **dict.fromkeys(METRIC_COLUMNS, "")}


def parent_status(store, r) -> str:
    """"N/M runs done" of a group ("trials" of a search), with its status when it ended otherwise than succeeded."""
    from core.store.schema import FINAL_STATUSES

    n = store.list_runs(parent_id=r.id, limit=0)[1]
    done = store.list_runs(parent_id=r.id, status=list(FINAL_STATUSES), limit=0)[1]
    text = f"{done}/{n} {'trials' if r.kind == 'search' else 'runs'} done"
    return text if r.status not in FINAL_STATUSES or r.status == "succeeded" else f"{r.status}, {text}"


def short_name(name: str, chars: int = NAME_CHARS) -> str:
    """A name as the list's name column can show it: a long one keeps its end, where names of one
    recipe or series differ ("…image_split (quick)"), cut at a word; the run's page has it in full."""
    if len(name) <= chars:
        return name
    tail = name[-(chars - 1):]
    cut = tail.find(" ")
    if 0 <= cut < chars // 3:
        tail = tail[cut + 1:]
    return "…" + tail.lstrip("·-: ")


def import_facts(r) -> tuple[str, str] | None:
    """(where it came from, when it was imported: "" when not recorded) of a run imported from a run
    bundle (``core.serving.bundle``: tags ``imported_from`` and ``imported_at``); None for others."""
    src = r.tags.get("imported_from")
    if not src:
        return None
    when = ""
    try:
        when = f"{datetime.fromisoformat(r.tags.get('imported_at') or ''):%Y-%m-%d %H:%M}"
    except ValueError:
        arts = [a.created_at for a in getattr(r, "artifacts", None) or [] if a.created_at]  # its files came then
        when = f"{min(arts):%Y-%m-%d %H:%M}" if arts else ""
    return src, when


def import_text(r) -> str:
    """"imported from run 7 of host:db (created ...), imported ..." (plain text; "" for a run made here)."""
    facts = import_facts(r)
    if facts is None:
        return ""
    return (f"imported from {facts[0]} (created {r.created_at:%Y-%m-%d %H:%M})"
            + (f", imported {facts[1]}" if facts[1] else ""))


def imported_caption(rows) -> None:
    """Under the list: which runs of this page are copies imported from another lab, from where and when."""
    imported = [r for r in rows if import_facts(r)]
    if not imported:
        return
    shown = "; ".join(f"#{r.id} {import_text(r)}" for r in imported[:5])
    more = f"; and {len(imported) - 5} more" if len(imported) > 5 else ""
    st.caption(f":material/input: Imported from another lab (name, creation time and results are the "
               f"original's): {_format.md_text(shown + more)}.")


def open_run_picker(rows) -> None:
    """"Open a run" under the table: picking one opens its page (?run=ID)."""
    pick = st.selectbox("Open a run", [None] + [r.id for r in rows], key="r_open",
                        format_func=lambda i: "—" if i is None else _format.run_label(next(r for r in rows if r.id == i)))
    if pick is not None:
        st.query_params["run"] = str(pick)
        st.rerun()


def filter_summary(text: str, datasets: list, models: list, status: list, tag: str) -> str:
    """The filters in effect, in words ('' when none): the Filter popover is closed most of the time."""
    parts = [f"text '{text.strip()}'" if text.strip() else "", f"dataset {', '.join(datasets)}" if datasets else "",
             f"model {', '.join(models)}" if models else "", f"status {', '.join(status)}" if status else "",
             f"tag {tag.strip()}" if tag.strip() else ""]
    return "; ".join(p for p in parts if p)


# id, name and status always show; the default groups fit beside each other at 1400 px (a
# ~940 px wide table next to the sidebar), the others add columns to scroll to
COLUMN_GROUPS = {
    "Parameters": ["model", "input", "epochs", "batch", "lr", "optimizer", "augment", "weights"],
    "Metrics": ["accuracy", "balanced acc."],
    "More metrics": ["macro F1", "macro AUC", "min sens.", "kappa"],
    "Dataset, duration, tags, date": ["dataset", "duration", "tags", "created", "imported"],
}
FIXED_COLUMNS = ["open", "id", "name", "status"]
TABLE_WIDTH_PX = 940  # the main column at 1400 px with the sidebar open
WIDTHS = {"open": 40, "id": 40, "name": 150, "status": 96, "dataset": 76, "model": 88, "input": 52, "epochs": 52,
          "batch": 44, "lr": 48, "optimizer": 56, "augment": 64, "weights": 84, "accuracy": 62, "balanced acc.": 60,
          "macro F1": 60, "macro AUC": 64, "min sens.": 64, "kappa": 56, "duration": 84, "tags": 120,
          "created": 126, "imported": 126, "champion": 30, "verdict": 72}


def column_config() -> dict:
    """Compact widths, so that parameters and the main metrics fit beside each other at 1400 px."""
    cc, w = st.column_config, WIDTHS

    def num(k, label=None, **kw):  # numbers written as text ("—" when missing), right-aligned
        return cc.TextColumn(label or k, width=w[k], alignment="right", **kw)

    return {
        "open": cc.LinkColumn("open", display_text="open", width=w["open"], pinned=True),
        "id": cc.NumberColumn("id", width=w["id"], pinned=True, format="%d"),
        "name": cc.TextColumn("name", width=w["name"], pinned=True,
                              help="A long name shows its end (…); the run's page shows it in full."),
        "status": cc.TextColumn("status", width=w["status"], help="A recipe group or search: how many of its "
                                "runs have finished."),
        "champion": cc.TextColumn("★", width=w["champion"], help="★ = the champion of its dataset (the run to use; "
                                  "Predict preselects it). Set it on the run's page, tab Manage."),
        "verdict": cc.TextColumn("⚠ verdict", width=w["verdict"], help="one class: the model predicts one class "
                                 "for 95 % or more of its test images; at chance: its balanced accuracy is no better "
                                 "than guessing. Such a model has not learnt; its page says more."),
        "dataset": cc.TextColumn("dataset", width=w["dataset"]),
        "model": cc.TextColumn("model", width=w["model"]),
        "input": cc.TextColumn("input", width=w["input"], help="input size the model saw (height x width)"),
        "epochs": num("epochs", help="epochs asked for"),
        "batch": num("batch", help="batch size"),
        "lr": num("lr", help="learning rate"),
        "optimizer": cc.TextColumn("optim.", width=w["optimizer"], help="optimizer"),
        "augment": cc.TextColumn("augment", width=w["augment"], help="augmentation preset or settings"),
        "weights": cc.TextColumn("weights", width=w["weights"], help="initial weights: random init or a weights file"),
        **{k: num(k) for k in ("accuracy", "macro F1", "macro AUC", "min sens.", "kappa")},
        "balanced acc.": num("balanced acc.", "bal. acc.", help="balanced accuracy"),
        "duration": cc.TextColumn("duration", width=w["duration"]),
        "tags": cc.TextColumn("tags", width=w["tags"]),
        "created": cc.DatetimeColumn("created", format="YYYY-MM-DD HH:mm", width=w["created"],
                                     help="when the run was made (an imported run: in the lab it came from)"),
        "imported": cc.TextColumn("imported", width=w["imported"], help="when a run was imported from another lab's "
                                  "run bundle (empty: made here)"),
    }


def run_params(config: dict, input_shape=None) -> dict:
    """The parameters that tell runs apart, as text, from a run's stored config (defaults filled in
    as training applies them) and, when known, the input shape it actually trained on. The input
    size is height x width however it is known (the config's [h, w] or the trained [h, w, c])."""
    from core.training.config import TrainConfig

    d = TrainConfig()
    size = input_shape or config.get("input_size")
    aug = config.get("augment")
    return {
        "input": "x".join(str(int(v)) for v in size[:2]) if size else "native",
        "epochs": _text(config.get("epochs", d.epochs)),
        "batch": _text(config.get("batch_size", d.batch_size)),
        "lr": _text(config.get("learning_rate", d.learning_rate)),
        "optimizer": str(config.get("optimizer", d.optimizer)),
        "augment": augment_label(aug),
        "weights": weights_label(config.get("weights") or (config.get("model_options") or {}).get("weights")),
    }


def _text(v) -> str:
    """A parameter as the list writes it: 10, 64, 0.001 ("—" when missing)."""
    if v is None:
        return "—"
    return f"{v:g}" if isinstance(v, float) else str(v)


def weights_label(w) -> str:
    """None = random initialisation (the lab never downloads weights unasked); a path: its file name."""
    if not w:
        return "random init"
    w = str(w)
    return w.replace("\\", "/").rsplit("/", 1)[-1] if "/" in w or "\\" in w else w


def augment_label(aug) -> str:
    if not aug:
        return "none"
    if isinstance(aug, str):
        return aug
    if isinstance(aug, dict):
        if aug.get("preset"):
            return str(aug["preset"])
        on = [f"{k} {v}" if not isinstance(v, bool) else k for k, v in aug.items() if v not in (None, False, 0, 0.0, "")]
        return ", ".join(on) if on else "none"
    return str(aug)


def _input_shape(r):
    """[h, w, c] from the run's meta (cached per file time), None when it has none yet."""
    try:
        rf = _artifacts.run_folder(r)
        return _meta_input_shape(str(rf.path), rf.mtime("meta")) if rf.path_of("meta").is_file() else None
    except OSError:
        return None


@st.cache_data(show_spinner=False, max_entries=512)
def _meta_input_shape(folder: str, mtime: float):
    from core.store.artifacts import RunFolder

    try:
        return (RunFolder(folder).read_json("meta") or {}).get("input_shape")
    except (OSError, ValueError):
        return None


def _distinct(column: str) -> list[str]:
    """Filter options: the registry names (no scan of the runs table)."""
    if column == "dataset":
        return [i.name for i in _resources.cached_dataset_infos()]
    from core.models import list_models

    return list_models()


# ------------------------------------------------------------------ one run
def run_page(run_id: int) -> None:
    store = _resources.guarded_store()  # another's private run: "not found", as a missing one
    if st.button("All runs", icon=":material/arrow_back:", key="r_back"):
        st.query_params.clear()
        st.rerun()
    r = store.get_run(run_id)
    st.title(f"Run #{r.id}: {_format.md_text(r.name)}")
    if is_parent(r):
        parent_page(r)
        return
    st.caption(f"{_format.md_text(r.dataset)} · {_format.md_text(r.model)} · {r.status} · "
               f"created {r.created_at:%Y-%m-%d %H:%M}{' (in the lab it came from)' if import_facts(r) else ''} · "
               f"duration {_format.fmt_duration(r.duration_s)} · seed {r.seed}")
    if import_facts(r):
        st.caption(f":material/input: A copy from another lab's run bundle: {_format.md_text(import_text(r))}. "
                   "Its name, times, metrics and files are the original's; its id is this lab's.")
    owner_caption(r)
    champion_caption(r)
    where = where_it_ran(r)
    if where:
        st.caption(f"Ran on: {_format.md_text(where)}")
    if r.error:
        st.error(_format.md_text(r.error))
    ev, pred, meta = _artifacts.run_artifacts(r)
    if meta.get("domain") in ("lesion", "fundus"):
        st.warning(_format.RESEARCH_NOTICE, icon=":material/health_and_safety:")
    if r.status == "succeeded":
        from pages._verdicts import one_class_callout

        one_class_callout(r.summary or (ev or {}).get("summary"), pred, meta.get("class_names"), evaluation=ev)
    if balanced_by_subsample(r, meta):
        st.warning(subsample_notice(balanced_by_subsample(r, meta)), icon=":material/balance:")
    # only the open tab runs (on_change="rerun"): a deep link renders the metrics without
    # computing every chart and decoding the gallery's images first
    tabs = st.tabs(RUN_TABS, key="r_tab", on_change="rerun")
    sections = [lambda: metrics_tab(r, ev), lambda: history_tab(r), lambda: confusion_tab(r, ev, pred, meta),
                lambda: curves_tab(ev, r), lambda: gallery_tab(r, pred, meta),
                lambda: _analysis_ui.slices_section(r), lambda: external_tab(r, ev, meta),
                lambda: config_tab(r), lambda: manage_tab(r)]
    for tab, section in zip(tabs, sections):
        if tab.open is not False:  # None when the tabs do not track state: draw them all
            with tab:
                section()


def external_tab(r, ev, meta) -> None:
    from pages._external_ui import external_tab as draw  # the run scored on image sets it has never seen

    draw(r, ev, meta)


def is_parent(r) -> bool:
    """A recipe group or a hyper-parameter search: it trains nothing itself (``core.jobs.kinds.PARENT_KINDS``)."""
    from core.jobs.kinds import PARENT_KINDS

    return r.kind in PARENT_KINDS


PARENT_TABS = ["Runs", "Config", "Manage"]


def parent_page(r) -> None:
    """A group or search has no model, metrics or curves of its own: its runs (with their progress
    and results), the config its runs were made from, and tags / notes / delete."""
    what = "recipe group" if r.kind == "group" else "hyper-parameter search"
    st.caption(f"{what} · {_format.md_text(r.dataset)} · {r.status} · created {r.created_at:%Y-%m-%d %H:%M}"
               + (f" · ended {r.finished_at:%Y-%m-%d %H:%M}" if r.finished_at else ""))
    if r.error:
        st.error(_format.md_text(r.error))
    tabs = st.tabs(PARENT_TABS, key="r_parent_tab", on_change="rerun")
    sections = [lambda: (_jobs_ui.children_section(r), _search_ui.search_view(r)), lambda: config_tab(r),
                lambda: manage_tab(r, parent=True)]
    for tab, section in zip(tabs, sections, strict=True):
        if tab.open is not False:
            with tab:
                section()
    st.caption("Open a run of the table for its metrics, curves and model.")


def where_it_ran(r) -> str:
    """Executor, node and GPU of a run (``core.jobs.executors.base.placement_text``)."""
    from core.jobs.executors.base import placement_text

    return placement_text(r)


RUN_TABS = ["Metrics", "Curves", "Confusion", "ROC / PR / calibration", "Predictions", "Slices", "External validation",
            "Config", "Manage"]


def history_tab(r) -> None:
    from core.analysis import plots

    hist = _resources.guarded_store().get_metric_history(r.id)
    if hist.empty:
        st.info("No training curves recorded for this run.")
    else:
        st.plotly_chart(plots.training_curves(hist), width="stretch", key="r_curves")
        if (hist["key"] == "epoch_time_s").any():  # timings: small bars, not a training curve
            st.plotly_chart(plots.epoch_times_figure(hist), width="content", key="r_epoch_times")


def config_tab(r) -> None:
    st.json(r.config, expanded=True)
    if r.params:
        with st.expander("Parameters"):
            st.json(r.params, expanded=False)


def balanced_by_subsample(r, meta) -> int | None:
    """``max_per_class`` when the run's data was a per-class-capped subsample (its test split
    then has near-equal class counts, unlike the real data)."""
    spec = meta.get("dataset") or (r.config or {}).get("dataset") or {}
    mpc = (spec.get("params") or {}).get("max_per_class")
    try:
        return int(mpc) if mpc else None
    except (TypeError, ValueError):
        return None


def subsample_notice(mpc: int) -> str:
    return (f"**Balanced subsample — not the real class frequencies.** This run used at most {_format.plural(mpc, 'image')} per "
            "class (`max_per_class`), so its test split has (nearly) equal class counts. Accuracy here is close "
            "to balanced accuracy and over-weights rare classes; precision (PPV) and NPV depend on how common "
            "each class is, so on data with the real class mix the PPV of rare classes will usually be lower "
            "and that of common classes higher. Sensitivity and specificity per class do not depend on it.")


def metrics_tab(r, ev) -> None:
    s = ev["summary"] if ev else r.summary
    if not s:
        st.info("No metrics yet: the run has not finished evaluating on its test split.")
        return
    c = st.columns(5)
    for col, (k, label) in zip(c, [("accuracy", "Accuracy"), ("balanced_accuracy", "Balanced accuracy"),
                                   ("macro_f1", "Macro F1"), ("macro_auc", "Macro AUC"),
                                   ("kappa_quadratic" if "kappa_quadratic" in s else "micro_auc",
                                    "Quadratic kappa" if "kappa_quadratic" in s else "Micro AUC")]):
        lo, hi = s.get(f"ci_low_{k}"), s.get(f"ci_high_{k}")
        col.metric(label, _format.fmt_num(s.get(k)), help=f"95% bootstrap CI {_format.fmt_num(lo)}–{_format.fmt_num(hi)}"
                   if lo is not None else None)
        if lo is not None:
            col.caption(f"95% CI {_format.fmt_num(lo)}–{_format.fmt_num(hi)}")
    st.caption(f"Sensitivity mean {_format.fmt_num(s.get('mean_sensitivity'))} (range {_format.fmt_num(s.get('min_sensitivity'))}"
               f"–{_format.fmt_num(s.get('max_sensitivity'))}) · specificity mean {_format.fmt_num(s.get('mean_specificity'))} · "
               f"log loss {_format.fmt_num(s.get('log_loss'))} · ECE {_format.fmt_num(s.get('ece'))}")
    if ev:
        pc = pd.DataFrame(ev["per_class"]).drop(columns=["index"], errors="ignore")
        st.dataframe(pc, hide_index=True, width="stretch",
                     column_config={k: st.column_config.NumberColumn(k, format="%.3f") for k in
                                    ("precision", "recall", "sensitivity", "specificity", "f1", "auc", "ap",
                                     "ovr_accuracy")})
        for n in ev.get("notices", []):
            st.caption(_format.md_text(n))
    with st.expander("All summary metrics"):
        st.dataframe(pd.DataFrame({"metric": list(s), "value": list(s.values())}), hide_index=True)


def confusion_tab(r, ev, pred=None, meta=None) -> None:
    from core.analysis import cells, plots

    if not ev:
        st.info("No evaluation for this run yet.")
        return
    normalize = st.toggle("Normalise rows (sensitivity on the diagonal)", key="r_cm_norm")
    fig = plots.confusion_matrix(ev, normalize=normalize)
    names = list((meta or {}).get("class_names") or ev.get("class_names") or [])
    table, why = None, "This run has no stored test predictions, so the images of a cell cannot be shown."
    if pred is not None and names:
        try:
            rf = _artifacts.run_folder(r)
            table = _cell_table(str(rf.path), rf.mtime("predictions"), tuple(names), pred)
        except LabError as err:  # a predictions file that does not fit the class names: say so, keep the matrix
            why = f"The images of a cell cannot be shown: {_format.md_text(err)}"
    if table is None:
        st.plotly_chart(fig, width="stretch", key=f"r_cm_{r.id}")
        st.info(why)
        return
    counts = cells.cell_counts(table, names)
    cells.add_click_targets(fig, names, counts)
    chart_key, kt, kp = f"r_cm_{r.id}", f"r_cell_true_{r.id}", f"r_cell_pred_{r.id}"
    if kt not in st.session_state or kp not in st.session_state:  # start on the most confused pair
        st.session_state[kt], st.session_state[kp] = cells.most_confused_cell(counts)
    st.plotly_chart(fig, width="stretch", key=chart_key, on_select=lambda: _cell_clicked(chart_key, names, kt, kp),
                    selection_mode="points")
    st.caption("Click a cell, or choose a true and a predicted class, to see that cell's test images.")
    cell_browser(r, meta or {}, table, names, counts, kt, kp)


CELL_SORTS = {"most confident first": True, "least confident first": False}


@st.cache_data(show_spinner=False, max_entries=32)
def _cell_table(folder: str, mtime: float, names: tuple, _pred):
    """core.analysis.cells.cell_table of a run's stored predictions (cached per folder and file time)."""
    from core.analysis.cells import cell_table

    return cell_table(_pred, list(names))


def _cell_clicked(chart_key: str, names: list, kt: str, kp: str) -> None:
    """A click on the confusion matrix sets the true/predicted class boxes (before they are drawn)."""
    from core.analysis.cells import cell_from_selection

    cell = cell_from_selection(st.session_state.get(chart_key), names)
    if cell is not None:
        st.session_state[kt], st.session_state[kp] = cell


def cell_browser(r, meta, table, names, counts, kt, kp) -> None:
    """The chosen cell's test images: sorted by confidence, paged, Grad-CAM on demand."""
    from core.analysis import cells

    k = len(names)
    c = st.columns([2, 2, 3])
    i = c[0].selectbox("True class", list(range(k)), key=kt, format_func=lambda v: f"{names[v]}")
    j = c[1].selectbox("Predicted class", list(range(k)), key=kp, format_func=lambda v: f"{names[v]}")
    sort = c[2].radio("Sort by the model's confidence", list(CELL_SORTS), horizontal=True, key="r_cell_sort")
    total = int(counts[i, j])
    what = "right" if i == j else "wrong"
    if total == 0:
        st.info(f"No test image has true class {_format.md_text(names[i])} and predicted class {_format.md_text(names[j])}.")
        return
    pages = max(1, -(-total // cells.DEFAULT_PER_PAGE))
    d = st.columns([2, 3, 4])
    page = int(d[0].number_input(f"Page (of {pages})", 1, pages, 1, key=f"r_cell_page_{r.id}_{i}_{j}")) \
        if pages > 1 else 1
    cam = d[1].toggle("Grad-CAM overlays for this page", key="r_cell_cam",
                      help="Computed on demand for the images on this page: where the model looked for the class "
                           "it predicted.")
    pg = cells.cell_page(table, names, i, j, descending=CELL_SORTS[sort], page=page)
    d[2].caption(f"True {_format.md_text(names[i])} → predicted {_format.md_text(names[j])}: "
                 f"{_format.plural(total, 'test image')} ({what}); showing {pg.first}–{pg.last}, {_format.md_text(sort)}. "
                 "Caption: sample id · true · predicted · p = the model's probability for its prediction; "
                 f"below it the top {min(cells.DEFAULT_TOP_K, k)} probabilities.")
    ids = list(pg.rows["id"])
    images = run_test_images(r, meta, ids)
    overlays = cell_cams(r, meta, pg.rows, images) if cam else None
    for n, row in pg.rows.iterrows():
        if n % 4 == 0:  # one row of columns per 4 images: rows line up, and the page reads in order
            cols = st.columns(4)
        col = cols[n % 4]
        caption = gallery_caption({**row, "p_pred": row["confidence"]})
        if images is not None and row["id"] in images:
            col.image(cells.display_image(images[row["id"]]), caption=_format.md_text(caption), width="stretch",
                      clamp=True)
        else:
            col.markdown(_format.md_text(caption))
        if overlays is not None and row["id"] in overlays:
            col.image(overlays[row["id"]], caption=f"Grad-CAM for {_format.md_text(row['predicted'])}", width="stretch")
        col.caption(f"top {min(cells.DEFAULT_TOP_K, k)}: {_format.md_text(row['top_k'])}")


def cell_cams(r, meta, rows, images) -> dict | None:
    """Grad-CAM overlays (id -> image) of a page of a cell, for the class each image was predicted;
    a message instead when the model or the images are missing."""
    if images is None or not all(i in images for i in rows["id"]):
        st.warning("Grad-CAM needs the test images, which cannot be loaded for this run.", icon=":material/warning:")
        return None
    if meta.get("domain") in ("lesion", "fundus"):
        st.caption(f"{_format.RESEARCH_NOTICE} A heatmap shows which pixels raised the predicted class's score, "
                   "not a reason a clinician could check.")
    try:
        tm = _artifacts.load_run_model(r)
        mp = _artifacts.run_folder(r).path_of("model")
        with st.spinner(f"Computing Grad-CAM for {_format.plural(len(rows), 'image')}…"):
            over = _cell_cams(str(mp), mp.stat().st_mtime, tuple(rows["id"]), tuple(int(v) for v in rows["y_pred"]),
                              tm, [images[i] for i in rows["id"]])
    except Exception as err:  # noqa: BLE001 - a model that cannot be explained is a message, not a traceback
        st.warning(f"Grad-CAM is not available for this run: {_format.md_text(err)}", icon=":material/warning:")
        return None
    return dict(zip(rows["id"], over, strict=True))


@st.cache_data(show_spinner=False, max_entries=32)
def _cell_cams(model_path: str, mtime: float, ids: tuple, classes: tuple, _tm, _images):
    from core.analysis.cells import cam_overlays

    return cam_overlays(_tm, _images, list(classes))


def curves_tab(ev, r=None) -> None:
    from core.analysis import plots
    from core.serving.trained_model import load_calibration

    if not ev:
        st.info("No evaluation for this run yet.")
        return
    a, b = st.columns(2)
    a.plotly_chart(plots.roc_curves(ev), width="stretch", key="r_roc")
    b.plotly_chart(plots.pr_curves(ev), width="stretch", key="r_pr")
    st.plotly_chart(plots.calibration(ev), width="stretch", key="r_cal")
    cal = load_calibration(_artifacts.run_folder(r).path) if r is not None else None
    if cal:
        st.plotly_chart(plots.calibration_before_after(cal), width="stretch", key="r_cal_ts")
        bf, af = cal["before"], cal["after"]
        st.caption(f"Temperature scaling (T = {cal['temperature']:.2f}, fitted on the validation split): test ECE "
                   f"{bf['ece']:.3f} (95% CI {bf['ci_ece'][0]:.3f}-{bf['ci_ece'][1]:.3f}) → {af['ece']:.3f} "
                   f"({af['ci_ece'][0]:.3f}-{af['ci_ece'][1]:.3f}); log loss {bf['log_loss']:.3f} → "
                   f"{af['log_loss']:.3f}; accuracy unchanged. The Predict page shows the calibrated probabilities.")
    elif r is not None:
        note = (_artifacts.run_artifacts(r)[2].get("calibration") or {}).get("note")
        if note:
            st.caption(f"Temperature scaling {_format.md_text(note)}")


def gallery_tab(r, pred, meta) -> None:
    if pred is None:
        st.info("No stored test predictions for this run.")
        return
    from core.metrics.interpretation import Interpretation

    class_names = meta.get("class_names") or (r.config.get("class_names") if r.config else None)
    if not class_names:
        st.info(f"The run's class names are missing ({file_name('meta')}).")
        return
    interp = Interpretation(pred, class_names, ordinal=bool(meta.get("ordinal")))
    mc = interp.most_confused(8)
    if mc:
        st.markdown("**Most confused pairs** (actual → predicted: count): " +
                    "; ".join(f"{_format.md_text(a)} → {_format.md_text(p)}: {n}" for a, p, n in mc))
    mode = st.radio("Show", list(GALLERY_MODES), horizontal=True, key="r_gal_mode",
                    captions=list(GALLERY_MODES.values()))
    c = st.columns([2, 2, 2])
    n = c[0].slider("Images", 4, 32, 12, 4, key="r_gal_n")
    actual = predicted = None
    if mode == "Misclassified":
        anyc = ["(any)"] + list(class_names)
        actual = c[1].selectbox("True class", anyc, key="r_gal_actual")
        predicted = c[2].selectbox("Predicted class", anyc, key="r_gal_pred")
        actual = None if actual == "(any)" else actual
        predicted = None if predicted == "(any)" else predicted
    sel, total, what = gallery_selection(interp, mode, n, actual=actual, predicted=predicted,
                                         seed=int(st.session_state.get("r_gal_seed", 0)))
    if sel.empty:
        st.success(f"No test images: {_format.md_text(what)}.")
        return
    st.caption(f"Showing {len(sel)} of {_format.plural(total, 'test image')} — {_format.md_text(what)}. "
               "Caption: sample id · true class · predicted class · p = the model's probability for its prediction.")
    images = gallery_images(r, meta, list(sel["id"]))
    cols = st.columns(4)
    for i, (_, row) in enumerate(sel.iterrows()):
        col = cols[i % 4]
        ok = row["actual"] == row["predicted"]
        caption = gallery_caption(row)
        if images is not None and row["id"] in images:
            col.image(images[row["id"]], caption=_format.md_text(caption), width="stretch", clamp=True)
        else:
            col.markdown(_format.md_text(caption))
        col.caption(("✓ right" if ok else "✗ wrong") + f" · p(true) {row['p_actual']:.2f} · loss {row['loss']:.2f}")


GALLERY_MODES = {
    "Misclassified": "every wrong prediction, most confident first",
    "Correct but unsure": "right answers the model gave the least probability",
    "Random test images": "a random sample, right or wrong",
}


def gallery_caption(row) -> str:
    return f"{row['id']} · true {row['actual']} · pred {row['predicted']} · p {row['p_pred']:.2f}"


def gallery_selection(interp, mode: str, n: int, *, actual: str | None = None, predicted: str | None = None,
                      seed: int = 0):
    """(rows to show, how many qualify, what they are) for a gallery mode. Misclassified and
    "Correct but unsure" never share an image."""
    every = interp.top_losses(max(1, len(interp.y_true)))
    if mode == "Misclassified":
        sel = every[every["y_true"] != every["y_pred"]]
        if actual is not None:
            sel = sel[sel["actual"] == actual]
        if predicted is not None:
            sel = sel[sel["predicted"] == predicted]
        sel = sel.sort_values(["p_pred", "id"], ascending=[False, True], kind="stable")
        what = "wrong predictions" + (f", true {actual}" if actual else "") + (f", predicted {predicted}" if predicted else "")
        what += ", the most confidently wrong first"
    elif mode == "Correct but unsure":
        sel = every[every["y_true"] == every["y_pred"]].sort_values(["p_pred", "id"], ascending=[True, True],
                                                                   kind="stable")
        what = "right predictions, the least confident first"
    else:
        sel = every.sample(frac=1.0, random_state=seed) if len(every) else every
        what = "a random sample of the test split"
    return sel.head(n).reset_index(drop=True), len(sel), what


def gallery_images(r, meta, ids: list[str]) -> dict | None:
    """Decode the gallery's test images from the run's dataset (None when it cannot be loaded)."""
    imgs = run_test_images(r, meta, ids)
    return None if imgs is None else {i: _upscale(img) for i, img in imgs.items()}


def run_test_images(r, meta, ids: list[str]) -> dict | None:
    """id -> the test image as stored (uint8 HxWxC), from the run's dataset, in memory or files
    (None, with a caption saying why, when it cannot be loaded)."""
    spec = meta.get("dataset") or (r.config or {}).get("dataset") or {}
    if not spec.get("name"):
        return None
    try:
        ds = _resources.load_dataset_cached(spec["name"], dict(spec.get("params") or {}))
        from core.datasets.io import load_images

        pos = ds.index_of(ids)
        imgs = load_images(ds, pos, size=None)
        return dict(zip(ids, imgs, strict=True))
    except Exception as err:  # the dataset may be gone; show ids instead
        st.caption(f"Images not shown: {_format.md_text(err)}")
        return None


def _upscale(img):
    import numpy as np

    img = np.asarray(img)
    h = img.shape[0]
    if h < 64:
        f = int(np.ceil(64 / h))
        img = np.repeat(np.repeat(img, f, axis=0), f, axis=1)
    return img


def manage_tab(r, parent: bool = False) -> None:
    """Tags and notes, sharing, downloads, re-run, delete; then champion, model card and export (not
    for a group or search, ``parent``: those have no model of their own). A control this session's
    actor may not use is left out, with the policy's reason in its place."""
    store = _resources.guarded_store()
    edit_section(store, r)
    share_section(store, r)
    st.divider()
    d = st.columns(4)
    if _widgets.permitted("download_bundle", r, where=d[0]):
        model = _artifacts.run_folder(r).read_bytes("model")
        if model is not None:
            d[0].download_button("Download model", data=model, file_name=f"run_{r.id}_{file_name('model')}",
                                 mime="application/octet-stream", key=f"r_dl_model_{r.id}", on_click="ignore")
        d[1].download_button("Download run bundle (zip)", data=lambda: run_bundle(store, r.id),
                             file_name=f"run_{r.id}_bundle.zip", mime="application/zip", key=f"r_dl_bundle_{r.id}",
                             on_click="ignore",
                             help="Everything about the run (config, metrics history, split, predictions, evaluation, "
                                  "model) for another lab: import it there on Runs, 'Import a run bundle', or with "
                                  "python -m core runs import.")
    if not parent and _widgets.permitted("train", where=d[2]) \
            and d[2].button("Re-run with the same config", key=f"r_rerun_{r.id}", icon=":material/replay:"):
        rerun(r)
    if _widgets.permitted("delete", r, where=d[3]):
        with d[3].popover("Delete", icon=":material/delete:"):
            st.write(f"Delete run #{r.id}, its metrics and its files?")
            if st.button("Delete for good", type="primary", key=f"r_delete_{r.id}"):
                store.delete_run(r.id)
                st.query_params.clear()
                st.rerun()
    if parent:
        return
    st.divider()
    champion_section(r)
    st.divider()
    model_card_section(r)
    if _widgets.permitted("export", r):
        from pages._export_ui import export_section  # verified ONNX / LiteRT export

        export_section(r)


def edit_section(store, r) -> None:
    """Tags and notes (the owner, instructors and admins; others read them)."""
    c = st.columns(2)
    ok = _widgets.permitted("edit", r)
    tags_text = c[0].text_input("Tags (comma separated, key or key=value)", disabled=not ok,
                                value=", ".join(f"{k}={v}" if v else k for k, v in r.tags.items()), key=f"r_tags_{r.id}")
    if ok and c[0].button("Save tags", key=f"r_save_tags_{r.id}"):
        tags = {}
        for t in [t.strip() for t in tags_text.split(",") if t.strip()]:
            k, _, v = t.partition("=")
            tags[k.strip()] = v.strip()
        store.set_tags(r.id, tags)
        st.success("Tags saved.")
    notes = c[1].text_area("Notes", value=r.notes or "", key=f"r_notes_{r.id}", disabled=not ok)
    if ok and c[1].button("Save notes", key=f"r_save_notes_{r.id}"):
        store.set_notes(r.id, notes)
        st.success("Notes saved.")


def share_section(store, r) -> None:
    """"Share with the class": a private run is seen by its owner, instructors and admins only."""
    if _resources.current_actor().kind == "local":  # single-user mode: nobody to share with
        return
    ok = _widgets.permitted("share", r)
    shared = bool(getattr(r, "shared", False))
    on = st.toggle("Share with the class", value=shared, key=f"r_share_{r.id}", disabled=not ok,
                   help="Students and viewers see a shared run (and may predict with it); a private run is seen by "
                        "its owner, instructors and admins only.")
    if ok and on != shared:
        store.set_shared(r.id, on)
        st.rerun()


def rerun(r) -> None:
    """Queue a run with ``r``'s config (owned by this session's actor)."""
    from core.training.config import TrainConfig
    from core.validation import fit_name

    cfg = TrainConfig.from_dict(r.config)
    with _widgets.single_click(f"rerun_{r.id}") as act:  # a double click queues one run
        new_id = _resources.acting(_resources.get_jobs().submit)(cfg, name=fit_name(r.name, " (re-run)")) \
            if act else None
    if new_id is not None:
        st.success(f"Run #{new_id} queued.")


def model_card_section(r) -> None:
    """Build the run's model card (core.analysis.model_card) on request, then offer it as HTML and Markdown."""
    st.markdown("**Model card** — what this model is and is not, for a colleague, offline: intended use, data and "
                "split, training, metrics with intervals, per class, confusion, calibration, slices, Grad-CAM "
                "examples and known limitations.")
    if r.status != "succeeded":
        st.caption("Only a succeeded run has a model card.")
        return
    key = f"r_card_{r.id}"
    c = st.columns(3)
    if c[0].button("Build model card", key=f"r_card_build_{r.id}", icon=":material/description:"):
        rf = _artifacts.run_folder(r)
        try:
            with st.spinner("Building the model card (slices and Grad-CAM examples)…"):
                st.session_state[key] = _model_card(str(rf.path), rf.mtime("evaluation"), r.id)
        except Exception as err:  # noqa: BLE001 - say why, keep the page
            st.warning(f"The model card cannot be built: {_format.md_text(err)}", icon=":material/warning:")
    card = st.session_state.get(key)
    if card:
        c[1].download_button("Model card (HTML)", data=card[0], file_name=f"run_{r.id}_model_card.html",
                             mime="text/html", key=f"r_dl_card_html_{r.id}", on_click="ignore",
                             icon=":material/download:")
        c[2].download_button("Model card (Markdown)", data=card[1], file_name=f"run_{r.id}_model_card.md",
                             mime="text/markdown", key=f"r_dl_card_md_{r.id}", on_click="ignore",
                             icon=":material/download:")


@st.cache_data(show_spinner=False, max_entries=16)
def _model_card(folder: str, mtime: float, run_id: int) -> tuple[str, str]:
    from pathlib import Path

    from core.analysis.model_card import model_card

    return model_card(_resources.get_store().get_run(run_id), Path(folder))


def run_bundle(store, run_id: int) -> bytes:
    """The run bundle of ``core.serving.bundle.export_bundle`` as bytes (made when the button is clicked, on
    Streamlit's download thread: no st.* calls here)."""
    import tempfile
    from pathlib import Path

    from core.serving.bundle import export_bundle

    with tempfile.TemporaryDirectory(prefix="lab_bundle_") as tmp:
        return export_bundle(store, run_id, Path(tmp) / f"run_{run_id}.zip").read_bytes()


# ------------------------------------------------------------------ champion
def owner_caption(r) -> None:
    """Whose run it is and who sees it (not in single-user mode, where every run is the one user's)."""
    if _resources.current_actor().kind == "local":
        return
    seen = "shared with the class" if getattr(r, "shared", False) else "private (its owner, instructors and admins)"
    st.caption(f":material/person: Owner: {_format.md_text(getattr(r, 'owner_label', None) or '?')} · {seen}")


def champion_caption(r) -> None:
    if not r.dataset:
        return
    e = _resources.guarded_store().champion(r.dataset)
    if e is not None and e.run_id == r.id:
        st.caption(f":material/star: Champion of {_format.md_text(r.dataset)} since {e.set_at:%Y-%m-%d %H:%M}, set by "
                   f"{_format.md_text(e.set_by or '?')}" + (f": {_format.md_text(e.note)}" if e.note else ""))


def champion_section(r) -> None:
    """Make the run the champion of its dataset (or stop it being one), and the dataset's champion history."""
    store = _resources.guarded_store()
    st.markdown("**Champion** — the run to use for a dataset: Predict preselects it; Runs and Compare mark it ★.")
    if not r.dataset:
        st.caption("This run has no dataset, so it cannot be a champion.")
        return
    ds = _format.md_text(r.dataset)
    current = store.champion(r.dataset)
    c = st.columns([3, 2])
    allowed = _widgets.permitted("set_champion", r)
    if not allowed:
        if current is not None and current.run_id != r.id:
            st.caption(f"Now the champion of {ds}: run #{current.run_id} {_format.md_text(current.run_name)}.")
    elif current is not None and current.run_id == r.id:
        if c[0].button(f"Stop being the champion of {ds}", key=f"r_champ_clear_{r.id}", icon=":material/star_outline:"):
            store.clear_champion(r.dataset)
            st.rerun()
    elif r.status == "succeeded" and r.kind == "train":
        promote_form(store, r, c)
        if current is not None:
            st.caption(f"Now the champion of {ds}: run #{current.run_id} {_format.md_text(current.run_name)}.")
    else:
        st.caption("Only a succeeded training run can be the champion of its dataset.")
    history = store.champion_history(r.dataset)
    if history:
        st.dataframe(champion_history_frame(history), hide_index=True, width="stretch", key=f"r_champ_hist_{r.id}")


def promote_form(store, r, c) -> None:
    """The note and the "Make champion" button; a run under its dataset's sensitivity floor shows the classes
    first, and is promoted only with a note saying why (``core.analysis.verdicts.promote_champion``)."""
    from core.analysis.verdicts import PromotionRefused, promote_champion, run_shortfalls
    from pages._verdicts import shortfalls_notice

    short = run_shortfalls(r, store)
    if short:
        shortfalls_notice(r.dataset, short)
    label, hint = ("Note (required: why this run anyway)", "why promote it despite these classes") if short \
        else ("Note (optional)", "why this run")
    note = c[1].text_input(label, key=f"r_champ_note_{r.id}", placeholder=hint)
    if c[0].button(f"Make champion of {_format.md_text(r.dataset)}", key=f"r_champ_set_{r.id}", icon=":material/star:",
                   type="primary"):
        try:
            promote_champion(store, r.dataset, r.id, note=note or None)
        except PromotionRefused as err:
            st.error(_format.md_text(err), icon=":material/block:")
            return
        st.rerun()


def champion_history_frame(history) -> pd.DataFrame:
    """Who was champion when (plain text cells: no Markdown)."""
    return pd.DataFrame([{
        "run": f"#{e.run_id}" if e.run_id is not None else f"#{e.run_ref} (deleted)", "name": _format.plain_text(e.run_name),
        "from": f"{e.set_at:%Y-%m-%d %H:%M}", "until": f"{e.cleared_at:%Y-%m-%d %H:%M}" if e.cleared_at else "now",
        "set by": e.set_by or "", "ended": e.cleared_reason or "current",
        "note": e.note or "",
    } for e in history])


# ------------------------------------------------------------------ import
def import_section() -> None:
    """Import a run bundle made by another lab (core.serving.bundle): a bad upload gets a message, never a crash."""
    # drawn only while open: its uploader's scripts are not loaded before the runs table shows
    if not _widgets.permitted("import_bundle", quiet=True):
        return
    with _widgets.lazy_expander("Import a run bundle", key="r_import", icon=":material/upload_file:") as open_:
        if open_:
            _import_form()
    if st.session_state.get("r_imported") and st.button(f"Open run #{st.session_state['r_imported']}",
                                                        key="r_import_open"):
        st.query_params["run"] = str(st.session_state.pop("r_imported"))
        st.rerun()


def _import_form() -> None:
    """The import form inside the expander: a bad upload gets a message, never a crash."""
    st.caption("A run bundle is the zip of 'Download run bundle (zip)' on a run's page (or "
               "python -m core runs export). The run gets a new id here; its model is loaded with Keras' "
               "safe mode first, and a damaged or unsafe bundle is refused with nothing imported.")
    f = st.file_uploader("Run bundle (zip)", type=["zip"], key="r_import_file")
    if f is None or not st.button("Import", key="r_import_go", icon=":material/upload:", type="primary"):
        return
    from core.serving.bundle import import_bundle

    data = f.getvalue()
    try:
        with st.spinner("Checking the bundle and loading its model…"), _widgets.single_click("import_bundle") as act:
            res = _resources.acting(import_bundle)(_resources.get_store(), io.BytesIO(data),
                                                     name=f.name) if act else None
    except LabError as err:  # a refused bundle, or one that could not be written (full disk: the models folder named)
        st.error(_format.md_text(err), icon=":material/error:")
        return
    except OSError as err:  # any other OS error: the same one line as `python -m core runs import`, not a crash
        from core.files import describe_os_error

        st.error(_format.md_text(describe_os_error(err, action="import the bundle")), icon=":material/error:")
        return
    if res is None:  # the second click of a double click: the first one imports it
        return
    st.success(f"Imported {_format.md_text(f.name)} as run #{res.run_id} {_format.md_text(res.name)} (from "
               f"{_format.md_text(res.source)}, {_format.plural(len(res.files), 'file')}, {res.seconds:.1f} s).",
               icon=":material/check_circle:")
    st.session_state["r_imported"] = res.run_id


body()
