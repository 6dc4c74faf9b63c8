"""The reports' mistakes as measurable teaching demos.

Each function works on real labels or on a run's stored predictions (the predictions frame
of ``core.metrics.classification``: ``id, y_true, y_pred, p_0..``) and returns plain numbers plus a
plain-language explanation; ``PITFALLS`` names them for the Recipes page, each with the
recipe (``core.recipes``) whose runs feed it.

- ``shuffled_evaluation``: predictions scored against labels in another order (report C's
  shuffled test generator) vs aligned by sample id.
- ``constant_prediction``: a "model" answering one class (nevus) for everything: accuracy vs
  balanced accuracy and per-class sensitivity on imbalanced data (reports A and C).
- ``ovr_mean_report``: report D's mean of one-vs-rest accuracies vs accuracy and quadratic
  kappa; ``accuracy_from_ovr_mean`` turns a published OvR mean back into accuracy.
- ``leakage_report``: two runs, image-level vs lesion-grouped split: the test accuracy of
  each and how many test images share a lesion with a training image.
- ``leakage_lesson``: the same two splits for a memorising model (1-nearest-neighbour on small
  normalised thumbnails): how many test images are leaked, how often the nearest training image
  is the same lesion, and what that does to the accuracy (``measure_leakage_lesson`` caches it).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.datasets.folders import HAM_CODES
from core.recipes.catalog import accuracy_from_ovr_mean
from core.recipes.estimate import DATASET_CLASS_COUNTS
from core.recipes.leakage_lesson import lesson_text, measure_leakage_lesson
from core.recipes.runs import find_recipe_runs
from core.store.artifacts import RunFolder
from core.validation import ValidationError, check_number


@dataclass(frozen=True)
class Pitfall:
    key: str
    title: str
    recipe: str
    explanation: str


PITFALLS: dict[str, Pitfall] = {p.key: p for p in (
    Pitfall("leakage", "Image-level vs lesion-grouped split", "pitfall_leakage",
            "HAM10000 has 7,470 lesions in the metadata (HAM10000_metadata.csv), photographed 1 to 6 times: 45 % "
            "of its images have a sibling photo of the same lesion. Split by image, photos of one lesion land in "
            "training and test, so a model that recognises a lesion it has seen is tested on something it has "
            "memorised: the test accuracy goes up without the model being any better on new lesions. Grouping the "
            "split by lesion_id keeps every lesion in one part. Same model, same seed, same ratios: only the split "
            "differs. How much the score rises depends on how often the model recognises the lesion in another "
            "photo of it: measured below."),
    Pitfall("shuffled_eval", "Shuffled generator: predictions not aligned with labels", "pitfall_shuffled_eval",
            "Report C predicted on a test generator with shuffle=True but took the labels in the generator's file "
            "order, so prediction i was compared with the label of another image. The score falls to the agreement "
            "of two unrelated label lists, about the sum over classes of (share of true labels x share of "
            "predictions) -- 42 % instead of 84 % in the report. The lab joins predictions to labels by sample id."),
    Pitfall("accuracy_imbalance", "Accuracy on imbalanced data", "pitfall_accuracy_imbalance",
            "Two thirds of HAM10000 is nevus. Answering 'nevus' for every image scores about 67 % accuracy while "
            "missing every melanoma. Balanced accuracy (the mean per-class sensitivity) says 1/7 = 14 %, and the "
            "per-class sensitivities show which classes are never found."),
    Pitfall("ovr_mean", "A mean of one-vs-rest accuracies is not accuracy", "pitfall_ovr_mean",
            "Report D's headline '92.1 %' is the mean over the 5 grades of the one-vs-rest accuracy (grade g vs the "
            "rest). A wrong prediction is wrong in only 2 of the 5 problems and every sample counts in all 5, so "
            "mean OvR accuracy = 1 - 2 (1 - accuracy) / 5: 92.1 % is 80.3 % accuracy. A model answering 'no DR' "
            "for every photo of EyePACS (73 %) scores 89 %. For ordered grades the field's metric is quadratic "
            "weighted kappa."),
)}


def _summary(pred_df: pd.DataFrame, class_names: Sequence[str], ordinal: bool) -> dict[str, Any]:
    from core.metrics.classification import evaluate

    return evaluate(pred_df, class_names, ordinal=ordinal, n_bootstrap=0)


def _frame(ids, y_true, probs, class_names) -> pd.DataFrame:
    from core.metrics.classification import predictions_frame

    return predictions_frame(ids, y_true, probs, class_names)


# ----------------------------------------------------------------------------- shuffled generator
def shuffled_evaluation(pred_df: pd.DataFrame, class_names: Sequence[str], *, seed: int = 0,
                        ordinal: bool = False) -> dict[str, Any]:
    """Score a run's predictions aligned by sample id, then with the predictions permuted
    against the labels (a shuffled generator). Returns ``aligned`` and ``shuffled`` summaries,
    ``chance_accuracy`` (the expected accuracy of unrelated label lists: sum over classes of
    true share x predicted share), their differences and the explanation."""
    from core.metrics.classification import prob_columns

    k = len(class_names)
    df = pred_df.sort_values("id").reset_index(drop=True)
    probs = df[prob_columns(k)].to_numpy(dtype=float)
    perm = np.random.default_rng(seed).permutation(len(df))
    aligned = _summary(_frame(df["id"], df["y_true"], probs, class_names), class_names, ordinal)["summary"]
    shuffled = _summary(_frame(df["id"], df["y_true"], probs[perm], class_names), class_names, ordinal)["summary"]
    yt = df["y_true"].to_numpy()
    yp = probs.argmax(axis=1)
    chance = float(sum(np.mean(yt == c) * np.mean(yp == c) for c in range(k)))
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "kappa_quadratic")
    return {"aligned": aligned, "shuffled": shuffled, "chance_accuracy": chance,
            "difference": {m: _diff(shuffled.get(m), aligned.get(m)) for m in keys if m in aligned},
            "explanation": PITFALLS["shuffled_eval"].explanation}


def _diff(a, b):
    return None if a is None or b is None else float(a) - float(b)


# ----------------------------------------------------------------------------- constant predictor
def constant_prediction(labels: Sequence[int], class_names: Sequence[str], predicted: int | str,
                        *, ordinal: bool = False) -> dict[str, Any]:
    """The evaluation of a 'model' that predicts class ``predicted`` (index or name) for every
    sample of ``labels``: accuracy, balanced accuracy, per-class sensitivity, mean OvR accuracy."""
    names = [str(c) for c in class_names]
    if isinstance(predicted, str):
        if predicted not in names:
            raise ValidationError(f"Unknown class {predicted!r}. Classes: {', '.join(names)}.")
        predicted = names.index(predicted)
    predicted = check_number("predicted", predicted, low=0, high=len(names) - 1, integer=True)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    probs = np.zeros((len(y), len(names)))
    probs[:, predicted] = 1.0
    ev = _summary(_frame([f"s{i:06d}" for i in range(len(y))], y, probs, names), names, ordinal)
    s = ev["summary"]
    return {"summary": s, "predicted_class": names[predicted],
            "sensitivity": {r["class"]: r["sensitivity"] for r in ev["per_class"]},
            "accuracy": s["accuracy"], "balanced_accuracy": s["balanced_accuracy"],
            "mean_ovr_accuracy": s["mean_ovr_accuracy"], "explanation": PITFALLS["accuracy_imbalance"].explanation}


# ----------------------------------------------------------------------------- one-vs-rest mean
def ovr_mean_report(pred_df: pd.DataFrame, class_names: Sequence[str], *, ordinal: bool = True) -> dict[str, Any]:
    """Report D's headline computed like theirs (mean of one-vs-rest accuracies) next to the
    honest numbers: accuracy, balanced accuracy, quadratic kappa (ordinal grades)."""
    ev = _summary(pred_df, class_names, ordinal)
    s = ev["summary"]
    return {"mean_ovr_accuracy": s["mean_ovr_accuracy"], "accuracy": s["accuracy"],
            "balanced_accuracy": s["balanced_accuracy"], "kappa_quadratic": s.get("kappa_quadratic"),
            "per_class_ovr_accuracy": {r["class"]: r["ovr_accuracy"] for r in ev["per_class"]},
            "accuracy_from_ovr_mean": accuracy_from_ovr_mean(s["mean_ovr_accuracy"], len(class_names)),
            "explanation": PITFALLS["ovr_mean"].explanation}


# ----------------------------------------------------------------------------- leakage
def group_overlap(split: dict[str, Any], groups: dict[str, str]) -> dict[str, Any]:
    """How many test images share their group (lesion) with a training image."""
    train_groups = {groups[i] for i in split["train"] if i in groups}
    test = [i for i in split["test"] if i in groups]
    shared = [i for i in test if groups[i] in train_groups]
    return {"test_images": len(test), "test_images_sharing_a_group_with_train": len(shared),
            "fraction": len(shared) / len(test) if test else 0.0}


def leakage_report(leaky: dict[str, Any], grouped: dict[str, Any], groups: dict[str, str] | None = None) -> dict:
    """Compare two finished runs (``{"summary": ..., "split": ...}`` each): the image-level
    split's test metrics against the lesion-grouped one's, and the lesion overlap of each split
    when ``groups`` (sample id -> lesion id) is given."""
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")
    out: dict[str, Any] = {
        "leaky": {k: leaky["summary"].get(k) for k in keys},
        "grouped": {k: grouped["summary"].get(k) for k in keys},
        "ci": {name: (r["summary"].get("ci_low_accuracy"), r["summary"].get("ci_high_accuracy"))
               for name, r in (("leaky", leaky), ("grouped", grouped))},
        "explanation": PITFALLS["leakage"].explanation,
    }
    out["difference"] = {k: _diff(out["leaky"][k], out["grouped"][k]) for k in keys}
    if groups is not None:
        pairs = (("leaky", leaky), ("grouped", grouped))
        out["overlap"] = {name: group_overlap(r["split"], groups) for name, r in pairs if r.get("split")}
    return out


def run_material(store: Any, run_id: int) -> dict[str, Any]:
    """A finished run's summary, split (ids per part), predictions frame and class names, read
    from its artifacts (``split.json``, ``predictions.csv``, ``evaluation.json``)."""
    r = store.get_run(run_id)
    folder = RunFolder.of(r, store)
    evaluation = folder.read_json("evaluation")
    return {"run": r, "summary": dict(r.summary), "split": folder.read_json("split"),
            "predictions": folder.read_csv("predictions", dtype={"id": str}),
            "class_names": evaluation.get("class_names") if evaluation is not None else None}


# ----------------------------------------------------------------------------- measured on stored runs
REPORT_D_OVR = {"headline": 0.921, "per_grade": (0.882, 0.902, 0.900, 0.963, 0.982)}


def latest_recipe_run(store: Any, recipe: str, run_key: str | None = None, budget: str | None = None):
    """The newest succeeded run launched by ``recipe`` (optionally its run ``run_key``, ``budget``)."""
    for r in find_recipe_runs(store, recipe):
        if r.status == "succeeded" and run_key in (None, r.tags.get("recipe_run")) and \
                budget in (None, r.tags.get("recipe_budget")):
            return r
    return None


def _dataset_groups(config: dict[str, Any]) -> dict[str, str] | None:
    from core.datasets import load_dataset
    from core.validation import LabError

    try:
        ds = load_dataset(config["dataset"]["name"], **config["dataset"].get("params", {}))
    except (LabError, OSError):  # the folder moved: no overlap figures
        return None
    return dict(zip(ds.ids, ds.groups)) if ds.groups is not None else None


def measure(store: Any, key: str, *, run_id: int | None = None) -> dict[str, Any]:
    """The pitfall ``key`` measured on the lab's stored runs: ``{"measured": bool, "runs": [ids],
    "result": ..., "text": one line}``; ``measured`` is False (with what to launch) when the
    runs it needs do not exist yet. ``accuracy_imbalance`` and ``ovr_mean`` always give their
    label-only figures (``baseline``)."""
    from core.validation import check_one_of

    check_one_of("pitfall", key, PITFALLS)
    return {"leakage": _measure_leakage, "shuffled_eval": _measure_shuffled,
            "accuracy_imbalance": _measure_imbalance, "ovr_mean": _measure_ovr}[key](store, run_id)


def _not_yet(key: str) -> dict[str, Any]:
    return {"measured": False, "runs": [], "result": None,
            "text": f"not measured yet: launch the recipe {PITFALLS[key].recipe} and let its runs finish"}


def _measure_leakage(store: Any, run_id: int | None) -> dict[str, Any]:
    grouped = latest_recipe_run(store, "pitfall_leakage", "grouped_split")
    leaky = grouped and latest_recipe_run(store, "pitfall_leakage", "image_split", grouped.tags.get("recipe_budget"))
    if not (grouped and leaky):
        return _not_yet("leakage")
    a, b = run_material(store, leaky.id), run_material(store, grouped.id)
    rep = leakage_report(a, b, _dataset_groups(store.get_run(grouped.id).config))
    d = rep["difference"]["accuracy"]
    text = (f"test accuracy {rep['leaky']['accuracy']:.3f} (image-level split, run #{leaky.id}) vs "
            f"{rep['grouped']['accuracy']:.3f} (lesion-grouped, run #{grouped.id}): {d:+.3f}")
    return {"measured": True, "runs": [leaky.id, grouped.id], "result": rep, "text": text}


def leakage_lesson_dataset(store: Any) -> dict[str, Any] | None:
    """The HAM10000 data of the leakage lesson: the folder of the latest pitfall_leakage runs, else
    the lab's HAM10000 folder setting (LAB_HAM10000_DIR); None when neither is known."""
    from core.config import get_settings

    run = latest_recipe_run(store, "pitfall_leakage", "grouped_split")
    dataset = store.get_run(run.id).config.get("dataset", {}) if run is not None else {}
    if dataset.get("name") == "ham10000":
        return {"name": "ham10000", "params": dict(dataset.get("params") or {})}
    folder = get_settings().ham10000_dir
    return {"name": "ham10000", "params": {"path": str(folder)}} if folder else None


