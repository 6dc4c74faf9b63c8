"""Verdicts on a stored run, in plain words, from what it keeps (summary, evaluation, predictions):

- :func:`one_class_warning`: the model predicts one class for (nearly) every test image, or its
  balanced accuracy is no better than chance; the Run page, the Runs list, Compare and the model card
  show it.
- :func:`sensitivity_shortfalls`: the classes whose test sensitivity is under the floor set for its
  dataset (``sensitivity_floors`` of the dataset's registration, overridden by ``LAB_SENSITIVITY_FLOORS``);
  :func:`promote_champion` refuses to make such a run champion without a note, and keeps the note
  and the shortfalls with the champion record.
- :func:`low_precision_warning`: a predicted class that is rarely right on the run's test split.

The numbers are the ones ``core.metrics.classification.evaluate`` stored (scikit-learn's per-class
sensitivity and precision, its confusion counts).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.validation import ValidationError

__all__ = ["ONE_CLASS_SHARE", "CHANCE_MARGIN", "LOW_PRECISION", "FLOORS_ENV", "Verdict", "Shortfall",
           "PromotionRefused", "one_class_verdict", "one_class_warning", "low_precision_warning",
           "sensitivity_floors", "sensitivity_shortfalls", "run_shortfalls", "shortfalls_text", "promote_champion"]

#: a run predicting one class for at least this share of its test images is called out
ONE_CLASS_SHARE = 0.95
#: a run whose balanced-accuracy interval ends at or below chance (1 / classes) plus this is called out
CHANCE_MARGIN = 0.05
#: Predict warns when the predicted class's precision on the run's test split is below this
LOW_PRECISION = 0.5
#: environment override of the sensitivity floors: "ham10000:Melanoma=0.6,bcc=0.5;fundus:*=0.3"
FLOORS_ENV = "LAB_SENSITIVITY_FLOORS"


@dataclass(frozen=True)
class Verdict:
    kind: str    # "one class" or "at chance": the Runs list's mark
    text: str    # the plain-words warning


@dataclass(frozen=True)
class Shortfall:
    name: str                   # class name
    sensitivity: float | None   # None: no test image of the class, so not measured
    floor: float
    support: int

    def text(self) -> str:
        got = "not measured (no test image)" if self.sensitivity is None else f"{self.sensitivity:.3f}"
        return f"{self.name} {got} (floor {self.floor:.2f}, {self.support} test images)"


class PromotionRefused(ValidationError):
    """A run whose sensitivity is under its dataset's floor was to be made champion without a note."""


# --------------------------------------------------------------------------------------
# one class / chance
# --------------------------------------------------------------------------------------
def _predicted_counts(predictions, evaluation: Mapping | None, k: int) -> list[int] | None:
    if evaluation and evaluation.get("per_class"):
        return [int(c.get("predicted") or 0) for c in sorted(evaluation["per_class"], key=lambda c: c["index"])]
    if predictions is not None and "y_pred" in getattr(predictions, "columns", ()):
        import numpy as np

        y = np.asarray(predictions["y_pred"], dtype=np.int64)
        return np.bincount(y, minlength=max(k, int(y.max()) + 1 if len(y) else k)).tolist()
    return None


