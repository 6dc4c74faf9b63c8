"""``compare-report``: the Compare page's comparison of 2+ stored runs as one self-contained HTML file
(core.analysis.report; plotly.js inlined, so it reads offline)."""
from __future__ import annotations


def cmd_compare_report(args) -> int:
    from core.analysis.report import write_compare_report
    from core.cli.common import open_store, operator_may

    store = open_store()
    try:
        operator_may(store, "share_report", *args.runs)
        pair = tuple(args.pair) if args.pair else None
        out = write_compare_report(store, args.runs, args.out, title=args.title or "", note=args.note or "",
                                   pair=pair, n_bootstrap=args.bootstrap)
    finally:
        store.close()
    print(f"wrote {out}")
    return 0


def add_cli(sub) -> None:
    """The ``compare-report`` subcommand of ``python -m core``."""
    p = sub.add_parser("compare-report", help="write a comparison of 2+ runs as one self-contained HTML file "
                                              "(curves, metrics with intervals, paired test, confusion matrices, "
                                              "config differences); exit 2 for fewer than two runs or an unknown one")
    p.add_argument("runs", type=int, nargs="+", help="ids of the runs to compare (two or more)")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--title", help="the report's title (default: 'Comparison of N runs')")
    p.add_argument("--note", help="a note shown under the title")
    p.add_argument("--pair", type=int, nargs=2, metavar=("A", "B"),
                   help="the two runs of the paired comparison (default: the first two)")
    p.add_argument("--bootstrap", type=int, default=1000, help="paired bootstrap resamples (default 1000)")
    p.set_defaults(fn=cmd_compare_report)
