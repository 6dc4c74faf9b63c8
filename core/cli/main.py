"""Command line: ``python -m core <command> ...`` (same TrainConfig as the dashboard).

    python -m core train --dataset digits --model small_cnn --epochs 3     # recorded in the run store
    python -m core train --config run.json --out runs/x --no-record        # just a folder
    python -m core runs list [--status succeeded] [--dataset digits] [--limit 20]
    python -m core runs show 12 [--json]
    python -m core runs champion digits [12] [--clear]            # the run to use for a dataset, and its history
    python -m core runs export 12 --out run12.zip                 # a run bundle ...
    python -m core runs import run12.zip                          # ... imported into another lab (new id)
    python -m core evaluate --model runs/digits
    python -m core predict img1.png img2.jpg --model runs/digits --top-k 3
    python -m core lr-find --dataset digits --model small_cnn --num-steps 100
    python -m core search --dataset digits --model small_cnn --space small_cnn --trials 4 --out runs/search
    python -m core list-models [--family backbone] | list-datasets
    python -m core import-dataset fashion_mnist /path/to/idx/files
    python -m core jobs serve [--max-concurrent N]   # run the job queue with no browser
    python -m core jobs status [--json]

Exit status: 0 success, 2 user error (message on stderr: a bad option, a run store that cannot
be opened, a path that cannot be written -- permissions, full disk, missing folder), 130
cancelled (Ctrl-C). ``train`` records the run in the run store (LAB_DATABASE_URL) like a run
of the dashboard's job queue -- same folder (LAB_MODELS_DIR/<id>), artifacts, per-epoch
metrics, summary and status -- so it appears on Runs and Compare and can be used on Predict;
the store is opened before training, and the run always ends succeeded, failed or cancelled.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from core.validation import LabError, ValidationError


def _table_help(name: str, param) -> str:
    """A flag's help from the constraints table of core.training.config: what it sets, what it
    accepts, its default (TrainConfig's)."""
    import dataclasses

    from core.training.config import TrainConfig

    accepted = param.accepted()
    default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}.get(name, dataclasses.MISSING)
    shown = "" if default in (dataclasses.MISSING, None) else f"; default {default}"
    return param.help.rstrip(".") + (f"; {accepted}" if accepted else "") + shown + f" (TrainConfig.{name})"


def _config_args(p: argparse.ArgumentParser) -> None:
    """The training-configuration flags. Those of plain fields come from ``PARAMS`` (core.training.config):
    a field declared there with ``cli=(...)`` gets its flag, type and help here; the values are
    checked by ``TrainConfig.validate()``, which says what is accepted."""
    from core.training.config import PARAMS, SPLIT_PARAMS

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
    for name, param in PARAMS.items():
        if not param.cli:
            continue
        kwargs: dict[str, Any] = {"dest": name, "help": _table_help(name, param)}
        if param.kind == "bool":
            kwargs.update(action="store_true", default=None)
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


def config_from_args(args) -> Any:
    from core.training.config import TrainConfig

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
    d.update(_table_values(args))
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

    from core.config import get_settings

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


def _write_text(path: str | os.PathLike, text: str) -> None:
    """Write a user-named output file atomically (complete or absent; /dev/stdout works)."""
    from core.files import OutputError, atomic_write_text, describe_os_error

    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise OutputError(describe_os_error(e, path)) from e


def cmd_train(args) -> int:
    from core.files import check_writable_dir
    from core.training.engine import train
    from core.training.reporters import ConsoleReporter

    cfg = config_from_args(args)
    if args.save_config:  # written first: a bad path fails before any training
        _write_text(args.save_config, cfg.to_json())
    if args.record:
        return _train_recorded(cfg, args)
    out = check_writable_dir(_out_dir(args, cfg), "run folder")
    res = train(cfg, out_dir=out, reporter=ConsoleReporter())
    _print_train_result(res)
    return 0


def _print_train_result(res) -> None:
    print(f"\nRun folder: {res.out_dir}")
    print(f"Best epoch {res.best_epoch} of {res.epochs_run}; {res.params['trainable']:,} trainable / "
          f"{res.params['non_trainable']:,} non-trainable params; {res.train_time_s:.1f}s training")
    print("Test metrics:")
    _print_summary(res.summary)


