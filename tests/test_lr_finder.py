"""LR finder on real digits training: decreasing-then-exploding curve, suggestion inside the sweep."""
from __future__ import annotations

import numpy as np
import pytest

from core.lr_finder import LRFindResult, lr_find, smooth_losses, suggest_lr
from core.training import CollectingReporter, TrainConfig
from core.validation import ValidationError


def test_lr_find_on_digits_decreases_then_explodes():
    cfg = TrainConfig(dataset={"name": "digits"}, model="small_cnn", batch_size=32, seed=0, optimizer="sgd")
    rep = CollectingReporter()
    res = lr_find(cfg, reporter=rep, start_lr=1e-4, end_lr=100.0, num_steps=60)
    assert isinstance(res, LRFindResult)
    n = len(res.lrs)
    assert n == len(res.losses) == len(res.smoothed) and 10 < n <= 60
    assert np.all(np.diff(res.lrs) > 0)
    assert res.stopped_early and ("exploded" in res.reason or "non-finite" in res.reason)
    sm = np.asarray(res.smoothed, dtype=float)
    i_min = int(np.nanargmin(sm))
    assert sm[i_min] < sm[0] * 0.95         # it went down ...
    assert np.nanmax(sm[i_min:]) > sm[i_min] * 2 or not np.isfinite(sm[-1])  # ... and then up
    assert res.lrs[0] <= res.suggested_lr <= res.lrs[-1]
    assert res.suggested_lr <= res.lrs[i_min]
    assert res.min_lr_div10 == pytest.approx(res.lrs[i_min] / 10)
    d = res.to_dict()
    assert LRFindResult.from_dict(d).suggested_lr == res.suggested_lr
    assert len(rep.batches) == n - (0 if np.isfinite(res.losses[-1]) else 1)


def test_smoothing_has_bias_correction_and_suggestion_is_steepest():
    assert smooth_losses([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    lrs = np.logspace(-5, 0, 50)
    loss = np.concatenate([np.full(15, 2.0), np.linspace(2.0, 0.5, 20), np.linspace(0.5, 5, 15)])
    sugg, div10 = suggest_lr(lrs, loss)
    assert lrs[15] <= sugg <= lrs[34]
    assert div10 == pytest.approx(lrs[34] / 10)


def test_bad_sweep_arguments():
    cfg = TrainConfig(dataset={"name": "digits"}, model="small_cnn")
    with pytest.raises(ValidationError, match="end_lr must be greater than start_lr"):
        lr_find(cfg, start_lr=1.0, end_lr=0.1)
