"""Verdicts on a stored run in plain words: a model at chance or predicting one class, classes whose
sensitivity is under the dataset's floor, and predicted classes that are rarely right; on a real
collapsed HAM10000 run and real digits runs."""
from __future__ import annotations

import numpy as np
import pytest

from verdicts_support import collapsed_ham_store


@pytest.fixture(scope="module")
def collapsed(shared_datasets, tmp_path_factory):
    from core.store import Store
    from core.store.artifacts import RunFolder

    rid, mp = collapsed_ham_store(shared_datasets, tmp_path_factory.mktemp("verdicts_ham"))
    store = Store()
    run = store.get_run(rid)
    rf = RunFolder.of(run, store)
    yield {"store": store, "run": run, "ev": rf.read_json("evaluation"), "meta": rf.read_json("meta"),
           "pred": rf.read_csv("predictions", dtype={"id": str})}
    store.close()
    mp.undo()


def test_a_run_at_chance_is_called_out_in_plain_words(collapsed):
    from core.analysis.verdicts import CHANCE_MARGIN, one_class_warning

    s, ev = collapsed["run"].summary, collapsed["ev"]
    k = len(ev["class_names"])
    top = max(c["predicted"] for c in ev["per_class"]) / s["n_samples"]
    assert s["ci_high_balanced_accuracy"] <= 1 / k + CHANCE_MARGIN or top >= 0.95, "the run did not collapse"
    text = one_class_warning(s, collapsed["pred"], ev["class_names"])
    assert text is not None
    assert "chance" in text or "one class" in text
    assert one_class_warning(s, evaluation=ev) == text  # the evaluation's counts say the same as the predictions


def test_one_class_for_almost_every_image_is_named(collapsed):
    """The stored predictions of the modal class alone (a real model's, every one the same class)."""
    from core.analysis.verdicts import one_class_warning

    pred, names = collapsed["pred"], collapsed["ev"]["class_names"]
    mode = int(pred["y_pred"].mode()[0])
    only = pred[pred["y_pred"] == mode]
    text = one_class_warning({"n_classes": len(names)}, only, names)
    assert text is not None and names[mode] in text and "100 %" in text and "one class" in text
    assert f"{len(only)} test images" in text


@pytest.fixture(scope="module")
def learnt(tmp_path_factory):
    """A digits run that learnt (6 epochs): its evaluation."""
    from core.store import Store
    from core.store.artifacts import RunFolder
    from lab_pages_support import lab_environ, make_finished_runs

    root = tmp_path_factory.mktemp("verdicts_digits")
    (rid,) = make_finished_runs(root, [{"name": "digits learnt", "epochs": 6, "batch_size": 32}])
    store = Store(lab_environ(root)["LAB_DATABASE_URL"], models_dir=lab_environ(root)["LAB_MODELS_DIR"])
    run = store.get_run(rid)
    yield {"run": run, "ev": RunFolder.of(run, store).read_json("evaluation")}
    store.close()


def test_a_learning_model_gets_no_warning(learnt):
    from core.analysis.verdicts import low_precision_warning, one_class_warning

    ev = learnt["ev"]
    assert ev["summary"]["balanced_accuracy"] > 0.5, "the digits run did not learn"
    assert one_class_warning(learnt["run"].summary, evaluation=ev) is None
    good = [c["index"] for c in ev["per_class"] if c["precision"] >= 0.5]
    assert good and all(low_precision_warning(ev, c) is None for c in good)


def test_low_precision_of_the_predicted_class_in_numbers(collapsed):
    from core.analysis.verdicts import LOW_PRECISION, low_precision_warning

    ev = collapsed["ev"]
    cm = np.asarray(ev["confusion"]["counts"])
    for c, name in enumerate(ev["class_names"]):
        right, predicted = int(cm[c, c]), int(cm[:, c].sum())
        text = low_precision_warning(ev, c)
        if predicted and right / predicted < LOW_PRECISION:
            assert f"{right} of {predicted} images predicted as {name} were {name}" in text
            assert f"(precision {right / predicted:.2f})" in text
        elif predicted:
            assert text is None
        else:
            assert "never predicted" in text
    mode = int(np.argmax(cm.sum(axis=0)))
    assert low_precision_warning(ev, mode) is not None  # a model at chance: its usual answer is rarely right


def test_model_card_lists_the_chance_verdict_and_the_missed_classes(collapsed):
    from core.analysis.model_card import collect, limitations, render_markdown
    from core.analysis.verdicts import sensitivity_shortfalls

    card = collect(collapsed["run"], store=collapsed["store"], examples=0, slices=False)
    lim = " ".join(limitations(card))
    assert "chance" in lim or "one class" in lim
    short = sensitivity_shortfalls(collapsed["ev"], "ham10000", collapsed["meta"].get("class_codes"))
    assert short, "a model at chance misses at least one of melanoma, basal cell carcinoma, actinic keratoses"
    for s in short:
        assert f"{s.name} {s.sensitivity:.3f}" in lim
    assert "below" in render_markdown(card).split("## Known limitations")[1]


def test_slice_intervals_of_the_card_use_the_shared_resample_count():
    import inspect

    from core.analysis import model_card, slices
    from core.metrics.bootstrap import INTERVAL_RESAMPLES
    from pages import _analysis_ui

    assert inspect.signature(model_card.collect).parameters["slices_bootstrap"].default == INTERVAL_RESAMPLES
    assert inspect.signature(slices.run_slices).parameters["n_bootstrap"].default == INTERVAL_RESAMPLES
    assert _analysis_ui.N_BOOTSTRAP == INTERVAL_RESAMPLES
