"""The training-configuration flags of ``train``, ``lr-find`` and ``search``, and the TrainConfig
they make (``--config`` file first, flags over it, then ``TrainConfig.validate()``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.validation import ValidationError


def _table_help(name: str, param) -> str:
    """A flag's help from the constraints table of core.training.config: what it sets, what it
    accepts, its default (TrainConfig's)."""
    import dataclasses

    from core.training.config import TrainConfig

    accepted = param.accepted()
    default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}.get(name, dataclasses.MISSING)
    shown = "" if default in (dataclasses.MISSING, None) else f"; default {default}"
    return param.help.rstrip(".") + (f"; {accepted}" if accepted else "") + shown + f" (TrainConfig.{name})"


def add_config_args(p: argparse.ArgumentParser) -> None:
    """The training-configuration flags. Those of plain fields come from ``PARAMS`` (core.training.config):
    a field declared there with ``cli=(...)`` gets its flag, type and help here; the values are
    checked by ``TrainConfig.validate()``, which says what is accepted."""
    from core.training.config import SPLIT_PARAMS

    g = p.add_argument_group("training configuration (flags override --config)")
    g.add_argument("--config", help="TrainConfig JSON file")
    g.add_argument("--dataset", help="dataset name (python -m core list-datasets)")
    g.add_argument("--dataset-param", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset parameter, e.g. max_per_class=100 or path=/data/ham (repeatable; values parsed as JSON "
                        "when possible)")
    g.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, e.g. dropout=0.3 trainable=frozen cut_layer=block3_pool (repeatable)")
    g.add_argument("--weights", help="backbone weights: imagenet, none, a .weights.h5/.keras file or run:<id>")
    g.add_argument("--input-size", help="HxW or N (square), e.g. 32x32")
    g.add_argument("--augment", help="augmentation preset (none, report_a, report_b, report_c, report_d) or a JSON dict")
    for key in ("val_ratio", "test_ratio"):
        g.add_argument(f"--{key.replace('_', '-')}", type=float, help=_table_help(f"split.{key}", SPLIT_PARAMS[key]))
    _add_table_args(g)


def _add_table_args(g) -> None:
    """One flag per field of ``PARAMS`` declared with ``cli=(...)``."""
    from core.training.config import PARAMS

    for name, param in PARAMS.items():
        if not param.cli:
            continue
        kwargs: dict[str, Any] = {"dest": name, "help": _table_help(name, param)}
        if param.kind == "bool":  # on by default: --NAME / --no-NAME
            kwargs.update(action=argparse.BooleanOptionalAction if param.default is True else "store_true", default=None)
        else:
            ints = param.kind == "int" or (param.choices and all(isinstance(c, int) for c in param.choices))
            kwargs["type"] = int if ints else float if param.kind == "float" else str
            kwargs["metavar"] = param.metavar or ("{" + ",".join(map(str, param.choices)) + "}" if param.choices else None)
        g.add_argument(*param.cli, **kwargs)


def _table_values(args) -> dict[str, Any]:
    """The fields set by the table-driven flags (None = not given)."""
    from core.training.config import PARAMS

    values = {name: getattr(args, name, None) for name, param in PARAMS.items() if param.cli}
    return {k: v for k, v in values.items() if v is not None}


def _kv(items: list[str], what: str) -> dict[str, Any]:
    out = {}
    for it in items:
        if "=" not in it:
            raise ValidationError(f"{what} must be KEY=VALUE. Got {it!r} instead.")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = None if v.lower() == "none" else v
    return out


def _parse_size(text: str) -> list[int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        nums = [int(p) for p in parts if p.strip()]
    except ValueError:
        nums = []
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2:
        raise ValidationError(f"--input-size must be HxW (e.g. 32x32) or one number. Got {text!r} instead.")
    return nums


def _from_file(args) -> dict[str, Any]:
    """The ``--config`` file as a dict ({} without one)."""
    from core.training.config import TrainConfig

    if not args.config:
        return {}
    path = Path(args.config)
    if not path.is_file():
        raise ValidationError(f"Configuration file {str(path)!r} does not exist.")
    return TrainConfig.from_json(path.read_text()).to_dict()


def _apply_data_flags(d: dict[str, Any], args) -> None:
    """--dataset, --dataset-param and --model-option over the configuration dict."""
    if args.dataset:
        d["dataset"] = {"name": args.dataset, "params": {}}
    if args.dataset_param:
        ds = dict(d.get("dataset") or {"name": "digits", "params": {}})
        ds["params"] = {**(ds.get("params") or {}), **_kv(args.dataset_param, "--dataset-param")}
        d["dataset"] = ds
    if args.model_option:
        d["model_options"] = {**(d.get("model_options") or {}), **_kv(args.model_option, "--model-option")}


def _apply_model_flags(d: dict[str, Any], args) -> None:
    """--weights, --input-size, --augment, --val-ratio and --test-ratio over the configuration dict."""
    if args.weights is not None:
        d["weights"] = None if args.weights.lower() == "none" else args.weights
        if d["weights"] is None:
            d.setdefault("model_options", {})["weights"] = None
    if args.input_size:
        d["input_size"] = _parse_size(args.input_size)
    if args.augment is not None:
        a = args.augment.strip()
        d["augment"] = json.loads(a) if a.startswith("{") else (None if a.lower() == "none" else a)
    split = dict(d.get("split") or {})
    if args.val_ratio is not None:
        split["val_ratio"] = args.val_ratio
    if args.test_ratio is not None:
        split["test_ratio"] = args.test_ratio
    if split:
        d["split"] = split


def config_from_args(args) -> Any:
    """The validated TrainConfig of the parsed flags: the --config file, then the flags over it.
    Its dataset's files and folders are checked too (exist, inside LAB_DATA_ROOTS): a command
    refuses bad input before it records a run or trains anything."""
    from core.training.config import TrainConfig

    d = _from_file(args)
    _apply_data_flags(d, args)
    d.update(_table_values(args))
    _apply_model_flags(d, args)
    cfg = TrainConfig.from_dict(d)
    cfg.validate()
    cfg.check_data_paths()
    return cfg
