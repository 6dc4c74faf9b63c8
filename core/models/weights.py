"""Backbone weights: Keras' ImageNet files (cache folder, download), and loading or copying
weights into a built backbone model.

- ``imagenet_weights_path``: Keras' own no-top file, read from Keras' cache folder
  (``keras_cache_dir()``: ``$KERAS_HOME/models`` or ``~/.keras/models``), downloaded there when
  missing and the network allows (timeout ``LAB_WEIGHTS_TIMEOUT`` seconds, default 30; no attempt
  when ``LAB_OFFLINE=1``; the MD5 checked when known).
- ``load_weights``: the last step of ``core.models.backbones.build_backbone_model``, for the
  weights option it parsed into a ``WeightsSpec``.
- ``copy_matching_weights``: copy the layers of one model into another by name and shape.

Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.validation import ModelError

if TYPE_CHECKING:  # type hints only: the backbones module builds on this one
    from core.models.backbones import BackboneCfg
    from core.models.base import BuildContext


@dataclass(frozen=True)
class WeightsSpec:
    """A parsed ``weights`` option: what to load (``kind``), from where and how to name it."""

    kind: str  # none | imagenet | weights_h5 | legacy_h5 | keras | run
    path: Path | None = None
    label: str = ""


def keras_cache_dir() -> Path:
    """Keras' download cache for model files, as Keras computes it (read at call time)."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        home = os.path.join(base, ".keras")
    return Path(home) / "models"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def imagenet_weights_path(cfg: BackboneCfg, height: int, width: int) -> Path:
    """Path of the cached no-top ImageNet file, downloading it when missing and allowed."""
    import urllib.request

    fname = cfg.imagenet_file(height, width)
    folder = keras_cache_dir()
    path = folder / fname
    if path.is_file():
        return path
    url = cfg.weights_url + fname
    alternatives = (
        "Alternatives: weights=None (random initialisation), weights='<path to a .weights.h5, .keras or "
        "Keras-applications .h5 file>' or weights='run:<id>' (the backbone of an earlier run)."
    )
    if os.environ.get("LAB_OFFLINE", "").strip() not in ("", "0"):
        raise ModelError(
            f"ImageNet weights for {cfg.title} are not available: the file {fname!r} is not in Keras' cache "
            f"folder '{folder}' and LAB_OFFLINE is set, so it is not downloaded. Copy the file there "
            f"(from {url}). {alternatives}"
        )
    timeout = float(os.environ.get("LAB_WEIGHTS_TIMEOUT", "30") or 30)
    tmp_name = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{fname}.", delete=False) as tmp:
                tmp_name = tmp.name
                while chunk := resp.read(1 << 20):
                    tmp.write(chunk)
        if cfg.weights_md5 and _md5(Path(tmp_name)) != cfg.weights_md5:
            raise OSError(f"the downloaded file does not have the expected MD5 {cfg.weights_md5}")
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as e:  # URLError, timeouts, disk errors are all OSErrors
        raise ModelError(
            f"ImageNet weights for {cfg.title} are not available offline: the file {fname!r} is not in Keras' "
            f"cache folder '{folder}' and downloading it from {url} failed ({e}). Put the file in that folder "
            f"(or point KERAS_HOME to a folder whose models/ subfolder has it). {alternatives}"
        ) from e
    finally:
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path


def _base_name(layer_name: str) -> str:
    return re.sub(r"_\d+$", "", layer_name)