def open_store():
    """The run store of LAB_DATABASE_URL, opened (and migrated) now: a bad URL fails in
    seconds with a message, before any data is loaded or anything is trained."""
    from core.store import Store, StoreError

    try:
        return Store()
    except StoreError as e:
        raise StoreError(f"{e} Nothing was trained. Fix LAB_DATABASE_URL, or add --no-record to train "
                         "without recording the run.") from None


class _Tee:
    """Reporter protocol fanned out to several reporters (console + store)."""

    def __init__(self, *reporters):
        self.reporters = reporters

    def _each(self, name, *a):
        for r in self.reporters:
            fn = getattr(r, name, None)
            if callable(fn):
                fn(*a)

    def on_start(self, info):
        self._each("on_start", info)

    def on_batch(self, *a):
        self._each("on_batch", *a)

    def on_epoch(self, *a):
        self._each("on_epoch", *a)

    def on_message(self, level, text):
        self._each("on_message", level, text)

    def should_cancel(self) -> bool:
        return any(bool(getattr(r, "should_cancel", lambda: False)()) for r in self.reporters)


def _keep_alive(store, run_id: int, stop: threading.Event, every_s: float = 15.0) -> None:
    while not stop.wait(every_s):
        try:
            store.heartbeat(run_id)
        except Exception:  # noqa: BLE001 - a missed heartbeat is not worth stopping the training
            pass


def _train_recorded(cfg, args) -> int:
    """Train as a first-class run of the store, the way ``core.worker`` runs a queued job:
    ``StoreReporter`` for progress and per-epoch metrics, ``summary_from_result`` and
    ``register_artifacts`` for the outcome, the run's folder ``LAB_MODELS_DIR/<id>`` (or
    ``--out``). The run is created ``running`` with this process as its worker (the job
    supervisor leaves a live one alone, and marks it interrupted if the process dies) and
    always ends succeeded, failed or cancelled -- Ctrl-C, SIGTERM and errors included."""
    from core.files import check_writable_dir

    store = open_store()
    try:
        out = Path(args.out) if args.out else None
        check_writable_dir(out or store.models_dir, "run folder" if out else "models folder (LAB_MODELS_DIR)")
        d = cfg.to_dict()
        dataset = (d.get("dataset") or {}).get("name")
        rid = store.create_run(d, name=cfg.name or f"{cfg.model} on {dataset}", dataset=dataset, model=cfg.model,
                               seed=cfg.seed, kind="train", status="running", tags={"source": "cli"})
        return _run_recorded(store, rid, cfg, d, out)
    finally:
        store.close()


