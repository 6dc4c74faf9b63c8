"""Reporters: where a training run's progress goes, and how a run is stopped early.

A reporter implements any part of the ``Reporter`` protocol (``_SafeReporter`` calls what is
there). Epochs and batches given to a reporter are 1-based: ``on_batch(epoch=1, batch=1, ...)``
is the first batch. ``should_cancel()`` turning true makes the run raise ``Cancelled``; a run
that cannot go on (diverged, no data) raises ``TrainingError``.
"""
from __future__ import annotations

import math
import time
from typing import Any, Protocol

from core.validation import LabError


class TrainingError(LabError):
    """Training could not go on (diverged, no data, ...); the message says why and what to try."""


class Cancelled(LabError):
    """Training was cancelled by the user; curves reported so far are kept by the reporter."""


class Reporter(Protocol):
    """Progress sink. All methods optional (checked with getattr)."""

    def on_start(self, info: dict) -> None: ...
    def on_batch(self, epoch: int, batch: int, n_batches: int, logs: dict, images_per_sec: float, eta_s: float) -> None: ...
    def on_epoch(self, epoch: int, logs: dict) -> None: ...
    def on_message(self, level: str, text: str) -> None: ...
    def should_cancel(self) -> bool: ...


class NullReporter:
    def on_start(self, info: dict) -> None:
        pass

    def on_batch(self, epoch, batch, n_batches, logs, images_per_sec, eta_s) -> None:
        pass

    def on_epoch(self, epoch, logs) -> None:
        pass

    def on_message(self, level, text) -> None:
        pass

    def should_cancel(self) -> bool:
        return False


class _SafeReporter:
    """Wraps any object implementing part of the protocol."""

    def __init__(self, reporter: Any | None):
        self.r = reporter

    def _call(self, name: str, *args: Any) -> Any:
        fn = getattr(self.r, name, None) if self.r is not None else None
        return fn(*args) if callable(fn) else None

    def on_start(self, info):
        self._call("on_start", info)

    def on_batch(self, *a):
        self._call("on_batch", *a)

    def on_epoch(self, *a):
        self._call("on_epoch", *a)

    def on_message(self, level, text):
        self._call("on_message", level, text)

    def should_cancel(self) -> bool:
        return bool(self._call("should_cancel"))


class CollectingReporter(NullReporter):
    """Records everything (tests, search summaries). ``cancel_after_batches`` flips
    ``should_cancel`` once that many batches (in total) have been reported."""

    def __init__(self, cancel_after_batches: int | None = None):
        self.start_info: dict | None = None
        self.batches: list[dict] = []
        self.epochs: list[dict] = []
        self.messages: list[tuple[str, str]] = []
        self.cancel_after_batches = cancel_after_batches

    def on_start(self, info):
        self.start_info = dict(info)

    def on_batch(self, epoch, batch, n_batches, logs, images_per_sec, eta_s):
        self.batches.append(
            {"epoch": epoch, "batch": batch, "n_batches": n_batches, **dict(logs),
             "images_per_sec": images_per_sec, "eta_s": eta_s}
        )

    def on_epoch(self, epoch, logs):
        self.epochs.append({"epoch": epoch, **dict(logs)})

    def on_message(self, level, text):
        self.messages.append((level, text))

    def should_cancel(self) -> bool:
        return self.cancel_after_batches is not None and len(self.batches) >= self.cancel_after_batches


class ConsoleReporter(NullReporter):
    """Human progress on a stream (the CLI). Batch lines are throttled."""

    def __init__(self, stream=None, *, every_s: float = 1.0):
        import sys

        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._last = 0.0

    def _w(self, text: str, end: str = "\n") -> None:
        self.stream.write(text + end)
        self.stream.flush()

    def on_start(self, info):
        parts = [f"{k}={v}" for k, v in info.items() if k in (
            "model", "dataset", "n_train", "n_val", "n_test", "input_shape", "epochs", "batch_size",
            "trainable_params", "cached_features")]
        self._w("training: " + ", ".join(parts))

    def on_batch(self, epoch, batch, n_batches, logs, images_per_sec, eta_s):
        now = time.monotonic()
        if batch != n_batches and now - self._last < self.every_s:
            return
        self._last = now
        metrics = " ".join(f"{k}={v:.4f}" for k, v in logs.items() if isinstance(v, float))
        self._w(f"\repoch {epoch} batch {batch}/{n_batches} {metrics} {images_per_sec:.0f} img/s ETA {_fmt_s(eta_s)}   ", end="")

    def on_epoch(self, epoch, logs):
        metrics = " ".join(f"{k}={v:.4g}" for k, v in logs.items() if isinstance(v, (int, float)) and k != "epoch")
        self._w(f"\nepoch {epoch} done: {metrics}")

    def on_message(self, level, text):
        self._w(f"[{level}] {text}")


def _fmt_s(s: float) -> str:
    if s is None or not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
