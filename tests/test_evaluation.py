"""Evaluation metrics on hand-checkable cases, bootstrap, alignment by id, Interpretation."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, cohen_kappa_score, roc_auc_score

from core.datasets.base import Dataset
from core.metrics.classification import (
    align_predictions,
    calibration_bins,
    evaluate,
    predict_dataset,
    predictions_frame,
)
from core.metrics.interpretation import Interpretation
from core.validation import DatasetError, ValidationError

NAMES3 = ["a", "b", "c"]


def probs_for(pred, k, p_top=0.7):
    """Probabilities whose arg-max is ``pred``: p_top on the prediction, the rest shared."""
    pred = np.asarray(pred)
    p = np.full((len(pred), k), (1 - p_top) / (k - 1))
    p[np.arange(len(pred)), pred] = p_top
    return p


def known_case():
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
    ids = [f"img{i:02d}" for i in range(10)]
    return predictions_frame(ids, y_true, probs_for(y_pred, 3), NAMES3)


def test_known_confusion_matrix_sensitivity_specificity():
    ev = evaluate(known_case(), NAMES3, n_bootstrap=0)
    assert ev["confusion"]["counts"] == [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    assert ev["confusion"]["normalized"][0] == pytest.approx([0.75, 0.25, 0.0])
    pc = {r["class"]: r for r in ev["per_class"]}
    # sensitivity TP/(TP+FN); specificity TN/(TN+FP), by hand from the matrix above
    assert pc["a"]["sensitivity"] == pytest.approx(3 / 4)
    assert pc["b"]["sensitivity"] == pytest.approx(2 / 3)
    assert pc["c"]["sensitivity"] == pytest.approx(2 / 3)
    assert pc["a"]["specificity"] == pytest.approx(5 / 6)
    assert pc["b"]["specificity"] == pytest.approx(6 / 7)
    assert pc["c"]["specificity"] == pytest.approx(6 / 7)
    assert pc["a"]["precision"] == pytest.approx(3 / 4)
    assert pc["a"]["ovr_accuracy"] == pytest.approx(8 / 10)
    assert [pc[c]["support"] for c in NAMES3] == [4, 3, 3]
    s = ev["summary"]
    assert s["accuracy"] == pytest.approx(0.7)
    assert s["mean_sensitivity"] == pytest.approx((3 / 4 + 2 / 3 + 2 / 3) / 3)
    assert s["balanced_accuracy"] == pytest.approx(s["mean_sensitivity"])
    assert s["min_sensitivity"] == pytest.approx(2 / 3)
    assert s["max_sensitivity"] == pytest.approx(3 / 4)
    assert s["min_specificity"] == pytest.approx(5 / 6)
    assert s["max_specificity"] == pytest.approx(6 / 7)
    assert s["log_loss"] == pytest.approx(-(7 * np.log(0.7) + 3 * np.log(0.15)) / 10)
    assert s["n_samples"] == 10
    json.dumps(ev, allow_nan=False)  # serialisable, no NaN


def test_quadratic_kappa_hand_computed():
    # cm rows(true) = [1,0,0],[0,0,1],[0,1,1]; observed weighted disagreement 2,
    # expected 22/4 -> kappa = 1 - 2/5.5 = 7/11
    y_true, y_pred = [0, 1, 2, 2], [0, 2, 2, 1]
    df = predictions_frame(["w", "x", "y", "z"], y_true, probs_for(y_pred, 3), NAMES3)
    ev = evaluate(df, NAMES3, ordinal=True, n_bootstrap=200)
    assert ev["summary"]["kappa_quadratic"] == pytest.approx(7 / 11)
    assert cohen_kappa_score(y_true, y_pred, weights="quadratic") == pytest.approx(7 / 11)
    assert "ci_low_kappa_quadratic" in ev["summary"]
    assert "kappa_quadratic" not in evaluate(df, NAMES3, n_bootstrap=0)["summary"]


def test_auc_perfect_and_random_scorers():
    rng = np.random.default_rng(1)
    n, k = 6000, 4
    y = rng.integers(0, k, n)
    ids = [f"s{i}" for i in range(n)]
    perfect = probs_for(y, k, p_top=0.9)
    ev = evaluate(predictions_frame(ids, y, perfect, list("wxyz")), list("wxyz"), n_bootstrap=0)
    assert ev["summary"]["macro_auc"] == 1.0 and ev["summary"]["micro_auc"] == 1.0
    assert all(r["auc"] == 1.0 and r["ap"] == 1.0 for r in ev["per_class"])

    rand = rng.dirichlet(np.ones(k), size=n)
    ev = evaluate(predictions_frame(ids, y, rand, list("wxyz")), list("wxyz"), n_bootstrap=0)
    assert abs(ev["summary"]["macro_auc"] - 0.5) < 0.03
    assert abs(ev["summary"]["micro_auc"] - 0.5) < 0.03
    assert ev["summary"]["macro_auc"] == pytest.approx(roc_auc_score(y, rand, multi_class="ovr"))
    onehot = np.eye(k)[y]
    assert ev["summary"]["micro_auc"] == pytest.approx(roc_auc_score(onehot, rand, average="micro"))
    assert ev["summary"]["macro_ap"] == pytest.approx(average_precision_score(onehot, rand, average="macro"))
    ties = np.round(rand, 1) + 1e-9  # many tied scores
    ev_t = evaluate(predictions_frame(ids, y, ties, list("wxyz")), list("wxyz"), n_bootstrap=0)
    p_t = ties / ties.sum(1, keepdims=True)
    assert ev_t["per_class"][0]["auc"] == pytest.approx(roc_auc_score(y == 0, p_t[:, 0]))
    assert ev_t["per_class"][0]["ap"] == pytest.approx(average_precision_score(y == 0, p_t[:, 0]))
    # ROC curves: one per class + micro + macro, small enough for JSON
    assert set(ev["roc"]) == {"w", "x", "y", "z", "micro", "macro"}
    assert all(len(c["fpr"]) <= 201 for c in ev["roc"].values())
    assert ev["roc"]["micro"]["fpr"][0] == 0.0 and ev["roc"]["micro"]["tpr"][-1] == 1.0


def _noisy(n=800, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return predictions_frame([f"id{i}" for i in range(n)], y, p, NAMES3[:k])


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    df = _noisy()
    ev1 = evaluate(df, NAMES3, n_bootstrap=300, seed=7)
    ev2 = evaluate(df, NAMES3, n_bootstrap=300, seed=7)
    ev3 = evaluate(df, NAMES3, n_bootstrap=300, seed=8)
    assert ev1["ci"] == ev2["ci"]
    assert ev1["ci"] != ev3["ci"]
    for m in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc"):
        lo, hi = ev1["ci"][m]
        assert lo < ev1["summary"][m] < hi, m
        assert hi - lo < 0.15
        assert ev1["summary"][f"ci_low_{m}"] == lo and ev1["summary"][f"ci_high_{m}"] == hi


def test_row_permutation_gives_identical_numbers():
    df = _noisy(n=500)
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert not shuffled["id"].equals(df["id"])
    assert evaluate(df, NAMES3, n_bootstrap=100, seed=1) == evaluate(shuffled, NAMES3, n_bootstrap=100, seed=1)


def test_calibration_bins_hand_case():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.95, 0.05], [0.55, 0.45], [0.45, 0.55], [0.9, 0.1]])  # last one wrong
    cal = calibration_bins(y, p, n_bins=10)
    assert sum(cal["count"]) == 4
    assert cal["count"][5] == 2 and cal["count"][9] == 2  # confidences 0.55, 0.55 | 0.95, 0.9
    assert cal["accuracy"][9] == pytest.approx(0.5)
    assert cal["mean_confidence"][9] == pytest.approx(0.925)
    assert cal["accuracy"][0] is None
    # ECE = 2/4*|1-0.55| + 2/4*|0.5-0.925|
    assert cal["ece"] == pytest.approx(0.5 * 0.45 + 0.5 * 0.425)
    ev = evaluate(_noisy(n=300), NAMES3, n_bootstrap=0, n_bins=15)
    assert sum(ev["calibration"]["count"]) == 300 and len(ev["calibration"]["edges"]) == 16


def test_absent_class_single_class_and_renormalisation():
    # class "c" never occurs in y_true: its AUC is None and the macro is over a and b
    y = [0, 0, 1, 1, 0, 1]
    p = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.4, .5, .1], [.3, .6, .1], [.5, .4, .1]])
    ev = evaluate(predictions_frame(list("uvwxyz"), y, p, NAMES3), NAMES3, n_bootstrap=50)
    pc = {r["class"]: r for r in ev["per_class"]}
    assert pc["c"]["auc"] is None and pc["c"]["sensitivity"] is None and pc["c"]["support"] == 0
    assert pc["a"]["auc"] == pytest.approx(roc_auc_score(np.array(y) == 0, p[:, 0]))
    assert ev["summary"]["macro_auc"] == pytest.approx((pc["a"]["auc"] + pc["b"]["auc"]) / 2)
    assert ev["notices"]
    json.dumps(ev, allow_nan=False)

    # a single class in y_true still evaluates (AUCs undefined)
    ev = evaluate(predictions_frame(["a1", "a2", "a3"], [1, 1, 1], probs_for([1, 0, 1], 3), NAMES3), NAMES3)
    assert ev["summary"]["accuracy"] == pytest.approx(2 / 3)
    assert ev["summary"]["macro_auc"] is None and ev["ci"]["macro_auc"] == [None, None]

    # rows not summing to one are renormalised (and counted)
    raw = np.array([[2.0, 1.0, 1.0], [0.1, 0.1, 0.2]]) / 2
    df = predictions_frame(["r1", "r2"], [0, 2], raw, NAMES3)
    assert df.attrs["renormalised_rows"] == 2
    assert df[["p_0", "p_1", "p_2"]].sum(axis=1).to_numpy() == pytest.approx([1, 1])
    assert df["p_0"].iloc[0] == pytest.approx(0.5)
    # a hand-made frame with unnormalised rows: evaluate renormalises and says so
    raw_df = pd.DataFrame({"id": ["r1", "r2"], "y_true": [0, 2], "y_pred": [0, 2],
                           "p_0": [0.8, 0.1], "p_1": [0.4, 0.1], "p_2": [0.4, 0.2]})
    ev = evaluate(raw_df, NAMES3, n_bootstrap=0)
    assert any("renormalised" in t for t in ev["notices"])
    assert ev["summary"]["log_loss"] == pytest.approx(-(np.log(0.5) + np.log(0.5)) / 2)


def test_bad_input_messages():
    p = probs_for([0, 1], 3)
    with pytest.raises(ValidationError, match="3 class names"):
        predictions_frame(["a", "b"], [0, 1], np.c_[p, p[:, :1]], NAMES3)
    with pytest.raises(ValidationError, match="negative"):
        predictions_frame(["a", "b"], [0, 1], p - 0.5, NAMES3)
    with pytest.raises(ValidationError, match=r"outside \[0, 2\]"):
        predictions_frame(["a", "b"], [0, 3], p, NAMES3)
    with pytest.raises(ValidationError, match="unique"):
        predictions_frame(["a", "a"], [0, 1], p, NAMES3)
    df = predictions_frame(["a", "b"], [0, 1], p, NAMES3)
    with pytest.raises(ValidationError, match=r"p_3|class count"):
        evaluate(df, NAMES3 + ["d"])
    with pytest.raises(ValidationError, match="class count mismatch"):
        evaluate(df, NAMES3[:2])


def test_interpretation_most_confused_and_top_losses():
    # a->b three times, c->a once, b->c twice
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    y_pred = [1, 1, 1, 0, 1, 2, 2, 0, 2]
    p = probs_for(y_pred, 3, p_top=0.6)
    p[0] = [0.05, 0.9, 0.05]  # the most confident mistake
    ids = [f"q{i}" for i in range(9)]
    interp = Interpretation(predictions_frame(ids, y_true, p, NAMES3), NAMES3)
    assert interp.most_confused(2) == [("a", "b", 3), ("b", "c", 2)]
    assert interp.most_confused(5, min_count=2) == [("a", "b", 3), ("b", "c", 2)]
    assert len(interp.most_confused(10)) == 3
    cm = interp.confusion_matrix()
    assert cm.loc["a", "b"] == 3 and int(cm.to_numpy().sum()) == 9
    assert interp.confusion_matrix(normalize=True).loc["a"].sum() == pytest.approx(1.0)
    tl = interp.top_losses(3)
    assert list(tl.columns[:6]) == ["id", "actual", "predicted", "p_actual", "p_pred", "loss"]
    assert tl["id"].iloc[0] == "q0" and tl["loss"].iloc[0] == pytest.approx(-np.log(0.05))
    assert (tl["loss"].diff().dropna() <= 0).all()
    rep = interp.report()
    assert list(rep.index) == NAMES3 and rep.loc["a", "support"] == 4
    assert interp.summary()["accuracy"] == pytest.approx(3 / 9)  # q3, q4, q8 right


def _tiny_dataset(n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, size=(n, 8, 8, 1)).astype(np.uint8)
    images[labels == 1, :, 4:] += 150  # class 1: bright right half
    return Dataset(name="tiny", class_names=["left", "right"], ids=[f"t{i:03d}" for i in range(n)],
                   labels=labels, images=images)


class _Rescale:
    """A minimal preprocessing with the apply_np/apply_tf contract (rescale to [0, 1])."""

    input_size = (8, 8)
    channels = 1
    normalization = "rescale"

    def apply_np(self, x):
        return np.asarray(x, dtype=np.float32) / 255.0

    def apply_tf(self, x):
        import tensorflow as tf

        return tf.cast(x, tf.float32) / 255.0


def _prep_for(ds):
    try:
        from core.data.preprocess import fit_preprocessing

        return fit_preprocessing(ds, input_size=(8, 8), channels=1, normalization="rescale")
    except ImportError:
        return _Rescale()


def test_predict_dataset_aligns_by_id():
    import keras

    ds = _tiny_dataset()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    prep = _prep_for(ds)
    df = predict_dataset(model, ds, prep, batch_size=16)
    assert list(df["id"]) == list(ds.ids)
    assert (df["y_true"].to_numpy() == ds.labels).all()
    expected = model.predict(ds.images.astype(np.float32) / 255.0, verbose=0)
    assert df[["p_0", "p_1"]].to_numpy() == pytest.approx(expected, abs=1e-5)
    # a permuted dataset gives the same per-id predictions
    perm = np.random.default_rng(1).permutation(len(ds))
    df2 = predict_dataset(model, ds.subset(perm, by="position"), prep, batch_size=7)
    merged = df.merge(df2, on="id", suffixes=("", "_2"))
    assert len(merged) == len(ds)
    assert (merged["y_true"] == merged["y_true_2"]).all()
    assert merged["p_1"].to_numpy() == pytest.approx(merged["p_1_2"].to_numpy(), abs=1e-5)
    # align_predictions restores dataset order and refuses foreign labels
    back = align_predictions(df2, ds)
    assert list(back["id"]) == list(ds.ids)
    wrong = df.copy()
    wrong.loc[0, "y_true"] = 1 - wrong.loc[0, "y_true"]
    with pytest.raises(DatasetError, match="not aligned"):
        align_predictions(wrong, ds)
    with pytest.raises(DatasetError, match="not in dataset"):
        align_predictions(df.assign(id=df["id"] + "x"), ds)


def test_bootstrap_handles_ten_thousand_samples():
    # functional check on the size the brief names (speed is measured in bench/)
    rng = np.random.default_rng(0)
    n, k = 10_000, 7
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), size=n)
    p[np.arange(n), y] += 0.3
    df = predictions_frame(np.arange(n), y, p / p.sum(1, keepdims=True), list("abcdefg"))
    ev = evaluate(df, list("abcdefg"), n_bootstrap=1000, seed=0)
    lo, hi = ev["ci"]["macro_auc"]
    assert lo < ev["summary"]["macro_auc"] < hi
    assert isinstance(pd.DataFrame(ev["per_class"]), pd.DataFrame)


def test_digits_end_to_end_with_real_pipeline():
    """Real data, real preprocessing and tf.data pipeline: a quickly trained model evaluated on
    the held-out split; predictions line up with the labels by id."""
    import keras

    from core.data.pipeline import make_dataset
    from core.data.preprocess import fit_preprocessing
    from core.datasets import load_dataset
    from core.datasets.splits import apply_split, make_split

    ds = load_dataset("digits")
    train, _, test = apply_split(ds, make_split(ds, seed=0))
    prep = fit_preprocessing(train, input_size=(8, 8), channels=1, normalization="rescale")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(make_dataset(train, prep, batch_size=64, training=True, seed=0), epochs=4, verbose=0)
    df = predict_dataset(model, test, prep, batch_size=50)
    assert list(df["id"]) == list(test.ids)
    align_predictions(df.sample(frac=1.0, random_state=0), test)
    ev = evaluate(df, test.class_names, n_bootstrap=200)
    s = ev["summary"]
    assert s["n_samples"] == len(test)
    assert s["accuracy"] > 0.8 and s["macro_auc"] > 0.95
    assert s["ci_low_accuracy"] <= s["accuracy"] <= s["ci_high_accuracy"]
    # predictions scrambled against labels (report C's bug) collapse to chance level
    scrambled = df.assign(y_true=np.random.default_rng(0).permutation(df["y_true"].to_numpy()))
    assert evaluate(scrambled, test.class_names, n_bootstrap=0)["summary"]["accuracy"] < 0.3
