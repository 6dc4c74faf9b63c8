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

How the sweep ended is classified by ``classify_curve`` into ``LRFindResult.end_state``:

* ``"exploded"``: the smoothed loss went above ``explode_factor x`` its best (sweep stopped);
* ``"non_finite"``: a batch loss became NaN/inf (sweep stopped);
* ``"rose"``: no explosion within the sweep, but the smoothed loss rose at least
  ``1 + rise_tol`` fold after its minimum (``rose_after_min`` is that factor);
* ``"flat"``: the loss stopped falling and stayed within ``1 + rise_tol`` of its minimum;
* ``"still_falling"``: the minimum is at the end of the sweep (a larger ``end_lr`` may help);
* ``"no_decrease"``: the smoothed loss never went below its start;
* ``"too_short"``: fewer than 3 finite points.

Whether a curve explodes within a given LR range depends on the machine's floating-point
path (the same sweep can end 4x up on one CPU and 1.4x up on another), so ``reason`` always
says in words what happened, with the numbers: e.g. "loss rose 1.42-fold after its minimum at
lr=0.5; no explosion (> 4x the best) within the sweep up to lr=100".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from core.validation import ValidationError, check_number

END_STATES = ("exploded", "non_finite", "rose", "flat", "still_falling", "no_decrease", "too_short")
RISE_TOL = 0.1  # a rise of at least 10 % after the minimum counts as "rose"


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
    end_state: str = ""                 # one of END_STATES (see the module docstring)
    diverged: bool = False              # exploded or non-finite
    rose_after_min: float | None = None  # max smoothed loss after the minimum / the minimum
    min_lr: float | None = None         # LR at the minimum of the smoothed loss

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
            "end_state": self.end_state,
            "diverged": self.diverged,
            "rose_after_min": self.rose_after_min,
            "min_lr": self.min_lr,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LRFindResult:
        """From ``to_dict`` output, also of older versions (without ``end_state`` & co., or with
        only ``lrs/losses/smoothed/suggested_lr``): missing fields are derived from the curve."""
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in dict(d).items() if k in known}
        for k in ("lrs", "losses"):
            d.setdefault(k, [])
        if "smoothed" not in d:
            d["smoothed"] = smooth_losses(d["losses"])
        if "suggested_lr" not in d or "min_lr_div10" not in d:
            sugg, div10 = suggest_lr(d["lrs"], d["smoothed"])
            d.setdefault("suggested_lr", sugg)
            d.setdefault("min_lr_div10", div10)
        if not d.get("end_state"):
            c = classify_curve(d["lrs"], d["losses"], d["smoothed"])
            d["end_state"], d["diverged"], d["rose_after_min"], d["min_lr"] = (
                c.end_state, c.diverged, c.rose_after_min, c.min_lr)
            d.setdefault("stopped_early", c.diverged)
            if not d.get("reason"):
                d["reason"] = c.reason
        return cls(**d)


@dataclass
class CurveState:
    end_state: str
    reason: str
    diverged: bool
    rose_after_min: float | None
    min_lr: float | None


def _fold(a: float, b: float) -> float:
    """How many times ``a`` is ``b`` (losses are >= 0; guards a zero minimum)."""
    return float(a / b) if b > 0 else (math.inf if a > b else 1.0)