def one_class_verdict(summary: Mapping | None, predictions=None, class_names: Sequence[str] | None = None, *,
                      evaluation: Mapping | None = None) -> Verdict | None:
    """The verdict on a run that has not learnt to tell its classes apart, None for other runs.

    ``summary``: the run's summary metrics (``n_classes``, ``balanced_accuracy`` and its interval
    ``ci_high_balanced_accuracy``); ``predictions``: its stored predictions frame (``y_pred``) or
    ``evaluation``: its stored evaluation (predicted counts per class, class names)."""
    s = dict(summary or {})
    names = list(class_names or (evaluation or {}).get("class_names") or [])
    k = int(s.get("n_classes") or len(names) or 0)
    counts = _predicted_counts(predictions, evaluation, k)
    if counts is not None:
        k = max(k, len(counts))
    parts, kind = [], None
    n = sum(counts or [])
    if counts and n:
        top = max(range(len(counts)), key=counts.__getitem__)
        share = counts[top] / n
        if share >= ONE_CLASS_SHARE:
            name = names[top] if top < len(names) else f"class {top}"
            kind = "one class"
            parts.append(f"This model predicts one class for almost every image: '{name}' for {counts[top]} of its "
                         f"{n} test images ({100 * share:.0f} %).")
    high = s.get("ci_high_balanced_accuracy")
    high = s.get("balanced_accuracy") if high is None else high
    if k >= 2 and high is not None and high <= 1 / k + CHANCE_MARGIN:
        kind = kind or "at chance"
        interval = (f"its 95 % interval ends at {high:.3f}" if s.get("ci_high_balanced_accuracy") is not None
                    else f"it is {high:.3f}")
        parts.append(f"Its balanced accuracy is no better than chance: {interval}, and guessing one of the {k} "
                     f"classes at random gives {1 / k:.3f}.")
    if not parts:
        return None
    return Verdict(kind, " ".join(parts) + " It has not learnt to tell the classes apart: do not use its predictions.")


def one_class_warning(summary: Mapping | None, predictions=None, class_names: Sequence[str] | None = None, *,
                      evaluation: Mapping | None = None) -> str | None:
    """The plain-words warning of :func:`one_class_verdict` (None when the run learnt something)."""
    v = one_class_verdict(summary, predictions, class_names, evaluation=evaluation)
    return None if v is None else v.text


# --------------------------------------------------------------------------------------
# precision of the predicted class
# --------------------------------------------------------------------------------------
def low_precision_warning(evaluation: Mapping | None, class_index: int) -> str | None:
    """When the run's test split says a prediction of class ``class_index`` is usually wrong
    (precision under :data:`LOW_PRECISION`, or never predicted there): the numbers in words."""
    if not evaluation:
        return None
    names = list(evaluation.get("class_names") or [])
    counts = (evaluation.get("confusion") or {}).get("counts")
    if not counts or not 0 <= class_index < len(counts):
        return None
    right = int(counts[class_index][class_index])
    predicted = int(sum(row[class_index] for row in counts))
    name = names[class_index] if class_index < len(names) else f"class {class_index}"
    if predicted == 0:
        return (f"On this run's test split the model never predicted {name}, so how often this answer is right "
                "is unknown.")
    precision = right / predicted
    if precision >= LOW_PRECISION:
        return None
    return (f"On this run's test split, {right} of {predicted} images predicted as {name} were {name} "
            f"(precision {precision:.2f}): this answer is more often wrong than right.")


# --------------------------------------------------------------------------------------
# sensitivity floors and the champion gate
# --------------------------------------------------------------------------------------
def _env_floors(dataset: str) -> dict[str, float]:
    """``LAB_SENSITIVITY_FLOORS`` entries of ``dataset``: class name or code (or ``*``) -> floor."""
    raw = os.environ.get(FLOORS_ENV, "").strip()
    out: dict[str, float] = {}
    accepted = (f"accepted: {FLOORS_ENV}='DATASET:CLASS=FLOOR,CLASS=FLOOR;DATASET:...' with a class name or code "
                "(or * for every class) and a floor between 0 and 1, e.g. 'ham10000:Melanoma=0.6,bcc=0.5'")
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        ds, sep, items = part.partition(":")
        if not sep:
            raise ValidationError(f"{FLOORS_ENV} entry {part!r} has no 'DATASET:'; {accepted}.")
        for item in filter(None, (i.strip() for i in items.split(","))):
            cls, eq, value = item.rpartition("=")
            try:
                floor = float(value)
            except ValueError:
                floor = -1.0
            if not eq or not cls.strip() or not 0 <= floor <= 1:
                raise ValidationError(f"{FLOORS_ENV} entry {item!r} (dataset {ds.strip()!r}) is not CLASS=FLOOR with "
                                      f"a floor between 0 and 1; {accepted}.")
            if ds.strip() == dataset:
                out[cls.strip()] = floor
    return out


