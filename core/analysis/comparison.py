"""The comparison of 2+ stored runs, shared by the Compare page and its HTML report (``core.analysis.report``):
the results table (with bootstrap intervals on request), the configuration differences in order of importance,
what makes the runs not directly comparable (in words), per-class F1 within runs sharing their classes, the
paired comparison of two runs, and the figures (training curves, epoch times, ROC overlay, confusion
matrices), one colour per run in every figure.

Every text here is plain text: the page escapes it for Markdown, the report for HTML. Texts drawn in a figure
go through :func:`figure_text` (invisible characters by their code, then plotly's few HTML tags escaped)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.store.artifacts import RunFolder
from core.text import fmt_duration, fmt_num, plain_text
from core.validation import LabError

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = [
    "TRAIN_TIME", "WALL_TIME", "TABLE", "TIME_HELP", "CONFIG_ORDER",
    "figure_text", "run_name", "is_champion", "run_artifacts", "results_table", "config_order",
    "config_diff", "comparability", "per_class_f1", "paired_result", "curves_figures", "roc_figure",
    "confusion_figures", "DROP_METRICS", "difference_interval", "drop_table", "external_table",
    "external_evaluations",
]

TRAIN_TIME = "training time (fit only)"
WALL_TIME = "wall time (whole job)"
TABLE = [("train_time_s", TRAIN_TIME), ("duration_s", WALL_TIME), ("n_samples", "test images"),
         ("trainable_params", "trainable params"), ("accuracy", "accuracy"),
         ("macro_f1", "F1 (macro)"), ("weighted_f1", "F1 (weighted)"), ("macro_recall", "recall (macro)"),
         ("macro_precision", "precision (macro)"), ("balanced_accuracy", "balanced accuracy"),
         ("macro_auc", "macro AUC"), ("kappa_quadratic", "quadratic kappa")]
TIME_HELP = (f"{TRAIN_TIME}: the seconds spent fitting the model (all epochs, validation after each epoch "
             f"included). {WALL_TIME}: from the moment the job started to the moment it ended, so it also "
             f"counts loading and preparing the data, building the model, evaluating on the test set and saving "
             f"the model; it is always the longer of the two.")

# the configuration keys in order of importance for a comparison: the data, the model and its
# input, then the training settings; keys not named come next, augmentation last
CONFIG_ORDER = ("dataset", "split", "model", "model_options", "input_size", "channels", "normalization", "weights",
                "class_weight", "oversample", "epochs", "optimizer", "learning_rate", "schedule", "schedule_options",
                "batch_size", "momentum", "weight_decay", "early_stopping", "min_delta", "monitor", "seed")


# ------------------------------------------------------------------------------- text
def figure_text(value: Any) -> str:
    """Stored text (a run name) drawn in a figure: shown characters, plotly's HTML tags escaped."""
    from core.analysis.plots import plot_text

    return plot_text(plain_text(value))


# ------------------------------------------------------------------------------- runs and their files
def run_name(r) -> str:
    return f"#{r.id} {r.name}"


def is_champion(r, champs: dict[str, int]) -> bool:
    return bool(r.dataset) and champs.get(r.dataset) == r.id


def run_artifacts(r, store=None) -> tuple[dict | None, pd.DataFrame | None, dict]:
    """(evaluation, predictions, meta) of a run; None, None and {} for the files it does not have."""
    rf = RunFolder.of(r, store)
    return rf.read_json("evaluation"), rf.read_csv("predictions", dtype={"id": str}), rf.read_json("meta") or {}


# ------------------------------------------------------------------------------- tables
def _metric_cell(s: dict, k: str, intervals: bool) -> str:
    v = fmt_num(s.get(k))
    lo, hi = s.get(f"ci_low_{k}"), s.get(f"ci_high_{k}")
    if intervals and v != "—" and lo is not None and hi is not None:
        return f"{v} ({fmt_num(lo)}–{fmt_num(hi)})"
    return v


def results_table(details, arts, champs: dict[str, int] | None = None, *, intervals: bool = False) -> pd.DataFrame:
    """One column per run, one row per ``TABLE`` entry (text); ``intervals`` adds each metric's stored bootstrap
    interval, ``0.912 (0.880–0.940)``; ``champs`` (dataset -> run id) adds a champion row."""
    import pandas as pd

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
                col[label] = fmt_duration(v)
            elif k in ("trainable_params", "n_samples"):
                col[label] = f"{int(v):,}" if v is not None else "—"
            else:
                col[label] = _metric_cell(s, k, intervals)
        if champs is not None:
            col["champion"] = f"★ of {r.dataset}" if is_champion(r, champs) else "—"
        out[run_name(r)] = col
    return pd.DataFrame(out)


