"""``compare``, ``slices``, ``model-card`` and ``audit``: analyses of stored runs and datasets
(the code is core.analysis; pandas is imported when a command runs, not when the parser is built)."""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from core.validation import LabError

if TYPE_CHECKING:
    import pandas as pd


# ------------------------------------------------------------ compare RUN_A RUN_B [--json]
def cmd_compare(args) -> int:
    from core.analysis.paired import METRIC_WORDS, NotComparable, _fmt, compare_runs
    from core.cli.common import open_store, operator_may

    store = open_store()
    try:
        operator_may(store, "view", args.run_a, args.run_b)
        try:
            res = compare_runs(store, args.run_a, args.run_b, n_bootstrap=args.bootstrap, seed=args.seed)
        except NotComparable as e:
            if args.json:
                print(json.dumps({"comparable": False, "reason": str(e), "reasons": e.reasons}, indent=2))
            print(f"not comparable: {e}", file=sys.stderr)
            return 2
    finally:
        store.close()
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    ra, rb = res["run_a"], res["run_b"]
    print(f"A = run {ra['id']} ({ra['name']}), B = run {rb['id']} ({rb['name']}); {res['n']} shared test images, "
          f"{res['n_bootstrap']} paired bootstrap resamples.")
    for s in res["sentences"]:
        print(s)
    print()
    rows = [{"metric": METRIC_WORDS[m], "A": _fmt(v["a"]), "B": _fmt(v["b"]), "B - A": _fmt(v["difference"], True),
             "CI low": _fmt(v["ci"][0], True), "CI high": _fmt(v["ci"][1], True)} for m, v in res["metrics"].items()]
    import pandas as pd

    print(pd.DataFrame(rows).to_string(index=False))
    return 0


def add_compare_cli(sub) -> None:
    """The ``compare`` subcommand of ``python -m core``."""
    p = sub.add_parser("compare", help="paired comparison of two runs on the same test images (McNemar, "
                                       "paired bootstrap); exit 2 when they are not comparable")
    p.add_argument("run_a", type=int, help="id of run A (the baseline)")
    p.add_argument("run_b", type=int, help="id of run B")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=cmd_compare)


# ------------------------------------------------------------ slices RUN [--by COL]
def _text_table(df: pd.DataFrame) -> str:
    import pandas as pd

    def iv(v, lo, hi) -> str:
        if v is None or pd.isna(v):
            return ""
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None and not pd.isna(lo) else f"{v:.3f}"

    acc = [iv(r["accuracy"], r["accuracy low"], r["accuracy high"]) for _, r in df.iterrows()]
    bal = [iv(r["balanced accuracy"], r["balanced low"], r["balanced high"])
           + (f" ({r['balanced note']})" if r["balanced note"] else "") for _, r in df.iterrows()]
    out = pd.DataFrame({"by": df["by"], "slice": df["slice"], "n": df["n"], "accuracy [CI]": acc,
                        "balanced accuracy [CI]": bal, "status": df["status"]})
    return out.to_string(index=False)


def cmd_slices(args) -> int:
    from core.analysis.slices import flagged_sentences, run_slices, slices_frame
    from core.cli.common import open_store, operator_may

    store = open_store()
    try:
        operator_may(store, "view", args.run)
        res = run_slices(store.get_run(args.run), store=store, by=args.by, n_bootstrap=args.bootstrap,
                         max_files=args.max_files)
    finally:
        store.close()
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"Slices of {res['run']['label']} ({res['run']['name']}, {res['run']['dataset']}): {res['n']} test images, "
          f"{round(100 * res['options']['level'])} % bootstrap intervals.")
    for note in res["notices"]:
        print(f"note: {note}", file=sys.stderr)
    print(_text_table(slices_frame(res, per_class=False)))
    for col, why in res["skipped"].items():
        print(f"not sliced by {col}: {why}")
    for line in flagged_sentences(res):
        print(line)
    return 0


def add_slices_cli(sub) -> None:
    """The ``slices`` subcommand of ``python -m core``."""
    from core.analysis.paired import DEFAULT_MAX_FILES
    from core.metrics.bootstrap import INTERVAL_RESAMPLES

    p = sub.add_parser("slices", help="metrics per subgroup of a run's test split (metadata, brightness, size)")
    p.add_argument("run", type=int, help="run id")
    p.add_argument("--by", help="slice by this column only (e.g. sex, age, localization, eye, brightness)")
    p.add_argument("--bootstrap", type=int, default=INTERVAL_RESAMPLES,
                   help=f"bootstrap resamples per slice (default {INTERVAL_RESAMPLES}, as the Run page and model card)")
    p.add_argument("--max-files", type=int, default=DEFAULT_MAX_FILES,
                   help=f"read at most this many image files for brightness/size (default {DEFAULT_MAX_FILES})")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=cmd_slices)


