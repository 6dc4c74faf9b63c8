"""``TrainConfig``: everything that defines a training run, JSON-serialisable and validated.

The constraints of its fields are declared once, as data, in ``PARAMS`` (and ``SPLIT_PARAMS``,
``SCHEDULE_PARAMS`` for the nested dicts), in the spirit of scikit-learn's
``validate_params``. Three readers use that table and nothing else:

- ``TrainConfig.validate()`` loops over it, then makes the few cross-field checks;
- the CLI (``core.cli``) builds the ``train`` / ``lr-find`` / ``search`` flags from it
  (flag names, types, help, the accepted values);
- the Train page (``pages/train.py``) takes its option lists, help texts and input bounds from it.

Adding an optimiser, a schedule or a field is one edit here. Importing this module does not
import TensorFlow.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.preprocess import NORMALIZATIONS  # the normalisations are preprocessing's own list
from core.validation import (
    DatasetError,
    LabError,
    ValidationError,
    check_number,
    check_one_of,
    check_run_name,
    check_texts,
    check_type,
)

# optimiser name -> keras.optimizers class (core.training.engine.make_optimizer builds it)
OPTIMIZER_CLASSES = {"adam": "Adam", "adamax": "Adamax", "adagrad": "Adagrad", "rmsprop": "RMSprop", "sgd": "SGD"}
OPTIMIZERS = tuple(OPTIMIZER_CLASSES)
MONITORS = ("val_loss", "val_accuracy", "val_macro_f1")
MAXIMIZED_MONITORS = ("val_accuracy", "val_macro_f1")  # the others are minimised
CLASS_WEIGHTS = ("none", "balanced")
GROUPED = ("auto", True, False)


@dataclass(frozen=True)
class Param:
    """The constraint on one configuration value, and how it is offered to a user.

    ``kind``: choice | int | float | bool | str | dict | custom (custom: checked by a
    cross-field check of ``validate()``). ``cli``: the command-line flags that set it
    (none: no flag, or a flag the CLI builds by hand). ``widget``: the (lowest, highest) value
    the Train page's input offers, within ``low``/``high`` (a page keeps to sensible values;
    validation and the CLI accept the whole range); None: ``low``/``high`` themselves.
    """

    kind: str
    help: str = ""
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    allow_none: bool = False
    default: Any = None
    cli: tuple[str, ...] = ()
    metavar: str | None = None
    widget: tuple[float, float] | None = None

    @property
    def widget_range(self) -> tuple[float | None, float | None]:
        """(lowest, highest) value the Train page's input offers for this field."""
        return self.widget if self.widget is not None else (self.low, self.high)

    def check(self, name: str, value: Any) -> Any:
        """``value`` if it is acceptable; a ValidationError saying what is expected otherwise."""
        if value is None and self.allow_none:
            return None
        if self.kind == "choice":
            return check_one_of(name, value, self.choices)
        if self.kind in ("int", "float"):
            return check_number(name, value, low=self.low, high=self.high, low_inclusive=self.low_inclusive,
                                high_inclusive=self.high_inclusive, integer=self.kind == "int")
        if self.kind in _TYPES:
            return check_type(name, value, _TYPES[self.kind])
        return value

    def accepted(self) -> str:
        """The accepted values in words (help texts)."""
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind in ("int", "float") and (self.low is not None or self.high is not None):
            lb = "[" if self.low_inclusive else "("
            rb = "]" if self.high_inclusive else ")"
            lo = "-inf" if self.low is None else _num(self.low)
            hi = "inf" if self.high is None else _num(self.high)
            return f"{'an integer' if self.kind == 'int' else 'a number'} in {lb}{lo}, {hi}{rb}"
        return ""


_TYPES: dict[str, type] = {"bool": bool, "str": str, "dict": dict}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"

