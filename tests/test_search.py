"""Random search: reproducible distinct complete configs; two tiny real trials on one split."""
from __future__ import annotations

import json

import pytest

from core.training.config import TrainConfig
from core.training.search import REPORT_A_SPACE, SMALL_CNN_SPACE, run_search, sample_trials, validate_space
from core.validation import ValidationError

BASE = TrainConfig(dataset={"name": "digits", "params": {"max_per_class": 60}}, model="small_cnn", epochs=1, name="s")


def test_sampling_is_reproducible_distinct_and_complete():
    base = TrainConfig(dataset={"name": "digits"}, model="report_a_tuned_cnn", epochs=1)
    a = sample_trials(base, REPORT_A_SPACE, 8, seed=3)
    b = sample_trials(base, REPORT_A_SPACE, 8, seed=3)
    c = sample_trials(base, REPORT_A_SPACE, 8, seed=4)
    assert [x.to_dict() for x in a] == [x.to_dict() for x in b]
    assert [x.to_dict() for x in a] != [x.to_dict() for x in c]
    keys = {json.dumps({k: v for k, v in x.to_dict().items() if k != "name"}, sort_keys=True) for x in a}
    assert len(keys) == 8
    for cfg in a:
        cfg.validate()
        mo = cfg.model_options
        assert mo["dropout"] in (0.0, 0.1, 0.2, 0.3)
        assert mo["units"] in range(8, 65, 7) and mo["extra_blocks"] in range(4)
        assert cfg.optimizer in ("adam", "adagrad", "rmsprop") and 1e-4 <= cfg.learning_rate <= 1e-2
        assert cfg.dataset == base.dataset and cfg.epochs == 1
    assert len({x.name for x in a}) == 8


def test_space_validation_messages():
    with pytest.raises(ValidationError, match="not a TrainConfig field path"):
        validate_space({"dropuot": {"type": "float", "low": 0, "high": 1}})
    with pytest.raises(ValidationError, match="must be one of"):
        validate_space({"learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1}})
    with pytest.raises(ValidationError, match="fewer than 5 distinct"):
        sample_trials(BASE, {"optimizer": {"type": "categorical", "choices": ["adam", "sgd"]}}, 5, seed=0)


def test_run_search_trains_two_comparable_trials(tmp_path):
    df = run_search(BASE, SMALL_CNN_SPACE, 2, seed=0, out_dir=tmp_path)
    assert len(df) == 2 and set(df["status"]) == {"finished"}
    assert (tmp_path / "search.csv").is_file() and (tmp_path / "space.json").is_file()
    splits = [json.loads((tmp_path / f"trial_{i:03d}" / "split.json").read_text()) for i in (1, 2)]
    assert splits[0]["test"] == splits[1]["test"] and splits[0]["train"] == splits[1]["train"]
    assert df["test_accuracy"].between(0, 1).all()
    assert list(df["best_val"]) == sorted(df["best_val"])  # val_loss: best first
