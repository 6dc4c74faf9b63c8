"""Shared, thin UI helpers for the pages: cached resources, error wrapping, small widgets.

No training, SQL or metric maths here: only glue between widgets and ``core``. Pure
helpers (no ``st.*`` calls) are kept separate at the bottom so tests can call them.
"""
from __future__ import annotations

import functools
import io
import json
import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st

from core.config import get_settings
from core.validation import LabError

log = logging.getLogger("lab.pages")

UPLOAD_TYPES = ["jpg", "jpeg", "png", "tif", "tiff", "bmp", "webp", "gif"]
FINAL = ("succeeded", "failed", "cancelled", "interrupted")
RESEARCH_NOTICE = "Research use only — not a diagnosis. This model has not been validated for clinical use."


# ---------------------------------------------------------------- cached resources
@st.cache_resource(show_spinner=False)
def _store_for(url: str, models_dir: str):
    from core.store import Store

    return Store(url, models_dir=models_dir)


def get_store():
    """The run store of this process (one per database URL, shared by all sessions)."""
    s = get_settings()
    return _store_for(s.database_url, str(s.models_dir))


@st.cache_resource(show_spinner=False)
def _jobs_for(url: str, models_dir: str):
    from core.jobs import JobManager

    jm = JobManager(_store_for(url, models_dir), Path(models_dir))
    jm.start()
    _STARTED_JOB_MANAGERS.append(jm)
    return jm


_STARTED_JOB_MANAGERS: list = []


def shutdown_job_managers() -> None:
    """Stop every job manager this process started (tests, benchmarks)."""
    while _STARTED_JOB_MANAGERS:
        jm = _STARTED_JOB_MANAGERS.pop()
        try:
            jm.shutdown()
        except Exception:  # noqa: BLE001 - best effort at exit
            log.warning("job manager shutdown failed\n%s", traceback.format_exc())
    _jobs_for.clear()


def get_jobs():
    """The job manager (started once per process, shared by all sessions)."""
    s = get_settings()
    return _jobs_for(s.database_url, str(s.models_dir))


@st.cache_resource(show_spinner=False, max_entries=8)
def _trained_model(model_dir: str, mtime: float):
    from core.training import load_trained

    return load_trained(model_dir)


def load_run_model(run) -> Any:
    """The TrainedModel of a finished run (cached per folder and file time)."""
    d = run_dir(run)
    mp = d / "model.keras"
    if not mp.exists():
        from core.validation import NotFoundError

        raise NotFoundError(f"Run {run.id} has no saved model at {mp}. Only succeeded runs can predict.")
    return _trained_model(str(d), mp.stat().st_mtime)


def run_dir(run) -> Path:
    """Artifact folder of a run: the folder of its recorded model, else the store's run folder."""
    for a in getattr(run, "artifacts", None) or []:
        if a.kind == "model" and a.path:
            return Path(a.path).parent
    return get_store().run_dir(run.id)


# ---------------------------------------------------------------- run artifacts (read-only)
@st.cache_data(show_spinner=False, max_entries=32)
def load_evaluation(run_dir: str, mtime: float) -> dict | None:
    p = Path(run_dir) / "evaluation.json"
    return json.loads(p.read_text()) if p.is_file() else None


@st.cache_data(show_spinner=False, max_entries=32)
def load_predictions(run_dir: str, mtime: float) -> pd.DataFrame | None:
    p = Path(run_dir) / "predictions.csv"
    return pd.read_csv(p, dtype={"id": str}) if p.is_file() else None


def _mtime(p) -> float:
    return p.stat().st_mtime if p.exists() else 0.0


def run_artifacts(r) -> tuple[dict | None, pd.DataFrame | None, dict]:
    d = run_dir(r)
    ev = load_evaluation(str(d), _mtime(d / "evaluation.json"))
    pred = load_predictions(str(d), _mtime(d / "predictions.csv"))
    meta_p = d / "meta.json"
    meta = json.loads(meta_p.read_text()) if meta_p.is_file() else {}
    return ev, pred, meta