# ------------------------------------------------------------ model-card RUN --out card.html
def cmd_model_card(args) -> int:
    from core.analysis.model_card import write_model_card
    from core.cli.common import open_store, operator_may

    store = open_store()
    try:
        operator_may(store, "share_report", args.run)
        written = write_model_card(store, args.run, args.out, args.markdown, examples=args.examples,
                                   slices=not args.no_slices)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    for kind, p in written.items():
        print(f"wrote the {kind} model card of run {args.run} to {p}")
    return 0


def add_model_card_cli(sub) -> None:
    """The ``model-card`` subcommand of ``python -m core``."""
    p = sub.add_parser("model-card", help="write a succeeded run's model card: a self-contained HTML page "
                                          "(and Markdown); exit 2 for an unknown or unfinished run")
    p.add_argument("run", type=int, help="run id")
    p.add_argument("--out", required=True, help="HTML file to write, e.g. card.html")
    p.add_argument("--markdown", help="also write the card as Markdown to this file")
    p.add_argument("--examples", type=int, default=2,
                   help="right and wrong test images with Grad-CAM, each (default 2; 0 = none)")
    p.add_argument("--no-slices", action="store_true", help="leave out the slices of the test split (faster)")
    p.set_defaults(fn=cmd_model_card)


# ------------------------------------------------------------ audit DATASET: a label audit, run in this process
def _audit_run(args) -> tuple[int, int, object, tuple | None]:
    """Record a label audit run in the store and run it here: (run id, worker exit code, run, (table, summary))."""
    from dataclasses import asdict

    from core.analysis.audit import AuditOptions, load_audit
    from core.cli.common import open_store, operator
    from core.jobs import worker
    from core.jobs.admission import admission, writer
    from core.training.config import TrainConfig

    params = {"max_per_class": args.max_per_class} if args.max_per_class else {}
    cfg = TrainConfig.from_dict({"dataset": {"name": args.dataset, "params": params}, "model": args.model})
    cfg.validate()
    opts = AuditOptions(k=args.k, epochs=args.epochs).validate()
    store = open_store()
    try:
        d = cfg.to_dict()
        actor = operator(store)[0]
        with admission(store, actor, dataset=args.dataset, action="start_audit"):
            rid = writer(store, actor).create_run(d, name=f"label audit: {args.model} on {args.dataset}",
                                                  dataset=args.dataset, model=args.model, seed=cfg.seed, kind="audit")
        store.log_params(rid, {**d, "audit": asdict(opts)})
        rc = worker.run(rid)
        detail = store.get_run(rid)
        got = load_audit(detail) if detail.status == "succeeded" else None
    finally:
        store.close()
    return rid, rc, detail, got


def cmd_audit(args) -> int:
    rid, rc, detail, got = _audit_run(args)
    if got is None:
        print(f"audit run {rid} ended {detail.status}: {detail.error or ''}")
        return rc or 1
    table, summary = got
    print(f"audit run {rid}: {summary['n_images']} images, {summary['n_label_issues']} likely label issues, "
          f"out-of-sample accuracy {summary['oos_accuracy']:.3f}, {summary['n_duplicate_groups']} duplicate groups")
    cols = ["rank", "id", "given_class", "suggested_class", "label_quality"]
    print(table[table["is_label_issue"]].head(args.top)[cols].to_string(index=False))
    return 0


def add_audit_cli(sub) -> None:
    """``python -m core audit DATASET``: a label audit recorded in the run store, run in this process."""
    p = sub.add_parser("audit", help="label audit: K-fold out-of-sample probabilities, cleanlab label issues, "
                                     "outliers and near-duplicates of a dataset")
    p.add_argument("dataset", help="dataset name (python -m core list-datasets)")
    p.add_argument("--k", type=int, default=3, help="folds (default 3)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per fold (default 5)")
    p.add_argument("--model", default="small_cnn", help="model (default small_cnn)")
    p.add_argument("--max-per-class", type=int, default=None, help="at most this many images per class")
    p.add_argument("--top", type=int, default=20, help="label issues to print (default 20)")
    p.set_defaults(fn=cmd_audit)
