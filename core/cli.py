"""Command line: ``python -m core <command> ...`` (same TrainConfig as the dashboard).

    python -m core train --dataset digits --model small_cnn --epochs 3 --out runs/digits
    python -m core train --config run.json --out runs/x
    python -m core evaluate --model runs/digits
    python -m core predict img1.png img2.jpg --model runs/digits --top-k 3
    python -m core lr-find --dataset digits --model small_cnn --num-steps 100
    python -m core search --dataset digits --model small_cnn --space small_cnn --trials 4 --out runs/search
    python -m core list-models [--family backbone] | list-datasets
    python -m core import-dataset fashion_mnist /path/to/idx/files

Exit status: 0 success, 2 user error (message on stderr), 130 cancelled (Ctrl-C).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .validation import LabError, ValidationError


def _config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training configuration (flags override --config)")
    g.add_argument("--config", help="TrainConfig JSON file")
    g.add_argument("--dataset", help="dataset name (python -m core list-datasets)")
    g.add_argument("--dataset-param", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset parameter, e.g. max_per_class=100 or path=/data/ham (repeatable; values parsed as JSON when possible)")
    g.add_argument("--model", help="model name (python -m core list-models)")
    g.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, e.g. dropout=0.3 trainable=frozen cut_layer=block3_pool (repeatable)")
    g.add_argument("--weights", help="backbone weights: imagenet, none, a .weights.h5/.keras file or run:<id>")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float)
    g.add_argument("--optimizer")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--schedule", help="constant, plateau or one_cycle")
    g.add_argument("--input-size", help="HxW or N (square), e.g. 32x32")
    g.add_argument("--channels", type=int)
    g.add_argument("--normalization")
    g.add_argument("--augment", help="augmentation preset (none, report_a, report_b, report_c, report_d) or a JSON dict")
    g.add_argument("--monitor", help="val_loss, val_accuracy or val_macro_f1")
    g.add_argument("--early-stopping", type=int, metavar="PATIENCE")
    g.add_argument("--class-weight", help="none or balanced")
    g.add_argument("--oversample", action="store_true", default=None)
    g.add_argument("--val-ratio", type=float)
    g.add_argument("--test-ratio", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--name")


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


def config_from_args(args) -> "Any":
    from .training import TrainConfig

    d: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ValidationError(f"Configuration file {str(path)!r} does not exist.")
        d = TrainConfig.from_json(path.read_text()).to_dict()
    if args.dataset:
        d["dataset"] = {"name": args.dataset, "params": {}}
    if args.dataset_param:
        ds = dict(d.get("dataset") or {"name": "digits", "params": {}})
        ds["params"] = {**(ds.get("params") or {}), **_kv(args.dataset_param, "--dataset-param")}
        d["dataset"] = ds
    if args.model_option:
        d["model_options"] = {**(d.get("model_options") or {}), **_kv(args.model_option, "--model-option")}
    simple = {
        "model": args.model, "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "optimizer": args.optimizer, "weight_decay": args.weight_decay, "schedule": args.schedule,
        "channels": args.channels, "normalization": args.normalization, "monitor": args.monitor,
        "early_stopping": args.early_stopping, "class_weight": args.class_weight, "oversample": args.oversample,
        "seed": args.seed, "name": args.name,
    }
    d.update({k: v for k, v in simple.items() if v is not None})
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
    cfg = TrainConfig.from_dict(d)
    cfg.validate()
    return cfg


def _out_dir(args, cfg) -> Path:
    if args.out:
        return Path(args.out)
    import time

    from .config import get_settings

    return get_settings().models_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.display_name()}"


def _print_summary(summary: dict[str, Any], stream=sys.stdout) -> None:
    keys = ["accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall",
            "macro_auc", "micro_auc", "log_loss", "mean_sensitivity", "min_sensitivity", "max_sensitivity",
            "mean_specificity", "kappa_quadratic", "ece"]
    width = max(len(k) for k in keys)
    for k in keys:
        v = summary.get(k)
        if isinstance(v, (int, float)):
            ci = ""
            lo, hi = summary.get(f"ci_low_{k}"), summary.get(f"ci_high_{k}")
            if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
                ci = f"  (95% CI {lo:.4f}-{hi:.4f})"
            print(f"  {k:<{width}}  {v:.4f}{ci}", file=stream)


def cmd_train(args) -> int:
    from .training import ConsoleReporter, train

    cfg = config_from_args(args)
    out = _out_dir(args, cfg)
    if args.save_config:
        Path(args.save_config).write_text(cfg.to_json())
    res = train(cfg, out_dir=out, reporter=ConsoleReporter())
    if args.record:
        _record(cfg, res)
    print(f"\nRun folder: {res.out_dir}")
    print(f"Best epoch {res.best_epoch} of {res.epochs_run}; {res.params['trainable']:,} trainable / "
          f"{res.params['non_trainable']:,} non-trainable params; {res.train_time_s:.1f}s training")
    print("Test metrics:")
    _print_summary(res.summary)
    return 0


def _record(cfg, res) -> None:
    """Record a CLI run in the run store (optional; needs core.store)."""
    try:
        from .store import Store
    except ImportError:
        print("note: the run store is not available; run not recorded", file=sys.stderr)
        return
    store = Store()
    rid = store.create_run(cfg.to_dict(), name=cfg.display_name(), dataset=cfg.dataset["name"], model=cfg.model,
                           seed=cfg.seed, status="running")
    for row in res.history:
        store.log_metrics(rid, {k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "epoch"}, int(row["epoch"]))
    store.log_summary(rid, {k: v for k, v in res.summary.items() if isinstance(v, (int, float))})
    for name in ("model.keras", "meta.json", "predictions.csv", "evaluation.json", "split.json", "history.csv"):
        store.add_artifact(rid, name.split(".")[0], str(res.out_dir / name))
    store.set_status(rid, "finished")
    print(f"Recorded as run {rid} in the store.")


def cmd_evaluate(args) -> int:
    from .training import evaluate_saved

    ev = evaluate_saved(args.model, batch_size=args.batch_size, n_bootstrap=args.bootstrap)
    pred = ev.pop("predictions")
    print(f"Test split: {len(pred)} images, {len(ev.get('class_names', []))} classes")
    _print_summary(ev["summary"])
    per = ev.get("per_class")
    if per:
        import pandas as pd

        df = pd.DataFrame(per)
        cols = [c for c in ("class", "class_name", "precision", "recall", "sensitivity", "specificity", "f1", "support") if c in df]
        print("\nPer class:")
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.json:
        Path(args.json).write_text(json.dumps(ev, indent=2, default=str))
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from .images import load_image
    from .training import load_trained

    tm = load_trained(args.model)
    names = tm.class_names
    results = []
    for src in args.images:
        img = load_image(Path(src))
        for n in img.notices:
            print(f"note ({src}): {n}", file=sys.stderr)
        probs = tm.predict(img.array[None])[0]
        order = np.argsort(-probs)[: max(1, args.top_k)]
        top = [{"class": names[i] if i < len(names) else str(i), "index": int(i), "probability": float(probs[i])} for i in order]
        results.append({"image": str(src), "top": top})
        if not args.json:
            print(f"{src}:")
            for t in top:
                print(f"  {t['class']:<20} {t['probability']:.4f}")
    if args.json:
        print(json.dumps(results, indent=2))
    domain = tm.meta.get("domain")
    if domain in ("lesion", "fundus"):
        print("note: research use only; not a medical device.", file=sys.stderr)
    return 0


def cmd_lr_find(args) -> int:
    from .lr_finder import lr_find
    from .training import ConsoleReporter

    cfg = config_from_args(args)
    res = lr_find(cfg, reporter=ConsoleReporter(), start_lr=args.start_lr, end_lr=args.end_lr, num_steps=args.num_steps)
    print(f"\n{len(res.lrs)} steps; {res.reason}")
    print(f"Suggested learning rate (steepest descent): {res.suggested_lr:.3g}" if res.suggested_lr else "No suggestion (too few steps).")
    if res.min_lr_div10:
        print(f"Minimum-loss LR / 10: {res.min_lr_div10:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps(res.to_dict(), indent=2))
    return 0


def cmd_search(args) -> int:
    from .search import SPACES, run_search
    from .training import ConsoleReporter

    cfg = config_from_args(args)
    if args.space in SPACES:
        space = SPACES[args.space]
    elif args.space and Path(args.space).is_file():
        space = json.loads(Path(args.space).read_text())
    else:
        raise ValidationError(f"--space must be one of {sorted(SPACES)} or a JSON file. Got {args.space!r} instead.")
    out = _out_dir(args, cfg)
    df = run_search(cfg, space, args.trials, args.search_seed, out_dir=out, reporter=ConsoleReporter())
    import pandas as pd

    with pd.option_context("display.max_columns", 50, "display.width", 200):
        print(df.drop(columns=[c for c in ("out_dir",) if c in df]).to_string(index=False))
    print(f"\nResults: {out / 'search.csv'}")
    return 0


def cmd_list_models(args) -> int:
    from .models import list_models, model_info

    for name in list_models(filter=args.filter, family=args.family):
        info = model_info(name)
        print(f"{name:<26} {info.get('family', ''):<9} {info.get('title', '')}")
    return 0


def cmd_list_datasets(args) -> int:
    from .datasets import list_datasets

    for info in list_datasets():
        print(f"{info.name:<15} {info.availability:<15} {info.title}")
        if args.verbose:
            print(f"{'':<15} {info.how_to}")
    return 0


def cmd_import_dataset(args) -> int:
    from .datasets import import_keras_dataset

    out = import_keras_dataset(args.name, args.source, keras_home_dir=args.keras_home)
    print(f"Imported {args.name} into {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m core", description="Image-classification lab: train, evaluate, predict.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a TrainConfig (file and/or flags)")
    _config_args(p)
    p.add_argument("--out", help="run folder (default: LAB_MODELS_DIR/<time>-<name>)")
    p.add_argument("--save-config", help="also write the resolved config JSON here")
    p.add_argument("--record", action="store_true", help="record the run in the run store")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("evaluate", help="re-evaluate a saved run on its stored test split")
    p.add_argument("--model", required=True, help="run folder or model.keras path")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for confidence intervals")
    p.add_argument("--json", help="write the evaluation dict here")
    p.set_defaults(fn=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes for image files")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", required=True, help="run folder or model.keras path")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=cmd_predict)

    p = sub.add_parser("lr-find", help="learning-rate finder sweep")
    _config_args(p)
    p.add_argument("--start-lr", type=float, default=1e-7)
    p.add_argument("--end-lr", type=float, default=1.0)
    p.add_argument("--num-steps", type=int, default=100)
    p.add_argument("--json", help="write the curve here")
    p.set_defaults(fn=cmd_lr_find)

    p = sub.add_parser("search", help="random hyper-parameter search (every trial trained fully, same split)")
    _config_args(p)
    p.add_argument("--space", default="small_cnn", help="report_a, small_cnn or a JSON file")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--search-seed", type=int, default=0)
    p.add_argument("--out", help="search folder")
    p.set_defaults(fn=cmd_search)

    p = sub.add_parser("list-models", help="registered models")
    p.add_argument("--family", choices=["zoo", "backbone"])
    p.add_argument("--filter", help="glob, e.g. 'report_*'")
    p.set_defaults(fn=cmd_list_models)

    p = sub.add_parser("list-datasets", help="registered datasets and their availability")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(fn=cmd_list_datasets)

    p = sub.add_parser("import-dataset", help="copy local files of a Keras dataset into Keras' cache")
    p.add_argument("name", help="fashion_mnist, mnist or cifar10")
    p.add_argument("source", help="folder or file with the dataset files")
    p.add_argument("--keras-home", help="cache root (default KERAS_HOME or ~/.keras)")
    p.set_defaults(fn=cmd_import_dataset)
    return ap


def main(argv: list[str] | None = None) -> int:
    from .training import Cancelled

    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except Cancelled as e:
        print(f"\ncancelled: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except LabError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 2
