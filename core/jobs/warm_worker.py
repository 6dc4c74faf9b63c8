"""The standby worker's side (``python -m core.worker --standby <supervisor id>``; the supervisor's side
is ``core.jobs.standby``): import TensorFlow, Keras and the training code, open the store, then wait
on stdin for one run, and run it exactly as a cold worker does (``core.jobs.worker.run``).

Done ahead: the imports, and one step of a throwaway model on zeros (TensorFlow's and Keras' first-use
costs: function tracing machinery, kernels, the data adapter), after which the Keras session is
cleared. A run sets every seed itself (``core.training.engine.seed_everything``: Python, NumPy,
TensorFlow and Keras' global seed generator) and names its layers from a fresh session, so a run on a
standby gives the same results as on a cold worker with the same seed (tests/test_warm_worker.py).
End-of-file on stdin (the supervisor went away) ends an idle standby. The process name says the state
(``core.jobs.standby``).
"""
from __future__ import annotations

import json
import os
import sys
import time

from core.jobs.standby import READY, WARMING, run_comm, set_comm


def warm_up() -> None:
    """Import what a training imports (the slow part of a cold worker's start)."""
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    import core.analysis.audit  # noqa: F401 - the audit runner's imports
    import core.data.pipeline  # noqa: F401
    import core.datasets  # noqa: F401
    import core.metrics.calibration  # noqa: F401
    import core.metrics.classification  # noqa: F401
    import core.models  # noqa: F401
    import core.training.callbacks  # noqa: F401
    import core.training.engine  # noqa: F401
    import core.training.lr_finder  # noqa: F401

    _first_step()


def _first_step() -> None:
    """Fit a throwaway model on zeros for one step, then clear the Keras session."""
    import keras
    import numpy as np
    import tensorflow as tf

    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, activation="relu"),
                          keras.layers.MaxPooling2D(), keras.layers.GlobalAveragePooling2D(),
                          keras.layers.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int64"))).batch(2)
    m.fit(data, validation_data=data, epochs=1, verbose=0)  # a tf.data pipeline, as core.data.pipeline makes
    keras.backend.clear_session()


def _take_over(order: dict) -> int:
    """Become the worker of the run in ``order``: its environment, its log as stdout and stderr."""
    os.environ.update({str(k): str(v) for k, v in (order.get("env") or {}).items()})
    fd = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return int(order["run_id"])


def serve(supervisor: str) -> int:
    """Warm up, wait for a run, run it; the exit code is the run's (``core.jobs.worker.run``)."""
    from core.jobs import worker

    worker.lower_priority()
    set_comm(WARMING)
    t0 = time.monotonic()
    warm_up()
    store = worker.open_store_for_standby()
    set_comm(READY)
    print(f"standby worker {os.getpid()} of {supervisor} ready in {time.monotonic() - t0:.1f} s", flush=True)
    line = sys.stdin.readline()
    if not line.strip():  # end of file: the supervisor went away
        if store is not None:
            store.close()
        return 0
    run_id = _take_over(json.loads(line))
    set_comm(run_comm(run_id))
    return worker.run(run_id, store=store)
