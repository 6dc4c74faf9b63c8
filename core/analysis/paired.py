"""Paired comparison of two stored runs: is run B really better than run A on the same test images?

Both runs' ``predictions.csv`` (one row per test sample: ``id, y_true, y_pred, p_0..``) are joined
**by sample id**. Two runs are comparable only when they predicted exactly the same test ids with the
same true labels and class names; otherwise :class:`NotComparable` says why (different dataset,
dataset options, split ratios or split seed, read from the runs' configs).

On comparable runs:

- McNemar's exact test on per-sample correctness (a two-sided binomial test on the discordant pairs,
  ``scipy.stats.binomtest``): only the images one run gets right and the other wrong carry information;
- paired bootstrap intervals for the differences B - A in accuracy, balanced accuracy and macro AUC:
  every resample draws the *same* images for both runs, so the interval reflects the difference, not
  two independent noises. The resampling scheme (seeded count matrices, vectorised AUCs) is the one of
  :func:`core.metrics.classification.bootstrap_ci`; one run alone gives the same intervals as it does;
- sentences in words ("run 7 is better than run 3 on balanced accuracy by 0.042 (95 % CI 0.011 to
  0.070)" or "no significant difference ...").

``python -m core compare RUN_A RUN_B [--json]`` prints the same (exit 2 when not comparable); the
command is core.cli.analysis.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store.artifacts import RunFolder, file_name
from core.validation import LabError, NotFoundError, check_number, finite_or_none

if TYPE_CHECKING:  # pandas and core.metrics.classification are imported where used: `python -m core --help` stays quick
    import pandas as pd

__all__ = [
    "NotComparable",
    "RunPredictions",
    "load_run_predictions",
    "comparability_problems",
    "paired_comparison",
    "compare_runs",
    "paired_figure",
    "metric_draws",
    "resample_weights",
]

PAIRED_METRICS = ("accuracy", "balanced_accuracy", "macro_auc")
DEFAULT_MAX_FILES = 3000  # image files core.analysis.slices reads at most for brightness and size
METRIC_WORDS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_auc": "macro AUC"}


class NotComparable(LabError):
    """Two runs did not predict the same test images; ``reasons`` lists why, in words."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


# --------------------------------------------------------------------------------------
# a run's stored predictions
# --------------------------------------------------------------------------------------
@dataclass
class RunPredictions:
    """One run's stored test predictions, with what is needed to say where they came from."""

    run_id: int | None
    name: str
    folder: Path
    pred: pd.DataFrame
    class_names: list[str]
    config: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"run {self.run_id}" if self.run_id is not None else self.name

    @property
    def files(self) -> RunFolder:
        """The run's folder, its files addressed by kind."""
        return RunFolder(self.folder)


def read_json_or_empty(rf: RunFolder, kind: str) -> dict:
    """A run file's JSON, or ``{}`` when it is absent or unreadable."""
    try:
        return rf.read_json(kind) or {}
    except (OSError, ValueError):
        return {}


def load_run_predictions(run, folder: RunFolder | str | Path | None = None, *, store=None) -> RunPredictions:
    """The stored test predictions of ``run`` (a store RunDetail) from its folder (a ``RunFolder`` or
    a path; by default ``RunFolder.of(run, store)``).

    Raises :class:`NotFoundError` saying what is missing when the run has no ``predictions.csv``
    (it is queued, running, failed, or not a training run) or no class names.
    """
    rf = folder if isinstance(folder, RunFolder) else RunFolder(folder) if folder is not None else RunFolder.of(run, store)
    folder = rf.path
    rid = getattr(run, "id", None)
    label = f"Run {rid}" if rid is not None else f"The run in {str(folder)!r}"
    status = getattr(run, "status", None)
    p = rf.path_of("predictions")
    if not p.is_file():
        why = f" (its status is {status})" if status and status != "succeeded" else ""
        raise NotFoundError(f"{label} has no stored test predictions{why}: {str(p)!r} does not exist. "
                            "Only finished training runs store predictions.")
    try:
        import pandas as pd

        pred = pd.read_csv(p, dtype={"id": str})
    except (OSError, ValueError) as e:
        raise NotFoundError(f"{label}: its predictions file {str(p)!r} cannot be read ({e}).") from None
    meta = read_json_or_empty(rf, "meta")
    config = dict(getattr(run, "config", None) or meta.get("config") or {})
    names = meta.get("class_names") or read_json_or_empty(rf, "evaluation").get("class_names")
    if not names:
        raise NotFoundError(f"{label} has predictions but no class names ({file_name('meta')} or {file_name('evaluation')}) in "
                            f"{str(folder)!r}.")
    return RunPredictions(rid, str(getattr(run, "name", None) or folder.name), folder, pred, list(names), config, meta)


