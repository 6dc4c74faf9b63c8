"""Training engine: a serialisable ``TrainConfig`` -> a complete, evaluated, saved run.

``train(config, out_dir=..., reporter=...)`` seeds everything, loads the dataset, splits it
(or reuses a stored split), fits the preprocessing on the training part, builds the tf.data
pipelines and the model, fits with callbacks that stream per-batch and per-epoch progress to
a *reporter*, keeps the best epoch's weights (on ``config.monitor``), evaluates on the
held-out TEST split with predictions aligned by sample id, and writes the artifacts::

    out_dir/model.keras        written atomically (temp name + os.replace)
    out_dir/meta.json          everything needed to predict like at training time
    out_dir/split.json         the exact split (ids), reusable for comparable runs
    out_dir/history.csv        one row per epoch
    out_dir/predictions.csv    id, y_true, y_pred, p_0..p_{k-1} on the test split
    out_dir/evaluation.json    core.evaluation.evaluate() output

Reporter protocol (every method optional; see ``Reporter``). Epochs and batches given to
the reporter are 1-based: ``on_batch(epoch=1, batch=1, ...)`` is the first batch.

Frozen backbone + no augmentation -> "cached features": the frozen feature extractor
(the model up to its head, found by ``split_head``) runs once over train/val, and only the
head is trained on the cached features. The head shares its layers with the full model, so
the full model is saved with the trained head (same result, many times faster).
"""
from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .validation import (
    LabError,
    ModelError,
    ValidationError,
    check_number,
    check_one_of,
    check_run_name,
    check_type,
)

