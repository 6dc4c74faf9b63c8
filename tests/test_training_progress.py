"""The training's ETA (core.training.progress.EtaEstimator and the estimates a real training
reports): none while the first batch's graph tracing dominates, never far above the whole run,
close to the true remaining time once progress is steady."""
from __future__ import annotations

import time

import pytest


class _Recorder:
    def __init__(self):
        self.batches: list[tuple[float, int, int, int, float | None]] = []

    def on_batch(self, epoch, batch, n_batches, logs, images_per_sec, eta_s):
        self.batches.append((time.monotonic(), epoch, batch, n_batches, eta_s))


@pytest.mark.slow
def test_eta_from_real_training_progress(tmp_path):
    """The ETA a real training reports: none for the first batch (its time is mostly graph
    tracing, which made a 20 s run show 'ETA 11 min'), never far above the whole run, and
    an estimate once enough progress is seen."""
    from core.training.config import TrainConfig
    from core.training.engine import train

    rec = _Recorder()
    cfg = TrainConfig(dataset={"name": "digits", "params": {"max_per_class": 60}}, model="small_cnn", epochs=4,
                      batch_size=16, seed=0)
    t0 = time.monotonic()
    train(cfg, out_dir=tmp_path / "run", reporter=rec, n_bootstrap=0)
    t_end = rec.batches[-1][0]
    total_training = t_end - t0
    etas = [b[4] for b in rec.batches]
    assert etas[0] is None, f"the first batch gave an ETA of {etas[0]} s"
    assert etas[-1] == 0
    given = [(t, e) for (t, _, _, _, e) in rec.batches if e is not None]
    assert given, "no ETA at all during training"
    too_big = [e for _, e in given if e > 3 * total_training + 1.0]
    assert not too_big, f"ETAs {too_big[:3]} s for a {total_training:.1f} s training"
    n = len(rec.batches)
    assert any(e is not None for e in etas[n // 2:]), "no ETA in the second half of the training"

    # the same progress, replayed through the estimator, gives the same answers (a pure function
    # of time and fraction done) and the naive elapsed/done formula is what it replaced
    from core.training.progress import EtaEstimator

    total_batches = rec.batches[0][3] * cfg.epochs
    samples = [(t, i / total_batches) for i, (t, *_rest) in enumerate(rec.batches, start=1)]
    est = EtaEstimator()
    replay = [est.update(t, f) for t, f in samples]
    assert replay[0] is None and replay[-1] == 0


def test_eta_forgets_a_slow_start():
    """Start-up like TensorFlow's (first batch 3 s, then 10 ms per batch of 180): no estimate
    until enough progress, then close to the true remaining time; the naive formula said ~9 min."""
    from core.training.progress import EtaEstimator

    est = EtaEstimator()
    t, n = 3.0, 180
    out = [est.update(t, 1 / n)]
    for i in range(2, n + 1):
        t += 0.01
        out.append((est.update(t, i / n), (n - i) * 0.01))
    assert out[0] is None
    naive_first = 3.0 / 1 * (n - 1)
    assert naive_first > 500  # what the page used to show: "ETA 9 min"
    assert all(e is None or e <= 3.0 for e, _ in out[1:])
    late = [(e, true) for e, true in out[1:] if e is not None and true > 0.3]
    assert late, "an estimate once progress is steady"
    assert all(abs(e - true) <= 0.5 * true + 0.05 for e, true in late)
    assert out[-1][0] == 0