def leakage_lesson(store: Any) -> dict[str, Any] | None:
    """The leakage lesson (``core.recipes.leakage_lesson``) on the data of ``leakage_lesson_dataset``,
    with its sentences under ``text``; None when no HAM10000 folder is known."""
    config = leakage_lesson_dataset(store)
    if config is None:
        return None
    lesson = measure_leakage_lesson(config)
    return {**lesson, "text": lesson_text(lesson)}


def _measure_shuffled(store: Any, run_id: int | None) -> dict[str, Any]:
    r = store.get_run(run_id) if run_id is not None else latest_recipe_run(store, "pitfall_shuffled_eval")
    if r is None:
        return _not_yet("shuffled_eval")
    m = run_material(store, r.id)
    if m["predictions"] is None or not m["class_names"]:
        return {**_not_yet("shuffled_eval"), "text": f"run #{r.id} has no stored predictions"}
    res = shuffled_evaluation(m["predictions"], m["class_names"])
    text = (f"run #{r.id}: accuracy {res['aligned']['accuracy']:.3f} aligned by sample id vs "
            f"{res['shuffled']['accuracy']:.3f} shuffled (chance agreement {res['chance_accuracy']:.3f})")
    return {"measured": True, "runs": [r.id], "result": res, "text": text}


def _measure_imbalance(store: Any, run_id: int | None) -> dict[str, Any]:
    counts = DATASET_CLASS_COUNTS["ham10000"]
    base = constant_prediction(np.repeat(np.arange(len(counts)), counts), HAM_CODES, "nv")
    text = (f"'always nevus' on the 10,015 HAM10000 labels: accuracy {base['accuracy']:.3f}, balanced accuracy "
            f"{base['balanced_accuracy']:.3f}, melanoma sensitivity {base['sensitivity']['mel']:.0%}")
    r = store.get_run(run_id) if run_id is not None else latest_recipe_run(store, "pitfall_accuracy_imbalance")
    out = {"measured": r is not None, "runs": [r.id] if r else [], "baseline": base, "result": None, "text": text}
    if r is not None:
        ev = RunFolder.of(r, store).read_json("evaluation") or {}
        out["result"] = {"accuracy": r.summary.get("accuracy"), "balanced_accuracy": r.summary.get("balanced_accuracy"),
                         "sensitivity": {c["class"]: c["sensitivity"] for c in ev.get("per_class", [])}}
        out["text"] += (f"; run #{r.id}: accuracy {r.summary.get('accuracy', float('nan')):.3f}, balanced accuracy "
                        f"{r.summary.get('balanced_accuracy', float('nan')):.3f}")
    return out


def _measure_ovr(store: Any, run_id: int | None) -> dict[str, Any]:
    implied = accuracy_from_ovr_mean(REPORT_D_OVR["headline"], 5)
    text = f"report D's 92.1 % mean one-vs-rest accuracy is {implied:.1%} accuracy"
    r = store.get_run(run_id) if run_id is not None else (latest_recipe_run(store, "pitfall_ovr_mean") or
                                                          latest_recipe_run(store, "report_d_densenet", "densenet201"))
    out = {"measured": False, "runs": [], "report_d_accuracy": implied, "result": None, "text": text}
    if r is None:
        return out
    m = run_material(store, r.id)
    if m["predictions"] is None or not m["class_names"]:
        return out
    rep = ovr_mean_report(m["predictions"], m["class_names"])
    kappa = rep["kappa_quadratic"]
    out.update(measured=True, runs=[r.id], result=rep,
               text=text + (f"; run #{r.id}: mean one-vs-rest {rep['mean_ovr_accuracy']:.3f}, accuracy "
                            f"{rep['accuracy']:.3f}, quadratic kappa " + ("-" if kappa is None else f"{kappa:.3f}")))
    return out
