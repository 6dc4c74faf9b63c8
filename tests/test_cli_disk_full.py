"""A full disk or a file-size limit while ``runs export``, ``runs import``, ``export`` or the Runs
page's import writes: exit 2 (or an error on the page) with one line naming the path and what to
do, never "Cannot access: ..." without a path, a temporary file's name, a traceback or
"Something went wrong". The conditions are real: /dev/full (writes fail with ENOSPC, reached
through a link with the file name the command asks for) and RLIMIT_FSIZE (EFBIG: files may not
grow past the limit), set in a child process, or in this one around a single page action."""
from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT / "tests" / "data" / "legacy_store"
FULL = "No space left on device (ENOSPC). The disk is full"
TOO_LARGE = "File too large (EFBIG). The file is larger than this system allows (see `ulimit -f`)"

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is not available")


@pytest.fixture()
def legacy_env(tmp_path, monkeypatch):
    """A copy of a store with one succeeded digits run (and its ONNX export); the environment points at it."""
    shutil.copytree(LEGACY / "models", tmp_path / "models")
    shutil.copy(LEGACY / "runs.db", tmp_path / "runs.db")
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'runs.db'}")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


def _full_file(folder: Path, name: str) -> Path:
    """``folder/name``: a link to /dev/full, so writing the file asked for fails with ENOSPC."""
    link = folder / name
    link.symlink_to("/dev/full")
    return link


def _limit_file_size(limit: int = 60_000):
    def set_limit() -> None:  # in the child: files may not grow past ``limit`` bytes
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


def _core(*args, preexec_fn=None, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600, preexec_fn=preexec_fn)


def _one_line(err: str) -> str:
    """The error line of a command's stderr (no traceback, nothing but the message)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert ".partial-" not in lines[0] and ".tmp" not in lines[0] and "Cannot access:" not in lines[0], lines[0]
    return lines[0]


def _run_count(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


def test_runs_export_to_a_full_disk_names_the_bundle(legacy_env, capsys):
    from core.cli.main import main

    out = _full_file(legacy_env, "run1.zip")
    assert main(["runs", "export", "1", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"Cannot write the run bundle {str(out)!r}: {FULL}" in line, line
    assert out.is_symlink() and not Path("/dev/full").is_file()  # written to, never replaced


def test_runs_import_over_the_file_size_limit_names_the_models_folder(tmp_path):
    """The bundle's model (340 kB) cannot be written under a 250 kB limit: nothing is imported."""
    env_root = tmp_path / "lab"
    env_root.mkdir()
    env = {"LAB_DATABASE_URL": f"sqlite:///{env_root / 'runs.db'}", "LAB_MODELS_DIR": str(env_root / "models")}
    p = _core("runs", "import", LEGACY / "run1.zip", preexec_fn=_limit_file_size(250_000), env=env)
    assert p.returncode == 2, p.stderr[-3000:]
    line = _one_line(p.stderr)
    models = env_root / "models"
    assert f"Cannot write the imported run to the models folder {str(models)!r}: {TOO_LARGE}" in line, line
    assert line.endswith("Nothing was imported.")
    assert _run_count(env_root / "runs.db") == 0
    assert list(models.iterdir()) == []  # no run folder, no staging folder left


def test_export_over_the_file_size_limit_names_the_export_not_its_temporary_file(legacy_env):
    from core.store import Store

    exports = legacy_env / "models" / "1" / "exports"
    for f in exports.iterdir():
        f.unlink()
    Store().close()  # upgraded to the newest schema first: under the limit, only the export may not grow
    p = _core("export", "1", "--format", "onnx", "--limit", "20", preexec_fn=_limit_file_size())
    assert p.returncode == 2, p.stderr[-3000:]
    line = _one_line(p.stderr)
    assert f"Cannot write the export {str(exports / 'run1_onnx.onnx')!r}: {TOO_LARGE}" in line, line
    assert list(exports.iterdir()) == []  # no partial file


def test_export_copied_to_a_full_disk_names_the_copy_and_keeps_the_export(legacy_env):
    out = _full_file(legacy_env, "run1.onnx")
    p = _core("export", "1", "--format", "onnx", "--limit", "20", "--out", out)
    assert p.returncode == 2, p.stderr[-3000:]
    line = _one_line(p.stderr)
    kept = legacy_env / "models" / "1" / "exports" / "run1_onnx.onnx"
    assert f"Cannot copy the export to {str(out)!r}: {FULL}" in line, line
    assert f"The verified export is kept in the run's folder: {str(kept)!r}" in line
    assert kept.is_file() and Path(str(kept) + ".json").is_file()


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """RLIMIT_FSIZE in this process for one action (Python ignores SIGXFSZ: writes fail with EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_runs_page_import_over_the_file_size_limit_shows_one_line(lab_env):
    from lab_pages_support import app_at

    at = app_at("runs")
    at.session_state["r_import"] = True
    at.run()
    at.file_uploader(key="r_import_file").set_value(("run1.zip", (LEGACY / "run1.zip").read_bytes(),
                                                     "application/zip")).run()
    with _file_size_limit(250_000):
        at.button(key="r_import_go").click().run()
    assert [e.value for e in at.exception] == []
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "Something went wrong" not in errors[0], errors
    text = errors[0].replace("\\", "")  # the page escapes Markdown characters
    assert "Cannot write the imported run to the models folder" in text and "File too large (EFBIG)" in text, text
    assert str(lab_env / "trained_models") in text and "Nothing was imported." in text
    assert _run_count(lab_env / "runs.db") == 0