# ---------------------------------------------------------------- page wrapping
def guarded(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a page body (or a fragment); LabErrors become st.error messages, never tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except LabError as err:
            st.error(str(err), icon=":material/error:")
        except Exception as err:  # an unexpected bug: a message here, the traceback in the log
            if type(err).__module__.startswith("streamlit"):  # rerun/stop control flow
                raise
            log.error("page error\n%s", traceback.format_exc())
            st.error(f"Something went wrong: {type(err).__name__}: {err}. The details are in the server log.",
                     icon=":material/bug_report:")

    return wrapper


def show_error(err: Exception) -> None:
    st.error(str(err), icon=":material/error:")


# ---------------------------------------------------------------- shared sidebar
PAGE_TITLE = "Image-classification lab"


def _pages() -> dict[str, list]:
    # url_path = the file's stem, so the URL of a page is the same whichever way Streamlit
    # first resolves it (see ensure_frame).
    return {
        "Lab": [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True, url_path="home"),
            st.Page("pages/data_explorer.py", title="Data explorer", icon=":material/query_stats:",
                    url_path="data_explorer"),
            st.Page("pages/augmentation.py", title="Augmentation studio", icon=":material/auto_fix_high:",
                    url_path="augmentation"),
        ],
        "Experiments": [
            st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
            st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
        ],
        "Use": [
            st.Page("pages/predict.py", title="Predict & explain", icon=":material/image_search:",
                    url_path="predict"),
        ],
    }


def navigation():
    """Page config + st.navigation over the lab's pages (called by app.py)."""
    st.set_page_config(page_title=PAGE_TITLE, page_icon=":material/biotech:", layout="wide")
    st.session_state["_lab_framed"] = True
    return st.navigation(_pages(), position="sidebar")


def _legacy_pages_mode() -> bool:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no legacy mode to escape
        return False
    return bool(PagesManager.uses_pages_directory)


def ensure_frame() -> None:
    """Give a page the app frame when Streamlit ran it without app.py.

    A folder named ``pages/`` beside the entrypoint makes Streamlit treat the app as a
    legacy multipage app until the first session runs ``st.navigation``: a deep link
    (``/runs?run=7``) opened first after a restart runs the page file directly, with a
    file-list sidebar and no frame. Declaring the navigation here ends that mode for
    every session and draws the real sidebar. A no-op when app.py framed the page, and after
    a session's first run (AppTest re-enters the legacy mode on every run).
    """
    if _legacy_pages_mode() and not st.session_state.get("_lab_framed"):
        navigation()
        shared_sidebar()


def shared_sidebar() -> None:
    with st.sidebar:
        st.caption("Research and teaching use only.")
        try:
            store = get_store()
            running, n_run = store.list_runs(status="running", limit=5)
            queued, n_q = store.list_runs(status="queued", limit=5)
        except LabError as err:
            st.error(str(err))
            return
        except Exception as err:  # store unreachable: say so, keep the app serving
            log.error("store error\n%s", traceback.format_exc())
            st.error(f"The run store is not reachable: {err}")
            return
        if n_run or n_q:
            st.markdown(f"**Jobs:** {n_run} running, {n_q} queued")
            for r in running:
                st.progress(float(r.progress or 0.0), text=f"#{r.id} {r.name}")
        else:
            st.caption("No jobs running.")
        st.caption(f"Store: `{redact_url(get_settings().database_url)}`")


# ---------------------------------------------------------------- widgets
def dataset_picker(key: str, *, label: str = "Dataset", default: str = "digits",
                   allow_subsample: bool = True) -> tuple[str, dict] | None:
    """Select a dataset (and its folder/file for those that need one). Returns (name, params)."""
    infos = cached_dataset_infos()
    names = [i.name for i in infos]
    by_name = {i.name: i for i in infos}
    idx = names.index(default) if default in names else 0
    name = st.selectbox(label, names, index=idx, key=f"{key}_name",
                        format_func=lambda n: f"{by_name[n].title} ({availability_label(by_name[n].availability)})")
    info = by_name[name]
    params: dict[str, Any] = {}
    accepted = info.params or {}
    if "path" in accepted or info.availability == "needs_folder":
        s = get_settings()
        prefill = {"ham10000": s.ham10000_dir, "fundus": s.fundus_dir}.get(name)
        path = st.text_input(
            "Folder or file on the server", value=str(prefill or ""), key=f"{key}_path_{name}",
            help=info.how_to or "A folder readable by the lab.",
            placeholder="/data/HAM10000" if name == "ham10000" else "/path/to/data")
        if not path.strip():
            st.info(info.how_to or "Type the folder that holds this dataset.", icon=":material/folder_open:")
            return None
        params["path"] = path.strip()
        if name == "fundus" and "labels_csv" in accepted:
            lc = st.text_input("Labels CSV (optional: found automatically)", key=f"{key}_labels_{name}")
            if lc.strip():
                params["labels_csv"] = lc.strip()
    elif info.availability == "needs_download":
        st.warning(f"{info.title} is not in the local cache yet. {info.how_to}", icon=":material/cloud_download:")
    if allow_subsample and "max_per_class" in accepted:
        mpc = st.number_input("Images per class (0 = all)", min_value=0, value=0, step=50, key=f"{key}_mpc_{name}",
                              help="A deterministic stratified subsample for quick looks and runs.")
        if mpc:
            params["max_per_class"] = int(mpc)
    return name, params