# --------------------------------------------------------------------------------------
# comparability
# --------------------------------------------------------------------------------------
def _split_of(rp: RunPredictions) -> dict:
    from core.training.config import SPLIT_PARAMS

    return {**{k: p.default for k, p in SPLIT_PARAMS.items()}, **(rp.config.get("split") or {})}


def _dataset_of(rp: RunPredictions) -> tuple[str | None, dict]:
    spec = rp.config.get("dataset") or rp.meta.get("dataset") or {}
    params = {k: v for k, v in (spec.get("params") or {}).items() if v is not None}
    return spec.get("name"), params


def run_dataset_and_split(run, meta: dict | None = None) -> tuple[str | None, dict, dict]:
    """(dataset name, its options without None values, split settings with defaults filled in) of a stored
    run, read as :func:`comparability_problems` reads them: the run's config (else its meta's), then its meta
    (a run that records no dataset there: the store row's)."""
    meta = dict(meta or {})
    config = dict(getattr(run, "config", None) or meta.get("config") or {})
    rp = RunPredictions(getattr(run, "id", None), str(getattr(run, "name", "")), Path(), None, [], config, meta)
    name, params = _dataset_of(rp)
    return name or getattr(run, "dataset", None), params, _split_of(rp)


def _config_differences(a: RunPredictions, b: RunPredictions) -> list[str]:
    """Why two runs' test sets differ, from their configs (dataset, its options, split, seed)."""
    out = []
    (na, pa), (nb, pb) = _dataset_of(a), _dataset_of(b)
    if na != nb:
        out.append(f"different datasets ({a.label}: {na}, {b.label}: {nb})")
    elif pa != pb:
        keys = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))
        diff = ", ".join(f"{k}: {pa.get(k)!r} vs {pb.get(k)!r}" for k in keys)
        out.append(f"different dataset options ({diff})")
    sa, sb = _split_of(a), _split_of(b)
    if sa.get("seed") != sb.get("seed"):
        out.append(f"different split seeds ({a.label}: {sa.get('seed')}, {b.label}: {sb.get('seed')})")
    for k in ("test_ratio", "val_ratio", "grouped"):
        if sa.get(k) != sb.get(k):
            out.append(f"different split {k.replace('_', ' ')} ({a.label}: {sa.get(k)}, {b.label}: {sb.get(k)})")
    return out


def comparability_problems(a: RunPredictions, b: RunPredictions) -> list[str]:
    """Reasons (in words) why two runs' predictions cannot be paired; empty when they can."""
    ids_a, ids_b = set(a.pred["id"].astype(str)), set(b.pred["id"].astype(str))
    if ids_a != ids_b:
        shared = len(ids_a & ids_b)
        why = _config_differences(a, b) or ["their stored splits differ although their configs agree "
                                            "(e.g. a split passed explicitly, or the data changed on disk)"]
        return [f"their test sets differ ({a.label}: {len(ids_a)} images, {b.label}: {len(ids_b)}, "
                f"{shared} shared)", *why]
    problems = []
    if list(a.class_names) != list(b.class_names):
        problems.append(f"different class names ({a.label}: {', '.join(a.class_names)}; "
                        f"{b.label}: {', '.join(b.class_names)})")
    else:
        ya = a.pred.set_index(a.pred["id"].astype(str))["y_true"]
        yb = b.pred.set_index(b.pred["id"].astype(str))["y_true"].reindex(ya.index)
        bad = int((ya.to_numpy() != yb.to_numpy()).sum())
        if bad:
            problems.append(f"{bad} test image(s) have different true labels in the two runs (the data changed)")
    return problems


