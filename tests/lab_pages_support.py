"""Helpers shared by the page tests (AppTest), the upload tests, the browser test and the
page benchmark: real finished runs made by the real worker, wait-for-condition, and the
bad/odd upload files (generated in memory, cheaply)."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

# a quick, real digits run (a few seconds of training on a CPU)
QUICK_CONFIG = {
    "dataset": {"name": "digits", "params": {"max_per_class": 100}},
    "model": "small_cnn",
    "epochs": 2,
    "batch_size": 64,
}


def lab_environ(root: Path) -> dict[str, str]:
    return {"LAB_DATABASE_URL": f"sqlite:///{root / 'runs.db'}", "LAB_MODELS_DIR": str(root / "trained_models")}


def make_finished_runs(root: Path, configs: list[dict], *, timeout: float = 300, in_process: bool = True) -> list[int]:
    """Queue runs in the store at ``root`` and train them with the real worker code: in this
    process (``core.jobs.worker.run``, one after the other) or as ``python -m core.worker <id>``
    processes in parallel. Returns their ids; raises if one fails."""
    env = {**os.environ, **lab_environ(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    old = {k: os.environ.get(k) for k in ("LAB_DATABASE_URL", "LAB_MODELS_DIR")}
    os.environ.update(lab_environ(root))
    try:
        from core.store import Store

        store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
        ids = []
        for i, cfg in enumerate(configs):
            cfg = {**QUICK_CONFIG, **cfg}
            ids.append(store.create_run(cfg, name=cfg.get("name") or f"test run {i + 1}",
                                        dataset=cfg["dataset"]["name"], model=cfg["model"], seed=cfg.get("seed", 0)))
        if in_process:  # the worker's own code path, in this process (saves a TensorFlow start per run)
            import signal

            from core.jobs import worker

            saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
            try:
                for rid in ids:
                    rc = worker.run(rid)
                    if rc:
                        raise RuntimeError(f"worker.run({rid}) returned {rc}")
            finally:
                for s, h in saved.items():
                    signal.signal(s, h)
        else:
            procs = [subprocess.Popen([sys.executable, "-m", "core.worker", str(rid)], cwd=PROJECT_ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for rid in ids]
            for p in procs:
                out, _ = p.communicate(timeout=timeout)
                if p.returncode:
                    raise RuntimeError(f"worker exited {p.returncode}:\n{out.decode(errors='replace')[-3000:]}")
        for rid in ids:
            r = store.get_run(rid)
            if r.status != "succeeded":
                raise RuntimeError(f"run {rid} ended {r.status}: {r.error}")
        store.close()
        return ids
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for(cond: Callable[[], object], *, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll ``cond`` until it returns a truthy value; fail with ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------ images for uploads
def png(arr: np.ndarray, **kw) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **kw)
    return buf.getvalue()


def digit_png(index: int = 0, size: int = 64) -> tuple[bytes, int]:
    """A real digits image (upscaled, as a user would upload it) and its label."""
    from sklearn.datasets import load_digits

    d = load_digits()
    img = (d.images[index] / 16.0 * 255).astype(np.uint8)
    f = size // img.shape[0]
    img = np.kron(img, np.ones((f, f), dtype=np.uint8))
    return png(img), int(d.target[index])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(side: int = 30000) -> bytes:
    """A valid-header PNG claiming side x side pixels with a tiny compressed body (a
    decompression bomb in shape; only a few KB on disk)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grayscale
    row = b"\x00" + b"\x00" * side
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(64)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def bad_uploads() -> dict[str, tuple[str, bytes]]:
    """name -> (filename, bytes) for every odd upload the Predict page must survive."""
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    cmyk = io.BytesIO()
    Image.fromarray(photo).convert("CMYK").save(cmyk, format="JPEG")
    png16 = io.BytesIO()
    Image.fromarray((rng.integers(0, 65535, (64, 64))).astype(np.uint16)).save(png16, format="PNG")
    rgba = np.dstack([photo[:64, :64], np.full((64, 64), 128, np.uint8)])
    exif_img = Image.fromarray(np.zeros((40, 80, 3), np.uint8) + np.array([200, 30, 30], np.uint8))
    exif = exif_img.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    exif_buf = io.BytesIO()
    exif_img.save(exif_buf, format="JPEG", exif=exif.tobytes())
    gif = io.BytesIO()
    frames = [Image.fromarray(np.full((32, 32), v, np.uint8)).convert("P") for v in (0, 128, 255)]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    huge = io.BytesIO()
    Image.fromarray(np.kron(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8),
                            np.ones((100, 100, 1), np.uint8))).save(huge, format="JPEG", quality=70)  # 8000x6000
    return {
        "zero_byte": ("empty.jpg", b""),
        "truncated_jpeg": ("truncated.jpg", jpeg[: len(jpeg) // 3]),
        "text_as_jpg": ("notes.jpg", b"this is a text file, not an image\n" * 20),
        "decompression_bomb": ("bomb.png", bomb_png()),
        "cmyk_jpeg": ("cmyk.jpg", cmyk.getvalue()),
        "png_16bit": ("deep.png", png16.getvalue()),
        "png_alpha": ("alpha.png", png(rgba)),
        "grayscale": ("gray.png", png(photo[:, :, 0])),
        "exif_rotated": ("rotated.jpg", exif_buf.getvalue()),
        "animated_gif": ("anim.gif", gif.getvalue()),
        "huge_photo": ("huge.jpg", huge.getvalue()),
    }


# the outcome each upload must have: "error" (refused with a message) or "ok" (shown)
EXPECTED = {
    "zero_byte": "error", "truncated_jpeg": "error", "text_as_jpg": "error", "decompression_bomb": "error",
    "cmyk_jpeg": "ok", "png_16bit": "ok", "png_alpha": "ok", "grayscale": "ok", "exif_rotated": "ok",
    "animated_gif": "ok", "huge_photo": "ok",
}


_SHARED: dict = {}


def shared_trained_store() -> dict:
    """One store with two real finished digits runs per test process (shared by the page and
    upload tests; removed at exit). Returns {"root", "ids", "env"}."""
    if "root" not in _SHARED:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="lab_pages_"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        ids = make_finished_runs(root, [{"name": "adam run", "optimizer": "adam", "seed": 1},
                                        {"name": "adamax run", "optimizer": "adamax", "seed": 2}])
        _SHARED.update(root=root, ids=ids, env=lab_environ(root))
    return _SHARED


# ---------------------------------------------------------------- AppTest of the app's pages
APP = str(PROJECT_ROOT / "app.py")


def app_at(page: str, query: dict | None = None, *, timeout: float = 180):
    """The app run through app.py (frame, sidebar), then switched to ``pages/<page>.py``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    if query:
        at.query_params.update(query)
    at.run()
    if page != "home":
        at.switch_page(f"pages/{page}.py").run()
    return at


def problems(at) -> list[str]:
    """Exceptions and st.error messages a run of the app showed (a page test asserts none)."""
    return [f"exception: {e.value}" for e in at.exception] + [f"error: {e.value}" for e in at.error]


def page_texts(at) -> str:
    """All the prose a run showed: markdown, notices, captions, titles."""
    parts = []
    for kind in ("markdown", "info", "success", "warning", "caption", "title", "subheader", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def figures(at) -> dict[str, dict]:
    """key of each st.plotly_chart -> its plotly figure (the JSON the page sends)."""
    import json

    out = {}
    for i, el in enumerate(at.get("plotly_chart")):
        key = el.proto.id.rsplit("-", 1)[-1] if el.proto.id else f"chart{i}"
        out[key] = json.loads(el.proto.spec)
    return out


def trace_color(t: dict) -> str | None:
    """The colour of a plotly trace (its line's, else its markers')."""
    return (t.get("line") or {}).get("color") or (t.get("marker") or {}).get("color")


def cache_bytes(function_name: str) -> int:
    """Bytes held by one st.cache_data function in this process (Streamlit's own cache stats,
    grouped per function): unchanged after a visit = a cache hit, grown = a new entry."""
    from streamlit.runtime.caching import get_data_cache_stats_provider

    return sum(s.byte_length for stats in get_data_cache_stats_provider().get_stats().values() for s in stats
               if s.cache_name.rsplit(".", 1)[-1] == function_name)


def env_store():
    """The store the environment names (LAB_DATABASE_URL, LAB_MODELS_DIR), as the pages open it."""
    from core.store import Store

    return Store(os.environ["LAB_DATABASE_URL"], models_dir=os.environ["LAB_MODELS_DIR"])


# ---------------------------------------------------------------- a real server + Chromium
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def require_chromium() -> None:
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium package; scripts/test.sh does)")


class StreamlitServer:
    """The lab (``scripts/serve.py``, i.e. ``streamlit run app.py``) on a free loopback port with the store at ``root`` (log in
    ``root/server.log``). ``start()`` (re)starts it and returns the base URL; ``stop()``; also a
    context manager."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, *, app: str = "app.py",
                 health_timeout: float = 90, code_root: Path = PROJECT_ROOT, poll_s: float = 0.2):
        self.root, self.app, self.health_timeout = Path(root), app, health_timeout
        self.code_root, self.poll_s = Path(code_root), poll_s  # the checkout served (a bench's "before" worktree)
        self.env = env if env is not None else {**os.environ, **lab_environ(self.root), "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc: subprocess.Popen | None = None
        self.base: str | None = None
        self._log = None

    def start(self) -> str:
        self.stop()
        port = free_port()
        self._log = open(self.root / "server.log", "ab")
        # the lab as ./scripts/run_app.sh starts it (scripts/serve.py: `streamlit run app.py` with
        # the first page's imports done at start); any other app with `streamlit run`
        launch = ([sys.executable, "scripts/serve.py"] if self.app == "app.py"
                  else [sys.executable, "-m", "streamlit", "run", self.app])
        self.proc = subprocess.Popen([*launch, "--server.headless", "true",
                                      "--server.port", str(port), "--server.address", "127.0.0.1"],
                                     cwd=self.code_root, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: self.proc.poll() is not None or http_ok(f"{self.base}/_stcore/health"),
                     timeout=self.health_timeout,
                     interval=self.poll_s, what="the Streamlit server health check")
            if self.proc.poll() is not None:
                raise AssertionError(f"streamlit exited: {(self.root / 'server.log').read_text()[-2000:]}")
        except BaseException:
            self.stop()
            raise
        return self.base

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> StreamlitServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
