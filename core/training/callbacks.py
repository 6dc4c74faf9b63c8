"""The Keras callbacks of a training run, one concern each (as Keras' own callbacks are).

Imported by ``core.training.engine.train`` only when it trains: importing this module imports Keras
(and TensorFlow), so no other module imports it at load time.

Order matters and is set by ``make_callbacks``: Keras passes one ``logs`` dict per epoch to
the callbacks in list order, and each adds what it measures (``val_macro_f1``, ``lr``,
``best_epoch``, ``epoch_time_s``) before ``ProgressAndCancel``, the last, records the epoch
and reports it.

- ``OneCycle``: the one-cycle learning-rate schedule (per batch);
- ``StopOnDivergence``: a non-finite or exploding loss stops the run with ``TrainingError``;
- ``BestEpoch``: macro-F1 on the validation data, the monitored metric, the best epoch and
  its weights, epochs without improvement;
- ``ReduceOnPlateau`` and ``EarlyStop``: act on ``BestEpoch``'s epochs without improvement;
- ``ProgressAndCancel``: per-batch and per-epoch progress to the reporter, the history,
  ``Cancelled`` when the reporter asks for it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from core.training.config import MAXIMIZED_MONITORS, TrainConfig
from core.training.reporters import Cancelled, TrainingError, _SafeReporter

DIVERGENCE_FACTOR = 1e4  # running loss > 10000x max(first loss, ln(k)) = diverged


class OneCycle(keras.callbacks.Callback):
    """Cosine warm-up from ``max_lr / div_factor`` to ``max_lr``, then cosine annealing down to
    ``max_lr / div_factor / final_div_factor``, over ``total_steps`` batches."""

    def __init__(self, max_lr, total_steps, pct_start, div_factor, final_div_factor):
        super().__init__()
        self.max_lr, self.total = max_lr, max(1, total_steps)
        self.up = max(1, int(round(self.total * pct_start)))
        self.start_lr = max_lr / div_factor
        self.end_lr = self.start_lr / final_div_factor
        self.step = 0

    def lr_at(self, step):
        if step < self.up:
            t = step / self.up
            return self.start_lr + (self.max_lr - self.start_lr) * (1 - math.cos(math.pi * t)) / 2
        t = min(1.0, (step - self.up) / max(1, self.total - self.up))
        return self.end_lr + (self.max_lr - self.end_lr) * (1 + math.cos(math.pi * t)) / 2

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.lr_at(self.step))
        self.step += 1


class StopOnDivergence(keras.callbacks.Callback):
    """Stop with ``TrainingError`` when the batch loss is NaN or infinite, or exceeds
    ``DIVERGENCE_FACTOR`` times max(first loss, ln(number of classes)) (it would become NaN)."""

    def __init__(self, *, n_classes: int, learning_rate: float):
        super().__init__()
        self.n_classes, self.learning_rate = n_classes, learning_rate
        self.epoch = 0
        self.first_loss = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss, b = float(loss), batch + 1
        if self.first_loss is None and math.isfinite(loss):
            self.first_loss = loss
        if not math.isfinite(loss):
            self.model.stop_training = True
            raise TrainingError(
                f"The loss became {'NaN' if math.isnan(loss) else 'infinite'} at epoch {self.epoch} batch {b}; "
                f"training diverged. Try a lower learning rate (now {self.learning_rate:g}), another "
                "optimizer, or check the normalisation of the inputs."
            )
        if loss > DIVERGENCE_FACTOR * max(self.first_loss or 0.0, math.log(max(2, self.n_classes))):
            self.model.stop_training = True
            raise TrainingError(
                f"The loss diverged to {loss:.3g} (more than {DIVERGENCE_FACTOR:g}x the starting loss "
                f"{self.first_loss:.3g}) at epoch {self.epoch} batch {b}; it would become NaN. Try a lower "
                f"learning rate (now {self.learning_rate:g}), another optimizer, or check the input normalisation."
            )


class BestEpoch(keras.callbacks.Callback):
    """Adds ``val_macro_f1`` and ``lr`` to the epoch logs, follows ``monitor``: the best epoch
    and a copy of its weights (restored by ``train``), whether this epoch improved by more
    than ``min_delta`` and ``wait``, the epochs in a row without such an improvement."""

    def __init__(self, *, val_data, monitor: str, min_delta: float):
        super().__init__()
        self.val_data, self.monitor, self.min_delta = val_data, monitor, min_delta
        self.mode_max = monitor in MAXIMIZED_MONITORS
        self.best = None
        self.best_epoch = 0
        self.best_weights = None
        self.improved = False
        self.wait = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        for k, v in list(logs.items()):
            logs[k] = float(v)
        logs["val_macro_f1"] = self._val_macro_f1()  # always recorded (report C monitors it)
        logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        cur = logs.get(self.monitor)
        if cur is None or not math.isfinite(cur):
            raise TrainingError(
                f"The monitored metric {self.monitor!r} is {cur!r} at epoch {epoch + 1}; "
                "is the validation split empty or did training diverge?"
            )
        d = self.min_delta
        self.improved = self.best is None or (cur > self.best + d if self.mode_max else cur < self.best - d)
        if self.best is None or (cur > self.best if self.mode_max else cur < self.best):
            self.best = cur
            self.best_epoch = epoch + 1
            self.best_weights = self.model.get_weights()
        logs["best_epoch"] = self.best_epoch
        self.wait = 0 if self.improved else self.wait + 1

    def _val_macro_f1(self) -> float:
        from sklearn.metrics import f1_score

        x_or_ds, y_true = self.val_data
        probs = self.model.predict(x_or_ds, verbose=0)
        return float(f1_score(y_true, np.argmax(probs, axis=1), average="macro", zero_division=0))


class ReduceOnPlateau(keras.callbacks.Callback):
    """Multiply the learning rate by ``factor`` (not below ``min_lr``) after more than
    ``patience`` epochs in a row without improvement of ``best``'s monitor."""

    def __init__(self, best: BestEpoch, *, reporter: _SafeReporter, factor: float, patience: int, min_lr: float):
        super().__init__()
        self.best, self.reporter = best, reporter
        self.factor, self.patience, self.min_lr = factor, patience, min_lr
        self.wait = 0

    def on_epoch_end(self, epoch, logs=None):
        self.wait = 0 if self.best.improved else self.wait + 1
        if self.wait <= self.patience:
            return
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        new_lr = max(lr * self.factor, self.min_lr)
        if new_lr < lr:
            self.model.optimizer.learning_rate.assign(new_lr)
            self.reporter.on_message("info", f"epoch {epoch + 1}: {self.best.monitor} did not improve; "
                                             f"learning rate {lr:.3g} -> {new_lr:.3g}")
        self.wait = 0


