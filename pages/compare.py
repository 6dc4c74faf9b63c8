"""Compare: 2+ runs -> config differences, overlaid curves, the report B table (+ balanced
accuracy, macro AUC, kappa), per-class F1, confusion matrices, ROC overlays.

Every run keeps one colour in every figure of the page (``plots.run_colors``); runs trained
on different datasets or splits are flagged, and per-class results are only put side by side
for runs that share the same classes."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pages import _analysis_ui, _artifacts, _format, _frame, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

TRAIN_TIME = "training time (fit only)"
WALL_TIME = "wall time (whole job)"
TABLE = [("train_time_s", TRAIN_TIME), ("duration_s", WALL_TIME), ("n_samples", "test images"),
         ("trainable_params", "trainable params"), ("accuracy", "accuracy"),
         ("macro_f1", "F1 (macro)"), ("weighted_f1", "F1 (weighted)"), ("macro_recall", "recall (macro)"),
         ("macro_precision", "precision (macro)"), ("balanced_accuracy", "balanced accuracy"),
         ("macro_auc", "macro AUC"), ("kappa_quadratic", "quadratic kappa")]
TIME_HELP = (f"**{TRAIN_TIME}**: the seconds spent fitting the model (all epochs, validation after each epoch "
             f"included). **{WALL_TIME}**: from the moment the job started to the moment it ended, so it also "
             f"counts loading and preparing the data, building the model, evaluating on the test set and saving "
             f"the model; it is always the longer of the two.")


@_widgets.guarded
def body() -> None:
    st.title("Compare runs")
    store = _resources.get_store()
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
    comp = comparability(details, arts)
    for msg in comp["warnings"]:
        st.warning(msg, icon=":material/compare_arrows:")

    st.subheader("Results")
    st.dataframe(results_table(details, arts, champs), width="stretch")
    st.caption(TIME_HELP)
    _analysis_ui.paired_section_for(details)
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
    from core.analysis import plots

    hist = store.get_histories(ids)
    if hist.empty:
        return
    st.subheader("Training curves")
    hist = hist.assign(run=hist["run_id"].map(lambda i: plots.plot_text(names[i])))
    pcolors = {plots.plot_text(k): v for k, v in colors.items()}
    st.plotly_chart(plots.training_curves(hist, colors=pcolors), width="stretch", key="c_curves")
    if (hist["key"] == "epoch_time_s").any():
        st.plotly_chart(plots.epoch_times_figure(hist[hist["key"] == "epoch_time_s"], colors=pcolors),
                        width="content", key="c_epoch_times")
        st.caption("Epoch timings are not a training curve; the first epoch also builds the model graph, so it "
                   "is usually the slowest.")


def evaluation_sections(evs: dict, groups: dict, colors: dict) -> None:
    """Per-class F1 (side by side only within runs sharing their classes), ROC overlays, confusion matrices."""
    from core.analysis import plots

    st.subheader("Per-class F1")
    for gi, (classes, members) in enumerate(groups.items()):
        members = [m for m in members if m in evs]
        if not members:
            continue
        if len(groups) > 1:
            st.markdown(f"**{len(classes)} classes** — " + ", ".join(_format.md_text(m) for m in members))
        pcf = pd.DataFrame({m: {p["class"]: p["f1"] for p in evs[m]["per_class"]} for m in members},
                           index=list(classes))
        st.dataframe(pcf, width="stretch", key=f"c_pcf_{gi}",
                     column_config={k: st.column_config.NumberColumn(k, format="%.3f") for k in pcf.columns})
    st.subheader("ROC curves")
    st.plotly_chart(plots.roc_overlay({plots.plot_text(k): v for k, v in evs.items()},
                                      colors={plots.plot_text(k): v for k, v in colors.items()}),
                    width="stretch", key="c_roc")
    st.subheader("Confusion matrices")
    normalize = st.toggle("Colour by row share (cells always show count and row %)", value=True, key="c_cm_norm")
    for i, (k, ev) in enumerate(evs.items()):  # one per row: readable for any number of runs and classes
        title = f'<span style="color:{colors[k]}">■</span> {plots.plot_text(k)}'
        st.plotly_chart(plots.confusion_matrix(ev, normalize=normalize, title=title), width="stretch",
                        key=f"c_cm_{i}")


def run_name(r) -> str:
    return f"#{r.id} {r.name}"


def is_champion(r, champs: dict[str, int]) -> bool:
    return bool(r.dataset) and champs.get(r.dataset) == r.id


def champion_badge(r, champs: dict[str, int]) -> str:
    """Markdown (escaped) after a run's name in the legend: ' ★ champion of digits', or ''."""
    return f" ★ champion of {_format.md_text(r.dataset)}" if is_champion(r, champs) else ""


def _describe_dataset(d: dict) -> str:
    p = d["params"]
    bits = [f"{_format.plural(p['max_per_class'], 'image')} per class" if "max_per_class" in p else "all images"]
    if "path" in p:
        bits.append(f"folder {p['path']}")
    return f"{d['name']} ({', '.join(bits)})"