SPLIT_PARAMS: dict[str, Param] = {
    "val_ratio": Param("float", "fraction of the images held out for validation", low=0.0, high=0.9,
                       low_inclusive=False, high_inclusive=False, default=0.1, widget=(0.05, 0.4)),
    "test_ratio": Param("float", "fraction of the images held out for the final test", low=0.0, high=0.9,
                        low_inclusive=False, high_inclusive=False, default=0.2, widget=(0.05, 0.4)),
    "seed": Param("int", "seed of the split", low=0, default=0),
    "grouped": Param("choice", "keep images of one group (patient, lesion) in one part: auto, true or false",
                     choices=GROUPED, default="auto"),
}

_OPEN_UNIT = dict(low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
SCHEDULE_PARAMS: dict[str, dict[str, Param]] = {
    "constant": {},
    "plateau": {
        "factor": Param("float", "multiply the learning rate by this on a plateau", default=0.5, **_OPEN_UNIT),
        "patience": Param("int", "epochs without improvement before lowering it", low=0, default=2),
        "min_lr": Param("float", "never below this learning rate", low=0.0, default=1e-6),
    },
    "one_cycle": {
        "pct_start": Param("float", "fraction of the steps spent warming up", default=0.3, **_OPEN_UNIT),
        "div_factor": Param("float", "starting learning rate = learning_rate / div_factor", low=1.0, default=25.0),
        "final_div_factor": Param("float", "final learning rate = starting one / final_div_factor", low=1.0,
                                  default=1e4),
    },
}
SCHEDULES = tuple(SCHEDULE_PARAMS)
SCHEDULE_OPTION_KEYS = {s: set(ps) for s, ps in SCHEDULE_PARAMS.items()}
SCHEDULE_DEFAULTS = {s: {k: p.default for k, p in ps.items()} for s, ps in SCHEDULE_PARAMS.items() if ps}

# every TrainConfig field, in field order (tests check that none is missing)
PARAMS: dict[str, Param] = {
    "dataset": Param("dict", "the dataset: {'name': str, 'params': dict}"),
    "split": Param("dict", "split ratios and seed: " + ", ".join(SPLIT_PARAMS)),
    "extra_train": Param("str", "an exported flag dataset version of the dataset (flags-<dataset>-v<N>) added to the "
                                "training part only, after the split; None = none", allow_none=True,
                         cli=("--extra-train",), metavar="VERSION"),
    "model": Param("str", "model name (python -m core list-models)", cli=("--model",)),
    "model_options": Param("dict", "options of the model builder (python -m core list-models)"),
    "input_size": Param("custom", "[height, width] of the model input, None = automatic"),
    "channels": Param("choice", "image channels the model reads, None = automatic", choices=(1, 3),
                      allow_none=True, cli=("--channels",)),
    "normalization": Param("choice", "how pixels are scaled, None = automatic (backbone for backbones, "
                                     "rescale otherwise); backbone exists only for backbone models",
                           choices=NORMALIZATIONS, allow_none=True, cli=("--normalization",)),
    "weights": Param("str", "backbone weights (imagenet, a file, run:<id>)", allow_none=True),
    "optimizer": Param("choice", "the optimiser", choices=OPTIMIZERS, cli=("--optimizer",)),
    "momentum": Param("float", "momentum (sgd only)", low=0.0, high=1.0, high_inclusive=False),
    "learning_rate": Param("float", "the (starting) learning rate", low=0.0, low_inclusive=False,
                           cli=("--lr", "--learning-rate"), widget=(1e-7, 10.0)),
    "weight_decay": Param("float", "decoupled weight decay, 0 = none", low=0.0, cli=("--weight-decay",),
                          widget=(0.0, 1.0)),
    "schedule": Param("choice", "learning-rate schedule", choices=SCHEDULES, cli=("--schedule",)),
    "schedule_options": Param("dict", "options of the schedule: " + "; ".join(
        f"{s}: {', '.join(ps)}" for s, ps in SCHEDULE_PARAMS.items() if ps)),
    "epochs": Param("int", "number of epochs", low=1, high=10000, cli=("--epochs",), widget=(1, 500)),
    "batch_size": Param("int", "images per batch", low=1, high=65536, cli=("--batch-size",), widget=(1, 1024)),
    "early_stopping": Param("int", "stop after this many epochs without improvement, None = off", low=0,
                            allow_none=True, cli=("--early-stopping",), metavar="PATIENCE", widget=(0, 100)),
    "min_delta": Param("float", "early stopping: the smallest change that counts as an improvement", low=0.0),
    "monitor": Param("choice", "the validation metric that picks the best epoch", choices=MONITORS,
                     cli=("--monitor",)),
    "class_weight": Param("choice", "weigh the loss by inverse class frequency (balanced) or not",
                          choices=CLASS_WEIGHTS, cli=("--class-weight",)),
    "oversample": Param("bool", "oversample minority classes", cli=("--oversample",)),
    "augment": Param("custom", "augmentation: a preset name, an augmentation dict or None"),
    "mixed_precision": Param("bool", "float16 compute on a GPU (ignored without one)"),
    "seed": Param("int", "seed of everything random", low=0, high=2**31 - 1, cli=("--seed",)),
    "reproducible": Param("bool", "the same seed gives the same weights and metrics bit for bit (TensorFlow's op "
                                  "determinism); off = often faster (TensorFlow may use more threads, other kernels), "
                                  "but two runs may differ in the last digits", default=True,
                         cli=("--reproducible",)),
    "name": Param("str", "run name, None = named after the configuration", allow_none=True, cli=("--name",)),
    "gpus": Param("int", "GPUs this run needs; 0 = CPU. Used by the job executor to schedule it.", low=0,
                  cli=("--gpus",), widget=(0, 64)),
}


def choices(name: str) -> list:
    """The accepted values of a choice field, e.g. ``choices("optimizer")``."""
    return list(PARAMS[name].choices)


def _default_dataset() -> dict[str, Any]:
    return {"name": "digits", "params": {}}


def _default_split() -> dict[str, Any]:
    return {k: p.default for k, p in SPLIT_PARAMS.items()}


def _check_keys(what: str, given, allowed) -> None:
    """Refuse keys of a nested option dict that its table does not declare, naming the valid ones."""
    extra = set(given) - set(allowed)
    if extra:
        raise ValidationError(f"Unknown {what}: {', '.join(sorted(map(repr, extra)))}. "
                              f"Valid keys: {', '.join(sorted(allowed)) or 'none'}.")


@dataclass
class TrainConfig:
    """Everything that defines a training run; JSON-serialisable and validated.

    ``None`` means "the sensible default for this model and dataset":
    ``input_size`` (zoo models: the dataset's native size; backbones: the backbone's
    default size), ``channels`` (backbones 3, zoo models keep the dataset's),
    ``normalization`` ("backbone" for backbones, "rescale" otherwise). What each field
    accepts is declared in ``PARAMS``.
    """

    dataset: dict[str, Any] = field(default_factory=_default_dataset)
    split: dict[str, Any] = field(default_factory=_default_split)
    extra_train: str | None = None       # a flag dataset version added to the training part only
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
    reproducible: bool = True            # op determinism; configs stored before the field were reproducible
    name: str | None = None
    gpus: int = 0                        # GPUs the run asks the job executor for (0 = CPU)

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
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """A config from a dict; missing keys take their defaults (configs stored before a
        field existed still load), unknown keys are refused with the closest valid one."""
        if not isinstance(d, dict):
            raise ValidationError(f"A training configuration must be a JSON object (dict). Got {type(d).__name__} instead.")
        valid = cls.field_names()
        unknown = sorted(k for k in d if k not in valid)
        if unknown:
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
    def from_json(cls, text: str) -> TrainConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValidationError(f"The training configuration is not valid JSON: {e}.") from None
        return cls.from_dict(d)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> TrainConfig:
        p = Path(path)
        if not p.is_file():
            raise ValidationError(f"Configuration file {str(p)!r} does not exist.")
        return cls.from_json(p.read_text())

    def replace(self, **changes: Any) -> TrainConfig:
        d = self.to_dict()
        d.update(changes)
        return TrainConfig.from_dict(d)

    # ---- validation ----
    def validate(self) -> TrainConfig:
        """Check every field against ``PARAMS``, then the checks that involve several fields;
        raise ValidationError saying what was expected and what came. Every string of the config
        is text the run store accepts (``core.validation.check_text``: no control, bidirectional
        or invisible characters). Files and folders are not looked at: ``check_data_paths()``."""
        if isinstance(self.name, str):  # (another type: the 'name' parameter's own message, below)
            check_run_name(self.name)  # too long or holding a refused character: refused, never cut
        check_texts({k: v for k, v in dataclasses.asdict(self).items() if k != "name"}, "config value")
        self._check_dataset()
        self._check_split()
        check_type("model", self.model, str)
        family = model_family(self.model)  # NotFoundError with close matches
        for name, param in PARAMS.items():
            param.check(name, getattr(self, name))
        self._check_model_fields(family)
        self._check_schedule_options()
        self.augment_spec()  # validates
        return self

    def check_data_paths(self) -> TrainConfig:
        """The files and folders named by ``dataset.params`` (``path``, ``*_csv`` and the dataset's
        further path parameters) exist and lie inside LAB_DATA_ROOTS (DatasetError naming them
        otherwise), and a weights file fits the model: what can be checked on this machine before a
        run is created. The loader
        checks them again when the run starts, with every file it reads."""
        from core.datasets.base import DATASETS
        from core.datasets.common import check_inside_roots

        entry = DATASETS.get(self.dataset["name"])
        extra = set(entry.meta.get("extra_path_params") or {})
        for key, value in (self.dataset.get("params") or {}).items():
            if not (key == "path" or key.endswith("_csv") or key in extra):
                continue
            if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
                continue
            what = f"{entry.name} folder or file" if key == "path" else f"{entry.name} {key} file"
            given = Path(value).expanduser()
            if not check_inside_roots(given, what=what).exists():
                raise DatasetError(f"The {what} {str(given)!r} does not exist.")
        from core.training.weights_choice import check_weights

        check_weights(self)  # a weights file that is missing, or holds another model's layers
        return self

    def _check_dataset(self) -> None:
        check_type("dataset", self.dataset, dict)
        extra = set(self.dataset) - {"name", "params"}
        if extra or "name" not in self.dataset:
            raise ValidationError(
                "The 'dataset' parameter must be a dict {'name': str, 'params': dict}. "
                f"Got {self.dataset!r} instead."
            )
        check_type("dataset.name", self.dataset["name"], str)
        check_type("dataset.params", self.dataset.get("params", {}), dict)
        from core.datasets import catalog
        from core.datasets.base import DATASETS

        catalog._ensure_registered()  # importing the loader modules registers them
        entry = DATASETS.get(self.dataset["name"])  # NotFoundError with close matches
        _check_dataset_params(entry, self.dataset.get("params") or {})
        if self.extra_train is not None:
            _check_extra_train(self.extra_train, entry.name)

    def _check_split(self) -> None:
        check_type("split", self.split, dict)
        _check_keys("'split' key(s)", self.split, SPLIT_PARAMS)
        sp = self.resolved_split()
        for k in ("val_ratio", "test_ratio"):
            SPLIT_PARAMS[k].check(f"split.{k}", sp[k])
        if sp["val_ratio"] + sp["test_ratio"] >= 0.95:
            raise ValidationError(
                "split.val_ratio + split.test_ratio must leave at least 5% for training. "
                f"Got {sp['val_ratio']} + {sp['test_ratio']} instead."
            )
        for k in ("seed", "grouped"):
            SPLIT_PARAMS[k].check(f"split.{k}", sp[k])

    def _check_model_fields(self, family: str) -> None:
        """model_options, weights, input_size, channels, normalization against the model."""
        for k in self.model_options:
            check_type("model_options key", k, str)
        _check_model_options(self.model, self.resolved_model_options())
        mw = self.model_options.get("weights", self.weights)
        if self.weights is not None and mw != self.weights:
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
            mn = _backbone_min_size(self.model) if family == "backbone" else None
            if mn and min(self.input_size) < mn:
                raise ValidationError(
                    f"{self.model} needs an input of at least {mn}x{mn}. Got input_size={list(self.input_size)} "
                    f"instead; use {mn} or more (images are upscaled)."
                )
        if self.channels is not None and family == "backbone" and self.channels != 3:
            raise ValidationError(
                f"Backbone {self.model!r} needs 3 channels. Got channels={self.channels}; leave it None "
                "(grayscale images are repeated to RGB)."
            )
        if self.normalization == "backbone" and family != "backbone":
            raise ValidationError(
                f"normalization='backbone' needs a backbone model; {self.model!r} is a {family} model. "
                f"Use one of {set(NORMALIZATIONS) - {'backbone'}} or None."
            )

    def _check_schedule_options(self) -> None:
        params = SCHEDULE_PARAMS[self.schedule]
        _check_keys(f"schedule_options key(s) for schedule {self.schedule!r}", self.schedule_options, params)
        so = self.resolved_schedule_options()
        for k, param in params.items():
            param.check(f"schedule_options.{k}", so[k])

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
        from core.data.augment import PRESETS, AugmentSpec

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


def _check_dataset_params(entry, params: dict[str, Any]) -> None:
    """The parameters a dataset's loader takes (the message of ``core.datasets.load_dataset``) and
    a valid subsample size, checked before a run exists rather than when it loads the data."""
    import inspect

    accepted = {p.name for p in inspect.signature(entry.fn).parameters.values()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    extra = sorted(set(params) - accepted)
    if extra:
        raise ValidationError(
            f"Dataset {entry.name!r} does not accept parameter(s) {', '.join(map(repr, extra))}. "
            f"Accepted: {', '.join(sorted(accepted)) or 'none'}."
        )
    check_number("dataset.params.max_per_class", params.get("max_per_class"), low=1, integer=True, allow_none=True)


def _check_extra_train(name: Any, dataset: str) -> None:
    """``extra_train`` names an exported flag dataset version of ``dataset`` itself."""
    from core.datasets.flagged import flag_source

    check_type("extra_train", name, str)
    src = flag_source(name)
    if src is None:
        raise ValidationError(f"extra_train must name an exported flag dataset version of {dataset!r} "
                              f"(flags-{dataset}-v<N>; python -m core flags export {dataset}). Got {name!r}.")
    if src["dataset"] != dataset:
        raise ValidationError(f"extra_train {name!r} holds flags of {src['dataset']!r}; it can only be added to "
                              f"{src['dataset']!r}'s training part, not to {dataset!r}'s.")


def _check_model_options(model: str, options: dict[str, Any]) -> None:
    """The options the model's builder takes (``weights`` included), refused with the builder's
    own message (``core.models.base.check_options``) before a run exists."""
    from core.models import MODELS
    from core.models.base import check_options

    entry = MODELS.get(model)
    check_options(entry.name, options, entry.meta["options"])


def model_family(model: str) -> str:
    """'zoo' or 'backbone' for a registered model name (NotFoundError with close matches)."""
    from core.models import MODELS

    return MODELS.get(model).meta.get("family", "zoo")


def _backbone_min_size(model: str) -> int | None:
    try:
        from core.models import BACKBONES, MODELS

        cfg = BACKBONES.get(MODELS.resolve(model))
        return getattr(cfg, "min_size", None) if cfg is not None else None
    except Exception:  # noqa: BLE001 - registry not available: no extra check
        return None