def _run_recorded(store, rid: int, cfg, d: dict, out: Path | None) -> int:
    import signal
    import traceback

    from core.files import OutputError, check_writable_dir, describe_os_error
    from core.jobs.worker import Flags, StoreReporter, register_artifacts, summary_from_result
    from core.store import HOST
    from core.training.engine import train
    from core.training.reporters import Cancelled, ConsoleReporter

    flags = Flags()
    ctrl_c: list[bool] = []
    main_thread = threading.current_thread() is threading.main_thread()

    def on_int(_sig, _frm):  # first Ctrl-C: stop after this batch; a second one: at once
        if ctrl_c:
            raise KeyboardInterrupt
        ctrl_c.append(True)
        flags.cancel = True
        sys.stderr.write("\nCtrl-C: stopping after this batch (press Ctrl-C again to stop at once)\n")

    status, error, raised, res = "failed", "the command line stopped before training", None, None
    stop = threading.Event()
    saved, old_int = {}, None
    try:
        try:
            saved = flags.install()  # SIGUSR1 cancels, SIGTERM interrupts (as for a job worker)
            if main_thread:
                old_int = signal.getsignal(signal.SIGINT)
                signal.signal(signal.SIGINT, on_int)
            store.log_params(rid, d)
            store.set_worker(rid, pid=os.getpid(), host=HOST)
            out = out or store.run_dir(rid)
            print(f"Run {rid} is recorded in the run store; its folder is {out}", file=sys.stderr)
            threading.Thread(target=_keep_alive, args=(store, rid, stop), daemon=True).start()
            reporter = _Tee(ConsoleReporter(), StoreReporter(store, rid, epochs=cfg.epochs, flags=flags))
            res = train(cfg, out_dir=out, reporter=reporter)
            store.log_summary(rid, summary_from_result(res))
            if "model" in register_artifacts(store, rid, out):
                status, error = "succeeded", None
            else:
                error = (f"training finished but the model file {out / 'model.keras'} is missing or incomplete "
                         "(disk full?); metrics and predictions were kept")
                raised = OutputError(error)
        except Cancelled as e:
            raised = e
            if flags.interrupt and not flags.cancel:
                status, error = "interrupted", "interrupted: the training process was asked to stop (SIGTERM)"
            else:
                status, error = "cancelled", "cancelled with Ctrl-C" if ctrl_c else (str(e) or "cancelled by the user")
        except KeyboardInterrupt as e:
            raised, status, error = e, "cancelled", "cancelled with Ctrl-C"
        except BaseException as e:  # noqa: BLE001 - recorded as the failure, then passed on
            raised, status = e, "failed"
            error = describe_os_error(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
            if out is not None:
                try:
                    check_writable_dir(out)
                    _write_text(out / "traceback.txt", "".join(traceback.format_exception(e)))
                    store.add_artifact(rid, "traceback", out / "traceback.txt")
                except Exception:  # noqa: BLE001 - e.g. the disk is full: the error is in the store anyway
                    pass
        finally:
            stop.set()
            if main_thread and old_int is not None:
                signal.signal(signal.SIGINT, old_int)
            flags.restore(saved)
        if status != "succeeded" and out is not None:
            try:  # keep what was written (history, complete files), as the job worker does
                register_artifacts(store, rid, out)
            except Exception:  # noqa: BLE001
                pass
    finally:
        store.set_status(rid, status, error)  # never left "running", whatever happened above
    print(f"Run {rid}: {status}", file=sys.stderr)
    if raised is not None:
        raise raised
    _print_train_result(res)
    print(f"Recorded as run {rid}: python -m core runs show {rid}")
    return 0


def cmd_evaluate(args) -> int:
    from core.serving.trained_model import evaluate_saved

    ev = evaluate_saved(args.model, batch_size=args.batch_size, n_bootstrap=args.bootstrap)
    pred = ev.pop("predictions")
    print(f"Test split: {len(pred)} images, {len(ev.get('class_names', []))} classes")
    _print_summary(ev["summary"])
    per = ev.get("per_class")
    if per:
        import pandas as pd

        df = pd.DataFrame(per)
        cols = [c for c in ("class", "class_name", "precision", "recall", "sensitivity", "specificity", "f1", "support")
                if c in df]
        print("\nPer class:")
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.json:
        _write_text(args.json, json.dumps(ev, indent=2, default=str))
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from core.data.images import load_image
    from core.serving.inference import image_warnings
    from core.serving.trained_model import load_trained

    tm = load_trained(args.model)
    names = tm.class_names
    results = []
    for src in args.images:
        img = load_image(Path(src))
        for n in img.notices:
            print(f"note ({src}): {n}", file=sys.stderr)
        for w in image_warnings(img, tm.meta):  # the Predict page's warnings, word for word
            print(f"warning ({src}): {w}", file=sys.stderr)
        probs = tm.predict(img.array[None], calibrated=True)[0]  # as the Predict page: temperature-scaled when fitted
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
        _write_text(args.json, json.dumps(res.to_dict(), indent=2))
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
    df = run_search(cfg, space, args.trials, args.search_seed, out_dir=out, reporter=ConsoleReporter())
    import pandas as pd

    with pd.option_context("display.max_columns", 50, "display.width", 200):
        print(df.drop(columns=[c for c in ("out_dir",) if c in df]).to_string(index=False))
    print(f"\nResults: {out / 'search.csv'}")
    return 0


def cmd_list_models(args) -> int:
    from core.models import list_models, model_info

    for name in list_models(filter=args.filter, family=args.family):
        info = model_info(name)
        print(f"{name:<26} {info.get('family', ''):<9} {info.get('title', '')}")
    return 0


def cmd_list_datasets(args) -> int:
    from core.datasets import list_datasets

    for info in list_datasets():
        print(f"{info.name:<15} {info.availability:<15} {info.title}")
        if args.verbose:
            print(f"{'':<15} {info.how_to}")
    return 0


def cmd_import_dataset(args) -> int:
    from core.datasets import import_keras_dataset

    out = import_keras_dataset(args.name, args.source, keras_home_dir=args.keras_home)
    print(f"Imported {args.name} into {out}")
    return 0


def _when(dt) -> str:
    if dt is None:
        return ""
    return dt.astimezone().strftime("%Y-%m-%d %H:%M")


def _dur(s) -> str:
    from core.training.reporters import _fmt_s

    return "" if s is None else _fmt_s(float(s))


def cmd_runs_list(args) -> int:
    from core.store import STATUSES

    for st in args.status or []:
        if st not in STATUSES:
            raise ValidationError(f"--status must be one of {', '.join(STATUSES)}. Got {st!r} instead.")
    store = open_store()
    try:
        runs, total = store.list_runs(status=args.status or None, dataset=args.dataset or None,
                                      model=args.model or None, kind=args.kind or None, tag=args.tag,
                                      text=args.text, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps([_run_json(r) for r in runs], indent=2))
        return 0
    if not runs:
        print("No runs match." if total == 0 and (args.status or args.dataset or args.model or args.kind or args.tag or args.text)
              else "No runs in the store yet (python -m core train ... records one).")
        return 0
    rows = [{
        "id": str(r.id), "status": r.status, "kind": r.kind, "name": r.name, "dataset": r.dataset or "",
        "model": r.model or "",
        "accuracy": f"{r.summary['accuracy']:.4f}" if isinstance(r.summary.get("accuracy"), float) else "",
        "macro_f1": f"{r.summary['macro_f1']:.4f}" if isinstance(r.summary.get("macro_f1"), float) else "",
        "created": _when(r.created_at), "duration": _dur(r.duration_s),
    } for r in runs]
    cols = list(rows[0])
    clip = {"name": 40, "model": 24}
    for row in rows:
        for k, n in clip.items():
            if len(row[k]) > n:
                row[k] = row[k][: n - 1] + "…"
    width = {c: max(len(c), *(len(row[c]) for row in rows)) for c in cols}
    right = {"id", "accuracy", "macro_f1", "duration"}
    fmt = lambda vals: "  ".join(v.rjust(width[c]) if c in right else v.ljust(width[c]) for c, v in zip(cols, vals))
    print(fmt(cols).rstrip())
    for row in rows:
        print(fmt([row[c] for c in cols]).rstrip())
    if total > len(runs):
        print(f"({len(runs)} of {total} runs shown; --limit N shows more)")
    return 0


def _run_json(r) -> dict:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(r), default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o)))


