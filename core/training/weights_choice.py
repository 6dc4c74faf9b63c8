"""Which weights a run can start from, checked before the run exists.

    from core.training.weights_choice import check_weights, compatible_runs, weight_sources
    weight_sources("mobilenetv2")        # ("imagenet", "none", "run", "file"); () for small_cnn
    compatible_runs(store, "mobilenetv2")  # finished runs of that backbone, newest first
    check_weights(config, store)         # LabError saying what is wrong, else None

``check_weights`` parses the option with the very parser the model builder uses
(``core.models.backbones`` via ``parse_weights_option``: the suffix, the file or the run folder
exists) and adds what can be known without TensorFlow: a ``run:<id>`` must be a finished
training run of the same backbone, a ``.keras`` file must hold that backbone's layers (read from
the file's own config, nothing is deserialised). The run itself loads the weights later with
Keras' ``safe_mode`` on. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import json
import zipfile
from typing import Any

from core.validation import LabError, ModelError, ValidationError

SOURCES = ("imagenet", "none", "run", "file")


def takes_weights(model: str) -> bool:
    """Whether model ``model`` has a ``weights`` option (the backbones; not the zoo models)."""
    from core.models import MODELS

    return "weights" in MODELS.get(model).meta.get("options", {})


def _backbone_cfg(model: str):
    from core.models import BACKBONES, MODELS

    return BACKBONES.get(MODELS.resolve(model))


def weight_sources(model: str) -> tuple[str, ...]:
    """Where ``model`` can take its weights from: () for a model trained from scratch; ImageNet
    only for a backbone with a known ImageNet file."""
    if not takes_weights(model):
        return ()
    cfg = _backbone_cfg(model)
    has_imagenet = cfg is not None and bool(getattr(cfg, "weights_file", ""))
    return tuple(s for s in SOURCES if s != "imagenet" or has_imagenet)


def compatible_runs(store, model: str, *, limit: int = 50) -> list:
    """Succeeded training runs of the same model whose model file is there, newest first."""
    from core.models import MODELS
    from core.store.artifacts import RunFolder

    name = MODELS.resolve(model)
    runs, _ = store.list_runs(model=name, status="succeeded", kind="train", limit=limit)
    out = []
    for r in runs:
        try:
            if RunFolder.of(store.get_run(r.id), store).has("model"):
                out.append(r)
        except (LabError, OSError):
            continue
    return out


def parse_weights_option(weights: Any):
    """The builder's own parse of a ``weights`` value (a ``WeightsSpec``; ValidationError or
    ModelError saying what is accepted)."""
    from core.models.backbones import parse_weights

    return parse_weights(weights)


def check_weights(config, store=None, *, actor=None) -> None:
    """Refuse a ``weights`` choice that cannot work for ``config.model``, before a run exists.
    ``actor`` (a ``core.auth.policy.Actor``; None: the local user, who may use every run): a
    ``run:<id>`` needs their right to train from that run's weights, and a run they may not see
    is refused as if it did not exist."""
    weights = config.resolved_model_options().get("weights")
    if weights is None:
        return
    if not takes_weights(config.model):
        from core.models.base import _no_weights_message

        raise ValidationError(_no_weights_message(config.model, weights))
    spec = parse_weights_option(weights)
    if spec.kind == "run" and store is not None:
        _check_run(store if actor is None else _guarded(store, actor), config.model, spec.label)
    elif spec.kind == "keras":
        _check_keras_file(spec.path, config.model, store)


def _guarded(store, actor):
    """The store as ``actor`` sees it: runs they may not see are missing; using one's weights is checked."""
    from core.auth.guard import guarded

    return guarded(store, actor)


def _fitting(store, model: str) -> str:
    if store is None:
        return ""
    ids = [f"run:{r.id}" for r in compatible_runs(store, model, limit=5)]
    return f" Runs of {model} that fit: {', '.join(ids)}." if ids else f" This lab has no finished {model} run yet."


def _check_run(store, model: str, label: str) -> None:
    from core.models import MODELS

    rid = label[4:].strip()
    if not rid.isdigit() or not store.exists(int(rid)):
        raise ModelError(f"Cannot use weights {label!r}: there is no run #{rid} in this lab." + _fitting(store, model))
    r = store.get_run(int(rid))
    if r.kind != "train" or r.status != "succeeded":
        raise ModelError(f"Cannot use weights {label!r}: run #{rid} is a {r.kind} run that {r.status}; only a "
                         "succeeded training run has a model to start from." + _fitting(store, model))
    if r.model is None or MODELS.resolve(r.model) != MODELS.resolve(model):
        raise ModelError(f"Cannot use weights {label!r}: run #{rid} trained {r.model}, whose layers do not fit "
                         f"{model}." + _fitting(store, model))
    if hasattr(store, "authorize"):  # a GuardedStore: the actor's right to train from this run's weights
        store.authorize("train_from_weights", int(rid))


def _check_keras_file(path, model: str, store) -> None:
    """A .keras file holds this backbone's layers (by name, from the file's config.json)."""
    cfg = _backbone_cfg(model)
    want = {cfg.default_cam_layer, *cfg.cut_points} if cfg is not None else set()
    try:
        with zipfile.ZipFile(path) as zf:
            names = _names(json.loads(zf.read("config.json").decode("utf-8")))
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"The weights file '{path}' is not a model saved by Keras 3 (.keras: a zip holding "
                         f"config.json): {type(e).__name__}: {e}.") from None
    if want and not want & names:
        raise ModelError(f"The weights file '{path}' holds no layer of {model} (none of {', '.join(sorted(want))}): "
                         f"it was saved from another architecture. Use a .keras file of a {model} model."
                         + _fitting(store, model))



def _names(node: Any) -> set[str]:
    """Every ``name`` value in a saved model's config (the layers' names among them)."""
    if isinstance(node, dict):
        own = {node["name"]} if isinstance(node.get("name"), str) else set()
        return own.union(*(_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_names(v) for v in node))
    return set()
