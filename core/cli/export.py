"""``export RUN --format onnx|tflite``: a verified ONNX / LiteRT file of a succeeded run
(the code is core.serving.export; nothing heavy is imported when the parser is built)."""
from __future__ import annotations

import sys
from typing import Any

from core.validation import LabError


def describe(report: dict[str, Any]) -> list[str]:
    """The parity numbers of an export report as lines of text."""
    p = report["parity"]
    goal = "" if p.get("meets_goal") is None else (
        f" (goal < {p['goal_max_abs_diff']:g} with 100 % agreement: {'met' if p['meets_goal'] else 'NOT met'})")
    return [f"verified on the test split ({p['images']} images): max |delta p| {p['max_abs_diff']:.3g}, "
            f"mean |delta p| {p['mean_abs_diff']:.3g}, agreement {p['agreement']:.2%}{goal}",
            f"test accuracy: Keras {p['accuracy_keras']:.4f}, export {p['accuracy_export']:.4f} "
            f"(cost {p['accuracy_cost']:+.4f})"]


def cmd_export(args) -> int:
    from core.cli.common import open_store, operator_may
    from core.serving.export import FORMAT_TITLES, export_run

    try:
        store = open_store()
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        operator_may(store, "export", args.run)
        rep = export_run(store, args.run, args.format, quantize=args.quantize, out=args.out, limit=args.limit)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # one not named by export_run: still the path and what to do
        from core.files import describe_os_error

        print(f"error: {describe_os_error(e, action='write the export')}", file=sys.stderr)
        return 2
    finally:
        store.close()
    q = f" {rep['quantize']}" if rep["quantize"] else ""
    print(f"exported run {args.run} to {FORMAT_TITLES[rep['format']]}{q}: {rep['path']} ({rep['bytes'] / 1e6:.2f} MB)")
    for line in describe(rep):
        print(line)
    if rep.get("out"):
        print(f"copied to {rep['out']} (sidecar {rep['out']}.json)")
    return 0


def add_cli(sub) -> None:
    """The ``export`` subcommand of ``python -m core``."""
    from core.serving.export import QUANTIZATIONS

    p = sub.add_parser("export", help="export a succeeded run to ONNX or LiteRT (TFLite), verified on its test split "
                                      "(parity with Keras printed); exit 2 for user errors")
    p.add_argument("run", type=int, help="run id")
    p.add_argument("--format", required=True, choices=["onnx", "tflite"], help="onnx or tflite (LiteRT)")
    p.add_argument("--quantize", choices=list(QUANTIZATIONS), help="LiteRT only: float16 or int8 (default float32)")
    p.add_argument("--out", help="also copy the file here (a file or folder; its sidecar JSON goes next to it as "
                                 "<file>.json); the export is always kept in the run's exports/ folder")
    p.add_argument("--limit", type=int, help="verify on at most this many test images (default: all)")
    p.set_defaults(fn=cmd_export)
