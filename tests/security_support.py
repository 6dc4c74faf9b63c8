"""Helpers shared by the tests of user text shown as text: Markdown-laden names, a real store of
runs that carry them, and a check that an app's Markdown holds only their escaped form."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

# Markdown an attacker could put in a run's name (image, link, colour), plus raw HTML, LaTeX, an icon and a bare URL
HOSTILE = ("![t](http://127.0.0.1:9/pixel.png) [phish](https://evil.example/login) :red[RED] "
           "<a href=\"https://evil.example/h\">h</a> $x^2$ :material/home: www.evil.example")
# folder and file names cannot hold "/": links and images without one
HOSTILE_CLASS = "[phish](https:evil.example) :red[RED] **bold**"
HOSTILE_CLASS_2 = "![x](pixel.png) _it_ $y$"
HOSTILE_FILE = "![f](pixel.png) :blue[F] #1"
RAW_FRAGMENTS = ["![t](", "[phish](", "![x](", "![f](", ":red[", ":blue[", "https://evil.example", "http://127.0.0.1:9",
                 "<a href", "$x^2$", ":material/home:", "www.evil.example", "**bold**"]
# a fragment counts when not escaped (not preceded by a backslash)
RAW = re.compile("|".join(r"(?<!\\)" + re.escape(f) for f in RAW_FRAGMENTS))
_HOSTILE: dict = {}


def hostile_store() -> dict:
    """A real store (tmp dir, removed at exit) whose runs, notes, tags, classes and files carry
    Markdown: a finished run named HOSTILE trained on an image folder with hostile class and
    file names, a plain finished run (Compare needs two) and a failed run whose error quotes
    the name (see add_running_run for a running one). Returns {"root", "env", "data", "cfg", "ids"}."""
    if "root" in _HOSTILE:
        return _HOSTILE
    import atexit
    import tempfile

    from sklearn.datasets import load_digits

    from lab_pages_support import lab_environ, make_finished_runs

    root = Path(tempfile.mkdtemp(prefix="lab_security_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    data = root / "data"
    d = load_digits()
    for cls, digit in ((HOSTILE_CLASS, 0), (HOSTILE_CLASS_2, 1)):
        (data / cls).mkdir(parents=True)
        for i, img in enumerate(d.images[d.target == digit][:30]):
            arr = np.kron((img * 255 / 16).astype(np.uint8), np.ones((2, 2), np.uint8))
            stem = f"{HOSTILE_FILE} {i}" if digit == 0 else f"img {i}"
            Image.fromarray(arr).save(data / cls / f"{stem}.png")
    cfg = {"dataset": {"name": "image_folder", "params": {"path": str(data)}}, "input_size": [16, 16],
           "epochs": 1, "batch_size": 16}
    ids = make_finished_runs(root, [{**cfg, "name": HOSTILE}, {**cfg, "name": "plain run", "seed": 1}])
    env = lab_environ(root)
    from core.store import Store

    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    store.set_notes(ids[0], HOSTILE)
    store.set_tags(ids[0], {"![k](http://127.0.0.1:9/k.png)": HOSTILE})
    failed = store.create_run(cfg, name=HOSTILE, dataset="image_folder", model="small_cnn", status="running")
    store.set_status(failed, "failed", f"boom: {HOSTILE}")
    store.close()
    _HOSTILE.update(root=root, env=env, data=data, cfg=cfg, ids={"hostile": ids[0], "plain": ids[1], "failed": failed})
    return _HOSTILE


def add_running_run(h: dict) -> int:
    """A run named HOSTILE that is ``running`` now (recorded without a pid, as ``core train``
    does: supervisors leave it alone while it is fresh). Made just before use, because one made
    minutes earlier would rightly be marked interrupted by the first page's supervisor."""
    from core.store import Store

    store = Store(h["env"]["LAB_DATABASE_URL"], models_dir=h["env"]["LAB_MODELS_DIR"])
    rid = store.create_run(h["cfg"], name=HOSTILE, dataset="image_folder", model="small_cnn", status="running")
    store.set_progress(rid, 0.25, {"message": HOSTILE})
    store.close()
    h["ids"]["running"] = rid
    return rid


_MD_FIELDS = {"body", "label", "text", "caption"}  # proto fields Streamlit renders as Markdown
_PLAIN = {"Json", "Text", "Code", "PlotlyChart", "Arrow", "ArrowTable", "Exception"}  # not Markdown


def markdown_texts(at) -> list[str]:
    """Every Markdown-rendered string of the app (main area, sidebar, tabs, expanders):
    the body/label/text/caption fields of every element and block proto."""
    out: list[str] = []

    def from_proto(msg) -> None:
        if msg.DESCRIPTOR.name in _PLAIN:
            return
        for fd, val in msg.ListFields():
            repeated = fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED
            items = val if repeated else [val]
            for v in items:
                if fd.type == fd.TYPE_MESSAGE:
                    from_proto(v)
                elif fd.type == fd.TYPE_STRING and fd.name in _MD_FIELDS:
                    out.append(v)

    def visit(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            from_proto(proto)
        for child in (getattr(node, "children", None) or {}).values():
            visit(child)

    visit(at._tree)
    return out


def assert_only_text(at, where: str) -> list[str]:
    texts = markdown_texts(at)
    assert texts, f"{where}: nothing rendered"
    bad = [t for t in texts if RAW.search(t)]
    assert bad == [], f"{where}: user text rendered as Markdown: {bad[:3]}"
    assert not [e.value for e in at.exception], f"{where}: {[e.value for e in at.exception]}"
    return texts