def _grouped(names: dict, values: dict, describe) -> str:
    """'#1 a and #2 b: digits (...); #3 c: ham10000 (...)' - runs grouped by equal values."""
    groups: dict[str, list[str]] = {}
    for i, v in values.items():
        groups.setdefault(describe(v), []).append(_format.md_text(names[i]))
    return "; ".join(f"{' and '.join(runs) if len(runs) < 3 else ', '.join(runs)}: {_format.md_text(desc)}"
                     for desc, runs in groups.items())


def _describe_split(s: dict) -> str:
    return (f"validation {s['val_ratio']:.0%}, test {s['test_ratio']:.0%}, seed {s['seed']}, grouped {s['grouped']}")


def comparability(details, arts) -> dict:
    """What makes the runs' scores not directly comparable, in plain words, and the runs
    grouped by their class list (per-class results are only comparable within a group)."""
    from core.analysis.paired import run_dataset_and_split

    warnings: list[str] = []
    names = {r.id: run_name(r) for r in details}
    dsets, splits = {}, {}
    for r in details:  # what the paired comparison reads too (core.analysis.paired)
        name, params, splits[r.id] = run_dataset_and_split(r, arts[r.id][2])
        dsets[r.id] = {"name": name, "params": params}
    tests = {}
    for r in details:
        pred = arts[r.id][1]
        if pred is not None and "id" in pred.columns:
            tests[r.id] = set(pred["id"].astype(str))
    same_data = len({json.dumps(d, sort_keys=True, default=str) for d in dsets.values()}) == 1
    same_split = len({json.dumps(s, sort_keys=True, default=str) for s in splits.values()}) == 1
    if not same_data:
        which = "datasets" if len({d["name"] for d in dsets.values()}) > 1 else "subsets of the dataset"
        warnings.append(
            f"These runs were trained and tested on different {which}: "
            + _grouped(names, dsets, _describe_dataset)
            + ". Their scores come from different test images (and possibly different classes), so they are not "
              "directly comparable. Per-class F1 is shown only side by side for runs with the same classes.")
    if not same_split:
        warnings.append(
            "These runs split the data differently: "
            + _grouped(names, splits, _describe_split)
            + ". They were tested on different images, so part of a difference in their scores comes from the "
              "test images rather than the model.")
    if same_data and same_split and len(tests) == len(details) and len({frozenset(t) for t in tests.values()}) > 1:
        common = set.intersection(*tests.values())
        warnings.append(f"Same dataset and split settings, but the test sets differ (the data changed between the "
                        f"runs?): {len(common)} test images in common. Compare the scores with care.")
    groups: dict[tuple, list[str]] = {}
    for r in details:
        ev, _, meta = arts[r.id]
        classes = tuple((ev or {}).get("class_names") or meta.get("class_names") or ())
        groups.setdefault(classes, []).append(names[r.id])
    return {"warnings": warnings, "class_groups": groups, "same_data": same_data, "same_split": same_split}


def results_table(details, arts, champs: dict[str, int] | None = None) -> pd.DataFrame:
    out = {}
    for r in details:
        s = dict(r.summary)
        ev, _, meta = arts[r.id]
        if ev:
            s = {**ev["summary"], **s}
        params = meta.get("params") or meta.get("param_counts") or {}
        s.setdefault("trainable_params", s.get("params_trainable", params.get("trainable")))
        s["train_time_s"] = meta.get("train_time_s", s.get("train_time_s"))
        s["duration_s"] = r.duration_s
        col = {}
        for k, label in TABLE:
            v = s.get(k)
            if k in ("train_time_s", "duration_s"):
                col[label] = _format.fmt_duration(v)
            elif k in ("trainable_params", "n_samples"):
                col[label] = f"{int(v):,}" if v is not None else "—"
            else:
                col[label] = _format.fmt_num(v)
        if champs is not None:
            col["champion"] = f"★ of {r.dataset}" if is_champion(r, champs) else "—"
        out[run_name(r)] = col
    return pd.DataFrame(out)


# the configuration keys in order of importance for a comparison: the data, the model and its
# input, then the training settings; keys not named come next, augmentation last
CONFIG_ORDER = ("dataset", "split", "model", "model_options", "input_size", "channels", "normalization", "weights",
                "class_weight", "oversample", "epochs", "optimizer", "learning_rate", "schedule", "schedule_options",
                "batch_size", "momentum", "weight_decay", "early_stopping", "min_delta", "monitor", "seed")


def config_order(key: str) -> tuple[int, str]:
    """Sort key of a flattened configuration key (``dataset.params.path``): its top-level key's rank."""
    top = key.split(".", 1)[0]
    if top == "augment":
        return len(CONFIG_ORDER) + 1, key
    return (CONFIG_ORDER.index(top) if top in CONFIG_ORDER else len(CONFIG_ORDER)), key


def config_diff(details) -> pd.DataFrame:
    """Only the configuration keys whose values differ between the runs, in order of importance
    (``CONFIG_ORDER``; augmentation last)."""
    from core.store.records import flatten

    flat = {run_name(r): {k: json.dumps(v, default=str) if isinstance(v, (list, dict)) else v
                          for k, v in flatten(r.config or {}).items()} for r in details}
    keys = sorted(set().union(*[set(f) for f in flat.values()]), key=config_order)
    rows = {}
    for k in keys:
        vals = [f.get(k) for f in flat.values()]
        if len({json.dumps(v, default=str) for v in vals}) > 1:
            rows[k] = ["—" if v is None else str(v) for v in vals]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(flat))


body()