# --------------------------------------------------------------------------------------
# bootstrap draws (the resampling scheme of core.metrics.classification.bootstrap_ci)
# --------------------------------------------------------------------------------------
def resample_weights(n: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap count matrices ``w[r, i]`` (times sample i is drawn in resample r), drawn
    exactly as :func:`core.metrics.classification.bootstrap_ci` draws them (same seed -> same resamples)."""
    rng = np.random.default_rng(seed)
    block = max(1, min(n_bootstrap, 4_000_000 // max(n, 1)))
    done = 0
    while done < n_bootstrap:
        b = min(block, n_bootstrap - done)
        idx = rng.integers(0, n, size=(b, n))
        yield np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
        done += b


def metric_draws(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray | None, w: np.ndarray,
                 *, k: int | None = None, auc: bool = True) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, per-class sensitivity (b, k) and macro AUC on each resample of ``w``
    (NaN where undefined), with :func:`core.metrics.classification.bootstrap_ci`'s formulas. ``k`` (the number of
    classes) defaults to the probabilities' width."""
    from core.metrics.bootstrap import _one_hot, _weighted_auc

    n = len(y_true)
    if k is None:
        k = probs.shape[1] if probs is not None else int(max(y_true.max(), y_pred.max())) + 1
    yt = _one_hot(y_true, k)
    correct = (y_true == y_pred).astype(np.float64)
    support = w @ yt
    tp = w @ (yt * correct[:, None])
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["accuracy"] = (w @ correct) / n
        sens = np.where(support > 0, tp / np.where(support > 0, support, 1), np.nan)
        out["sensitivity"] = sens
        out["balanced_accuracy"] = np.nanmean(sens, axis=1)
        present = [c for c in range(k) if 0 < yt[:, c].sum() < n]
        if auc and probs is not None and present:
            aucs = np.stack([_weighted_auc(probs[:, c], yt[:, c].astype(bool), w) for c in present], axis=1)
            out["macro_auc"] = np.nanmean(aucs, axis=1)
        else:
            out["macro_auc"] = np.full(len(w), np.nan)
    return out


_f = finite_or_none  # as core.metrics.classification writes undefined values


def percentile_interval(v: np.ndarray, level: float = 0.95) -> list[float | None]:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return [None, None]
    return [_f(np.percentile(v, 100 * (1 - level) / 2)), _f(np.percentile(v, 100 * (1 + level) / 2))]


# --------------------------------------------------------------------------------------
# point estimates and the paired comparison
# --------------------------------------------------------------------------------------
def point_metrics(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    """Accuracy, balanced accuracy and macro one-vs-rest AUC (over the classes present), from sklearn."""
    from sklearn import metrics as skm

    k = probs.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc = skm.accuracy_score(y_true, y_pred)
        sens = [skm.recall_score(y_true == c, y_pred == c) for c in range(k) if (y_true == c).any()]
        aucs = [skm.roc_auc_score(y_true == c, probs[:, c]) for c in range(k) if 0 < (y_true == c).sum() < len(y_true)]
    return {"accuracy": _f(acc), "balanced_accuracy": _f(np.mean(sens)) if sens else None,
            "macro_auc": _f(np.mean(aucs)) if aucs else None}


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test: two-sided binomial test of the discordant pairs against 1/2."""
    from scipy.stats import binomtest

    a_only = int((correct_a & ~correct_b).sum())
    b_only = int((~correct_a & correct_b).sum())
    disc = a_only + b_only
    p = float(binomtest(a_only, disc, 0.5, alternative="two-sided").pvalue) if disc else 1.0
    return {"test": "McNemar exact (two-sided binomial test on the discordant pairs)",
            "a_only_correct": a_only, "b_only_correct": b_only,
            "both_correct": int((correct_a & correct_b).sum()), "both_wrong": int((~correct_a & ~correct_b).sum()),
            "discordant": disc, "p_value": min(1.0, p)}


def _fmt(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "undefined"
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def _fmt_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def metric_sentence(metric: str, a_label: str, b_label: str, diff: float | None, ci: list,
                    level: float, mcnemar_p: float | None = None) -> tuple[str, str]:
    """(verdict, sentence): verdict is "b_better", "a_better", "no_difference" or "undefined"; it
    follows the interval of B - A (significant when it excludes 0)."""
    words = METRIC_WORDS.get(metric, metric)
    lo, hi = ci
    verdict, sentence = _verdict(words, a_label, b_label, diff, lo, hi, level, mcnemar_p)
    return verdict, sentence[:1].upper() + sentence[1:]


def _verdict(words, a_label, b_label, diff, lo, hi, level, mcnemar_p) -> tuple[str, str]:
    pct = f"{round(level * 100):d} % CI"
    if diff is None or lo is None or hi is None:
        return "undefined", f"The difference in {words} between {b_label} and {a_label} cannot be computed."
    tail = f", McNemar {_fmt_p(mcnemar_p)}" if mcnemar_p is not None else ""
    interval = f"{pct} {_fmt(lo)} to {_fmt(hi)}{tail}"
    if lo > 0:
        return "b_better", f"{b_label} is better than {a_label} on {words} by {abs(diff):.3f} ({interval})."
    if hi < 0:
        return "a_better", f"{a_label} is better than {b_label} on {words} by {abs(diff):.3f} ({interval})."
    return "no_difference", (f"No significant difference between {b_label} and {a_label} on {words}: "
                             f"{b_label} - {a_label} = {_fmt(diff, signed=True)} ({interval}).")


def _paired_draws(yt, pa, pb, prob_a, prob_b, n_bootstrap, seed, level) -> dict[str, list]:
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in PAIRED_METRICS}
    for w in resample_weights(len(yt), n_bootstrap, seed):
        da, db = metric_draws(yt, pa, prob_a, w), metric_draws(yt, pb, prob_b, w)
        for m in PAIRED_METRICS:
            diffs[m].append(db[m] - da[m])
    return {m: percentile_interval(np.concatenate(v), level) for m, v in diffs.items()}


def paired_comparison(a: RunPredictions, b: RunPredictions, *, n_bootstrap: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict[str, Any]:
    """McNemar's exact test and paired bootstrap intervals of B - A (JSON-serialisable dict).

    Raises :class:`NotComparable` when the runs did not predict the same test images.
    """
    n_bootstrap = check_number("n_bootstrap", n_bootstrap, low=1, high=100_000, integer=True)
    seed = check_number("seed", seed, low=0, integer=True)
    level = check_number("level", level, low=0.5, high=1.0, high_inclusive=False)
    problems = comparability_problems(a, b)
    if problems:
        raise NotComparable(f"{a.label} and {b.label} cannot be compared sample by sample: "
                            + "; ".join(problems) + ". Train both on the same dataset and split "
                            "(same split seed and ratios) to compare them.", problems)
    from core.files import jsonable
    from core.metrics.classification import _unpack

    ids_a, yt, pa, prob_a, names, _ = _unpack(a.pred, a.class_names)
    ids_b, yt_b, pb, prob_b, _, _ = _unpack(b.pred, b.class_names)
    if not (np.array_equal(ids_a, ids_b) and np.array_equal(yt, yt_b)):  # both sorted by id; checked above
        raise NotComparable(f"{a.label} and {b.label}: the test ids or labels do not line up.")
    mc = mcnemar_exact(pa == yt, pb == yt)
    point_a, point_b = point_metrics(yt, pa, prob_a), point_metrics(yt, pb, prob_b)
    cis = _paired_draws(yt, pa, pb, prob_a, prob_b, n_bootstrap, seed, level)
    metrics, sentences = {}, []
    for m in PAIRED_METRICS:
        va, vb = point_a[m], point_b[m]
        diff = _f(vb - va) if va is not None and vb is not None else None
        verdict, sentence = metric_sentence(m, a.label, b.label, diff, cis[m], level,
                                            mc["p_value"] if m == "accuracy" else None)
        metrics[m] = {"a": va, "b": vb, "difference": diff, "ci": cis[m], "verdict": verdict, "sentence": sentence}
        sentences.append(sentence)
    sentences.insert(0, _mcnemar_sentence(a.label, b.label, len(yt), mc))
    return jsonable({
        "comparable": True, "n": int(len(yt)), "class_names": names, "level": level,
        "n_bootstrap": n_bootstrap, "seed": seed,
        "run_a": {"id": a.run_id, "name": a.name, "label": a.label},
        "run_b": {"id": b.run_id, "name": b.name, "label": b.label},
        "mcnemar": mc, "metrics": metrics, "sentences": sentences,
    })


def _mcnemar_sentence(a_label: str, b_label: str, n: int, mc: dict) -> str:
    verdict = ("the runs disagree more often in one direction than chance explains"
               if mc["p_value"] < 0.05 else "no significant difference in which images they get right")
    return (f"On the {n} shared test images, only {a_label} is right on {mc['a_only_correct']} and only "
            f"{b_label} on {mc['b_only_correct']} (McNemar exact test {_fmt_p(mc['p_value'])}: {verdict}).")


def compare_runs(store, run_a: int, run_b: int, *, n_bootstrap: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, Any]:
    """:func:`paired_comparison` of two runs of ``store`` given by id."""
    a = load_run_predictions(store.get_run(int(run_a)), store=store)
    b = load_run_predictions(store.get_run(int(run_b)), store=store)
    return paired_comparison(a, b, n_bootstrap=n_bootstrap, seed=seed, level=level)


def paired_figure(res: dict[str, Any]):
    """Plotly figure of the differences B - A with their paired intervals and a line at zero."""
    import plotly.graph_objects as go

    from core.analysis.plots import plot_text

    ms = [m for m, v in res["metrics"].items() if v["difference"] is not None]
    colors = {"b_better": "#2CA02C", "a_better": "#D62728", "no_difference": "#7F7F7F"}
    fig = go.Figure()
    for m in ms:
        v = res["metrics"][m]
        lo, hi = v["ci"]
        fig.add_trace(go.Scatter(
            x=[v["difference"]], y=[METRIC_WORDS[m]], mode="markers", showlegend=False,
            marker=dict(size=11, color=colors.get(v["verdict"], "#7F7F7F")),
            error_x=dict(type="data", symmetric=False, array=[(hi or v["difference"]) - v["difference"]],
                         arrayminus=[v["difference"] - (lo if lo is not None else v["difference"])]),
            hovertemplate=f"{METRIC_WORDS[m]}: B - A = %{{x:.3f}}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="black", width=1))
    a, b = plot_text(res["run_a"]["label"]), plot_text(res["run_b"]["label"])
    fig.update_layout(template="plotly_white", height=220, margin=dict(l=10, r=10, t=30, b=40),
                      xaxis_title=f"{b} - {a} ({round(100 * res['level'])} % paired bootstrap interval)")
    return fig