def _registered_floors(dataset: str) -> dict[str, float]:
    from core.datasets.base import DATASETS

    try:
        return dict(DATASETS.get(dataset).meta.get("sensitivity_floors") or {})
    except Exception:  # noqa: BLE001 - a dataset no longer registered has no floors
        return {}


def sensitivity_floors(dataset: str | None, class_names: Sequence[str],
                       class_codes: Sequence[str] | None = None) -> dict[str, float]:
    """Class name -> the sensitivity its test split must reach for a run of ``dataset`` to become
    champion without a note: the dataset registration's floors, overridden by ``LAB_SENSITIVITY_FLOORS``
    (a floor of 0 switches a class off). Classes are named by name or code, case-insensitively."""
    if not dataset:
        return {}
    names = [str(n) for n in class_names]
    codes = [str(c) for c in class_codes] if class_codes and len(class_codes) == len(names) else [None] * len(names)
    floors: dict[str, float] = {}
    for source in (_registered_floors(dataset), _env_floors(dataset)):
        star = source.get("*")
        if star is not None:
            floors = dict.fromkeys(names, star)
        for key, value in source.items():
            hits = [n for n, c in zip(names, codes, strict=True)
                    if key.casefold() in (n.casefold(), (c or "").casefold())]
            for n in hits:
                floors[n] = float(value)
    return {n: f for n, f in floors.items() if f > 0}


def sensitivity_shortfalls(evaluation: Mapping | None, dataset: str | None,
                           class_codes: Sequence[str] | None = None) -> list[Shortfall]:
    """The classes of a stored evaluation whose sensitivity is under their floor (or not measured)."""
    if not evaluation or not evaluation.get("per_class"):
        return []
    rows = sorted(evaluation["per_class"], key=lambda c: c["index"])
    floors = sensitivity_floors(dataset, [r["class"] for r in rows], class_codes)
    out = []
    for r in rows:
        floor = floors.get(r["class"])
        sens = r.get("sensitivity")
        if floor is not None and (sens is None or sens < floor):
            out.append(Shortfall(r["class"], None if sens is None else float(sens), floor, int(r.get("support") or 0)))
    return out


def run_shortfalls(run, store) -> list[Shortfall]:
    """:func:`sensitivity_shortfalls` of a stored run (its evaluation and class codes read from its folder)."""
    from core.store.artifacts import RunFolder

    rf = RunFolder.of(run, store)
    meta = rf.read_json("meta") or {}
    return sensitivity_shortfalls(rf.read_json("evaluation"), run.dataset, meta.get("class_codes"))


def shortfalls_text(shortfalls: Sequence[Shortfall]) -> str:
    """"Melanoma 0.000 (floor 0.50, 16 test images); ..." """
    return "; ".join(s.text() for s in shortfalls)


def promote_champion(store, dataset: str, run_id: int, *, note: str | None = None, by: str | None = None):
    """Make ``run_id`` the champion of ``dataset`` (``Store.set_champion``), unless its test sensitivity
    is under the dataset's floor for some class and no ``note`` says why: then :class:`PromotionRefused`
    lists the classes. With a note, the note and the shortfalls are kept in the champion record."""
    run = store.get_run(run_id)
    short = run_shortfalls(run, store) if run.dataset == dataset else []  # another dataset: set_champion says so
    text = (note or "").strip() if isinstance(note, str) else note
    if short and not text:
        raise PromotionRefused(
            f"Run {run_id} misses the sensitivity floor of {dataset} for {len(short)} class(es): "
            f"{shortfalls_text(short)}. Add a note saying why it should be the champion anyway (Run page: "
            "the note field; command line: --note TEXT); the note is kept with the champion record.")
    if short:
        text = f"{text} [promoted with sensitivity below the floor: {shortfalls_text(short)}]"
    return store.set_champion(dataset, run_id, by=by, note=text or None)