def classify_curve(lrs, losses, smoothed, *, explode_factor: float = 4.0, rise_tol: float = RISE_TOL,
                   tail: int = 2) -> CurveState:
    """How a sweep's curve ended (see the module docstring); a pure function of the numbers.

    ``tail``: a minimum within the last ``tail`` points counts as "at the end of the sweep".
    """
    lrs = [float(v) for v in lrs]
    losses = [float(v) for v in losses]
    sm = np.asarray([float(v) for v in smoothed], dtype=float)
    non_finite = bool(losses) and not math.isfinite(losses[-1])
    ok = np.isfinite(sm)
    lr_ok = np.asarray(lrs[: len(sm)], dtype=float)[ok]
    sm_ok = sm[ok]
    if len(sm_ok) == 0:
        if non_finite:
            return CurveState("non_finite", f"loss became non-finite at lr={lrs[-1]:.3g} (the first step)", True, None, None)
        return CurveState("too_short", "no finite loss was recorded", False, None, None)
    i_min = int(np.argmin(sm_ok))
    best, min_lr = float(sm_ok[i_min]), float(lr_ok[i_min])
    rose = _fold(float(np.max(sm_ok[i_min:])), best)
    at_min = f"its minimum {best:.4g} at lr={min_lr:.3g}"
    if non_finite:
        return CurveState("non_finite", f"loss became non-finite at lr={lrs[-1]:.3g} (after {at_min})", True, rose, min_lr)
    last_lr = float(lr_ok[-1])
    if len(sm_ok) > 1 and float(sm_ok[-1]) > explode_factor * best:
        return CurveState("exploded", f"loss exploded (> {explode_factor:g}x the best) at lr={last_lr:.3g} "
                                      f"(after {at_min})", True, rose, min_lr)
    if len(sm_ok) < 3:
        return CurveState("too_short", f"only {len(sm_ok)} finite point(s): too few to judge the curve",
                          False, rose, min_lr)
    no_expl = f"no explosion (> {explode_factor:g}x the best) within the sweep up to lr={last_lr:.3g}"
    if not best < float(sm_ok[0]):
        return CurveState("no_decrease", f"loss never went below its start {float(sm_ok[0]):.4g} "
                                         f"(it rose {rose:.2f}-fold); {no_expl}; try a smaller start_lr", False, rose, min_lr)
    if rose >= 1 + rise_tol:
        return CurveState("rose", f"loss rose {rose:.2f}-fold after {at_min}; {no_expl}", False, rose, min_lr)
    if i_min >= len(sm_ok) - tail:
        return CurveState("still_falling", f"loss was still falling at the end of the sweep ({at_min}, the last "
                                           f"point); {no_expl}; a larger end_lr may find the minimum", False, rose, min_lr)
    return CurveState("flat", f"loss stopped falling after {at_min} and stayed within {rose:.2f}x of it; "
                              f"{no_expl}", False, rose, min_lr)


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
    from core.training.reporters import _SafeReporter

    rep = _SafeReporter(reporter)
    weights = model.get_weights()
    opt = model.optimizer
    opt_vars = [v.numpy() for v in opt.variables] if opt.built else None
    try:
        lrs, losses, smoothed, stopped = _sweep(model, train_data, rep, start_lr=start_lr, end_lr=end_lr,
                                                num_steps=num_steps, beta=beta, explode_factor=explode_factor)
    finally:
        model.set_weights(weights)
        if opt_vars is not None and len(opt_vars) == len(opt.variables):
            for v, val in zip(opt.variables, opt_vars):
                v.assign(val)
    return _sweep_result(lrs, losses, smoothed, stopped, explode_factor, rep)


def _sweep(model, train_data, rep, *, start_lr: float, end_lr: float, num_steps: int, beta: float,
           explode_factor: float) -> tuple[list[float], list[float], list[float], bool]:
    """(lrs, losses, smoothed losses, stopped early): one training step per learning rate, the rate
    growing exponentially; stops when the loss is non-finite or the smoothed loss explodes."""
    from core.training.reporters import Cancelled

    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    mult = (end_lr / start_lr) ** (1.0 / max(1, num_steps - 1))
    it = iter(train_data.repeat())
    opt = model.optimizer
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
            return lrs, losses, smoothed, True
        avg = beta * avg + (1 - beta) * loss
        sm = avg / (1 - beta ** (step + 1))
        smoothed.append(sm)
        best = min(best, sm)
        rep.on_batch(1, step + 1, num_steps, {"loss": loss, "smoothed": sm, "lr": lr}, float("nan"), float("nan"))
        if rep.should_cancel():
            raise Cancelled(f"LR finder cancelled after {step + 1} steps.")
        if step > 0 and sm > explode_factor * best:
            return lrs, losses, smoothed, True
    return lrs, losses, smoothed, False


def _sweep_result(lrs: list[float], losses: list[float], smoothed: list[float], stopped: bool,
                  explode_factor: float, rep) -> LRFindResult:
    """The sweep's suggestion and how it ended, also said to the reporter."""
    suggested, div10 = suggest_lr(lrs, smoothed)
    c = classify_curve(lrs, losses, smoothed, explode_factor=explode_factor)
    reason = c.reason if stopped else f"completed the sweep ({len(lrs)} steps): {c.reason}"
    res = LRFindResult(lrs, losses, smoothed, suggested, div10, stopped, reason, end_state=c.end_state,
                       diverged=c.diverged, rose_after_min=c.rose_after_min, min_lr=c.min_lr)
    if suggested is not None:
        rep.on_message("info", f"LR finder: steepest descent at {suggested:.3g} (minimum/10: {div10:.3g}); {reason}")
    else:
        rep.on_message("warning", f"LR finder: no suggestion; {reason}")
    return res


def lr_find(config, *, reporter=None, start_lr: float = 1e-7, end_lr: float = 1.0, num_steps: int = 100,
            split=None) -> LRFindResult:
    """LR sweep for a ``TrainConfig``: same data, split, preprocessing, augmentation and model
    as ``train(config)`` would use; nothing is saved."""
    from core.data.pipeline import make_dataset
    from core.training.engine import build_run_model, make_optimizer, prepare, seed_everything
    from core.training.reporters import _SafeReporter

    config.validate()
    seed_everything(config.seed)
    rep = _SafeReporter(reporter)
    p = prepare(config, split=split)
    model, notices = build_run_model(p)
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
