"""Remaining-time estimates for long jobs (training progress bars, the CLI, the pages).

A naive ETA, ``elapsed / done * remaining``, counts start-up costs (TensorFlow graph tracing
makes the first batch 100-1000x slower than the next ones) as if every remaining batch
cost as much: a 20-second digits run showed "ETA 11 min". ``EtaEstimator`` instead

* measures progress only from its first sample on (the start-up before it is not a rate),
* gives no estimate (``None``) until enough progress and time have been seen,
* uses the rate of *recent* progress (a sliding window), so a slow start or a changed pace
  (validation, a cache warming up) is forgotten.

Pure Python, no TensorFlow, no Streamlit: used by ``core.training`` and testable alone.
"""
from __future__ import annotations

import math
from collections import deque


class EtaEstimator:
    """Feed ``update(t, fraction)`` with a monotonic time in seconds and the fraction of the
    job done (0..1); it returns the estimated seconds left, or ``None`` while it cannot say.

    ``min_fraction``: no estimate before this fraction is done. ``min_span_s``: nor before
    this many seconds of progress were measured after the first sample. The rate is taken
    over the last ``window_s`` seconds, widened to ``window_share`` of the measured time for
    long jobs (so per-epoch pauses such as validation are averaged in).
    """

    def __init__(self, *, min_fraction: float = 0.05, min_span_s: float = 1.0, window_s: float = 20.0,
                 window_share: float = 0.3, min_step_s: float = 0.02):
        self.min_fraction = float(min_fraction)
        self.min_span_s = float(min_span_s)
        self.window_s = float(window_s)
        self.window_share = float(window_share)
        self.min_step_s = float(min_step_s)
        self._samples: deque[tuple[float, float]] = deque()
        self._t_first: float | None = None

    def update(self, t: float, fraction: float) -> float | None:
        t, f = float(t), float(fraction)
        if not (math.isfinite(t) and math.isfinite(f)):
            return self.estimate()
        f = min(1.0, max(0.0, f))
        if self._t_first is None:
            self._t_first = t
            self._samples.append((t, f))
            return 0.0 if f >= 1.0 else None
        if t - self._samples[-1][0] >= self.min_step_s or len(self._samples) < 2:
            self._samples.append((t, f))
        else:  # many updates within a few ms: keep the newest only
            self._samples[-1] = (t, f)
        window = max(self.window_s, self.window_share * (t - self._t_first))
        while len(self._samples) > 2 and self._samples[1][0] <= t - window:
            self._samples.popleft()
        return self.estimate()

    def estimate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, f0), (t1, f1) = self._samples[0], self._samples[-1]
        if f1 >= 1.0:
            return 0.0
        span, done = t1 - t0, f1 - f0
        if f1 < self.min_fraction or span < self.min_span_s or done <= 0:
            return None
        return (1.0 - f1) * span / done