OPTIMIZERS = ("adam", "adamax", "adagrad", "rmsprop", "sgd")
SCHEDULES = ("constant", "plateau", "one_cycle")
MONITORS = ("val_loss", "val_accuracy", "val_macro_f1")
CLASS_WEIGHTS = ("none", "balanced")
NORMALIZATIONS = ("rescale", "minmax", "per_image_mean", "backbone", "none")
GROUPED = ("auto", True, False)
SCHEDULE_OPTION_KEYS = {
    "constant": set(),
    "plateau": {"factor", "patience", "min_lr"},
    "one_cycle": {"pct_start", "div_factor", "final_div_factor"},
}
SCHEDULE_DEFAULTS = {
    "plateau": {"factor": 0.5, "patience": 2, "min_lr": 1e-6},
    "one_cycle": {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
}


class TrainingError(LabError):
    """Training could not go on (diverged, no data, ...); the message says why and what to try."""


class Cancelled(LabError):
    """Training was cancelled by the user; curves reported so far are kept by the reporter."""


class OutputError(LabError):
    """A file or folder could not be written or created (permissions, full disk, missing
    folder, file-size limit). The message names the path and what to do; no partial file
    is left behind (writes go to a temporary file that is removed on failure)."""


_OS_ADVICE = {
    errno.ENOSPC: "The disk is full: free some space, or write to a folder on another disk",
    errno.EDQUOT: "Your disk quota is used up: free some space, or write to another folder",
    errno.EFBIG: "The file is larger than this system allows (see `ulimit -f`): raise the limit or write elsewhere",
    errno.EACCES: "Choose a folder you can write to, or change its permissions",
    errno.EPERM: "Choose a folder you can write to (this one does not allow it)",
    errno.EROFS: "The file system is read-only: choose a writable folder",
    errno.ENOENT: "Check the path (for an output, create its folder first)",
    errno.ENOTDIR: "A part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "That path is a folder: give a file name",
    errno.EEXIST: "A file already exists where a folder is needed: choose another path",
    errno.ENAMETOOLONG: "Choose a shorter path",
}


def describe_os_error(exc: OSError, path: Any = None, action: str = "write") -> str:
    """One line for a user: what could not be done to which path, why, and what to do."""
    path = path if path is not None else (exc.filename or None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = errno.errorcode.get(exc.errno or -1)
    advice = _OS_ADVICE.get(exc.errno, "Check the path and that its disk is writable, then try again")
    where = f" {str(path)!r}" if path is not None else ""
    return f"Cannot {action}{where}: {reason}{f' ({code})' if code else ''}. {advice}."


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


def _default_dataset() -> dict[str, Any]:
    return {"name": "digits", "params": {}}


def _default_split() -> dict[str, Any]:
    return {"val_ratio": 0.1, "test_ratio": 0.2, "seed": 0, "grouped": "auto"}


@dataclass
class TrainConfig:
    """Everything that defines a training run; JSON-serialisable and validated.

    ``None`` means "the sensible default for this model and dataset":
    ``input_size`` (zoo models: the dataset's native size; backbones: the backbone's
    default size), ``channels`` (backbones 3, zoo models keep the dataset's),
    ``normalization`` ("backbone" for backbones, "rescale" otherwise).
    """

    dataset: dict[str, Any] = field(default_factory=_default_dataset)
    split: dict[str, Any] = field(default_factory=_default_split)
    model: str = "small_cnn"
    model_options: dict[str, Any] = field(default_factory=dict)
    input_size: list[int] | None = None
    channels: int | None = None
    normalization: str | None = None
    weights: str | None = None           # shorthand for model_options["weights"]
    optimizer: str = "adam"
    momentum: float = 0.9                # sgd only
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    schedule_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 32
    early_stopping: int | None = None    # patience in epochs, None = off
    min_delta: float = 0.0               # early stopping: minimum improvement
    monitor: str = "val_loss"
    class_weight: str = "none"
    oversample: bool = False
    augment: dict[str, Any] | str | None = None
    mixed_precision: bool = False
    seed: int = 0
    name: str | None = None

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["input_size"] is not None:
            d["input_size"] = [int(v) for v in d["input_size"]]
        return d

    def to_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        if not isinstance(d, dict):
            raise ValidationError(f"A training configuration must be a JSON object (dict). Got {type(d).__name__} instead.")
        valid = cls.field_names()
        unknown = sorted(k for k in d if k not in valid)
        if unknown:
            import difflib

            hints = []
            for k in unknown:
                close = difflib.get_close_matches(str(k), valid, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValidationError(
                f"Unknown training configuration key(s): {', '.join(hints)}. Valid keys: {', '.join(valid)}."
            )
        d = dict(d)
        if isinstance(d.get("dataset"), str):
            d["dataset"] = {"name": d["dataset"], "params": {}}
        if isinstance(d.get("input_size"), tuple):
            d["input_size"] = list(d["input_size"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValidationError(f"The training configuration is not valid JSON: {e}.") from None
        return cls.from_dict(d)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "TrainConfig":
        p = Path(path)
        if not p.is_file():
            raise ValidationError(f"Configuration file {str(p)!r} does not exist.")
        return cls.from_json(p.read_text())

    def replace(self, **changes: Any) -> "TrainConfig":
        d = self.to_dict()
        d.update(changes)
        return TrainConfig.from_dict(d)

    # ---- validation ----
    def validate(self) -> "TrainConfig":
        """Check every field; raise ValidationError saying what was expected and what came."""
        # dataset
        check_type("dataset", self.dataset, dict)
        extra = set(self.dataset) - {"name", "params"}
        if extra or "name" not in self.dataset:
            raise ValidationError(
                "The 'dataset' parameter must be a dict {'name': str, 'params': dict}. "
                f"Got {self.dataset!r} instead."
            )
        check_type("dataset.name", self.dataset["name"], str)
        check_type("dataset.params", self.dataset.get("params", {}), dict)
        from .datasets import catalog
        from .datasets.base import DATASETS

        catalog._ensure_registered()  # importing the loader modules registers them
        DATASETS.resolve(self.dataset["name"])  # NotFoundError with close matches
        # split
        check_type("split", self.split, dict)
        sp_valid = {"val_ratio", "test_ratio", "seed", "grouped"}
        extra = set(self.split) - sp_valid
        if extra:
            raise ValidationError(
                f"Unknown 'split' key(s): {', '.join(sorted(map(repr, extra)))}. Valid keys: {', '.join(sorted(sp_valid))}."
            )
        sp = {**_default_split(), **self.split}
        check_number("split.val_ratio", sp["val_ratio"], low=0.0, high=0.9, low_inclusive=False, high_inclusive=False)
        check_number("split.test_ratio", sp["test_ratio"], low=0.0, high=0.9, low_inclusive=False, high_inclusive=False)
        if sp["val_ratio"] + sp["test_ratio"] >= 0.95:
            raise ValidationError(
                "split.val_ratio + split.test_ratio must leave at least 5% for training. "
                f"Got {sp['val_ratio']} + {sp['test_ratio']} instead."
            )
        check_number("split.seed", sp["seed"], low=0, integer=True)
        check_one_of("split.grouped", sp["grouped"], GROUPED)
        # model
        check_type("model", self.model, str)
        MODELS = _models().MODELS

        family = MODELS.get(self.model).meta.get("family", "zoo")
        check_type("model_options", self.model_options, dict)
        for k in self.model_options:
            check_type("model_options key", k, str)
        if self.weights is not None:
            check_type("weights", self.weights, str)
            mw = self.model_options.get("weights", self.weights)
            if mw != self.weights:
                raise ValidationError(
                    f"'weights' ({self.weights!r}) and model_options['weights'] ({mw!r}) disagree; set only one."
                )
        if self.input_size is not None:
            if not isinstance(self.input_size, (list, tuple)) or len(self.input_size) != 2:
                raise ValidationError(
                    f"The 'input_size' parameter must be [height, width] or None. Got {self.input_size!r} instead."
                )
            for i, v in enumerate(self.input_size):
                check_number(f"input_size[{i}]", v, low=8, high=2048, integer=True)
            if family == "backbone":
                mn = _backbone_min_size(self.model)
                if mn and min(self.input_size) < mn:
                    raise ValidationError(
                        f"{self.model} needs an input of at least {mn}x{mn}. Got input_size={list(self.input_size)} "
                        f"instead; use {mn} or more (images are upscaled)."
                    )
        if self.channels is not None:
            check_one_of("channels", self.channels, (1, 3))
            if family == "backbone" and self.channels != 3:
                raise ValidationError(
                    f"Backbone {self.model!r} needs 3 channels. Got channels={self.channels}; leave it None "
                    "(grayscale images are repeated to RGB)."
                )
        if self.normalization is not None:
            check_one_of("normalization", self.normalization, NORMALIZATIONS)
            if self.normalization == "backbone" and family != "backbone":
                raise ValidationError(
                    f"normalization='backbone' needs a backbone model; {self.model!r} is a {family} model. "
                    f"Use one of {set(NORMALIZATIONS) - {'backbone'}} or None."
                )
        # optimisation
        check_one_of("optimizer", self.optimizer, OPTIMIZERS)
        check_number("momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False)
        check_number("learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        check_number("weight_decay", self.weight_decay, low=0.0)
        check_one_of("schedule", self.schedule, SCHEDULES)
        check_type("schedule_options", self.schedule_options, dict)
        allowed = SCHEDULE_OPTION_KEYS[self.schedule]
        extra = set(self.schedule_options) - allowed
        if extra:
            raise ValidationError(
                f"Unknown schedule_options key(s) for schedule {self.schedule!r}: {', '.join(sorted(map(repr, extra)))}. "
                f"Valid keys: {', '.join(sorted(allowed)) or 'none'}."
            )
        so = self.resolved_schedule_options()
        if self.schedule == "plateau":
            check_number("schedule_options.factor", so["factor"], low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
            check_number("schedule_options.patience", so["patience"], low=0, integer=True)
            check_number("schedule_options.min_lr", so["min_lr"], low=0.0)
        if self.schedule == "one_cycle":
            check_number("schedule_options.pct_start", so["pct_start"], low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
            check_number("schedule_options.div_factor", so["div_factor"], low=1.0)
            check_number("schedule_options.final_div_factor", so["final_div_factor"], low=1.0)
        check_number("epochs", self.epochs, low=1, high=10000, integer=True)
        check_number("batch_size", self.batch_size, low=1, high=65536, integer=True)
        check_number("early_stopping", self.early_stopping, low=0, integer=True, allow_none=True)
        check_number("min_delta", self.min_delta, low=0.0)
        check_one_of("monitor", self.monitor, MONITORS)
        check_one_of("class_weight", self.class_weight, CLASS_WEIGHTS)
        check_type("oversample", self.oversample, bool)
        self.augment_spec()  # validates
        check_type("mixed_precision", self.mixed_precision, bool)
        check_number("seed", self.seed, low=0, high=2**31 - 1, integer=True)
        check_type("name", self.name, str, allow_none=True)
        check_run_name(self.name)  # a name over 200 characters is refused, never cut
        return self

    # ---- resolved views ----
    def resolved_split(self) -> dict[str, Any]:
        return {**_default_split(), **self.split}

    def resolved_schedule_options(self) -> dict[str, Any]:
        return {**SCHEDULE_DEFAULTS.get(self.schedule, {}), **self.schedule_options}

    def resolved_model_options(self) -> dict[str, Any]:
        opts = dict(self.model_options)
        if self.weights is not None:
            opts.setdefault("weights", self.weights)
        return opts

    def augment_spec(self):
        """The AugmentSpec (or None for no augmentation)."""
        if self.augment is None:
            return None
        from .augment import PRESETS, AugmentSpec

        if isinstance(self.augment, str):
            if self.augment not in PRESETS:
                check_one_of("augment", self.augment, list(PRESETS))
            spec = PRESETS[self.augment]
            if isinstance(spec, dict):
                spec = AugmentSpec.from_dict(spec)
        elif isinstance(self.augment, dict):
            try:
                spec = AugmentSpec.from_dict(self.augment)
            except LabError:
                raise
            except (TypeError, ValueError) as e:
                raise ValidationError(f"The 'augment' dict is not a valid augmentation spec: {e}") from None
        else:
            raise ValidationError(
                f"The 'augment' parameter must be a preset name {sorted(PRESETS)}, an augmentation dict or None. "
                f"Got {self.augment!r} instead."
            )
        return None if spec.is_identity else spec

    def display_name(self) -> str:
        return self.name or f"{self.model}-{self.dataset.get('name')}"


def _models():
    """core.models (its public API: MODELS, create_model, count_params, default_cam_layer...)."""
    import core.models as m

    if not hasattr(m, "create_model"):  # package __init__ not exporting yet: use the module defining them
        from .models import base as m  # noqa: F811
    try:
        m._ensure_registered()
    except (ImportError, AttributeError):
        from .models import zoo  # noqa: F401
    return m


def _backbones() -> dict:
    """BACKBONES[name] -> BackboneCfg (empty when no backbone module exists)."""
    import core.models as m

    if hasattr(m, "BACKBONES"):
        return m.BACKBONES
    try:
        from .models import backbones

        return getattr(backbones, "BACKBONES", {})
    except ImportError:
        return {}


def _backbone_min_size(model: str) -> int | None:
    try:
        BACKBONES = _backbones()
        MODELS = _models().MODELS

        cfg = BACKBONES.get(MODELS.resolve(model))
        return getattr(cfg, "min_size", None) if cfg is not None else None
    except Exception:  # noqa: BLE001 - registry not available: no extra check
        return None


def model_family(model: str) -> str:
    MODELS = _models().MODELS

    return MODELS.get(model).meta.get("family", "zoo")


# --------------------------------------------------------------------------------------
# Reporters
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model_path: Path
    out_dir: Path
    meta: dict[str, Any]
    history: list[dict[str, Any]]
    params: dict[str, int]
    train_time_s: float
    epochs_run: int
    best_epoch: int
    split: Any
    predictions: Any  # DataFrame
    evaluation: dict[str, Any]
    model: Any = None  # the trained keras.Model (in memory)

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.evaluation.get("summary", {}))


class TrainedModel:
    """A saved run loaded for prediction: the Keras model, its meta and preprocessing."""

    def __init__(self, model, meta: dict[str, Any], preprocessing, path: Path):
        self.model = model
        self.meta = meta
        self.preprocessing = preprocessing
        self.path = path

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.get("class_names", []))

    def preprocess(self, images_uint8) -> np.ndarray:
        arr = np.asarray(images_uint8)
        if arr.ndim == 2:  # one grayscale image H x W
            arr = arr[None, :, :, None]
        elif arr.ndim == 3:  # one image H x W x C (C in 1, 3, 4) or a batch of grayscale N x H x W
            arr = arr[None] if arr.shape[-1] in (1, 3, 4) else arr[..., None]
        if arr.ndim != 4:
            raise ValidationError(f"Images must be HxW, HxWxC or NxHxWxC arrays. Got shape {np.asarray(images_uint8).shape} instead.")
        if arr.shape[-1] == 4:
            arr = arr[..., :3]
        return np.asarray(self.preprocessing.apply_np(arr), dtype=np.float32)

    def predict(self, images_uint8, *, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, k) for uint8 images, preprocessed as at training time."""
        x = self.preprocess(images_uint8)
        if len(x) <= batch_size:
            # A direct call: model.predict builds a tf.data pipeline and a predict function on
            # every call, which dominates the latency of one upload on the Predict page.
            out = self.model(x, training=False)
            out = out.numpy() if hasattr(out, "numpy") else out
        else:
            out = self.model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(out, dtype=np.float64)


def _resolve_model_path(path_or_dir: str | os.PathLike) -> Path:
    p = Path(path_or_dir)
    if p.is_dir():
        p = p / "model.keras"
    if not p.exists():
        raise ModelError(f"No model file at {str(p)!r}. Give a run folder containing model.keras or a .keras file.")
    return p


def load_keras_model(path: str | os.PathLike):
    """keras.saving.load_model with safe_mode on; clear ModelError for anything else."""
    import keras

    p = Path(path)
    if p.suffix != ".keras":
        raise ModelError(f"{p.name!r} is not a Keras model file: expected a .keras file (Keras 3 format).")
    try:
        import zipfile

        if not zipfile.is_zipfile(p):
            raise ModelError(
                f"{p.name!r} is not a Keras model: a .keras file is a zip archive with config.json and weights; "
                "this file is not one (corrupt, truncated or another format)."
            )
        return keras.saving.load_model(p, safe_mode=True, compile=False)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001
        msg = str(e)
        if "safe_mode" in msg or "Lambda" in msg or "unsafe" in msg.lower():
            raise ModelError(
                f"{p.name!r} contains code (a Lambda layer or custom Python) that would run on loading; the lab "
                "loads models with safe_mode on and refuses it. Rebuild the model without Lambda layers."
            ) from None
        raise ModelError(f"{p.name!r} could not be loaded as a Keras model: {msg.splitlines()[0] if msg else type(e).__name__}") from None


def load_trained(path_or_dir: str | os.PathLike) -> TrainedModel:
    """Load ``model.keras`` (+ ``meta.json`` next to it) with safe_mode on."""
    from .preprocess import Preprocessing

    p = _resolve_model_path(path_or_dir)
    model = load_keras_model(p)
    meta_path = p.parent / "meta.json"
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
    if "preprocessing" in meta:
        prep = Preprocessing.from_dict(meta["preprocessing"])
    else:  # a bare .keras file: infer the plainest preprocessing from the input shape
        shape = model.input_shape
        prep = Preprocessing(input_size=(int(shape[1]), int(shape[2])), channels=int(shape[3]), normalization="rescale")
        meta.setdefault("class_names", [str(i) for i in range(int(model.output_shape[-1]))])
        meta.setdefault("input_shape", [int(shape[1]), int(shape[2]), int(shape[3])])
    return TrainedModel(model, meta, prep, p)


# --------------------------------------------------------------------------------------
# Helpers: seeding, optimiser, split point, stats
# --------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # noqa: BLE001 - older TF or already set
        pass


def make_optimizer(name: str, learning_rate: float, *, weight_decay: float = 0.0, momentum: float = 0.9):
    import keras

    wd = float(weight_decay) or None
    lr = float(learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, weight_decay=wd)
    if name == "adamax":
        return keras.optimizers.Adamax(learning_rate=lr, weight_decay=wd)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=lr, weight_decay=wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, weight_decay=wd)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(momentum), weight_decay=wd)
    check_one_of("optimizer", name, OPTIMIZERS)


_STOCHASTIC = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
               "GaussianDropout", "AlphaDropout", "BatchNormalization", "RandomFlip", "RandomRotation",
               "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness", "RandomCrop")


def _inbound_layers(layer) -> list:
    out = []
    for node in getattr(layer, "_inbound_nodes", []):
        for t in node.arguments.keras_tensors:
            hist = getattr(t, "_keras_history", None)
            if hist is not None:
                out.append(hist[0])
    return out


def split_head(model):
    """Split a flat functional model into (feature_extractor, head) at the frozen boundary.

    The head starts at the first layer (in topological order) that has trainable weights or
    behaves differently in training (dropout, noise, batch norm in training mode); everything
    before it must be frozen. The split is valid only when every head layer reads either the
    split tensor or other head layers (no skip connection crossing it). Returns ``None`` when
    the model cannot be split that way (e.g. nothing frozen). The head shares its layers with
    ``model``, so training it trains the full model.
    """
    import keras

    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    first = None
    for i, layer in enumerate(layers):
        if layer.trainable_weights or (type(layer).__name__ in _STOCHASTIC and layer.trainable):
            first = i
            break
    if first is None or first == 0:
        return None
    head_layers = layers[first:]
    head_ids = {id(l) for l in head_layers}
    first_layer = head_layers[0]
    node = first_layer._inbound_nodes[0]
    in_tensors = node.arguments.keras_tensors
    if len(in_tensors) != 1:
        return None
    split_tensor = in_tensors[0]
    split_layer = split_tensor._keras_history[0]
    for l in head_layers[1:]:
        for src in _inbound_layers(l):
            if id(src) not in head_ids and src is not split_layer:
                return None
    # everything before must be frozen
    for l in layers[:first]:
        if l.trainable_weights:
            return None
    try:
        feat = keras.Model(model.inputs, split_tensor, name="feature_extractor")
        head = keras.Model(split_tensor, model.outputs, name="head")
    except Exception:  # noqa: BLE001
        return None
    return feat, head


def image_stats(images: np.ndarray | list) -> dict[str, Any]:
    """Training-data statistics for out-of-distribution warnings on the Predict page."""
    imgs = list(images)
    if not imgs:
        return {}
    bright = []
    hs, ws, chans = [], [], []
    chan_means = []
    for im in imgs:
        a = np.asarray(im)
        if a.ndim == 2:
            a = a[..., None]
        hs.append(a.shape[0])
        ws.append(a.shape[1])
        chans.append(a.shape[2])
        f = a.astype(np.float32)
        gray = f.mean(axis=2) if f.shape[2] < 3 else (0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2])
        bright.append(float(gray.mean()))
        chan_means.append(f.reshape(-1, f.shape[2]).mean(axis=0))
    bright_a = np.asarray(bright)
    c = int(np.bincount(chans).argmax())
    cm = [float(v) for v in np.mean([m for m in chan_means if len(m) == c], axis=0)]
    return {
        "n_sampled": len(imgs),
        "brightness_mean": float(bright_a.mean()),
        "brightness_std": float(bright_a.std()),
        "brightness_min": float(bright_a.min()),
        "brightness_max": float(bright_a.max()),
        "brightness_percentiles": {str(q): float(np.percentile(bright_a, q)) for q in (1, 5, 25, 50, 75, 95, 99)},
        "channel_means": cm,
        "channels": c,
        "typical_size": [int(np.median(hs)), int(np.median(ws))],
        "min_size": [int(min(hs)), int(min(ws))],
        "max_size": [int(max(hs)), int(max(ws))],
    }


def _sample_images(ds, n: int = 200, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(len(ds), size=min(n, len(ds)), replace=False))
    if ds.images is not None:
        return [ds.images[i] for i in pos]
    from .datasets.io import load_images

    out = load_images(ds, pos)
    return list(out)


# --------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------


DIVERGENCE_FACTOR = 1e4  # running loss > 10000x max(first loss, ln(k)) = diverged


def _make_callbacks(keras, *, reporter: _SafeReporter, config: TrainConfig, n_batches: int, batch_size: int,
                    val_data, model_ref, n_classes: int = 2):
    """Progress/cancel/NaN per batch; metrics, best weights, early stopping, plateau per epoch."""

    class OneCycle(keras.callbacks.Callback):
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

    class Engine(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.t0 = None
            self.epoch_t0 = None
            self.batches_done = 0
            self.history: list[dict] = []
            self.best = None
            self.best_epoch = 0
            self.best_weights = None
            self.wait = 0
            self.plateau_wait = 0
            self.stopped_early = False
            self.mode_max = config.monitor in ("val_accuracy", "val_macro_f1")
            self.epoch = 0
            self.first_loss = None

        def on_train_begin(self, logs=None):
            from .progress import EtaEstimator

            self.t0 = time.monotonic()
            self.eta = EtaEstimator()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
            self.epoch_t0 = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            self.batches_done += 1
            b = batch + 1
            loss = logs.get("loss")
            if loss is not None and self.first_loss is None and math.isfinite(loss):
                self.first_loss = loss
            if loss is not None and not math.isfinite(loss):
                self.model.stop_training = True
                raise TrainingError(
                    f"The loss became {'NaN' if math.isnan(loss) else 'infinite'} at epoch {self.epoch} batch {b}; "
                    f"training diverged. Try a lower learning rate (now {config.learning_rate:g}), another "
                    "optimizer, or check the normalisation of the inputs."
                )
            limit = DIVERGENCE_FACTOR * max(self.first_loss or 0.0, math.log(max(2, n_classes)))
            if loss is not None and loss > limit:
                self.model.stop_training = True
                raise TrainingError(
                    f"The loss diverged to {loss:.3g} (more than {DIVERGENCE_FACTOR:g}x the starting loss "
                    f"{self.first_loss:.3g}) at epoch {self.epoch} batch {b}; it would become NaN. Try a lower "
                    f"learning rate (now {config.learning_rate:g}), another optimizer, or check the input normalisation."
                )
            now = time.monotonic()
            el = now - self.epoch_t0
            ips = b * batch_size / el if el > 0 else float("nan")
            total = config.epochs * n_batches
            eta = self.eta.update(now, self.batches_done / total)  # None until it can say (core.progress)
            reporter.on_batch(self.epoch, b, n_batches, logs, ips, eta)
            if reporter.should_cancel():
                self.model.stop_training = True
                raise Cancelled(f"Training cancelled at epoch {self.epoch} batch {b}.")

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            logs["val_macro_f1"] = self._val_macro_f1()  # always recorded (report C monitors it)
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["lr"] = lr
            logs["epoch_time_s"] = time.monotonic() - self.epoch_t0
            cur = logs.get(config.monitor)
            if cur is None or not math.isfinite(cur):
                raise TrainingError(
                    f"The monitored metric {config.monitor!r} is {cur!r} at epoch {self.epoch}; "
                    "is the validation split empty or did training diverge?"
                )
            improved = self.best is None or (cur > self.best + config.min_delta if self.mode_max else cur < self.best - config.min_delta)
            better = self.best is None or (cur > self.best if self.mode_max else cur < self.best)
            if better:
                self.best = cur
                self.best_epoch = self.epoch
                self.best_weights = self.model.get_weights()
            logs["best_epoch"] = self.best_epoch
            if improved:
                self.wait = 0
                self.plateau_wait = 0
            else:
                self.wait += 1
                self.plateau_wait += 1
            if config.schedule == "plateau":
                so = config.resolved_schedule_options()
                if self.plateau_wait > so["patience"]:
                    new_lr = max(lr * so["factor"], so["min_lr"])
                    if new_lr < lr:
                        self.model.optimizer.learning_rate.assign(new_lr)
                        reporter.on_message("info", f"epoch {self.epoch}: {config.monitor} did not improve; learning rate {lr:.3g} -> {new_lr:.3g}")
                    self.plateau_wait = 0
            if config.early_stopping is not None and self.wait > config.early_stopping:
                self.model.stop_training = True
                self.stopped_early = True
                reporter.on_message(
                    "info", f"early stopping at epoch {self.epoch}: no {config.monitor} improvement for {self.wait} epochs (best epoch {self.best_epoch})"
                )
            row = {"epoch": self.epoch, **logs}
            self.history.append(row)
            reporter.on_epoch(self.epoch, {k: v for k, v in logs.items()})
            if reporter.should_cancel():
                raise Cancelled(f"Training cancelled after epoch {self.epoch}.")

        def _val_macro_f1(self) -> float:
            from sklearn.metrics import f1_score

            x_or_ds, y_true = val_data
            probs = self.model.predict(x_or_ds, verbose=0)
            return float(f1_score(y_true, np.argmax(probs, axis=1), average="macro", zero_division=0))

    cbs = []
    if config.schedule == "one_cycle":
        so = config.resolved_schedule_options()
        cbs.append(OneCycle(config.learning_rate, config.epochs * n_batches, so["pct_start"], so["div_factor"], so["final_div_factor"]))
    engine = Engine()
    cbs.append(engine)
    return cbs, engine


# --------------------------------------------------------------------------------------
# train()
# --------------------------------------------------------------------------------------


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write(path: str | os.PathLike, write) -> None:
    """``write(tmp_path)`` into a temporary file next to ``path``, then ``os.replace`` it: the
    file is complete or absent, never partial; the temporary file is removed on any failure.
    A ``path`` that exists and is not a regular file (``/dev/stdout``, a FIFO) is written
    directly (replacing it would replace the device)."""
    path = Path(path)
    try:
        if path.is_symlink():
            path = path.resolve()
        if path.exists() and not path.is_file():
            write(path)
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # name the file asked for, not a temporary one
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # the permissions of a plainly created file, not mkstemp's 0600
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda p: Path(p).write_text(text))


_atomic_write_text = atomic_write_text  # the old private name


def check_writable_dir(folder: str | os.PathLike, what: str = "folder") -> Path:
    """Create ``folder`` if needed and prove it is writable (a probe file, removed); an
    ``OutputError`` naming the folder otherwise -- before minutes of training, not after."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(describe_os_error(e, folder, f"write to the {what}")) from e
    return folder


def save_model_atomic(model, path: Path) -> None:
    tmp = path.parent / f".{path.stem}.{os.getpid()}.tmp.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(o: Any):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=True)


@dataclass
class Prepared:
    """Everything resolved before fitting (shared by train() and lr_find())."""

    config: TrainConfig
    dataset: Any
    split: Any
    train_ds: Any
    val_ds: Any
    test_ds: Any
    prep: Any
    family: str
    input_shape: tuple[int, int, int]
    augment: Any
    notices: list[str]
    stats: dict = field(default_factory=dict)


def resolve_input(config: TrainConfig, ds, family: str, stats: dict) -> tuple[tuple[int, int], int, str, str | None]:
    """(input_size, channels, normalization, backbone) from the config and the data."""
    BACKBONES = _backbones()
    MODELS = _models().MODELS

    name = MODELS.resolve(config.model)
    backbone = name if family == "backbone" else None
    if config.input_size is not None:
        size = (int(config.input_size[0]), int(config.input_size[1]))
    elif family == "backbone":
        cfg = BACKBONES[name]
        d = getattr(cfg, "default_size", None) or getattr(cfg, "min_size", None) or 224
        size = (int(d), int(d)) if isinstance(d, (int, np.integer)) else (int(d[0]), int(d[1]))
    else:
        size = tuple(stats.get("typical_size") or (32, 32))
    if config.channels is not None:
        channels = int(config.channels)
    elif family == "backbone":
        channels = 3
    else:
        channels = 1 if int(stats.get("channels", 3)) == 1 else 3
    norm = config.normalization or ("backbone" if family == "backbone" else "rescale")
    return size, channels, norm, backbone


def prepare(config: TrainConfig, *, split=None, reporter: _SafeReporter | None = None) -> Prepared:
    """Load the dataset, split it (or check the given split), fit the preprocessing."""
    from .datasets import load_dataset
    from .datasets.splits import Split, apply_split, make_split
    from .preprocess import fit_preprocessing

    reporter = reporter or _SafeReporter(None)
    config.validate()
    notices: list[str] = []
    ds = load_dataset(config.dataset["name"], **dict(config.dataset.get("params") or {}))
    if split is None:
        sp = config.resolved_split()
        split = make_split(ds, val_ratio=sp["val_ratio"], test_ratio=sp["test_ratio"], seed=int(sp["seed"]), grouped=sp["grouped"])
    elif isinstance(split, dict):
        split = Split.from_dict(split)
    train_ds, val_ds, test_ds = apply_split(ds, split)
    for nm, part in (("training", train_ds), ("validation", val_ds), ("test", test_ds)):
        if len(part) == 0:
            raise TrainingError(f"The {nm} split is empty ({len(ds)} images in {ds.name!r}); use more data or other split ratios.")
    family = model_family(config.model)
    stats = image_stats(_sample_images(train_ds, 200, config.seed))
    size, channels, norm, backbone = resolve_input(config, train_ds, family, stats)
    prep = fit_preprocessing(train_ds, input_size=size, channels=channels, normalization=norm, backbone=backbone)
    aug = config.augment_spec()
    return Prepared(config, ds, split, train_ds, val_ds, test_ds, prep, family, (size[0], size[1], channels), aug,
                    notices, stats)


def build_model(p: Prepared):
    create_model = _models().create_model

    opts = p.config.resolved_model_options()
    try:
        built = create_model(p.config.model, input_shape=p.input_shape, num_classes=p.train_ds.num_classes, **opts)
    except LabError:
        raise
    except TypeError as e:
        raise ModelError(f"Model {p.config.model!r} does not accept these model_options {sorted(opts)}: {e}") from None
    model = getattr(built, "model", built)
    notices = list(getattr(built, "notices", []) or [])
    try:
        model_notices = _models().model_notices

        notices += [n for n in model_notices(model) if n not in notices]
    except Exception:  # noqa: BLE001
        pass
    return model, notices


def _use_cached_features(p: Prepared) -> bool:
    opts = p.config.resolved_model_options()
    return (
        p.family == "backbone"
        and opts.get("trainable", "frozen") == "frozen"
        and p.augment is None
        and not p.config.oversample
    )


def train(config: TrainConfig, *, out_dir: str | os.PathLike, reporter: Any = None, split=None,
          n_bootstrap: int = 200, cache_features: bool | None = None, extra_callbacks=()) -> TrainResult:
    """Train, keep the best epoch, evaluate on the test split, save every artifact.

    ``split``: a ``Split`` (or its dict) to reuse, e.g. for comparable runs of a search.
    ``cache_features``: None = automatic (frozen backbone and no augmentation).
    ``extra_callbacks``: more Keras callbacks, run after the lab's own each batch/epoch.
    Raises ``Cancelled`` when ``reporter.should_cancel()`` turns true, ``TrainingError`` when
    the loss becomes NaN, ``ValidationError`` for a bad configuration, ``OutputError`` when
    ``out_dir`` cannot be written (checked before training; a full disk at the end leaves
    complete files only).
    """
    import keras
    import pandas as pd
    import tensorflow as tf

    from .evaluation import evaluate, predict_dataset
    count_params = _models().count_params
    default_cam_layer = _models().default_cam_layer
    from .pipeline import balanced_class_weights, make_dataset

    rep = _SafeReporter(reporter)
    out = check_writable_dir(out_dir, "run folder")  # fails now, not after the training
    config.validate()
    seed_everything(config.seed)

    policy_set = False
    if config.mixed_precision:
        if tf.config.list_physical_devices("GPU"):
            keras.mixed_precision.set_global_policy("mixed_float16")
            policy_set = True
        else:
            rep.on_message("notice", "mixed_precision ignored: no GPU is present (it only helps on GPUs).")
    try:
        p = prepare(config, split=split, reporter=rep)
        model, notices = build_model(p)
    finally:
        if policy_set:
            keras.mixed_precision.set_global_policy("float32")
    for n in notices:
        rep.on_message("notice", n)

    n_classes = p.train_ds.num_classes
    class_weight = None
    if config.class_weight == "balanced":
        class_weight = {int(k): float(v) for k, v in balanced_class_weights(p.train_ds.labels, n_classes).items()}
        rep.on_message("info", "balanced class weights: " + ", ".join(f"{p.train_ds.class_names[k]}={v:.2f}" for k, v in class_weight.items()))

    use_cache = _use_cached_features(p) if cache_features is None else bool(cache_features)
    parts = split_head(model) if use_cache else None
    if use_cache and parts is None:
        rep.on_message("notice", "cached features not used: the model has no frozen part that can be split from its head.")
        use_cache = False

    bs = int(config.batch_size)
    val_pipe = make_dataset(p.val_ds, p.prep, batch_size=bs, training=False, seed=config.seed)
    if use_cache:
        feat, head = parts
        rep.on_message("info", "frozen backbone without augmentation: computing backbone features once and training the head on them")
        t_feat = time.monotonic()
        train_plain = make_dataset(p.train_ds, p.prep, batch_size=bs, training=False, seed=config.seed, cache=False)
        f_train = feat.predict(train_plain, verbose=0)
        f_val = feat.predict(val_pipe, verbose=0)
        rep.on_message("info", f"features {tuple(f_train.shape[1:])} computed in {time.monotonic() - t_feat:.1f}s")
        y_train = p.train_ds.labels
        fit_model = head
        train_pipe = (
            tf.data.Dataset.from_tensor_slices((f_train, y_train))
            .shuffle(len(y_train), seed=config.seed, reshuffle_each_iteration=True)
            .batch(bs)
            .prefetch(tf.data.AUTOTUNE)
        )
        val_fit = tf.data.Dataset.from_tensor_slices((f_val, p.val_ds.labels)).batch(bs)
        val_data = (f_val, p.val_ds.labels)
        n_train_eff = len(y_train)
    else:
        fit_model = model
        train_pipe = make_dataset(p.train_ds, p.prep, batch_size=bs, training=True, augment=p.augment,
                                  oversample=config.oversample, seed=config.seed)
        val_fit = val_pipe
        val_data = (val_pipe, p.val_ds.labels)
        card = int(train_pipe.cardinality())
        n_train_eff = card * bs if card > 0 else len(p.train_ds)

    card = int(train_pipe.cardinality())
    n_batches = card if card > 0 else max(1, math.ceil(n_train_eff / bs))

    fit_model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate, weight_decay=config.weight_decay, momentum=config.momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    params = count_params(model)
    info = {
        "name": config.display_name(),
        "model": config.model,
        "dataset": config.dataset["name"],
        "n_train": len(p.train_ds), "n_val": len(p.val_ds), "n_test": len(p.test_ds),
        "class_names": list(p.train_ds.class_names),
        "input_shape": list(p.input_shape),
        "epochs": config.epochs, "batch_size": bs, "n_batches": n_batches,
        "trainable_params": params["trainable"], "non_trainable_params": params["non_trainable"],
        "cached_features": use_cache,
        "split": {"strategy": getattr(p.split, "strategy", None), "grouped_by": getattr(p.split, "grouped_by", None)},
    }
    rep.on_start(info)

    callbacks, engine = _make_callbacks(keras, reporter=rep, config=config, n_batches=n_batches, batch_size=bs,
                                        val_data=val_data, model_ref=fit_model, n_classes=n_classes)
    callbacks = callbacks + list(extra_callbacks)
    t0 = time.monotonic()
    try:
        fit_model.fit(train_pipe, validation_data=val_fit, epochs=config.epochs, callbacks=callbacks,
                      class_weight=class_weight, verbose=0)
    except (Cancelled, TrainingError):
        try:
            _write_history(out, engine.history)
        except OSError as e:  # keep the cancel/failure as the outcome
            rep.on_message("warning", describe_os_error(e, out / "history.csv"))
        raise
    train_time = time.monotonic() - t0
    if engine.best_weights is not None:
        fit_model.set_weights(engine.best_weights)
    epochs_run = len(engine.history)
    rep.on_message("info", f"trained {epochs_run} epoch(s) in {train_time:.1f}s; best epoch {engine.best_epoch} "
                           f"({config.monitor}={engine.best:.4f}); weights of the best epoch restored")

    # ---- evaluate on the TEST split (aligned by id) ----
    pred_df = predict_dataset(model, p.test_ds, p.prep, batch_size=bs)
    evaluation = evaluate(pred_df, list(p.test_ds.class_names), ordinal=bool(p.dataset.ordinal),
                          n_bootstrap=n_bootstrap, seed=config.seed)

    try:
        cam_layer = default_cam_layer(model)
    except Exception:  # noqa: BLE001
        cam_layer = None
    meta = {
        "name": config.display_name(),
        "model": config.model,
        "model_options": config.resolved_model_options(),
        "class_names": list(p.dataset.class_names),
        "class_codes": list(p.dataset.class_codes) if p.dataset.class_codes else None,
        "preprocessing": p.prep.to_dict(),
        "input_shape": list(p.input_shape),
        "cam_layer": cam_layer,
        "dataset": dict(p.dataset.spec or config.dataset),
        "domain": p.dataset.domain,
        "ordinal": bool(p.dataset.ordinal),
        "train_stats": p.stats,
        "augment": p.augment.to_dict() if p.augment is not None else None,
        "params": params,
        "train_time_s": train_time,
        "epochs_run": epochs_run,
        "best_epoch": engine.best_epoch,
        "monitor": config.monitor,
        "best_value": engine.best,
        "cached_features": use_cache,
        "n_train": len(p.train_ds), "n_val": len(p.val_ds), "n_test": len(p.test_ds),
        "notices": notices,
        "config": config.to_dict(),
        "test_summary": evaluation.get("summary", {}),
        "keras_version": keras.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    model_path = out / "model.keras"
    writes = [
        ("split.json", lambda: atomic_write_text(out / "split.json", dumps(p.split.to_dict()))),
        ("history.csv", lambda: _write_history(out, engine.history)),
        ("predictions.csv", lambda: atomic_write(out / "predictions.csv", lambda t: pred_df.to_csv(t, index=False))),
        ("evaluation.json", lambda: atomic_write_text(out / "evaluation.json", dumps(evaluation))),
        ("meta.json", lambda: atomic_write_text(out / "meta.json", dumps(meta))),
        ("model.keras", lambda: save_model_atomic(model, model_path)),
    ]
    for name, write in writes:  # each file is complete or absent (temporary files are removed)
        try:
            write()
        except OSError as e:
            raise OutputError(describe_os_error(e, out / name) + " The training itself had finished; the files "
                              "written before this one are complete.") from e
    summ = evaluation.get("summary", {})
    rep.on_message("info", f"test accuracy {summ.get('accuracy', float('nan')):.4f}, macro F1 {summ.get('macro_f1', float('nan')):.4f}; saved {model_path}")
    return TrainResult(
        model_path=model_path, out_dir=out, meta=meta, history=engine.history, params=params,
        train_time_s=train_time, epochs_run=epochs_run, best_epoch=engine.best_epoch, split=p.split,
        predictions=pred_df, evaluation=evaluation, model=model,
    )


def _write_history(out: Path, history: list[dict]) -> None:
    import pandas as pd

    atomic_write(out / "history.csv", lambda t: pd.DataFrame(history).to_csv(t, index=False))


def evaluate_saved(path_or_dir: str | os.PathLike, *, batch_size: int = 64, n_bootstrap: int = 200) -> dict[str, Any]:
    """Re-evaluate a saved run on its stored test split (reloads the dataset from meta)."""
    from .datasets import load_dataset
    from .datasets.splits import Split, apply_split
    from .evaluation import evaluate, predict_dataset

    tm = load_trained(path_or_dir)
    run_dir = tm.path.parent
    split_path = run_dir / "split.json"
    if not split_path.is_file() or "dataset" not in tm.meta:
        raise ModelError(f"{str(run_dir)!r} has no split.json/meta.json: evaluation needs a run folder written by train().")
    spec = tm.meta["dataset"]
    ds = load_dataset(spec["name"], **dict(spec.get("params") or {}))
    split = Split.from_dict(json.loads(split_path.read_text()))
    _, _, test_ds = apply_split(ds, split)
    pred = predict_dataset(tm.model, test_ds, tm.preprocessing, batch_size=batch_size)
    ev = evaluate(pred, list(test_ds.class_names), ordinal=bool(ds.ordinal), n_bootstrap=n_bootstrap, seed=0)
    ev["predictions"] = pred
    return ev