def config_order(key: str) -> tuple[int, str]:
    """Sort key of a flattened configuration key (``dataset.params.path``): its top-level key's rank."""
    top = key.split(".", 1)[0]
    if top == "augment":
        return len(CONFIG_ORDER) + 1, key
    return (CONFIG_ORDER.index(top) if top in CONFIG_ORDER else len(CONFIG_ORDER)), key


def config_diff(details) -> pd.DataFrame:
    """Only the configuration keys whose values differ between the runs, in order of importance
    (``CONFIG_ORDER``; augmentation last)."""
    import pandas as pd

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


def per_class_f1(evs: dict, groups: dict) -> list[tuple[tuple, list[str], pd.DataFrame]]:
    """Per-class F1 side by side only within runs sharing their classes: (classes, runs, frame) per group
    of ``groups`` (classes -> run names, from :func:`comparability`) with an evaluation in ``evs``."""
    import pandas as pd

    out = []
    for classes, members in groups.items():
        members = [m for m in members if m in evs]
        if members:
            out.append((classes, members, pd.DataFrame(
                {m: {p["class"]: p["f1"] for p in evs[m]["per_class"]} for m in members}, index=list(classes))))
    return out


# ------------------------------------------------------------------------------- comparability
def _describe_dataset(d: dict) -> str:
    p = d["params"]
    n = None if p.get("max_per_class") is None else int(p["max_per_class"])
    bits = [f"{n:,} image{'' if n == 1 else 's'} per class" if n is not None else "all images"]
    if "path" in p:
        bits.append(f"folder {p['path']}")
    return f"{d['name']} ({', '.join(bits)})"


def _describe_split(s: dict) -> str:
    return f"validation {s['val_ratio']:.0%}, test {s['test_ratio']:.0%}, seed {s['seed']}, grouped {s['grouped']}"


def _grouped(names: dict, values: dict, describe) -> str:
    """'#1 a and #2 b: digits (...); #3 c: ham10000 (...)' - runs grouped by equal values."""
    groups: dict[str, list[str]] = {}
    for i, v in values.items():
        groups.setdefault(describe(v), []).append(plain_text(names[i]))
    return "; ".join(f"{' and '.join(runs) if len(runs) < 3 else ', '.join(runs)}: {desc}"
                     for desc, runs in groups.items())


def comparability(details, arts) -> dict:
    """What makes the runs' scores not directly comparable, in plain words (``warnings``), and the runs
    grouped by their class list (``class_groups``: per-class results are only comparable within a group)."""
    from core.analysis.paired import run_dataset_and_split
    from core.analysis.verdicts import one_class_warning

    warnings: list[str] = []
    names = {r.id: run_name(r) for r in details}
    dsets, splits, tests = {}, {}, {}
    for r in details:  # what the paired comparison reads too (core.analysis.paired)
        name, params, splits[r.id] = run_dataset_and_split(r, arts[r.id][2])
        dsets[r.id] = {"name": name, "params": params}
        pred = arts[r.id][1]
        if pred is not None and "id" in pred.columns:
            tests[r.id] = set(pred["id"].astype(str))
    same_data = len({json.dumps(d, sort_keys=True, default=str) for d in dsets.values()}) == 1
    same_split = len({json.dumps(s, sort_keys=True, default=str) for s in splits.values()}) == 1
    if not same_data:
        which = "datasets" if len({d["name"] for d in dsets.values()}) > 1 else "subsets of the dataset"
        warnings.append(
            f"These runs were trained and tested on different {which}: " + _grouped(names, dsets, _describe_dataset)
            + ". Their scores come from different test images (and possibly different classes), so they are not "
              "directly comparable. Per-class F1 is shown only side by side for runs with the same classes.")
    if not same_split:
        warnings.append("These runs split the data differently: " + _grouped(names, splits, _describe_split)
                        + ". They were tested on different images, so part of a difference in their scores comes "
                          "from the test images rather than the model.")
    if same_data and same_split and len(tests) == len(details) and len({frozenset(t) for t in tests.values()}) > 1:
        common = set.intersection(*tests.values())
        warnings.append(f"Same dataset and split settings, but the test sets differ (the data changed between the "
                        f"runs?): {len(common)} test images in common. Compare the scores with care.")
    groups: dict[tuple, list[str]] = {}
    verdicts: dict[str, str] = {}  # run name -> why it is not a working classifier (one class, at chance)
    for r in details:
        ev, pred, meta = arts[r.id]
        text = one_class_warning(r.summary, pred, meta.get("class_names"), evaluation=ev)
        if text:
            verdicts[names[r.id]] = text
        classes = tuple((ev or {}).get("class_names") or meta.get("class_names") or ())
        groups.setdefault(classes, []).append(names[r.id])
    return {"warnings": warnings, "class_groups": groups, "same_data": same_data, "same_split": same_split,
            "verdicts": verdicts}


