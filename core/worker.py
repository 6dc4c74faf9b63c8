"""``python -m core.worker <run_id>``: the worker's stable command line (the code is core.jobs.worker).

Supervisors start workers with this module name, and find live ones by it on a process's
command line (core.jobs.executors.local); Ray clusters started by an earlier version call it
too. Keep the name when the worker moves. ``python -m core.worker --standby <supervisor id>`` is a
standby worker of the local executor (core.jobs.warm_worker), waiting on stdin for its run.
"""
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--standby":
        from core.jobs.warm_worker import serve

        return serve(argv[1])
    from core.jobs.worker import main as run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
