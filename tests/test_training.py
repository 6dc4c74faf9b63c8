"""Real training on small real data (digits, a Fashion-MNIST subset): no mocks."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.serving.trained_model import load_trained
from core.training.cached_features import split_head
from core.training.config import TrainConfig
from core.training.engine import train
from core.training.reporters import Cancelled, CollectingReporter, TrainingError
from core.validation import ModelError, NotFoundError, ValidationError

QUICK = dict(dataset={"name": "digits", "params": {}}, model="small_cnn", epochs=3, batch_size=32, seed=0)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits_run")
    rep = CollectingReporter()
    res = train(TrainConfig(**QUICK), out_dir=out, reporter=rep)
    return res, rep, out


# ---------------------------------------------------------------- configuration
def test_default_config_is_valid_and_round_trips_json():
    cfg = TrainConfig(dataset={"name": "digits"}, model="small_cnn")
    cfg.validate()
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg
    custom = TrainConfig(dataset={"name": "digits", "params": {"max_per_class": 50}}, model="small_cnn",
                         input_size=[16, 16], schedule="plateau", schedule_options={"patience": 1},
                         augment="report_b", monitor="val_macro_f1", early_stopping=2, class_weight="balanced")
    d = json.loads(custom.to_json())
    assert d["input_size"] == [16, 16] and d["augment"] == "report_b"
    assert TrainConfig.from_dict(d) == custom.validate()


def test_unknown_keys_are_rejected_with_valid_keys_listed():
    with pytest.raises(ValidationError) as e:
        TrainConfig.from_dict({"model": "small_cnn", "learnig_rate": 0.1})
    msg = str(e.value)
    assert "'learnig_rate'" in msg and "did you mean 'learning_rate'" in msg and "Valid keys:" in msg and "batch_size" in msg


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"optimizer": "adamw"},
         "The 'optimizer' parameter must be one of {'adam', 'adamax', 'adagrad', 'rmsprop', 'sgd'}. Got 'adamw' instead."),
        ({"epochs": 0}, "The 'epochs' parameter must be an int in the range [1, 10000]. Got 0 instead."),
        ({"learning_rate": "fast"}, "The 'learning_rate' parameter must be a number. Got 'fast' (str) instead."),
        ({"monitor": "val_f1"}, "Got 'val_f1' instead. Did you mean 'val_macro_f1'"),
        ({"schedule": "plateau", "schedule_options": {"factr": 0.5}},
         "Unknown schedule_options key(s) for schedule 'plateau': 'factr'"),
        ({"split": {"val_ratio": 0.5, "test_ratio": 0.5}}, "must leave at least 5% for training"),
        ({"input_size": [32]}, "must be [height, width] or None"),
        ({"augment": "report_z"}, "Got 'report_z' instead"),
        ({"model": "vgg16", "input_size": [16, 16]}, "vgg16 needs an input of at least 32x32"),
        ({"normalization": "backbone"}, "normalization='backbone' needs a backbone model"),
    ],
)
def test_validation_messages_say_what_was_expected_and_what_came(changes, expected):
    cfg = TrainConfig(**{**QUICK, **changes})
    with pytest.raises(ValidationError) as e:
        cfg.validate()
    assert expected in str(e.value)


def test_constraints_table_declares_every_field_and_drives_validate(monkeypatch):
    """core.training.config.PARAMS is the one declaration of what a field accepts: validate() reads it
    (a choice added there is accepted, a bound changed there is enforced)."""
    import dataclasses

    from core.training import config as train_config

    assert list(train_config.PARAMS) == TrainConfig.field_names()
    cfg = TrainConfig(**{**QUICK, "optimizer": "lion"})
    with pytest.raises(ValidationError, match="'optimizer' parameter must be one of"):
        cfg.validate()
    opt = train_config.PARAMS["optimizer"]
    monkeypatch.setitem(train_config.PARAMS, "optimizer", dataclasses.replace(opt, choices=(*opt.choices, "lion")))
    assert cfg.validate() is cfg
    monkeypatch.setitem(train_config.PARAMS, "epochs", dataclasses.replace(train_config.PARAMS["epochs"], high=2))
    with pytest.raises(ValidationError, match=r"'epochs' parameter must be an int in the range \[1, 2\]"):
        TrainConfig(**QUICK).validate()
    # nested tables: the split and the schedule options (their defaults too)
    assert train_config.SCHEDULE_DEFAULTS["plateau"] == {"factor": 0.5, "patience": 2, "min_lr": 1e-6}
    with pytest.raises(ValidationError, match="'split.seed' parameter must be an int"):
        TrainConfig(**{**QUICK, "split": {"seed": -1}}).validate()


def test_training_modules_import_without_tensorflow():
    """Keras is imported when a run trains (core.training.callbacks), never when the training modules load."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, core.training.engine, core.training.config, core.training.reporters, core.files, "
            "core.serving.trained_model, core.training.cached_features, core.cli.main; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_gpus_field_defaults_to_cpu_and_old_configs_still_load():
    cfg = TrainConfig(**QUICK)
    assert cfg.gpus == 0 and cfg.to_dict()["gpus"] == 0
    old = {k: v for k, v in cfg.to_dict().items() if k != "gpus"}  # stored before the field existed
    assert TrainConfig.from_dict(old).validate().gpus == 0
    assert TrainConfig(**{**QUICK, "gpus": 2}).validate().gpus == 2