def cmd_runs_show(args) -> int:
    store = open_store()
    try:
        r = store.get_run(args.id)
    finally:
        store.close()
    if args.json:
        d = _run_json(r)
        for a in d.get("artifacts", []):
            a["exists"] = Path(a["path"]).exists()
        print(json.dumps(d, indent=2))
        return 0
    print(f"Run {r.id}: {r.name}")
    fields = [("status", r.status), ("kind", r.kind), ("dataset", r.dataset), ("model", r.model), ("seed", r.seed),
              ("created", _when(r.created_at)), ("started", _when(r.started_at)), ("finished", _when(r.finished_at)),
              ("duration", _dur(r.duration_s)), ("progress", f"{r.progress:.0%}" if r.status == "running" else None),
              ("worker", f"pid {r.pid} on {r.host}" if r.pid else None), ("parent", r.parent_id),
              ("children", ", ".join(map(str, r.children)) if r.children else None),
              ("tags", ", ".join(f"{k}={v}" if v else k for k, v in r.tags.items()) if r.tags else None),
              ("notes", r.notes), ("error", r.error)]
    for k, v in fields:
        if v not in (None, ""):
            text = str(v).replace("\n", "\n" + " " * 12)
            print(f"  {k:<9} {text}")
    if r.summary:
        print("Summary:")
        w = max(len(k) for k in r.summary)
        for k in sorted(r.summary):
            print(f"  {k:<{w}}  {r.summary[k]:.6g}")
    if r.artifacts:
        print("Artifacts:")
        for a in r.artifacts:
            size = f"{a.bytes:,} B" if a.bytes is not None else ""
            print(f"  {a.kind:<12} {a.path}  {size}{'' if a.exists else '  (missing)'}")
    if r.metric_keys:
        print("Metrics logged: " + ", ".join(r.metric_keys))
    print("Config:")
    print("  " + json.dumps(r.config, indent=2, sort_keys=True).replace("\n", "\n  "))
    return 0


