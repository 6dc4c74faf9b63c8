"""``python -m core.worker <run_id>``: the worker's stable command line (the code is core.jobs.worker).

Supervisors start workers with this module name, and find live ones by it on a process's
command line (core.jobs.executors.local); Ray clusters started by an earlier version call it
too. Keep the name when the worker moves.
"""
import sys

if __name__ == "__main__":
    from core.jobs.worker import main

    sys.exit(main())
