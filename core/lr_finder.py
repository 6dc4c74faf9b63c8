"""Learning-rate finder (report D; Smith 2015 / fastai ``lr_find``).

Train for at most ``num_steps`` batches while the learning rate grows exponentially from
``start_lr`` to ``end_lr``, recording the loss of each batch (the exact batch loss: the
metrics are reset before each step). The curve is smoothed with an exponential moving
average with bias correction (``beta=0.98``), and the sweep stops early when the smoothed
loss explodes (more than ``4 x`` the best smoothed loss so far) or becomes non-finite.

Suggested learning rate: the point of steepest descent of the smoothed loss against
``log10(lr)`` (the most negative gradient), looked for before the minimum of the smoothed
curve and ignoring the first and last few points (noisy). ``LRFindResult.min_lr_div10`` is
the other common rule (the LR at the minimum divided by 10); both are returned. The model's
initial weights (and optimizer) are restored after the sweep.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .validation import ValidationError, check_number


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float | None
    min_lr_div10: float | None = None
    stopped_early: bool = False
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lrs": list(map(float, self.lrs)),
            "losses": [float(v) for v in self.losses],
            "smoothed": [float(v) for v in self.smoothed],
            "suggested_lr": self.suggested_lr,
            "min_lr_div10": self.min_lr_div10,
            "stopped_early": self.stopped_early,
            "reason": self.reason,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LRFindResult":
        return cls(**d)


def smooth_losses(losses, beta: float = 0.98) -> list[float]:
    """Exponential moving average with bias correction (as in fastai)."""
    avg, out = 0.0, []
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(loss)
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def suggest_lr(lrs, smoothed, *, skip_start: int = 5, skip_end: int = 2) -> tuple[float | None, float | None]:
    """(steepest-descent LR, LR at the minimum / 10) from a smoothed curve."""
    lrs = np.asarray(lrs, dtype=float)
    sm = np.asarray(smoothed, dtype=float)
    ok = np.isfinite(sm)
    lrs, sm = lrs[ok], sm[ok]
    if len(sm) < 3:
        return None, None
    i_min = int(np.argmin(sm))
    min_div10 = float(lrs[i_min] / 10)
    lo = min(skip_start, max(0, i_min - 2))
    hi = max(lo + 2, min(i_min + 1, len(sm) - skip_end))
    hi = min(hi, len(sm))
    seg_l, seg_s = np.log10(lrs[lo:hi]), sm[lo:hi]
    if len(seg_s) < 2:
        return float(lrs[i_min]), min_div10
    grad = np.gradient(seg_s, seg_l)
    return float(lrs[lo + int(np.argmin(grad))]), min_div10


def find_lr(model, train_data, *, start_lr: float = 1e-7, end_lr: float = 1.0, num_steps: int = 100,
            beta: float = 0.98, explode_factor: float = 4.0, reporter=None) -> LRFindResult:
    """Sweep on a compiled ``model`` with a (repeating) ``tf.data`` of ``(x, y)`` batches.

    The model's weights and optimizer variables are restored afterwards.
    """
    check_number("start_lr", start_lr, low=0.0, low_inclusive=False)
    check_number("end_lr", end_lr, low=0.0, low_inclusive=False)
    if not end_lr > start_lr:
        raise ValidationError(f"end_lr must be greater than start_lr. Got start_lr={start_lr:g}, end_lr={end_lr:g} instead.")
    num_steps = check_number("num_steps", num_steps, low=5, high=100_000, integer=True)
    from .training import Cancelled, _SafeReporter

    rep = _SafeReporter(reporter)
    weights = model.get_weights()
    opt = model.optimizer
    opt_vars = [v.numpy() for v in opt.variables] if opt.built else None
    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    stopped, reason = False, "completed the sweep"
    mult = (end_lr / start_lr) ** (1.0 / max(1, num_steps - 1))
    it = iter(train_data.repeat())
    try:
        for step in range(num_steps):
            lr = start_lr * mult**step
            opt.learning_rate.assign(lr)
            x, y = next(it)[:2]
            model.reset_metrics()
            logs = model.train_on_batch(x, y, return_dict=True)
            loss = float(logs["loss"])
            lrs.append(lr)
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(float("nan"))
                stopped, reason = True, f"loss became non-finite at lr={lr:.3g}"
                break
            avg = beta * avg + (1 - beta) * loss
            sm = avg / (1 - beta ** (step + 1))
            smoothed.append(sm)
            best = min(best, sm)
            rep.on_batch(1, step + 1, num_steps, {"loss": loss, "smoothed": sm, "lr": lr}, float("nan"), float("nan"))
            if rep.should_cancel():
                raise Cancelled(f"LR finder cancelled after {step + 1} steps.")
            if step > 0 and sm > explode_factor * best:
                stopped, reason = True, f"loss exploded (> {explode_factor:g}x the best) at lr={lr:.3g}"
                break
    finally:
        model.set_weights(weights)
        if opt_vars is not None and len(opt_vars) == len(opt.variables):
            for v, val in zip(opt.variables, opt_vars):
                v.assign(val)
    suggested, div10 = suggest_lr(lrs, smoothed)
    res = LRFindResult(lrs, losses, smoothed, suggested, div10, stopped, reason)
    if suggested is not None:
        rep.on_message("info", f"LR finder: steepest descent at {suggested:.3g} (minimum/10: {div10:.3g}); {reason}")
    return res


def lr_find(config, *, reporter=None, start_lr: float = 1e-7, end_lr: float = 1.0, num_steps: int = 100,
            split=None) -> LRFindResult:
    """LR sweep for a ``TrainConfig``: same data, split, preprocessing, augmentation and model
    as ``train(config)`` would use; nothing is saved."""
    from .pipeline import make_dataset
    from .training import _SafeReporter, build_model, make_optimizer, prepare, seed_everything

    config.validate()
    seed_everything(config.seed)
    rep = _SafeReporter(reporter)
    p = prepare(config, split=split, reporter=rep)
    model, notices = build_model(p)
    for n in notices:
        rep.on_message("notice", n)
    pipe = make_dataset(p.train_ds, p.prep, batch_size=int(config.batch_size), training=True, augment=p.augment,
                        oversample=config.oversample, seed=config.seed)
    model.compile(
        optimizer=make_optimizer(config.optimizer, start_lr, weight_decay=config.weight_decay, momentum=config.momentum),
        loss="sparse_categorical_crossentropy",
    )
    rep.on_start({"name": config.display_name(), "model": config.model, "dataset": config.dataset["name"],
                  "kind": "lr_find", "num_steps": num_steps, "start_lr": start_lr, "end_lr": end_lr})
    return find_lr(model, pipe, start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, reporter=reporter)