@st.cache_data(show_spinner=False, ttl=30)
def cached_dataset_infos():
    from core.datasets import list_datasets

    return list_datasets()


@st.cache_resource(show_spinner=False, max_entries=6, ttl=3600)
def cached_dataset(name: str, params_key: tuple):
    """A loaded Dataset (read-only; shared across sessions)."""
    from core.datasets import load_dataset

    return load_dataset(name, **dict(params_key))


def load_dataset_cached(name: str, params: dict):
    return cached_dataset(name, tuple(sorted(params.items())))


def availability_label(a: str) -> str:
    return {"builtin": "built in", "cached": "ready", "needs_download": "needs download",
            "needs_folder": "needs a folder"}.get(a, a)


def run_label(r) -> str:
    return f"#{r.id} · {r.name} · {r.dataset or '?'} · {r.model or '?'} · {r.status}"


# ---------------------------------------------------------------- pure helpers (no st.*)
def redact_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def fmt_num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not np.isfinite(f):
        return "—"
    return f"{f:.{digits}f}"


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image (HxW, HxWx1 or HxWx3) to PNG in memory."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class UploadOutcome:
    """What the Predict page shows for one uploaded file."""

    name: str
    image: np.ndarray | None = None          # uint8 HxWxC, upright, possibly downscaled
    error: str | None = None                 # shown as st.error; the image is skipped
    notices: list[str] = field(default_factory=list)   # conversions done by the decoder
    warnings: list[str] = field(default_factory=list)  # does not look like the training data

    @property
    def ok(self) -> bool:
        return self.error is None and self.image is not None


def decode_upload(name: str, data: bytes, meta: dict | None = None) -> UploadOutcome:
    """Decode an uploaded file in memory (core.images.load_image) and check it against a run.

    Never raises for bad input: the message goes into ``error``. Nothing is written to disk.
    """
    from core.images import load_image

    out = UploadOutcome(name=name)
    try:
        loaded = load_image(bytes(data))
    except LabError as err:
        out.error = f"{name}: {err}"
        return out
    out.image = np.asarray(loaded.array)
    out.notices = list(getattr(loaded, "notices", []) or [])
    if meta:
        out.warnings = compatibility_warnings(out.image, meta, original_size=getattr(loaded, "original_size", None),
                                              mode=getattr(loaded, "mode", None))
    return out


def _stat(stats: dict, *keys, default=None):
    for k in keys:
        if k in stats and stats[k] is not None:
            return stats[k]
    return default


def _side(v, pick):
    """A side length from a stat that is a number or an [h, w] pair."""
    if isinstance(v, (list, tuple)) and v:
        return pick(float(x) for x in v)
    return float(v) if isinstance(v, (int, float)) else None