def copy_matching_weights(source, target, *, only: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Copy weights from ``source`` to ``target`` layer by layer, matched by name (layers that
    Keras auto-named, e.g. ``normalization_3``, are matched by base name and order) when
    every weight shape agrees. Returns (copied layer names, skipped target layer names)."""
    src = {l.name: l for l in source.layers if l.weights}
    copied, skipped = [], []
    pending = []
    for layer in target.layers:
        if not layer.weights or (only is not None and layer.name not in only):
            continue
        s = src.pop(layer.name, None)
        if s is None:
            pending.append(layer)
            continue
        (copied if _try_copy(s, layer) else skipped).append(layer.name)
    # auto-named layers: same base name and class, in order
    by_base: dict[tuple[str, str], list] = {}
    for s in src.values():
        by_base.setdefault((_base_name(s.name), type(s).__name__), []).append(s)
    for layer in pending:
        cands = by_base.get((_base_name(layer.name), type(layer).__name__))
        if cands:
            s = cands.pop(0)
            (copied if _try_copy(s, layer) else skipped).append(layer.name)
        else:
            skipped.append(layer.name)
    return copied, skipped


def _try_copy(src_layer, dst_layer) -> bool:
    sw, dw = src_layer.get_weights(), dst_layer.get_weights()
    if len(sw) != len(dw) or any(a.shape != b.shape for a, b in zip(sw, dw)):
        return False
    dst_layer.set_weights(sw)
    if hasattr(dst_layer, "finalize_state"):
        try:
            dst_layer.finalize_state()
        except Exception:  # layers without state to finalise
            pass
    return True


def _fold_efficientnet_imagenet_scaling(backbone) -> None:
    """keras.applications.EfficientNet adds ``Rescaling(1/sqrt(stddev))`` after its Normalization
    layer only when built with weights='imagenet'. We build with weights=None and load the same
    file last, so fold that factor into the Normalization variance instead:
    (x - m) / sqrt(v) / sqrt(s) == (x - m) / sqrt(v * s)."""
    import keras
    import numpy as np

    stddev = np.array([0.229, 0.224, 0.225], dtype="float32")  # IMAGENET_STDDEV_RGB
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.Normalization):
            w = layer.get_weights()
            w[1] = w[1] * stddev
            layer.set_weights(w)
            layer.finalize_state()
            return


def load_weights(ctx: BuildContext, cfg: BackboneCfg, model, backbone, used: list, spec: WeightsSpec,
                  imagenet_path: Path | None, head: str, cut_layer: str | None) -> None:
    """Load the requested weights into the built model (last step of a build)."""
    if spec.kind == "imagenet":
        _load_into_backbone(backbone, imagenet_path, cfg, "ImageNet")
        if cfg.name.startswith("efficientnet"):
            _fold_efficientnet_imagenet_scaling(backbone)
    elif spec.kind == "legacy_h5":
        _load_into_backbone(backbone, spec.path, cfg, "Keras-applications")
    elif spec.kind == "weights_h5":
        try:
            with warnings.catch_warnings():  # Keras warns about containers before it raises on mismatches
                warnings.filterwarnings("ignore", message="Skipping nested container", category=UserWarning)
                model.load_weights(spec.path)
        except Exception as e:
            raise ModelError(
                f"The weights file '{spec.path}' does not fit this model ({cfg.name}, head {head!r}, "
                f"cut_layer {cut_layer!r}, {ctx.num_classes} classes): it was saved from another architecture "
                f"({type(e).__name__}: {str(e)[:300]}). Use the same model settings, or weights='run:<id>' / a "
                ".keras file, which copy only the layers that match."
            ) from e
    elif spec.kind in ("keras", "run"):
        _transfer_from_saved(model, spec, cfg, ctx, used)
    else:
        ctx.notice(f"{cfg.title} starts from random weights (weights=None); pass weights='imagenet' (or a file, "
                   "or 'run:<id>') for transfer learning.")


def _load_into_backbone(backbone, path: Path, cfg: BackboneCfg, what: str) -> None:
    try:
        backbone.load_weights(str(path))
    except Exception as e:
        raise ModelError(
            f"The {what} weights file '{path}' does not fit {cfg.title} (include_top=False): it is for another "
            f"architecture or damaged ({type(e).__name__}: {str(e)[:300]})."
        ) from e


def _transfer_from_saved(model, spec: WeightsSpec, cfg: BackboneCfg, ctx: BuildContext, used) -> None:
    import keras

    try:
        source = keras.saving.load_model(str(spec.path), safe_mode=True, compile=False)
    except Exception as e:
        raise ModelError(
            f"Cannot read the model '{spec.path}' for weights={spec.label!r} ({type(e).__name__}: {str(e)[:300]}). "
            "Only .keras files saved by Keras 3 with standard layers are accepted (safe_mode is on)."
        ) from e
    copied, skipped = copy_matching_weights(source, model)
    bb_names = {l.name for l in used if l.weights}
    bb_copied = [n for n in copied if n in bb_names]
    if not bb_copied:
        raise ModelError(
            f"weights={spec.label!r}: no layer of '{spec.path}' matches the {cfg.title} backbone by name and "
            "shape; it holds another architecture. Use a run trained with the same backbone, or "
            "weights='imagenet' / None."
        )
    missing_bb = sorted(bb_names - set(copied))
    msg = (f"Weights from {spec.label}: copied {len(copied)} layers ({len(bb_copied)} of {len(bb_names)} "
           f"backbone layers with weights)")
    if skipped or missing_bb:
        head_skipped = [n for n in skipped if n not in bb_names]
        parts = []
        if missing_bb:
            parts.append(f"{len(missing_bb)} backbone layers kept their initial weights (e.g. {missing_bb[0]!r})")
        if head_skipped:
            parts.append(f"new head layers: {', '.join(head_skipped)}")
        msg += "; " + "; ".join(parts)
    ctx.notice(msg + ".")
