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
    python -m core runs rename|tag|note|share|cancel|delete ID ...   # checked and audited, as the operator
    python -m core users list | set-role EMAIL_OR_ID ROLE | disable EMAIL_OR_ID [--enable]
    python -m core audit-log [--actor X] [--action A] [--denied] [--limit N] [--json]
    python -m core flags list | review ID --accept|--reject|--relabel CLASS | export DATASET | delete ID
    python -m core validate RUN --data DIR [--labels CSV] [--name NAME] [--background]   # external validation

Exit status: 0 success, 2 user error (message on stderr: a bad option, a run store that cannot
be opened, a path that cannot be written -- permissions, full disk, missing folder), 130
cancelled (Ctrl-C). ``train`` records the run in the run store (LAB_DATABASE_URL) like a run
of the dashboard's job queue -- same folder (LAB_MODELS_DIR/<id>), artifacts, per-epoch
metrics, summary and status -- so it appears on Runs and Compare and can be used on Predict;
the store is opened before training, and the run always ends succeeded, failed or cancelled.

This module assembles the parser and maps errors to exit codes; each command group lives in
its own module of core.cli: train (train, evaluate, predict, lr-find, search; recorded
training in recorded), data (list-models, list-datasets, import-dataset), runs, jobs,
analysis (compare, slices, model-card, audit), recipes, export and users (users, audit-log).

The command line acts as the operating-system user, a local operator (``core.cli.common.operator``:
admin unless LAB_OPERATOR_ROLE gives a lesser role); every change goes through
``core.auth.guard.GuardedStore``, checked against the policy and audited. A refusal is an error
(exit 2) saying who may do it.
"""
from __future__ import annotations

import argparse
import os
import sys

from core.cli import analysis, data, export, flags, jobs, recipes, report, runs, train, users
from core.cli import validate as validate_cli
from core.validation import LabError

# The subcommands in the order ``python -m core --help`` lists them.
COMMAND_GROUPS = (train.add_cli, data.add_cli, runs.add_cli, jobs.add_cli, analysis.add_compare_cli,
                  analysis.add_slices_cli, recipes.add_cli, analysis.add_model_card_cli, analysis.add_audit_cli,
                  export.add_cli, report.add_cli, users.add_cli)
COMMAND_GROUPS += (flags.add_cli,)
COMMAND_GROUPS += (validate_cli.add_cli,)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m core", description="Image-classification lab: train, evaluate, predict.")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in COMMAND_GROUPS:
        add(sub)
    return ap


def _broken_pipe() -> int:
    """``... | head``: the reader left; say so once, without a traceback."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass
    print("error: the output was closed early (broken pipe)", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run its command: 0 success, 2 user error, 130 cancelled (Ctrl-C)."""
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
    except BrokenPipeError:
        return _broken_pipe()
    except OSError as e:  # permissions, full disk, missing folder, file-size limit: the user can fix it
        from core.files import describe_os_error

        print(f"\nerror: {describe_os_error(e, action='access')}", file=sys.stderr)
        return 2
