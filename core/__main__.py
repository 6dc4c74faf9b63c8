"""``python -m core ...``: the lab's command line (core/cli/main.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from core.cli.main import main  # noqa: E402

raise SystemExit(main())