def paired_result(run_a, run_b, store=None, *, n_bootstrap: int = 1000) -> dict:
    """The Compare page's paired comparison of two runs (``core.analysis.paired``): McNemar's exact test and
    paired bootstrap intervals of B - A; ``{"comparable": False, "reason": ...}`` when they cannot be paired
    (other test images, no stored predictions)."""
    from core.analysis.paired import NotComparable, load_run_predictions, paired_comparison

    try:
        a, b = load_run_predictions(run_a, store=store), load_run_predictions(run_b, store=store)
        return paired_comparison(a, b, n_bootstrap=n_bootstrap)
    except NotComparable as e:
        return {"comparable": False, "reason": str(e), "reasons": e.reasons}
    except LabError as e:
        return {"comparable": False, "reason": str(e), "reasons": []}


# ------------------------------------------------------------------------------- figures
def curves_figures(hist: pd.DataFrame, names: dict, colors: dict) -> tuple[go.Figure | None, go.Figure | None]:
    """The runs' training curves and epoch times overlaid (``hist``: the store's long history frame; ``names``:
    run id -> name; ``colors``: name -> colour); None for a figure without data."""
    from core.analysis import plots

    if hist.empty:
        return None, None
    hist = hist.assign(run=hist["run_id"].map(lambda i: figure_text(names[i])))
    pcolors = {figure_text(k): v for k, v in colors.items()}
    times = hist[hist["key"] == "epoch_time_s"]
    return (plots.training_curves(hist, colors=pcolors),
            plots.epoch_times_figure(times, colors=pcolors) if not times.empty else None)


def roc_figure(evs: dict, colors: dict) -> go.Figure:
    """The runs' macro ROC curves overlaid (``evs``: run name -> evaluation)."""
    from core.analysis import plots

    return plots.roc_overlay({figure_text(k): v for k, v in evs.items()},
                             colors={figure_text(k): v for k, v in colors.items()})


def confusion_figures(evs: dict, colors: dict, *, normalize: bool = True) -> list[go.Figure]:
    """One confusion matrix per run, titled with the run's colour and name (cells: count and row %)."""
    from core.analysis import plots

    return [plots.confusion_matrix(ev, normalize=normalize,
                                   title=f'<span style="color:{colors[k]}">■</span> {figure_text(k)}')
            for k, ev in evs.items()]


# ------------------------------------------------------------------------------- external validations
# metric key, words, whether a higher value is better
DROP_METRICS = (("accuracy", "accuracy", True), ("balanced_accuracy", "balanced accuracy", True),
                ("macro_f1", "F1 (macro)", True), ("macro_auc", "macro AUC", True),
                ("kappa_quadratic", "quadratic kappa", True), ("mean_sensitivity", "mean sensitivity", True),
                ("min_sensitivity", "lowest class sensitivity", True), ("mean_specificity", "mean specificity", True),
                ("ece", "calibration error (ECE)", False))


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None


def difference_interval(a: float, a_ci, b: float, b_ci) -> tuple[float, float] | None:
    """The interval of ``a - b`` for two independent estimates with intervals ``a_ci`` and ``b_ci`` (the MOVER
    method of Zou and Donner, 2008: each side from the distances of the estimates to their own limits, so
    uneven intervals stay uneven); None when an interval is missing."""
    vals = [_num(v) for v in (a, *(a_ci or (None, None)), b, *(b_ci or (None, None)))]
    if None in vals or len(vals) != 6:
        return None
    a, al, ah, b, bl, bh = vals
    d = a - b
    return d - ((a - al) ** 2 + (bh - b) ** 2) ** 0.5, d + ((ah - a) ** 2 + (b - bl) ** 2) ** 0.5