def compatibility_warnings(image: np.ndarray, meta: dict, *, original_size=None, mode=None) -> list[str]:
    """Plain-language warnings when an image does not look like a run's training data.

    Reads the training statistics saved in meta.json (channels, image sizes, brightness).
    """
    warnings: list[str] = []
    stats = meta.get("train_stats") or meta.get("data_stats") or meta.get("stats") or {}
    img = np.asarray(image)
    ch = 1 if img.ndim == 2 else img.shape[2]
    prep = meta.get("preprocessing") or {}
    want_ch = _stat(stats, "channels") or prep.get("channels") or (meta.get("input_shape") or [None, None, None])[-1]
    if isinstance(want_ch, (list, tuple)):
        want_ch = want_ch[0] if len(want_ch) == 1 else None
    is_gray = ch == 1 or (ch == 3 and np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]))
    if want_ch == 3 and is_gray:
        warnings.append("The image is grayscale but the model was trained on colour images: "
                        "its channel was copied to RGB, so the prediction may be unreliable.")
    elif want_ch == 1 and ch == 3 and not is_gray:
        warnings.append("The image is in colour but the model was trained on grayscale images: it was converted to gray.")
    h, w = img.shape[:2]
    if original_size:
        try:
            w, h = int(original_size[0]), int(original_size[1])
        except (TypeError, ValueError, IndexError):
            pass
    lo_side = _side(_stat(stats, "min_size", "min_side"), min)
    hi_side = _side(_stat(stats, "max_size", "max_side"), max)
    side_small, side_big = min(h, w), max(h, w)
    if isinstance(lo_side, (int, float)) and side_big < 0.25 * float(lo_side):
        warnings.append(f"The image is {w}x{h} pixels, far smaller than the training images "
                        f"(shortest side at least {int(lo_side)} px).")
    if isinstance(hi_side, (int, float)) and side_small > 8 * float(hi_side) and float(hi_side) > 0:
        warnings.append(f"The image is {w}x{h} pixels, far larger than the training images "
                        f"(longest side at most {int(hi_side)} px); it is resized to the model input.")
    bmean = float(img.mean())
    pct = stats.get("brightness_percentiles") or {}
    b_lo = _stat(pct, "1", "1.0", default=_stat(stats, "brightness_min"))
    b_hi = _stat(pct, "99", "99.0", default=_stat(stats, "brightness_max"))
    b_mu, b_sd = _stat(stats, "brightness_mean"), _stat(stats, "brightness_std")
    if b_lo is None and b_mu is not None and b_sd is not None:
        b_lo, b_hi = b_mu - 3 * b_sd, b_mu + 3 * b_sd
    if b_lo is not None and b_hi is not None:
        margin = 0.1 * max(float(b_hi) - float(b_lo), 10.0)
        if bmean < float(b_lo) - margin or bmean > float(b_hi) + margin:
            warnings.append(f"Its mean brightness ({bmean:.0f} of 255) is far outside the training range "
                            f"({float(b_lo):.0f}-{float(b_hi):.0f}): the image may not be like the training data.")
    return warnings


@dataclass
class Explained:
    probs: np.ndarray        # (k,) class probabilities
    class_index: int         # the class the heatmap explains
    heatmap: np.ndarray      # (H, W) in [0, 1]
    overlay: np.ndarray      # uint8 HxWx3, the image's own size


def display_copy(image: np.ndarray, max_side: int = 1024) -> np.ndarray:
    """A copy no larger than ``max_side`` for showing (browsers do not need 4096 px)."""
    img = np.asarray(image, dtype=np.uint8)
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    from PIL import Image

    s = max_side / max(h, w)
    pil = Image.fromarray(img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img)
    out = np.asarray(pil.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS))
    return out[:, :, None] if out.ndim == 2 and img.ndim == 3 else out


def predict_and_explain(tm, image: np.ndarray, *, method: str = "gradcam", class_index: int | None = None,
                        alpha: float = 0.45, display_max_side: int = 1024) -> Explained:
    """Probabilities and a CAM overlay for one decoded image (all maths in core). The model sees
    the decoded image exactly as the run's preprocessing expects; the overlay is drawn on a
    copy at most ``display_max_side`` pixels wide/high."""
    from core import explain

    img = np.asarray(image, dtype=np.uint8)
    probs = np.asarray(tm.predict(img[None] if img.ndim == 3 else img))[0]
    target = int(probs.argmax()) if class_index is None else int(class_index)
    x = tm.preprocess(img)
    layer = (tm.meta or {}).get("cam_layer")
    heat = np.asarray(explain.cam(tm.model, x, method=method, class_index=target, layer=layer))[0]
    over = explain.overlay(display_copy(img, display_max_side), heat, alpha=float(alpha))
    return Explained(probs=probs, class_index=target, heatmap=heat, overlay=np.asarray(over, dtype=np.uint8))