def _champion_line(e) -> str:
    until = f" until {_when(e.cleared_at)} ({e.cleared_reason or 'cleared'}" + \
        (f" by {e.cleared_by})" if e.cleared_by else ")") if e.cleared_at else " (current)"
    run = f"run {e.run_id}" if e.run_id is not None else f"run {e.run_ref} (deleted)"
    note = f" -- {e.note}" if e.note else ""
    return f"{run} {e.run_name!r}: from {_when(e.set_at)} by {e.set_by or '?'}{until}{note}"


def cmd_runs_champion(args) -> int:
    """Show, set or clear the champion of a dataset (the run to use for it)."""
    if args.clear and args.run is not None:
        raise ValidationError("Give a RUN to make champion, or --clear to clear the champion; not both.")
    store = open_store()
    try:
        if args.clear:
            ended = store.clear_champion(args.dataset, by=args.by)
            print(f"{args.dataset} has no champion now" + (f" (was {_champion_line(ended)})." if ended else
                                                            " (it had none)."))
        elif args.run is not None:
            e = store.set_champion(args.dataset, args.run, by=args.by, note=args.note)
            print(f"Champion of {args.dataset}: {_champion_line(e)}")
        history = store.champion_history(args.dataset)
    finally:
        store.close()
    if args.json:
        print(json.dumps([_run_json(e) for e in history], indent=2))
        return 0
    if args.run is None and not args.clear:
        current = next((e for e in history if e.is_current), None)
        print(f"Champion of {args.dataset}: " + (_champion_line(current) if current else "none"))
    if history:
        print("History (newest first):")
        for e in history:
            print(f"  {_champion_line(e)}")
    return 0


def cmd_runs_export(args) -> int:
    """Write a run bundle (``Store.export_run``) that ``runs import`` reads in another lab."""
    import time

    if not str(args.out).lower().endswith(".zip"):
        raise ValidationError(f"--out must be a .zip file name (a run bundle). Got {args.out!r} instead.")
    store = open_store()
    try:
        t0 = time.perf_counter()
        out = store.export_run(args.id, args.out)
    finally:
        store.close()
    print(f"Run {args.id} exported to {out} ({out.stat().st_size:,} bytes, {time.perf_counter() - t0:.1f}s)")
    return 0


def cmd_runs_import(args) -> int:
    """Import a run bundle (``core.serving.bundle``): a new run id here; exit 2 with the reason when refused."""
    from core.serving.bundle import import_bundle

    store = open_store()
    try:
        res = import_bundle(store, args.bundle)
    finally:
        store.close()
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print(f"Imported {args.bundle} as run {res.run_id} {res.name!r} (from {res.source}); "
          f"{len(res.files)} files, {res.bytes:,} bytes, {res.seconds:.1f}s"
          + ("; model loaded with safe_mode on" if res.model_checked else "; no model in the bundle"))
    return 0


