"""A rough wall-time estimate of a recipe's run on 2 CPU cores (minutes or hours?).

    from core.recipes.estimate import estimate_seconds, fmt_seconds
    fmt_seconds(estimate_seconds(planned.config, planned.kind))   # "~4 min"

``estimate_from_runs`` is the measured one: the lab's own finished runs of the same model on this
machine, scaled to the planned images, epochs and input pixels (the Train page shows it).

Also the known image counts of the recipes' datasets (``DATASET_CLASS_COUNTS``), which the
pitfall demos use too. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Forward-pass GFLOPs of one image at a reference size (height*width pixels), counted as
# bench/bench_flops.py counts them (2 FLOPs per multiply-add). Zoo models: counted from their layers;
# backbones: twice the usual published multiply-add figures for the whole network (a cut backbone
# costs less, so its estimate is high).
MODEL_GFLOPS: dict[str, tuple[float, int]] = {
    "small_cnn": (0.01, 32 * 32),
    "report_a_baseline_cnn": (0.031, 120 * 150),
    "report_a_tuned_cnn": (0.49, 120 * 150),
    "report_b_cnn5": (0.034, 28 * 28),
    "report_b_concat_resnet": (3.35, 32 * 32),   # no down-sampling: every conv runs at 32x32
    "report_e_model1": (0.015, 32 * 32),
    "report_e_model2": (0.015, 32 * 32),
    "report_e_model3": (0.027, 32 * 32),
    "vgg16": (31.0, 224 * 224), "vgg19": (39.2, 224 * 224), "resnet50": (8.2, 224 * 224),
    "resnet50v2": (8.2, 224 * 224), "inceptionv3": (11.4, 299 * 299), "mobilenetv2": (0.6, 224 * 224),
    "densenet121": (5.8, 224 * 224), "densenet201": (8.6, 224 * 224), "efficientnetb0": (0.78, 224 * 224),
}
# Effective training throughput of 2 CPU cores: bench_flops.py measured the lab's train() at 20.1 GFLOP/s
# on report B's CNN5 and 20.3 on MobileNetV2 at 224 (2026-12-07, peak 89.6); report B's 20 epochs then
# take about 85-95 min per run (it said ~24 min at the old 100 GFLOP/s, a third of the time they take).
CPU_GFLOPS = 20.0
PER_IMAGE_OVERHEAD_S = 1e-4
PER_RUN_OVERHEAD_S = 15.0  # start a worker, import TensorFlow, load the data, build the model
# images per class of the full datasets (Keras built-ins: (train, official test) per class)
DATASET_CLASS_COUNTS: dict[str, Any] = {
    "fashion_mnist": (10, 6000, 1000), "mnist": (10, 6000, 1000), "cifar10": (10, 5000, 1000),
    "ham10000": [327, 514, 1099, 115, 1113, 6705, 142],
    "fundus": [25810, 2443, 5292, 873, 708],     # EyePACS training set
    "digits": [180] * 10,
}


def _n_images(d: dict[str, Any]) -> tuple[int, int, int]:
    """(train, val, test) images of a config's dataset, from its known size (rough)."""
    name = d["dataset"]["name"]
    mpc = d["dataset"].get("params", {}).get("max_per_class")
    sp = {"val_ratio": 0.1, "test_ratio": 0.2, **d.get("split", {})}
    counts = DATASET_CLASS_COUNTS.get(name, [1000] * 5)
    if isinstance(counts, tuple):  # official test split kept; val carved from the train part
        k, tr, te = counts
        tr, te = (min(tr, mpc), min(te, mpc)) if mpc else (tr, te)
        n_tr = k * tr
        return int(n_tr * (1 - sp["val_ratio"])), int(n_tr * sp["val_ratio"]), k * te
    n = sum(min(c, mpc) if mpc else c for c in counts)
    return int(n * (1 - sp["val_ratio"] - sp["test_ratio"])), int(n * sp["val_ratio"]), int(n * sp["test_ratio"])


def estimate_seconds(config: Mapping[str, Any], kind: str = "train") -> float:
    """A ROUGH wall-time estimate of one run on 2 CPU cores: epochs x images x the model's
    forward GFLOPs (x3 when trained, x1 for a frozen backbone whose features are computed once
    or per epoch when augmented), plus one pass over validation each epoch and the test once.
    Off by a factor of 2-3 either way; it only tells minutes from hours."""
    d = dict(config)
    gf, ref_px = MODEL_GFLOPS.get(d["model"], (1.0, 224 * 224))
    size = d.get("input_size") or None
    px = (size[0] * size[1]) if size else ref_px
    fwd = gf * px / ref_px / CPU_GFLOPS + PER_IMAGE_OVERHEAD_S
    n_tr, n_val, n_te = _n_images(d)
    if kind == "lr_find":
        return PER_RUN_OVERHEAD_S + 100 * int(d.get("batch_size", 32)) * 3 * fwd
    opts = {**d.get("model_options", {})}
    frozen = d["model"] in _backbone_names() and opts.get("trainable", "frozen") == "frozen"
    epochs = int(d.get("epochs", 1))
    if frozen and not d.get("augment") and not d.get("oversample"):  # cached features: one forward pass
        return PER_RUN_OVERHEAD_S + (n_tr + n_val + n_te) * fwd + epochs * n_tr * 1e-4
    per_train = fwd * (1.3 if frozen else 3.0)
    return PER_RUN_OVERHEAD_S + epochs * (n_tr * per_train + n_val * fwd) + n_te * fwd


