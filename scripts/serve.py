"""Start the lab's Streamlit server with the imports every page needs done before the first visitor.

    python scripts/serve.py [streamlit run options, e.g. --server.port 8502]

The same as ``streamlit run app.py`` (which keeps working), but the modules that the first
script run of every page imports (pandas, numpy, SQLAlchemy, the store and the job queue) are
imported, and the store opened once (its migration check), at server start, as gunicorn's
``--preload`` does: otherwise the first visitor after a (re)start waits for them (0.6-0.9 s of
a cold deep link on 2 shared cores, bench/README.md). The dashboard's job supervisor starts here
too (``start_supervisor``): queued runs start after a restart without anyone opening a page.
The heavier modules of some pages (plotly, scikit-learn, TensorFlow) stay with the app's
background warm-up (``pages/_warm_up.py``), which runs once the server is quiet.

Before anything else the sign-in configuration is checked (``check_sign_in``): an ``[auth]``
section that cannot be safe stops the start with a message saying what to set, and a lab
without sign-in listens on 127.0.0.1 unless another address is chosen (docs/AUTH.md).

Streamlit is not imported by ``core``; this launcher imports ``core`` modules, libraries,
``pages._streamlit_internals`` and ``pages._auth_config`` (which declare no Streamlit cache and
import no other page module), never the other ``pages`` modules (a Streamlit cache declared before the runtime exists
would not be the runtime's)."""
from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what app.py's first script run of any page imports beyond Streamlit itself (every page's, not
# only the first page's: the first visit after a start may be a deep link to any page);
# tests/pages/test_first_view.py checks that no page's first script run imports a lab module or
# the libraries they stand on (TensorFlow, plotly and what a page imports on a click excepted)
PRELOAD = ("numpy", "pandas", "sqlalchemy", "core.config", "core.validation", "core.store", "core.jobs.manager",
           "core.datasets", "core.datasets.eda", "core.datasets.io", "core.datasets.flagged", "core.text",
           "core.auth.actors", "core.auth.guard", "core.auth.flag_guard", "getpass",
           "core.training.config", "core.training.engine", "core.training.cached_features",
           "core.training.reporters", "core.models.zoo", "core.data.preprocess", "core.data.augment",
           "core.data.images", "core.metrics.bootstrap", "core.analysis.verdicts", "core.analysis.comparison",
           "core.serving.batch", "core.serving.inference", "core.recipes.catalog", "core.recipes.runs",
           "core.recipes.estimate", "statistics",
           # the embedded default dataset (scikit-learn's digits), which the Augmentation studio's
           # first view loads: 0.7 s of imports before its image could be drawn; and the images it shows
           "sklearn.datasets", "PIL.Image", "PIL.ImageOps", "PIL.ImageMath",
           "PIL.BmpImagePlugin", "PIL.GifImagePlugin", "PIL.JpegImagePlugin", "PIL.PngImagePlugin", "PIL.PpmImagePlugin",
           # Streamlit's own, imported by the first session or the first element of its kind
           "streamlit.material_icon_names", "streamlit.web.skills", "streamlit.dataframe.lazy_df_adapters",
           "pyarrow.pandas_compat", "pyarrow.vendored.version")


