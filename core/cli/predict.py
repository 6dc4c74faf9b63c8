"""``predict PATH... (--run N | --model FOLDER)``: every image below files and folders, streamed in
batches (core.serving.batch); a CSV with ``--out``, else plain text or JSON on stdout."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

PREDICT_EXIT_STATUS = ("Every image gets its own result, or its own error line (an unreadable, truncated or too "
                       "large file) and the others are still predicted. Exit status: 0 when every image was "
                       "predicted, 2 when any image could not be read (or the model could not be loaded).")


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _model_path(args) -> str:
    """The run folder of ``--run N`` (a succeeded run the operator may predict with) or ``--model``."""
    if args.model:
        return args.model
    from core.cli.common import open_store, operator_may
    from core.store.artifacts import RunFolder
    from core.validation import ValidationError

    store = open_store()
    try:
        operator_may(store, "predict", args.run)
        run = store.get_run(int(args.run))  # NotFoundError for an unknown run
        if run.status != "succeeded":
            raise ValidationError(f"Run {run.id} has status {run.status}: only a succeeded run (with a saved model) "
                                  "can predict.")
        return str(RunFolder.of(run, store).path)
    finally:
        store.close()


def _as_result(row, class_names: list[str], top_k: int) -> dict:
    for n in row.notices:
        _err(f"note ({row.file}): {n}")
    for w in row.warnings:  # the Predict page's warnings, word for word
        _err(f"warning ({row.file}): {w}")
    if row.error:
        return {"image": row.file, "error": row.error}
    return {"image": row.file, "top": row.top(class_names, top_k), "error": None}


def _write_atomic(path: str, write) -> None:
    """``write(tmp)`` then moved to ``path``: the CSV is complete or absent (core.files.atomic_write)."""
    from core.files import OutputError, atomic_write, describe_os_error

    try:
        atomic_write(path, write)
    except OSError as e:
        raise OutputError(describe_os_error(e, path)) from e


def _print_plain(result: dict) -> None:
    print(f"{result['image']}:")
    if result["error"]:
        print(f"  error: {result['error']}")
    for t in result.get("top", []):
        print(f"  {t['class']:<20} {t['probability']:.4f}")


def _stream(tm, rows, args, progress) -> list[str]:
    """Write each row (CSV to ``args.out`` atomically, else plain/JSON to stdout); the failed files."""
    from core.serving.batch import csv_header, csv_row

    names, failed = tm.class_names, []
    if args.out:
        def write(path: Path) -> None:
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(csv_header(names))
                for row in rows:
                    w.writerow(csv_row(row, names))
                    failed.extend([row.file] if row.error else [])
                    progress.step()

        _write_atomic(args.out, write)
        return failed
    results = []
    for row in rows:
        result = _as_result(row, names, args.top_k)
        failed.extend([row.file] if row.error else [])
        progress.step()
        if args.json:
            results.append(result)
        else:
            _print_plain(result)
    if args.json:
        print(json.dumps(results, indent=2))
    return failed


def cmd_predict(args) -> int:
    """Each image gets its result or its own error line; exit 2 when any image could not be read."""
    from core.serving.batch import Progress, choose_runtime, collect_images, predict_files
    from core.serving.trained_model import load_trained

    tm = load_trained(_model_path(args))
    found = collect_images(args.images)
    runtime = choose_runtime(tm, args.runtime)
    if found.skipped:
        _err(f"skipped {found.skipped} file(s) that are not images (the lab reads .jpg, .jpeg, .png, .bmp, .tif, "
             ".tiff, .webp, .gif)")
    t = tm.temperature
    _err(f"predicting {len(found.files)} image(s) with {runtime.describe}, batch size {args.batch_size}; "
         + (f"probabilities calibrated (temperature {t:.2f})" if t is not None else "probabilities uncalibrated "
            "(the run has no temperature scaling)"))
    progress = Progress(len(found.files), _err)
    rows = predict_files(tm, found.files, runtime=runtime, batch_size=args.batch_size)
    failed = _stream(tm, rows, args, progress)
    _err(f"done: {progress.summary()} with {runtime.name}" + (f"; wrote {args.out}" if args.out else ""))
    if tm.meta.get("domain") in ("lesion", "fundus"):
        _err("note: research use only; not a medical device, not a diagnosis.")
    if failed:
        shown = ", ".join(failed[:20]) + (f", ... ({len(failed) - 20} more)" if len(failed) > 20 else "")
        _err(f"error: {len(failed)} of {len(found.files)} images could not be read: {shown}")
        return 2
    return 0


def add_predict(sub) -> None:
    """The ``predict`` subcommand of ``python -m core``."""
    p = sub.add_parser("predict", help="predict image files and folders (streamed in batches; CSV with --out)",
                       epilog=PREDICT_EXIT_STATUS)
    p.add_argument("images", nargs="+", metavar="PATH",
                   help="image files and folders (searched below for .jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp, "
                        ".gif; other files there are skipped and counted)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=int, help="a succeeded run of the run store (LAB_DATABASE_URL)")
    src.add_argument("--model", help="run folder or model.keras path")
    p.add_argument("--out", help="write a CSV here (one row per file: top class, calibrated probabilities, "
                                 "low-confidence mark, warnings, error), complete or not at all")
    p.add_argument("--batch-size", type=_positive, default=64, help="images per model call (default 64)")
    p.add_argument("--runtime", choices=["auto", "keras", "onnx"], default="auto",
                   help="auto (default): ONNX Runtime when the run has a verified ONNX export, else Keras")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per image without --out")
    p.add_argument("--json", action="store_true", help="print JSON (without --out)")
    p.set_defaults(fn=cmd_predict)


def _positive(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return n
