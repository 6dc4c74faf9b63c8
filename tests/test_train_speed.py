"""Reproducibility as a training setting: bit-for-bit runs when on (the default, and what configs stored
before the setting meant), TensorFlow's op determinism off when not; real digits runs, no mocks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.training.config import TrainConfig
from core.training.engine import train

TINY = dict(dataset={"name": "digits", "params": {"max_per_class": 40}}, model="small_cnn", epochs=1, batch_size=32,
            seed=3)


# ---------------------------------------------------------------- the setting
def test_reproducible_defaults_on_and_configs_stored_before_it_mean_on():
    cfg = TrainConfig(**TINY)
    assert cfg.reproducible is True and cfg.to_dict()["reproducible"] is True
    old = {k: v for k, v in cfg.to_dict().items() if k != "reproducible"}  # stored before the field existed
    assert TrainConfig.from_dict(old).validate().reproducible is True
    fast = TrainConfig(**{**TINY, "reproducible": False}).validate()
    assert TrainConfig.from_json(fast.to_json()).reproducible is False


def test_reproducible_must_be_a_bool():
    from core.validation import ValidationError

    with pytest.raises(ValidationError, match="'reproducible' parameter"):
        TrainConfig(**{**TINY, "reproducible": "yes"}).validate()


def test_the_setting_round_trips_through_the_store(store):
    cfg = TrainConfig(**{**TINY, "reproducible": False}).validate()
    run_id = store.create_run(cfg.to_dict(), name="fast digits", dataset="digits", model="small_cnn", seed=3)
    assert TrainConfig.from_dict(store.get_run(run_id).config).reproducible is False


def test_a_store_from_before_the_setting_loads_its_runs_as_reproducible():
    from pathlib import Path

    meta = json.loads((Path(__file__).parent / "data" / "legacy_store" / "models" / "1" / "meta.json").read_text())
    assert "reproducible" not in meta["config"]
    assert TrainConfig.from_dict(meta["config"]).validate().reproducible is True


@pytest.mark.parametrize("flags, expected", [([], True), (["--reproducible"], True), (["--no-reproducible"], False)],
                         ids=["default", "on", "off"])
def test_train_cli_flag(flags, expected):
    from core.cli.main import build_parser

    args = build_parser().parse_args(["train", "--dataset", "digits", "--model", "small_cnn", *flags])
    from core.cli.config_flags import config_from_args

    assert config_from_args(args).reproducible is expected


# ---------------------------------------------------------------- real runs
def _determinism_probe():
    """A Keras callback recording whether TensorFlow's op determinism was on while the model trained."""
    import keras
    from tensorflow.python.framework import config as tf_config

    class Probe(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen: set[bool] = set()

        def on_train_batch_end(self, batch, logs=None):
            self.seen.add(tf_config.is_op_determinism_enabled())

    return Probe()


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """A fast run first (determinism off), then the same reproducible run twice in the same process."""
    runs = {}
    for key, reproducible in (("fast", False), ("a", True), ("b", True)):
        probe = _determinism_probe()
        res = train(TrainConfig(**{**TINY, "reproducible": reproducible}), out_dir=tmp_path_factory.mktemp(key),
                    n_bootstrap=0, extra_callbacks=[probe])
        runs[key] = (res, probe.seen)
    return runs


def test_same_seed_twice_with_reproducible_on_gives_identical_weights_and_metrics(three_runs):
    (a, _), (b, _) = three_runs["a"], three_runs["b"]
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    strip = [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in a.history]
    assert strip == [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in b.history]
    assert a.summary == b.summary
    assert a.meta["config"]["reproducible"] is True


def test_op_determinism_follows_the_setting_in_one_process(three_runs):
    assert three_runs["fast"][1] == {False}  # turned off although nothing had turned it on yet
    assert three_runs["a"][1] == {True} and three_runs["b"][1] == {True}  # and on again after a fast run
    assert three_runs["fast"][0].meta["config"]["reproducible"] is False