def _backbone_names() -> set[str]:
    from core.models import BACKBONES

    return set(BACKBONES)


def fmt_seconds(s: float) -> str:
    if s < 90:
        return f"~{max(1, round(s))} s"
    if s < 5400:
        return f"~{round(s / 60)} min"
    return f"~{s / 3600:.1f} h"



# ---------------------------------------------------------------- measured on this machine
@dataclass(frozen=True)
class MeasuredEstimate:
    """A run's wall time from the lab's own finished runs (``estimate_from_runs``); ``seconds``
    None when there is no comparable run. ``basis`` says what it comes from, in words."""

    seconds: float | None
    basis: str
    run_ids: tuple[int, ...] = ()
    fit_s: float | None = None       # the fitting (epochs) part
    overhead_s: float | None = None  # start, data loading, evaluation (and cached features)

    def text(self) -> str:
        if self.seconds is None:
            return f"Estimated training time: {self.basis}."
        return f"Estimated training time on this machine: {fmt_seconds(self.seconds)} ({self.basis})."


def _cached_features(config: Mapping[str, Any]) -> bool:
    """The engine's rule (core.training.cached_features): a frozen backbone without augmentation or oversampling."""
    opts = dict(config.get("model_options") or {})
    return (config["model"] in _backbone_names() and opts.get("trainable", "frozen") == "frozen"
            and not config.get("augment") and not config.get("oversample"))


def _epoch_times(store: Any, run_id: int) -> list[float]:
    """The recorded seconds of each epoch of a run (metric ``epoch_time_s``), in order."""
    h = store.get_metric_history(run_id)
    if h is None or h.empty or "key" not in h:
        return []
    rows = h[h["key"] == "epoch_time_s"].sort_values("step")
    return [float(v) for v in rows["value"]]


def _measured(r: Any, epoch_times: list[float]) -> dict[str, float] | None:
    """What one finished run measured: fit seconds per image-epoch-pixel (from its epochs after
    the first when it had several: the first also builds the graph and warms the input pipeline,
    which is a one-off cost counted with the rest), the rest of its wall time, and that rest per
    image-pixel; None when it did not record its sizes and times."""
    start = (r.progress_info or {}).get("start") or {}
    summ = r.summary or {}
    try:
        h, w = start["input_shape"][:2]
        n = float(start["n_train"]) + float(start["n_val"])
        n_all = n + float(start.get("n_test") or 0)
        epochs, fit, total = float(summ["epochs_run"]), float(summ["train_time_s"]), float(r.duration_s)
    except (KeyError, TypeError, ValueError):
        return None
    if min(h * w, n, epochs, fit, total) <= 0:
        return None
    if len(epoch_times) >= 2 and epoch_times[1] > 0:
        steady = sorted(epoch_times[1:])[(len(epoch_times) - 2) // 2]
        fit = steady * epochs  # the steady-state fitting time of the same epochs
    rest = max(0.0, total - fit)
    return {"fit_rate": fit / (epochs * n * h * w), "rest": rest, "rest_rate": rest / (n_all * h * w),
            "cached": float(bool(start.get("cached_features"))), "dataset": r.dataset}


def estimate_from_runs(store: Any, config: Any, plan: Any, *, host: str | None = None,
                       limit: int = 200) -> MeasuredEstimate:
    """The wall time of ``config`` (planned by ``core.training.engine.plan_run``: input size and
    image counts) from the succeeded training runs of the same model on this machine (``host``,
    default this one) and in the same mode (cached backbone features or not): their measured
    fitting seconds per image, epoch and input pixel, times the planned images x epochs x
    pixels, plus their median remaining time (start, loading, evaluation; scaled by images x
    pixels when the features are cached, which is where their backbone pass is). Runs on the
    same dataset are preferred; at most the 10 newest are used."""
    from statistics import median

    from core.store.records import HOST

    d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    model, dataset, host = d["model"], (d.get("dataset") or {}).get("name"), host or HOST
    cached = _cached_features(d)
    runs, _ = store.list_runs(model=model, status="succeeded", kind="train", limit=limit)
    runs = [r for r in runs if r.host == host][:20]  # the newest: their epoch times are read one run at a time
    got = [(r.id, m) for r in runs if (m := _measured(r, _epoch_times(store, r.id))) and bool(m["cached"]) == cached]
    mode = " (frozen backbone, cached features)" if cached else ""
    if not got:
        return MeasuredEstimate(None, f"no estimate yet (no finished {model} run{mode} on this machine to "
                                      "measure from)")
    same = [g for g in got if g[1]["dataset"] == dataset]
    got = (same or got)[:10]
    h, w = plan.input_size
    n, n_all, epochs = plan.n_train + plan.n_val, plan.n_train + plan.n_val + plan.n_test, int(d.get("epochs", 1))
    fit = median(m["fit_rate"] for _, m in got) * epochs * n * h * w
    rest = median(m["rest_rate"] for _, m in got) * n_all * h * w if cached else median(m["rest"] for _, m in got)
    k = len(got)
    basis = (f"from {k} past {model} run{'s' if k != 1 else ''}{mode} on this machine"
             + (f" ({dataset})" if same else "") + f", scaled to {plan.n_train:,} training images x "
             f"{epochs} epoch{'s' if epochs != 1 else ''} at {h}x{w}"
             + ("; fewer if early stopping ends it sooner" if d.get("early_stopping") else ""))
    return MeasuredEstimate(fit + rest, basis, tuple(sorted(i for i, _ in got)), fit, rest)