def _add_runs_bundle_commands(runs_sub) -> None:
    q = runs_sub.add_parser("champion", help="show, set or clear the champion run of a dataset")
    q.add_argument("dataset", help="dataset name, e.g. digits")
    q.add_argument("run", type=int, nargs="?", help="make this run the champion (a succeeded run of the dataset)")
    q.add_argument("--clear", action="store_true", help="the dataset has no champion from now on (history kept)")
    q.add_argument("--note", help="why this run (kept in the history)")
    q.add_argument("--by", help="who sets it (default: LAB_USER, else the login name)")
    q.add_argument("--json", action="store_true", help="print the history as JSON")
    q.set_defaults(fn=cmd_runs_champion)
    q = runs_sub.add_parser("export", help="write a run bundle (zip) that another lab can import")
    q.add_argument("id", type=int)
    q.add_argument("--out", required=True, help="BUNDLE.zip")
    q.set_defaults(fn=cmd_runs_export)
    q = runs_sub.add_parser("import", help="import a run bundle (zip) as a new run of this lab")
    q.add_argument("bundle", help="BUNDLE.zip made by 'runs export' or the Run page")
    q.add_argument("--json", action="store_true", help="print the result as JSON")
    q.set_defaults(fn=cmd_runs_import)


def _add_module_commands(sub) -> None:
    """Commands whose code lives with their subject: each module registers its own (``add_cli``)."""
    from core.analysis.audit import add_cli as add_audit_cli  # audit DATASET: label audit (K-fold + cleanlab)
    from core.analysis.model_card import add_cli as add_model_card_cli  # model-card RUN --out card.html: a run's model card
    from core.analysis.paired import add_cli as add_compare_cli  # compare RUN_A RUN_B: paired tests
    from core.analysis.slices import add_cli as add_slices_cli  # slices RUN: metrics per subgroup
    from core.cli.recipes import add_cli as add_recipe_cli  # recipe NAME --budget quick|full: the reports' experiments
    from core.jobs.manager import add_cli as add_jobs_cli  # jobs serve / jobs status
    from core.serving.export import add_cli as add_export_cli  # export RUN --format onnx|tflite: verified ONNX / LiteRT file

    for add in (add_jobs_cli, add_compare_cli, add_slices_cli, add_recipe_cli, add_model_card_cli, add_audit_cli,
                add_export_cli):
        add(sub)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m core", description="Image-classification lab: train, evaluate, predict.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a TrainConfig (file and/or flags)")
    _config_args(p)
    p.add_argument("--out", help="run folder (default: LAB_MODELS_DIR/<time>-<name>)")
    p.add_argument("--save-config", help="also write the resolved config JSON here")
    p.add_argument("--record", action=argparse.BooleanOptionalAction, default=True,
                   help="record the run in the run store (LAB_DATABASE_URL) so it appears on the dashboard "
                        "(default); --no-record only writes the run folder")
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

    p = sub.add_parser("runs", help="runs in the run store: list, show, champion, export, import")
    runs_sub = p.add_subparsers(dest="runs_command", required=True)
    q = runs_sub.add_parser("list", help="a table of runs, newest first")
    q.add_argument("--status", action="append", metavar="STATUS",
                   help="queued, running, succeeded, failed, cancelled or interrupted (repeatable)")
    q.add_argument("--dataset", action="append", help="dataset name (repeatable)")
    q.add_argument("--model", action="append", help="model name (repeatable)")
    from core.store.schema import KINDS

    q.add_argument("--kind", action="append", help="one of " + ", ".join(KINDS) + " (repeatable)")
    q.add_argument("--tag", help="KEY or KEY=VALUE, e.g. source=cli")
    q.add_argument("--text", help="search names, datasets, models, notes and tags")
    q.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(fn=cmd_runs_list)
    q = runs_sub.add_parser("show", help="everything about one run")
    q.add_argument("id", type=int)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(fn=cmd_runs_show)
    _add_runs_bundle_commands(runs_sub)

    _add_module_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    from core.training.reporters import Cancelled

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
    except BrokenPipeError:  # `... | head`: the reader left; say so once, without a traceback
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        print("error: the output was closed early (broken pipe)", file=sys.stderr)
        return 2
    except OSError as e:  # permissions, full disk, missing folder, file-size limit: the user can fix it
        from core.files import describe_os_error

        print(f"\nerror: {describe_os_error(e, action='access')}", file=sys.stderr)
        return 2