@pytest.mark.parametrize("bad, expected", [(-1, "in the range [0, inf]"), (1.5, "must be an int"),
                                           (True, "must be an int")], ids=["negative", "fraction", "bool"])
def test_gpus_field_refuses_what_is_not_a_count(bad, expected):
    with pytest.raises(ValidationError) as e:
        TrainConfig(**{**QUICK, "gpus": bad}).validate()
    assert "The 'gpus' parameter" in str(e.value) and expected in str(e.value)


def test_unknown_dataset_and_model_names_have_close_matches():
    with pytest.raises(NotFoundError, match="Did you mean 'digits'"):
        TrainConfig(dataset={"name": "digit"}).validate()
    with pytest.raises(NotFoundError, match="Did you mean 'small_cnn'"):
        TrainConfig(model="smal_cnn").validate()


# ---------------------------------------------------------------- a real run
def test_digits_training_reaches_well_above_chance_and_saves_everything(digits_run):
    res, rep, out = digits_run
    assert res.summary["accuracy"] > 0.8
    for name in ("model.keras", "meta.json", "split.json", "history.csv", "predictions.csv", "evaluation.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*tmp*"))  # no temp files left
    meta = json.loads((out / "meta.json").read_text())
    assert meta["class_names"] == [str(i) for i in range(10)]
    assert meta["preprocessing"]["input_size"] == [8, 8] and meta["input_shape"] == [8, 8, 1]
    assert meta["cam_layer"] and meta["model"] == "small_cnn" and meta["dataset"]["name"] == "digits"
    assert 0 < meta["train_stats"]["brightness_mean"] < 255 and meta["train_stats"]["typical_size"] == [8, 8]
    assert meta["params"]["trainable"] > 0 and meta["epochs_run"] == 3
    split = json.loads((out / "split.json").read_text())
    pred = pd.read_csv(out / "predictions.csv", dtype={"id": str})
    assert list(pred["id"]) == list(res.predictions["id"]) and set(pred["id"]) == set(split["test"])
    hist = pd.read_csv(out / "history.csv")
    assert list(hist["epoch"]) == [1, 2, 3] and {"loss", "val_loss", "val_accuracy", "val_macro_f1", "lr"} <= set(hist)
    # reporter saw everything, 1-based epochs and batches, ETA counting down to 0
    n_batches = rep.start_info["n_batches"]
    assert len(rep.batches) == 3 * n_batches and [e["epoch"] for e in rep.epochs] == [1, 2, 3]
    assert rep.batches[0]["batch"] == 1 and rep.batches[-1]["eta_s"] == 0 and rep.batches[0]["images_per_sec"] > 0
    assert res.best_epoch == int(np.argmin(hist["val_loss"])) + 1