class EarlyStop(keras.callbacks.Callback):
    """Stop after more than ``patience`` epochs in a row without improvement of ``best``'s monitor."""

    def __init__(self, best: BestEpoch, *, reporter: _SafeReporter, patience: int):
        super().__init__()
        self.best, self.reporter, self.patience = best, reporter, patience
        self.stopped_early = False

    def on_epoch_end(self, epoch, logs=None):
        if self.best.wait > self.patience:
            self.model.stop_training = True
            self.stopped_early = True
            self.reporter.on_message(
                "info", f"early stopping at epoch {epoch + 1}: no {self.best.monitor} improvement for "
                        f"{self.best.wait} epochs (best epoch {self.best.best_epoch})"
            )


class ProgressAndCancel(keras.callbacks.Callback):
    """Reports each batch (images/s, ETA) and each epoch (adding ``epoch_time_s``), keeps the
    history (one row per epoch), and raises ``Cancelled`` when the reporter asks for it."""

    def __init__(self, reporter: _SafeReporter, *, epochs: int, n_batches: int, batch_size: int):
        super().__init__()
        self.reporter = reporter
        self.total = epochs * n_batches
        self.n_batches, self.batch_size = n_batches, batch_size
        self.batches_done = 0
        self.epoch = 0
        self.epoch_t0 = None
        self.history: list[dict] = []

    def on_train_begin(self, logs=None):
        from core.training.progress import EtaEstimator

        self.eta = EtaEstimator()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.epoch_t0 = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.batches_done += 1
        b = batch + 1
        now = time.monotonic()
        el = now - self.epoch_t0
        ips = b * self.batch_size / el if el > 0 else float("nan")
        eta = self.eta.update(now, self.batches_done / self.total)  # None until it can say (core.training.progress)
        self.reporter.on_batch(self.epoch, b, self.n_batches, logs, ips, eta)
        if self.reporter.should_cancel():
            self.model.stop_training = True
            raise Cancelled(f"Training cancelled at epoch {self.epoch} batch {b}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs["epoch_time_s"] = time.monotonic() - self.epoch_t0
        self.history.append({"epoch": self.epoch, **logs})
        self.reporter.on_epoch(self.epoch, logs)
        if self.reporter.should_cancel():
            raise Cancelled(f"Training cancelled after epoch {self.epoch}.")


@dataclass
class RunCallbacks:
    """The callbacks of one run, in order, and the two whose state ``train`` reads after."""

    callbacks: list[Any]
    progress: ProgressAndCancel
    best: BestEpoch


def make_callbacks(config: TrainConfig, *, reporter: _SafeReporter, n_batches: int, batch_size: int, val_data,
                   n_classes: int = 2) -> RunCallbacks:
    """The run's callbacks for ``config``, in the order they must run each batch and epoch."""
    cbs: list[Any] = []
    so = config.resolved_schedule_options()
    if config.schedule == "one_cycle":
        cbs.append(OneCycle(config.learning_rate, config.epochs * n_batches, so["pct_start"], so["div_factor"],
                            so["final_div_factor"]))
    best = BestEpoch(val_data=val_data, monitor=config.monitor, min_delta=config.min_delta)
    cbs += [StopOnDivergence(n_classes=n_classes, learning_rate=config.learning_rate), best]
    if config.schedule == "plateau":
        cbs.append(ReduceOnPlateau(best, reporter=reporter, factor=so["factor"], patience=so["patience"],
                                   min_lr=so["min_lr"]))
    if config.early_stopping is not None:
        cbs.append(EarlyStop(best, reporter=reporter, patience=config.early_stopping))
    progress = ProgressAndCancel(reporter, epochs=config.epochs, n_batches=n_batches, batch_size=batch_size)
    cbs.append(progress)
    return RunCallbacks(cbs, progress, best)