def _ci(s: dict, k: str):
    lo, hi = s.get(f"ci_low_{k}"), s.get(f"ci_high_{k}")
    return None if lo is None or hi is None else (lo, hi)


def _drop_words(ci, higher_better: bool) -> str:
    if ci is None:
        return "no interval stored"
    worse = (ci[0] > 0) if higher_better else (ci[1] < 0)
    better = (ci[1] < 0) if higher_better else (ci[0] > 0)
    return "worse on the external set" if worse else "better on the external set" if better else \
        "no clear change (the interval includes 0)"


def drop_table(internal: dict, external: dict) -> pd.DataFrame:
    """Each metric on the run's own test split and on an external set (their ``summary`` dicts), the drop
    (internal - external: positive = lower outside) with its interval (:func:`difference_interval` of the two
    stored bootstrap intervals) and a reading in words. Metrics missing on either side are left out."""
    import pandas as pd

    rows = []
    for k, words, higher in DROP_METRICS:
        a, b = _num(internal.get(k)), _num(external.get(k))
        if a is None or b is None:
            continue
        ci_a, ci_b = _ci(internal, k), _ci(external, k)
        ci = difference_interval(a, ci_a, b, ci_b)
        rows.append({"metric": words, "internal": fmt_num(a), "internal interval": _interval_text(ci_a),
                     "external": fmt_num(b), "external interval": _interval_text(ci_b),
                     "drop": fmt_num(a - b), "drop interval": _interval_text(ci),
                     "reading": _drop_words(ci, higher)})
    return pd.DataFrame(rows, columns=["metric", "internal", "internal interval", "external", "external interval",
                                       "drop", "drop interval", "reading"])


def _interval_text(ci) -> str:
    return "—" if ci is None else f"{fmt_num(ci[0])} to {fmt_num(ci[1])}"


def external_evaluations(store, details) -> dict:
    """Run id -> its external evaluations, newest first."""
    return {r.id: list(store.list_external_evaluations(r.id)) for r in details}


def external_table(details, evaluations: dict, arts) -> pd.DataFrame:
    """Compare's table of external validations: one row per external evaluation of each run (``evaluations``:
    run id -> the store's ``ExternalEvaluation`` records; ``arts``: run id -> (evaluation, predictions, meta)),
    with its size, what was left out as overlapping, the main metrics (interval of balanced accuracy) and the
    drop of balanced accuracy from the run's own test split. Text cells."""
    import pandas as pd

    rows = []
    for r in details:
        internal = ((arts.get(r.id) or (None,))[0] or {}).get("summary") or dict(r.summary or {})
        for x in evaluations.get(r.id) or []:
            s = (x.result or {}).get("summary") or {}
            a, b = _num(internal.get("balanced_accuracy")), _num(s.get("balanced_accuracy"))
            ci = difference_interval(a, _ci(internal, "balanced_accuracy"), b, _ci(s, "balanced_accuracy")) \
                if a is not None and b is not None else None
            drop = "—" if a is None or b is None else fmt_num(a - b) + (f" ({_interval_text(ci)})" if ci else "")
            rows.append({"run": plain_text(run_name(r)), "external set": plain_text(x.name),
                         "images": f"{int(x.n_images):,}", "left out (overlap)": f"{int(x.n_overlap or 0):,}",
                         "balanced accuracy": _metric_cell(s, "balanced_accuracy", True),
                         "bal. acc. drop": drop, "macro AUC": fmt_num(s.get("macro_auc")),
                         "quadratic kappa": fmt_num(s.get("kappa_quadratic")), "ECE": fmt_num(s.get("ece")),
                         "date": f"{x.created_at:%Y-%m-%d %H:%M}" if x.created_at else "—"})
    df = pd.DataFrame(rows, columns=["run", "external set", "images", "left out (overlap)", "balanced accuracy",
                                     "bal. acc. drop", "macro AUC", "quadratic kappa", "ECE", "date"])
    return df if (df["quadratic kappa"] != "—").any() else df.drop(columns="quadratic kappa")  # kappa: graded classes
