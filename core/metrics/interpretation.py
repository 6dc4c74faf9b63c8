"""Small named questions about one set of stored predictions (in the style of fastai's
``ClassificationInterpretation``): the confusion matrix, the most confused pairs of classes,
the most confidently wrong samples, the per-class report.

    from core.metrics.interpretation import Interpretation
    interp = Interpretation(pred_df, class_names)
    interp.most_confused(3)        # [(actual, predicted, count), ...]

The predictions frame is validated and sorted by id as ``core.metrics.classification.evaluate``
does; the numbers of ``report`` and ``summary`` are ``evaluate``'s.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.metrics.classification import _unpack, evaluate
from core.validation import check_number


class Interpretation:
    """Small named questions about one set of stored predictions.

    >>> interp = Interpretation(pred_df, class_names)
    >>> interp.most_confused(3)        # [(actual, predicted, count), ...]
    >>> interp.top_losses(9)           # the most confidently wrong samples
    """

    def __init__(self, pred_df: pd.DataFrame, class_names: Sequence[str], *, ordinal: bool = False) -> None:
        ids, y_true, y_pred, p, names, _ = _unpack(pred_df, class_names)
        self.ids, self.y_true, self.y_pred, self.probs = ids, y_true, y_pred, p
        self.class_names = names
        self.ordinal = ordinal
        self.pred_df = pred_df
        self._evaluation: dict[int, dict] = {}

    @property
    def k(self) -> int:
        return len(self.class_names)

    def confusion_matrix(self, normalize: bool = False) -> pd.DataFrame:
        """Rows: actual class, columns: predicted class; ``normalize`` divides each row by its
        support (rows of absent classes are NaN)."""
        cm = np.zeros((self.k, self.k), dtype=np.int64)
        np.add.at(cm, (self.y_true, self.y_pred), 1)
        data: np.ndarray = cm
        if normalize:
            with np.errstate(invalid="ignore", divide="ignore"):
                data = cm / cm.sum(axis=1, keepdims=True)
        idx = pd.Index(self.class_names, name="actual")
        cols = pd.Index(self.class_names, name="predicted")
        return pd.DataFrame(data, index=idx, columns=cols)

    def most_confused(self, k: int = 5, min_count: int = 1) -> list[tuple[str, str, int]]:
        """The ``k`` largest off-diagonal cells as (actual, predicted, count), largest first
        (ties in class order), keeping cells with at least ``min_count`` samples."""
        k = check_number("k", k, low=1, integer=True)
        min_count = check_number("min_count", min_count, low=1, integer=True)
        cm = self.confusion_matrix().to_numpy()
        cells = [
            (self.class_names[a], self.class_names[b], int(cm[a, b]))
            for a in range(self.k) for b in range(self.k)
            if a != b and cm[a, b] >= min_count
        ]
        cells.sort(key=lambda t: -t[2])  # stable: class order breaks ties
        return cells[:k]

    def top_losses(self, k: int = 9, *, only_wrong: bool = False) -> pd.DataFrame:
        """The ``k`` samples with the highest cross-entropy loss ``-log p(actual)``."""
        k = check_number("k", k, low=1, integer=True)
        rows = np.arange(len(self.y_true))
        p_act = self.probs[rows, self.y_true]
        p_pred = self.probs[rows, self.y_pred]
        loss = -np.log(np.clip(p_act, 1e-15, 1.0))
        df = pd.DataFrame({
            "id": self.ids,
            "actual": [self.class_names[i] for i in self.y_true],
            "predicted": [self.class_names[i] for i in self.y_pred],
            "p_actual": p_act,
            "p_pred": p_pred,
            "loss": loss,
            "y_true": self.y_true,
            "y_pred": self.y_pred,
        })
        if only_wrong:
            df = df[df["y_true"] != df["y_pred"]]
        return df.sort_values(["loss", "id"], ascending=[False, True], kind="stable").head(k).reset_index(drop=True)

    def evaluation(self, *, n_bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
        key = (n_bootstrap, seed)
        if key not in self._evaluation:
            self._evaluation[key] = evaluate(
                self.pred_df, self.class_names, ordinal=self.ordinal, n_bootstrap=n_bootstrap, seed=seed
            )
        return self._evaluation[key]

    def report(self) -> pd.DataFrame:
        """Per-class table (precision, sensitivity, specificity, F1, support, AUC, AP,
        one-vs-rest accuracy), indexed by class name."""
        df = pd.DataFrame(self.evaluation()["per_class"]).set_index("class")
        return df.drop(columns=["index"]).astype({"support": int, "predicted": int})

    def summary(self, *, n_bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
        """The flat summary of :func:`evaluate` (no bootstrap unless asked)."""
        return dict(self.evaluation(n_bootstrap=n_bootstrap, seed=seed)["summary"])