def test_saved_model_reloads_and_predicts_identically(digits_run):
    res, _, out = digits_run
    from core.datasets import load_dataset

    tm = load_trained(out)
    ds = load_dataset("digits")
    test = ds.subset(res.predictions["id"].to_numpy())
    probs = tm.predict(test.images)
    stored = res.predictions[[c for c in res.predictions if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probs, stored, atol=1e-5)
    np.testing.assert_array_equal(probs.argmax(1), res.predictions["y_pred"].to_numpy())
    assert tm.class_names == [str(i) for i in range(10)]
    # the in-memory model (best weights) and the file agree too
    np.testing.assert_allclose(res.model.predict(tm.preprocess(test.images[:16]), verbose=0), probs[:16], atol=1e-5)


def test_same_config_and_seed_twice_gives_identical_metrics(digits_run, tmp_path):
    res, _, _ = digits_run
    again = train(TrainConfig(**{**QUICK, "epochs": 2}), out_dir=tmp_path / "again")
    assert [h["loss"] for h in again.history] == [h["loss"] for h in res.history[:2]]
    assert [h["val_accuracy"] for h in again.history] == [h["val_accuracy"] for h in res.history[:2]]
    assert [h["val_macro_f1"] for h in again.history] == [h["val_macro_f1"] for h in res.history[:2]]


def test_stored_split_is_reused(digits_run, tmp_path):
    res, _, out = digits_run
    from core.datasets.splits import Split

    split = Split.from_dict(json.loads((out / "split.json").read_text()))
    other = train(TrainConfig(**{**QUICK, "epochs": 1, "split": {"seed": 7}}), out_dir=tmp_path / "r", split=split)
    assert set(other.predictions["id"]) == set(res.predictions["id"])


# ---------------------------------------------------------------- control flow
def test_cancel_within_a_batch_keeps_reported_curves(tmp_path):
    rep = CollectingReporter(cancel_after_batches=5)
    with pytest.raises(Cancelled, match="epoch 1 batch 5"):
        train(TrainConfig(**QUICK), out_dir=tmp_path, reporter=rep)
    assert len(rep.batches) == 5 and rep.epochs == []
    assert not (tmp_path / "model.keras").exists()


def test_nan_loss_stops_with_a_clear_reason(tmp_path):
    cfg = TrainConfig(**{**QUICK, "optimizer": "sgd", "learning_rate": 1e6})
    with pytest.raises(TrainingError) as e:
        train(cfg, out_dir=tmp_path)
    msg = str(e.value)
    assert "at epoch 1 batch" in msg and "lower learning rate" in msg
    assert "NaN" in msg or "infinite" in msg or "diverged" in msg
    assert not (tmp_path / "model.keras").exists()


def test_best_epoch_weights_are_restored(tmp_path):
    """After epoch 1 the LR becomes huge, so later epochs are worse: the saved model must be epoch 1's."""
    import keras

    class Wreck(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.model.optimizer.learning_rate.assign(0.5)

    cfg = TrainConfig(**{**QUICK, "epochs": 3, "monitor": "val_accuracy"})
    res = train(cfg, out_dir=tmp_path, extra_callbacks=[Wreck()])
    accs = [h["val_accuracy"] for h in res.history]
    assert res.best_epoch == 1 and accs[0] > max(accs[1:])
    # the saved model scores epoch 1's validation accuracy on the validation split
    from core.datasets import load_dataset
    from core.datasets.splits import Split, apply_split

    _, val, _ = apply_split(load_dataset("digits"), Split.from_dict(json.loads((tmp_path / "split.json").read_text())))
    tm = load_trained(tmp_path / "model.keras")
    acc = float((tm.predict(val.images).argmax(1) == val.labels).mean())
    assert acc == pytest.approx(accs[0], abs=1e-6)


def test_plateau_and_early_stopping_on_macro_f1(tmp_path):
    cfg = TrainConfig(**{**QUICK, "epochs": 6, "monitor": "val_macro_f1", "early_stopping": 1, "min_delta": 1.0,
                         "schedule": "plateau", "schedule_options": {"patience": 0, "factor": 0.5}})
    rep = CollectingReporter()
    res = train(cfg, out_dir=tmp_path, reporter=rep)
    # an F1 gain of 1.0 is impossible: no "improvement" after epoch 1 -> early stop after epoch 3;
    # the plateau halves the LR at the end of epochs 2 and 3 (the history logs the LR used in the epoch)
    assert res.epochs_run == 3
    lrs = [h["lr"] for h in res.history]
    assert lrs[1] == pytest.approx(lrs[0]) and lrs[2] == pytest.approx(lrs[0] * 0.5)
    assert res.best_epoch == int(np.argmax([h["val_macro_f1"] for h in res.history])) + 1
    assert any("early stopping" in t for _, t in rep.messages)


def test_fashion_mnist_subset_above_chance(shared_datasets, tmp_path, monkeypatch):
    import keras  # noqa: F401
    from keras.src.backend import config as kconfig

    from core.datasets import import_keras_dataset

    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(kconfig, "_KERAS_DIR", str(home))
    import_keras_dataset("fashion_mnist", shared_datasets / "fashion_mnist")
    cfg = TrainConfig(dataset={"name": "fashion_mnist", "params": {"max_per_class": 100}}, model="small_cnn",
                      epochs=3, input_size=[16, 16])
    res = train(cfg, out_dir=tmp_path / "run")
    assert res.summary["accuracy"] > 0.5  # chance is 0.1
    assert res.meta["class_names"][0] == "T-shirt/top"


def test_frozen_backbone_trains_on_cached_features(tmp_path):
    cfg = TrainConfig(dataset={"name": "digits"}, model="vgg16", input_size=[32, 32], epochs=3, normalization="rescale",
                      model_options={"weights": None, "trainable": "frozen", "cut_layer": "block1_pool", "head": "flatten_dense",
                                     "dense_units": 64})
    rep = CollectingReporter()
    res = train(cfg, out_dir=tmp_path, reporter=rep)
    assert res.meta["cached_features"] is True and rep.start_info["cached_features"] is True
    assert res.summary["accuracy"] > 0.5  # random frozen conv features + dense head; chance 0.1
    tm = load_trained(tmp_path)
    from core.datasets import load_dataset

    test = load_dataset("digits").subset(res.predictions["id"].to_numpy())
    stored = res.predictions[[c for c in res.predictions if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(tm.predict(test.images), stored, atol=1e-4)
    feat, head = split_head(res.model)
    assert not feat.trainable_weights and head.trainable_weights


# ---------------------------------------------------------------- loading
def test_a_file_that_is_not_a_keras_model_is_refused(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"definitely not a zip archive")
    with pytest.raises(ModelError, match="is not a Keras model"):
        load_trained(bad)
    txt = tmp_path / "weights.txt"
    txt.write_text("x")
    with pytest.raises(ModelError, match="expected a .keras file"):
        load_trained(txt)
    with pytest.raises(ModelError, match="No model file"):
        load_trained(tmp_path / "missing")


def test_a_model_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path):
    import keras

    inp = keras.Input((4,))
    out = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(ModelError) as e:
        load_trained(path)
    assert "safe_mode" in str(e.value) and "Lambda" in str(e.value)