def preload(modules=PRELOAD) -> None:
    """Import ``modules`` (one that fails is left to the page that needs it)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - the page imports it again and shows the error
            logging.getLogger("lab.serve").warning("preload: %s not imported (%s)", name, err)


def open_store_once() -> None:
    """Open (and close) the configured store: its lazily imported parts and the migration check
    (a new runs.db is created and brought to the current schema) happen before the first visit.
    A store that cannot be opened is left to the pages, which say what is wrong."""
    try:
        from core.config import get_settings
        from core.store.repository import Store

        s = get_settings()
        Store(s.database_url, models_dir=str(s.models_dir)).close()
    except Exception as err:  # noqa: BLE001 - the dashboard shows the store's problem itself
        logging.getLogger("lab.serve").warning("the store could not be opened at start: %s", err)


def start_supervisor():
    """Start the dashboard's job supervisor with the server, so that runs queued while it was down
    start without waiting for a first page view (``streamlit run app.py`` has no start-up hook: there
    it starts with the first session). It is the process's one dashboard manager
    (``core.jobs.manager.dashboard_manager``), which the pages get too: never two. Nothing is
    started with ``LAB_DASHBOARD_SUPERVISOR=0``; a store that cannot be opened is left to the pages.
    At exit the lease ends and running trainings go on (the next supervisor adopts them)."""
    try:
        from core.config import get_settings
        from core.jobs.manager import dashboard_manager
        from core.jobs.status import dashboard_supervises

        if not dashboard_supervises():
            return None
        s = get_settings()
        jm = dashboard_manager(s.database_url, str(s.models_dir)).start()
    except Exception as err:  # noqa: BLE001 - the pages start it again and show the problem
        logging.getLogger("lab.serve").warning("the job supervisor did not start with the server: %s", err)
        return None
    atexit.register(jm.shutdown, stop_running=False)
    return jm


def server_stack() -> tuple[str, str]:
    """(event loop, HTTP parser) that Streamlit's uvicorn server will use: uvloop and httptools
    when installed (requirements.txt), else asyncio and h11, with which a new visitor's page
    paints 0.1-0.3 s later on 2 shared cores (bench/README.md)."""
    found = []
    for fast, fallback in (("uvloop", "asyncio"), ("httptools", "h11")):
        try:
            importlib.import_module(fast)
            found.append(fast)
        except ImportError:
            found.append(fallback)
    return found[0], found[1]


def _flag_values(argv: list[str], name: str) -> list[str]:
    """The values given to the Streamlit flag ``--name`` (``--name V`` or ``--name=V``, repeatable)."""
    found = []
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith(f"--{name}="):
            found.append(arg.split("=", 1)[1])
    return found


def check_sign_in(argv: list[str]) -> list[str]:
    """Refuse a sign-in configuration that cannot be safe before the server starts, and keep a lab
    without sign-in on loopback unless the address was chosen explicitly. Returns the arguments for
    Streamlit (``--server.address 127.0.0.1`` added when no address is configured); exits with a
    message saying what to set when the ``[auth]`` section of the secrets is unsafe."""
    from streamlit import config

    from pages import _auth_config

    flags = {"secrets.files": _flag_values(argv, "secrets.files") or None,
             "server.address": (_flag_values(argv, "server.address") or [None])[-1]}
    config.get_config_options(force_reparse=True, options_from_flags={k: v for k, v in flags.items() if v})
    try:
        secrets = _auth_config.read_secrets(config.get_option("secrets.files"))
    except ValueError as err:
        raise SystemExit(f"lab: {err}") from None
    address = config.get_option("server.address")
    auth = secrets.get("auth")
    if auth is not None:
        problems = _auth_config.auth_problems(auth if isinstance(auth, dict) else {})
        if problems:
            raise SystemExit("lab: sign-in is configured in a way that cannot be safe; not starting.\n"
                             + "\n".join(f"  - {p}" for p in problems) + "\n(see docs/AUTH.md)")
        print(f"lab: sign-in on, with {', '.join(_auth_config.provider_names(auth))}", file=sys.stderr, flush=True)
        return argv
    if not address:
        return [*argv, "--server.address", "127.0.0.1"]
    if not _auth_config.is_loopback(address):
        print("lab: WARNING: " + _auth_config.exposed_warning(address), file=sys.stderr, flush=True)
    return argv


def main() -> None:
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    args = check_sign_in(sys.argv[1:])
    preload()
    open_store_once()
    start_supervisor()
    from pages._streamlit_internals import leave_legacy_pages_mode

    leave_legacy_pages_mode()  # the first view after the start is one run of app.py, like every later one
    loop, http = server_stack()
    print(f"lab: serving with the {loop} event loop and the {http} HTTP parser", file=sys.stderr, flush=True)
    if (loop, http) != ("uvloop", "httptools"):
        logging.getLogger("lab.serve").warning("uvloop/httptools are not installed (pip install -r requirements.txt): "
                                               "pages will load more slowly")
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *args]
    cli.main()


if __name__ == "__main__":
    main()
