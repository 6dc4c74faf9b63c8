"""``train``, ``evaluate``, ``predict``, ``lr-find`` and ``search``: training and using a model."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.common import print_summary, print_train_result, write_text
from core.cli.config_flags import add_config_args, config_from_args
from core.validation import ValidationError


def _out_dir(args, cfg) -> Path:
    if args.out:
        return Path(args.out)
    import time

    from core.config import get_settings

    return get_settings().models_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.display_name()}"


def cmd_train(args) -> int:
    from core.files import check_writable_dir
    from core.training.engine import train
    from core.training.reporters import ConsoleReporter

    cfg = config_from_args(args)
    if args.save_config:  # written first: a bad path fails before any training
        write_text(args.save_config, cfg.to_json())
    if args.record:
        from core.cli.recorded import train_recorded

        return train_recorded(cfg, args)
    out = check_writable_dir(_out_dir(args, cfg), "run folder")
    res = train(cfg, out_dir=out, reporter=ConsoleReporter())
    print_train_result(res)
    return 0


def cmd_evaluate(args) -> int:
    from core.serving.trained_model import evaluate_saved

    ev = evaluate_saved(args.model, batch_size=args.batch_size, n_bootstrap=args.bootstrap)
    pred = ev.pop("predictions")
    print(f"Test split: {len(pred)} images, {len(ev.get('class_names', []))} classes")
    print_summary(ev["summary"])
    per = ev.get("per_class")
    if per:
        import pandas as pd

        df = pd.DataFrame(per)
        cols = [c for c in ("class", "class_name", "precision", "recall", "sensitivity", "specificity", "f1", "support")
                if c in df]
        print("\nPer class:")
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.json:
        write_text(args.json, json.dumps(ev, indent=2, default=str))
    return 0


def cmd_lr_find(args) -> int:
    from core.training.lr_finder import lr_find
    from core.training.reporters import ConsoleReporter

    cfg = config_from_args(args)
    if args.json:  # a bad path fails now, not after the sweep
        from core.files import check_writable_dir

        check_writable_dir(Path(args.json).parent or Path("."), "folder of --json")
    res = lr_find(cfg, reporter=ConsoleReporter(), start_lr=args.start_lr, end_lr=args.end_lr, num_steps=args.num_steps)
    print(f"\n{len(res.lrs)} steps; end of the curve: {res.end_state}" + (" (diverged)" if res.diverged else ""))
    print(f"  {res.reason}")
    print(f"Suggested learning rate (steepest descent): {res.suggested_lr:.3g}" if res.suggested_lr
          else "No suggestion (too few steps).")
    if res.min_lr_div10:
        print(f"Minimum-loss LR / 10: {res.min_lr_div10:.3g}")
    if args.json:
        write_text(args.json, json.dumps(res.to_dict(), indent=2))
    return 0


def cmd_search(args) -> int:
    from core.training.reporters import ConsoleReporter
    from core.training.search import SPACES, run_search

    cfg = config_from_args(args)
    if args.space in SPACES:
        space = SPACES[args.space]
    elif args.space and Path(args.space).is_file():
        space = json.loads(Path(args.space).read_text())
    else:
        raise ValidationError(f"--space must be one of {sorted(SPACES)} or a JSON file. Got {args.space!r} instead.")
    out = _out_dir(args, cfg)
    df = run_search(cfg, space, args.trials, args.search_seed, out_dir=out, reporter=ConsoleReporter(),
                    sampler=args.sampler)
    import pandas as pd

    from core.store.artifacts import file_name

    with pd.option_context("display.max_columns", 50, "display.width", 200):
        print(df.drop(columns=[c for c in ("out_dir",) if c in df]).to_string(index=False))
    print(f"\nResults: {out / file_name('search_trials')}")
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a TrainConfig (file and/or flags)")
    add_config_args(p)
    p.add_argument("--out", help="run folder (default: LAB_MODELS_DIR/<time>-<name>)")
    p.add_argument("--save-config", help="also write the resolved config JSON here")
    p.add_argument("--record", action=argparse.BooleanOptionalAction, default=True,
                   help="record the run in the run store (LAB_DATABASE_URL) so it appears on the dashboard "
                        "(default); --no-record only writes the run folder")
    p.set_defaults(fn=cmd_train)


def _add_evaluate_predict(sub) -> None:
    p = sub.add_parser("evaluate", help="re-evaluate a saved run on its stored test split")
    p.add_argument("--model", required=True, help="run folder or model.keras path")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for confidence intervals")
    p.add_argument("--json", help="write the evaluation dict here")
    p.set_defaults(fn=cmd_evaluate)

    from core.cli.predict import add_predict

    add_predict(sub)


def _add_lr_find_search(sub) -> None:
    p = sub.add_parser("lr-find", help="learning-rate finder sweep")
    add_config_args(p)
    p.add_argument("--start-lr", type=float, default=1e-7)
    p.add_argument("--end-lr", type=float, default=1.0)
    p.add_argument("--num-steps", type=int, default=100)
    p.add_argument("--json", help="write the curve here")
    p.set_defaults(fn=cmd_lr_find)

    p = sub.add_parser("search", help="hyper-parameter search, random or TPE (every trial trained fully, same split)")
    add_config_args(p)
    p.add_argument("--space", default="small_cnn", help="report_a, small_cnn or a JSON file")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--search-seed", type=int, default=0)
    p.add_argument("--sampler", choices=("random", "tpe"), default="random",
                   help="random: every trial drawn up front; tpe: Optuna's TPE asks each trial after the one "
                        "before finished, from the results so far")
    p.add_argument("--out", help="search folder")
    p.set_defaults(fn=cmd_search)


def add_cli(sub) -> None:
    """``train``, ``evaluate``, ``predict``, ``lr-find`` and ``search``, in this order."""
    _add_train(sub)
    _add_evaluate_predict(sub)
    _add_lr_find_search(sub)
