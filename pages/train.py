"""Train: build a TrainConfig, LR finder, optional search, submit to the job manager; a live
panel and the queue, both read from the store in one refresh.

How the page keeps its promises:
- No ``st.form``: every widget commits its own value, nothing submits on Enter; only the
  Submit / Find LR buttons queue work, and an identical configuration is never queued twice
  in a row (a double click says "already submitted as run #N").
- Every widget has one stable key and its value is also kept in a plain session dict
  (``SAVED``), so a widget that disappears (backbone options on a zoo model, the
  architecture of the other family, another page) comes back with its value. A value that
  is not valid for a new choice is changed *visibly* (a warning under the widget). Dataset
  recommendations are offered with an "Apply" button, never applied behind the user's back.
- The form lives in the URL (non-default values only, plus ``run`` = the run last
  submitted), so a reload (a new browser session) shows the same form and follows the same
  run. Values from the URL are checked like any input; a bad one is reported and ignored.
- The run name is derived from the config actually submitted; a typed name that mentions
  another model, dataset, optimiser or epoch count is flagged and needs a confirmation.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.store.schema import ACTIVE_STATUSES, FINAL_STATUSES
from core.training.config import PARAMS, SPLIT_PARAMS, TrainConfig, choices
from pages import _artifacts, _format, _frame, _jobs_ui, _repro_ui, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

# The accepted values, help texts and input bounds of the configuration come from core.training.config.PARAMS
# (read at each run, never copied here); a dataset's recommended settings come from its
# registration (DatasetInfo.train_defaults).
AUTO = "auto"               # the page's word for None (automatic) in a choice
FAMILIES = ["zoo", "backbone"]
WHOLE = "(whole backbone)"
FINE_TUNE = "fine-tune last N layers"
DS_KEY = "train"            # key prefix of the dataset picker (pages/_widgets.dataset_picker)
SAVED = "_t_saved"          # plain dict: every form value, kept when its widget is not drawn
LAST = "_t_last_submit"     # {"token", "run_id", "at", "what"} of the last submit of this session
FORCE = "_t_force"          # (token, run id it repeats): "Queue it again" was pressed
URL_RUN = "_t_url_run"      # the run last submitted (``run`` in the URL)
URL_LOADED = "_t_url_loaded"
FLASH = "_t_flash"          # messages for the next run (set in callbacks)
SHORT_DATASET_NAMES = {"ham": "ham10000", "cifar": "cifar10", "fmnist": "fashion_mnist"}


@dataclass(frozen=True)
class Field:
    default: Any
    kind: str                # choice | int | float | bool | text | multi
    low: float | None = None
    high: float | None = None


_CFG = TrainConfig()  # the defaults of the fields the form shares with TrainConfig


def local_gpus() -> tuple[str, ...]:
    """This machine's GPUs as the local executor sees them (``LAB_GPUS`` or nvidia-smi)."""
    return _detected_gpus(os.environ.get("LAB_GPUS"))


@st.cache_resource(show_spinner=False)
def _detected_gpus(lab_gpus: str | None) -> tuple[str, ...]:  # cached per LAB_GPUS value (nvidia-smi once)
    from core.jobs.executors.local import detect_gpus

    return detect_gpus()


FIELDS: dict[str, Field] = {
    "t_family": Field("zoo", "choice"),
    "t_model_zoo": Field("small_cnn", "choice"),
    "t_model_backbone": Field("mobilenetv2", "choice"),
    "t_weights": Field("imagenet", "choice"),
    "t_weights_run": Field("", "choice"),
    "t_weights_file": Field("", "text"),
    "t_cut": Field(WHOLE, "choice"),
    "t_head": Field("gap_dense", "choice"),
    "t_trainable": Field("frozen", "choice"),
    "t_ft_n": Field(20, "int", 1, 500),
    "t_units": Field(128, "int", 8, 4096),
    "t_dropout": Field(0.3, "float", 0.0, 0.9),
    "t_size_auto": Field(True, "bool"),
    "t_h": Field(64, "int", 8, 1024),
    "t_w": Field(64, "int", 8, 1024),
    "t_norm": Field(AUTO, "choice"),
    "t_val": Field(_CFG.split["val_ratio"], "float", *SPLIT_PARAMS["val_ratio"].widget_range),
    "t_test": Field(_CFG.split["test_ratio"], "float", *SPLIT_PARAMS["test_ratio"].widget_range),
    "t_cw": Field(_CFG.class_weight, "choice"),
    "t_oversample": Field(_CFG.oversample, "bool"),
    "t_opt": Field(_CFG.optimizer, "choice"),
    "t_lr": Field(_CFG.learning_rate, "float", *PARAMS["learning_rate"].widget_range),
    "t_sched": Field(_CFG.schedule, "choice"),
    "t_monitor": Field(_CFG.monitor, "choice"),
    "t_epochs": Field(5, "int", *PARAMS["epochs"].widget_range),
    "t_batch": Field(_CFG.batch_size, "int", *PARAMS["batch_size"].widget_range),
    "t_patience": Field(0, "int", *PARAMS["early_stopping"].widget_range),
    "t_wd": Field(_CFG.weight_decay, "float", *PARAMS["weight_decay"].widget_range),
    "t_seed": Field(_CFG.seed, "int", *PARAMS["seed"].widget_range),
    "t_repro": Field(_CFG.reproducible, "bool"),
    # on a GPU machine a new run asks for one GPU (the local executor pins it); 0 = CPU only
    "t_gpus": Field(1 if local_gpus() else _CFG.gpus, "int", *PARAMS["gpus"].widget_range),
    "t_name": Field("", "text"),
    "t_search": Field(False, "bool"),
    "t_trials": Field(4, "int", 2, 50),
    "t_lr_lo": Field(1e-4, "float", 1e-6, 1.0),
    "t_lr_hi": Field(1e-2, "float", 1e-6, 1.0),
    "t_search_opts": Field(["adam", "adamax"], "multi"),
    "t_sampler": Field("random", "choice"),
    "t_at_once": Field(1, "int", 1, 8),
}
_DS_FIELD = re.compile(rf"^{DS_KEY}_(name|path_\w+|labels_\w+|mpc_\w+)$")


def _help(name: str) -> str:
    """The help text of TrainConfig field ``name`` (core.training.config.PARAMS), as a sentence."""
    text = PARAMS[name].help.replace("None = ", f"{AUTO} = ")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _bounds(param) -> dict:
    """``min_value``/``max_value`` of a field's input: its ``widget_range`` in core.training.config's table."""
    low, high = param.widget_range
    return {"min_value": low, "max_value": high}


def field_spec(key: str) -> Field | None:
    if key in FIELDS:
        return FIELDS[key]
    m = _DS_FIELD.match(key)
    if not m:
        return None
    part = m.group(1)
    if part == "name":
        return Field("digits", "choice")
    if part.startswith("mpc_"):
        return Field(0, "int", 0, 10**9)
    return Field("", "text")


# ---------------------------------------------------------------- page
@_widgets.guarded
def body() -> None:
    st.title("Train")
    if not _widgets.permitted("train", quiet=True):  # a viewer: say why, show no form
        st.info(_plain(_resources.may("train").reason), icon=":material/lock:")
        return
    # the Jobs tab (its run panel, curves chart and queue table, redrawn every refresh) is drawn
    # only while it is open (on_change="rerun"): a first visit shows the form without loading
    # the scripts of a table, progress bars and a chart; opening the tab shows the run submitted
    # last (the session remembers it). The open tab is kept in the URL (``train_tab=Jobs``;
    # nothing for the default, New run), so a reload (a new session) reopens it.
    tab_new, tab_live = st.tabs(["New run", "Jobs"], key="train_tab", on_change="rerun", bind="query-params")
    with tab_new:
        build_config()
    with tab_live:
        if tab_live.open is not False:  # None when the tabs do not track state: drawn
            jobs_tab()
            _jobs_ui.cluster_panel()  # Ray: nodes, CPUs/GPUs


def build_config():
    """The New-run form, section by section, and its buttons; the TrainConfig it describes."""
    _load_url_once()
    for msg in st.session_state.pop(FLASH, []):
        st.info(_plain(msg), icon=":material/info:")
    dataset_notes = _restore_dataset_keys()
    picked = _widgets.dataset_picker(DS_KEY)
    _remember_dataset_keys()
    for note in dataset_notes:
        st.warning(_plain(note), icon=":material/sync_problem:")
    if picked is None:
        _sync_url()
        return None
    ds_name, ds_params = picked
    family, model_fields = _model_section(ds_name)
    data = _data_section(family)
    extra = _extra_train_picker(ds_name)
    optim = _optimisation_section()
    size_slots = data.pop("_size_slots")
    split = {"val_ratio": data.pop("val_ratio"), "test_ratio": data.pop("test_ratio"), "seed": optim["seed"],
             "grouped": "auto"}
    cfg = make_config(TrainConfig, {"dataset": {"name": ds_name, "params": ds_params}, "split": split,
                                    **model_fields, **data, **optim, **extra})
    plan = _show_plan(cfg, size_slots)
    auto_name = default_run_name(cfg)
    typed, conflicts, name_ok = _name_section(cfg, auto_name)
    search = _search_section(optim["seed"])
    _estimate_line(cfg, plan, search)
    b = st.columns([1, 1, 3])
    submitted = b[0].button("Submit", type="primary", icon=":material/play_arrow:", key="t_submit",
                            help="Queue this configuration. Only this button queues a run (Enter does not).")
    lr_clicked = b[1].button("Find LR", icon=":material/query_stats:", key="t_find_lr")
    _sync_url()

    what = "search" if search else "train"
    run_name = typed or (None if search else auto_name)  # a search's trials are named after it by the job manager
    token = submit_token(what, cfg, run_name, search)
    force = st.session_state.pop(FORCE, None)
    if submitted or (force and force[0] == token):
        if conflicts and not name_ok:
            st.error(_plain(f"Not queued: the name {typed!r} contradicts the configuration. Change the name, "
                            "clear it to use the automatic one, or tick 'Keep this name anyway'."),
                     icon=":material/block:")
        else:
            repeat_of = force[1] if force and force[0] == token and not submitted else None
            _submit(cfg, what=what, token=token, name=run_name, search=search, repeat_of=repeat_of)
    if lr_clicked:
        lr_finder(cfg, submit_token("lr_find", cfg, None, None))
    last = st.session_state.get(LAST)
    if last and last.get("run_id") and not submitted:
        st.caption(f"Last submitted from this page: run #{last['run_id']} "
                   f"({time.strftime('%H:%M:%S', time.localtime(last['at']))}); follow it in the **Jobs** tab.")
    if st.session_state.get("t_lr_result") is not None:
        show_lr_result(st.session_state["t_lr_result"], key="t_use_lr_local")
    return cfg


def _extra_train_picker(ds_name: str) -> dict:
    """Reviewed flags of this dataset, exported as a version (Review flags page), added to the
    training part only: never to the validation or test split, so the run stays comparable."""
    from core.datasets.flagged import versions_of

    versions = versions_of(ds_name) if not ds_name.startswith("flags-") else []
    if not versions:
        return {}
    pick = st.selectbox("Add reviewed flags to the training part", ["(none)"] + versions[::-1], key="t_extra_train",
                        help="An exported version of this dataset's accepted flags (Review flags page). Its images "
                             "join the training part only; the validation and test splits stay those of the "
                             "dataset, and the run records the version it used.")
    return {} if pick == "(none)" else {"extra_train": pick}


def _model_section(ds_name: str) -> tuple[str, dict]:
    """Family, architecture and (backbones) their options: (family, {model, model_options, weights})."""
    from core.models import list_models, model_info

    saved = _saved()
    st.subheader("Model")
    c = st.columns(3)
    prev_family = saved.get("t_family")
    family = _widget(c[0].radio, "t_family", "Family", options=FAMILIES, horizontal=True,
                     help="zoo: the report architectures trained from scratch; backbone: transfer learning.")
    names = list_models(family=family) or list_models()
    other = "backbone" if family == "zoo" else "zoo"
    model = _widget(c[1].selectbox, f"t_model_{family}", "Architecture", options=names,
                    why=f" among the {family} models")
    if prev_family and prev_family != family:
        c[1].caption(_plain(f"Family {family}: your {family} architecture is shown. The {other} choice "
                            f"({saved.get(f't_model_{other}', FIELDS[f't_model_{other}'].default)}) is kept for "
                            f"when you switch back."))
    info = model_info(model)
    c[2].caption(_plain(f"{info.get('title', model)}" + (f" — report {info['report']}" if info.get("report") else ""))
                 + (f"\n\n{_plain(info['description'])}" if info.get("description") else ""))
    _recommendation(ds_name, family, model)
    options, weights = _backbone_options(model, info) if info.get("family") == "backbone" else ({}, None)
    return family, {"model": model, "model_options": options, "weights": weights}


WEIGHT_LABELS = {"imagenet": "ImageNet weights", "none": "No weights (random start)",
                 "run": "A past run of this lab", "file": "A weights file"}


def _weights_picker(model: str, column) -> str | None:
    """Where a model that takes weights starts from (core.training.weights_choice): ImageNet, random,
    a finished run of the same model (``run:<id>``) or a file; checked again at Submit."""
    from core.training.weights_choice import compatible_runs, weight_sources

    sources = list(weight_sources(model))
    if not sources:
        return None
    source = _widget(column.selectbox, "t_weights", "Start from", options=sources, format_func=WEIGHT_LABELS.get,
                     why=f" for {model}",
                     help="ImageNet: Keras' ImageNet file (downloaded on first use). A past run: its model's layers "
                          "that match are copied. A file: .weights.h5 (the same model), .keras (matching layers, "
                          "loaded in Keras' safe mode) or a Keras-applications .h5 backbone file.")
    if source in ("imagenet", "none"):
        return None if source == "none" else source
    if source == "file":
        path = _widget(st.text_input, "t_weights_file", "Weights file on the server",
                       placeholder="/data/weights/mobilenetv2.keras").strip()
        if not path:
            st.caption("Type the file's path on the server (.weights.h5, .keras or .h5); until then the run "
                       "starts from random weights.")
        return path or None
    runs = {f"run:{r.id}": r for r in compatible_runs(_resources.guarded_store(), model)}
    if not runs:
        st.info(_plain(f"No finished {model} run in this lab yet: train one first, or start from ImageNet."),
                icon=":material/info:")
        return None
    label = {k: f"#{r.id} {r.name} ({_format.fmt_num(r.summary.get('accuracy'))} test accuracy)"
             for k, r in runs.items()}
    return _widget(st.selectbox, "t_weights_run", f"Finished {model} run to start from", options=list(runs),
                   format_func=label.get, why=f" (not a finished {model} run)")


def _backbone_options(model: str, info: dict) -> tuple[dict, str | None]:
    """(model_options, weights) of a backbone: weights, cut layer, head, what is trained, head size."""
    options: dict = {}
    b = st.columns(4)
    weights = _weights_picker(model, b[0])
    cut = _widget(b[1].selectbox, "t_cut", "Cut layer", options=[WHOLE] + list(info.get("cut_points") or []),
                  why=f" in {model}")
    if cut != WHOLE:
        options["cut_layer"] = cut
    options["head"] = _widget(b[2].selectbox, "t_head", "Head", options=list(info.get("heads") or ["gap_dense"]),
                              why=f" for {model}")
    mode = _widget(b[3].selectbox, "t_trainable", "Training", options=["frozen", FINE_TUNE])
    if mode == "frozen":
        options["trainable"] = "frozen"
    else:
        options["trainable"] = int(_widget(st.number_input, "t_ft_n", "N layers to fine-tune",
                                           min_value=1, max_value=500))
    h = st.columns(2)
    options["dense_units"] = int(_widget(h[0].number_input, "t_units", "Dense units", min_value=8, max_value=4096))
    options["dropout"] = float(_widget(h[1].slider, "t_dropout", "Dropout", min_value=0.0, max_value=0.9))
    return options, weights


def _data_section(family: str) -> dict:
    """Input size, normalisation, split fractions, class balance, augmentation (TrainConfig fields,
    plus ``val_ratio`` / ``test_ratio`` for the split)."""
    st.subheader("Input and data")
    c = st.columns(4)
    size_auto = _widget(c[0].checkbox, "t_size_auto", "Automatic input size",
                        help="Zoo models: the dataset's typical image size. Backbones: the backbone's default "
                             "(224x224). Untick to choose height and width.")
    if size_auto:  # the size the run will use is shown there once the whole form is known (_show_plan)
        h = w = None
        size_slots = (c[1].empty(), c[2].empty())
    else:
        h = _widget(c[1].number_input, "t_h", "Height", min_value=8, max_value=1024)
        w = _widget(c[2].number_input, "t_w", "Width", min_value=8, max_value=1024)
        size_slots = None
    norm_options = [AUTO] + [n for n in choices("normalization") if family == "backbone" or n != "backbone"]
    norm = _widget(c[3].selectbox, "t_norm", "Normalisation", options=norm_options, help=_help("normalization"),
                   why=" for a zoo model (it needs a backbone)")
    if size_slots:
        size_slots = (*size_slots, st.empty())  # the size in words, under its row
    c = st.columns(4)
    val_ratio = _widget(c[0].slider, "t_val", "Validation fraction", **_bounds(SPLIT_PARAMS["val_ratio"]), step=0.05)
    test_ratio = _widget(c[1].slider, "t_test", "Test fraction", **_bounds(SPLIT_PARAMS["test_ratio"]), step=0.05)
    class_weight = _widget(c[2].selectbox, "t_cw", "Class weights", options=choices("class_weight"),
                           help=_help("class_weight"))
    oversample = _widget(c[3].checkbox, "t_oversample", "Oversample minority classes", help=_help("oversample"))
    aug = st.session_state.get("train_augment")
    from core.data.augment import AugmentSpec

    source = st.session_state.get("train_augment_source")
    st.caption("Augmentation (set it in the **Augmentation studio**): "
               + (_plain(AugmentSpec.from_dict(aug).describe()) if aug else "none")
               + (_plain(f" (previewed on {source})") if aug and source else ""))
    return {"_size_slots": size_slots,
            "input_size": None if size_auto else [int(h), int(w)], "normalization": None if norm == AUTO else norm,
            "val_ratio": float(val_ratio), "test_ratio": float(test_ratio), "class_weight": class_weight,
            "oversample": bool(oversample), "augment": aug}


@st.cache_data(show_spinner="Working out the input size and the images of each part…", ttl=600, max_entries=64)
def _plan_cached(cfg_json: str) -> dict:
    """``core.training.engine.plan_run`` of a config (the engine's own choice of the input size,
    the images of each part), or the reason it cannot be known yet."""
    from core.training.config import TrainConfig
    from core.training.engine import plan_run

    try:
        return {"plan": dataclasses.asdict(plan_run(TrainConfig.from_json(cfg_json)))}
    except (_lab_error(), OSError) as err:
        return {"error": str(err)}


def _plan(cfg) -> dict:
    """The plan of the fields that decide it (dataset, split, model, input size, channels, seed)."""
    key = TrainConfig(dataset=cfg.dataset, split=cfg.split, model=cfg.model, input_size=cfg.input_size,
                      channels=cfg.channels, seed=cfg.seed)
    return _plan_cached(key.to_json(sort_keys=True))


def _show_plan(cfg, slots) -> dict | None:
    """With an automatic size: the size the run will really train at, in the greyed boxes and in words."""
    got = _plan(cfg)
    plan = got.get("plan")
    if not slots:
        return plan
    h_slot, w_slot, note = slots
    if plan is None:
        for slot, label in ((h_slot, "Height"), (w_slot, "Width")):
            slot.text_input(label, value="automatic", disabled=True)
        note.caption(_plain(f"Automatic input size: known once the dataset loads ({got.get('error')})."))
        return None
    h, w = plan["input_size"]
    h_slot.number_input("Height", value=int(h), disabled=True, help="Chosen automatically; untick to set it.")
    w_slot.number_input("Width", value=int(w), disabled=True, help="Chosen automatically; untick to set it.")
    why = (f"the default input size of {cfg.model}" if plan["size_from"] == "auto_backbone"
           else f"the typical size of the {cfg.dataset['name']} training images")
    note.caption(_plain(f"Automatic input size: this run trains at {h}x{w} ({why})."))
    return plan


def _estimate_line(cfg, plan: dict | None, search: dict | None) -> None:
    """How long the run should take here, from the lab's own finished runs (core.recipes.estimate)."""
    from types import SimpleNamespace

    from core.recipes.estimate import estimate_from_runs

    if plan is None:
        st.caption(":material/schedule: Estimated training time: known once the dataset loads.")
        return
    est = estimate_from_runs(_resources.guarded_store(), cfg, SimpleNamespace(**plan))
    text = est.text()
    if search and est.seconds is not None:
        text = text.replace(" (from", " per trial (from", 1)
    st.caption(":material/schedule: " + _plain(text))


def _optimisation_section() -> dict:
    """Optimiser, schedule, epochs, batch, early stopping, seed; GPUs in the Advanced part."""
    st.subheader("Optimisation")
    c = st.columns(4)
    optimizer = _widget(c[0].selectbox, "t_opt", "Optimiser", options=choices("optimizer"), help=_help("optimizer"))
    lr = _widget(c[1].number_input, "t_lr", "Learning rate", **_bounds(PARAMS["learning_rate"]), format="%.6f",
                 help=_help("learning_rate"))
    schedule = _widget(c[2].selectbox, "t_sched", "Schedule", options=choices("schedule"), help=_help("schedule"))
    monitor = _widget(c[3].selectbox, "t_monitor", "Monitor", options=choices("monitor"), help=_help("monitor"))
    c = st.columns(5)
    epochs = _widget(c[0].number_input, "t_epochs", "Epochs", **_bounds(PARAMS["epochs"]), help=_help("epochs"))
    batch = _widget(c[1].number_input, "t_batch", "Batch size", **_bounds(PARAMS["batch_size"]), help=_help("batch_size"))
    patience = _widget(c[2].number_input, "t_patience", "Early-stopping patience (0 = off)",
                       **_bounds(PARAMS["early_stopping"]), help=_help("early_stopping"))
    weight_decay = _widget(c[3].number_input, "t_wd", "Weight decay", **_bounds(PARAMS["weight_decay"]), format="%.6f",
                           help=_help("weight_decay"))
    seed = _widget(c[4].number_input, "t_seed", "Seed", **_bounds(PARAMS["seed"]), help=_help("seed"))
    with st.expander("Advanced", icon=":material/settings:"):
        gpus = _widget(st.number_input, "t_gpus", "GPUs", **_bounds(PARAMS["gpus"]), help=_help("gpus"))
        found = local_gpus()
        st.caption(f"This machine: {_format.plural(len(found), 'GPU')} ({', '.join(found)})" if found
                   else "This machine has no GPU (set LAB_GPUS to override the detection).")
        reproducible = _repro_ui.reproducible_control(_widget, "t_repro")
    return {"optimizer": optimizer, "learning_rate": float(lr), "weight_decay": float(weight_decay),
            "schedule": schedule, "epochs": int(epochs), "batch_size": int(batch),
            "early_stopping": int(patience) or None, "monitor": monitor, "seed": int(seed), "gpus": int(gpus),
            "reproducible": reproducible}


def _name_section(cfg, auto_name: str) -> tuple[str, list[str], bool]:
    """(typed name, what it contradicts in the config, whether to keep it anyway)."""
    typed = _widget(st.text_input, "t_name", "Run name (optional)", placeholder=auto_name, max_chars=_max_name(),
                    help=f"At most {_max_name()} characters. Leave empty to name the run after its "
                         "configuration.").strip()
    conflicts = name_conflicts(typed, cfg) if typed else []
    name_ok = True
    if conflicts:
        st.warning(_plain(f"The name {typed!r} contradicts this run's configuration: " + "; ".join(conflicts) + "."),
                   icon=":material/warning:")
        digest = hashlib.sha1(json.dumps([typed, conflicts]).encode()).hexdigest()[:10]
        name_ok = st.checkbox("Keep this name anyway", key=f"t_name_ok_{digest}")
    else:
        st.caption(_plain(f"The run will be named: {typed or auto_name}"))
    return typed, conflicts, name_ok


def _search_section(seed: int) -> dict | None:
    """The search asked for ({space, n_trials, seed, sampler, concurrency}), or None for one run."""
    st.subheader("Hyper-parameter search (optional)")
    do_search = _widget(st.checkbox, "t_search", "Hyper-parameter search instead of one run")
    off = not do_search  # the search's fields are greyed out (values kept) while one run is asked for
    s = st.columns(4)
    n_trials = _widget(s[0].number_input, "t_trials", "Trials", min_value=2, max_value=50, disabled=off)
    lr_lo = _widget(s[1].number_input, "t_lr_lo", "LR from", min_value=1e-6, max_value=1.0, format="%.6f",
                    disabled=off)
    lr_hi = _widget(s[2].number_input, "t_lr_hi", "LR to", min_value=1e-6, max_value=1.0, format="%.6f",
                    disabled=off)
    opts = _widget(s[3].multiselect, "t_search_opts", "Optimisers", options=choices("optimizer"), disabled=off)
    s = st.columns([3, 1])
    sampler = _widget(s[0].radio, "t_sampler", "Sampler", options=["random", "tpe"], horizontal=True, disabled=off,
                      help="random: every trial drawn up front. tpe: Optuna's TPE asks each trial after one has "
                           "finished, from the results so far (trials run one at a time, or 'At a time' at once).")
    at_once = _widget(s[1].number_input, "t_at_once", "At a time", min_value=1, max_value=8,
                      disabled=off or sampler != "tpe", help="TPE trials run at once (a random search runs as many "
                                                            "as the executor has room for).")
    if not do_search:
        return None
    space = {"learning_rate": {"type": "float", "low": float(min(lr_lo, lr_hi)), "high": float(max(lr_lo, lr_hi)),
                               "log": True}}
    if opts:
        space["optimizer"] = {"type": "categorical", "choices": list(opts)}
    return {"space": space, "n_trials": int(n_trials), "seed": int(seed), "sampler": sampler,
            "concurrency": int(at_once) if sampler == "tpe" else None}


def _submit(cfg, *, what: str, token: str, name: str | None, search: dict | None, repeat_of: int | None) -> None:
    """Queue the run (or search) once (see ``_queue_once``)."""
    jobs = _resources.get_jobs()
    if search:
        rid = _queue_once(cfg, token, what, lambda: _resources.acting(jobs.submit_search)(
            cfg, search["space"], search["n_trials"], search["seed"], name=name, sampler=search["sampler"],
            concurrency=search["concurrency"]), repeat_of=repeat_of)
    else:
        rid = _queue_once(cfg, token, what, lambda: _resources.acting(jobs.submit)(cfg, name=name), repeat_of=repeat_of)
    if rid is None:
        return
    if search:
        st.success(f"Search #{rid} queued with {_format.plural(search['n_trials'], 'trial')} (see **Runs**, filtered by "
                   "parent). The **Jobs** tab follows it.", icon=":material/check:")
    else:
        st.success(f"Run #{rid} queued. The **Jobs** tab follows it (it keeps going if you leave this page).",
                   icon=":material/check:")


def _queue_once(cfg, token: str, what: str, submit, *, repeat_of: int | None = None) -> int | None:
    """The one guard of every button that queues work (Submit, Find LR): check the config, refuse
    the submission this session made last (same ``token``: kind, config, name, search) with the
    number of the run it already is -- unless "Queue it again" was pressed for that run
    (``repeat_of``) -- else call ``submit()``, remember it and follow the new run. The run id,
    or None when nothing was queued (the reason is shown)."""
    try:
        cfg.validate()
        from core.training.weights_choice import check_weights

        check_weights(cfg, _resources.guarded_store())  # the weights exist and fit, before a run row is written
    except Exception as err:  # noqa: BLE001 - a LabError: say what is wrong, keep the page
        if not isinstance(err, _lab_error()):
            raise
        st.error(_plain(f"Not queued: {err}"), icon=":material/error:")
        return None
    last = st.session_state.get(LAST)
    if last and last.get("token") == token and last.get("run_id") != repeat_of:
        _already_submitted(last, token, what)
        return None
    # A rerun request (the second click of a double click) interrupts this script run at the next
    # Streamlit call -- and every session_state read or write is one, before it reads or stores.
    # So: no Streamlit call between recording the token and the submit, and the run id goes into
    # the recorded dict itself (a plain dict, no session_state access) the moment submit() returns;
    # the next run then always sees this submission's token with its run id.
    record = {"token": token, "run_id": None, "at": time.time(), "what": what}
    st.session_state[LAST] = record
    try:
        rid = submit()
        record["run_id"] = rid
    except BaseException as err:
        if record["run_id"] is None:
            st.session_state.pop(LAST, None)
        if isinstance(err, _lab_error()):
            st.error(_plain(f"Not queued: {err}"), icon=":material/error:")
            return None
        raise
    _follow(rid)
    return rid


def _already_submitted(last: dict, token: str, what: str) -> None:
    rid = last.get("run_id")
    if what == "lr_find":
        st.warning(f"Already submitted as run #{rid}: the LR finder for this configuration is queued "
                   "or done (see the **Jobs** tab).", icon=":material/content_copy:")
        return
    st.warning(f"Already submitted as run #{rid} "
               f"({time.strftime('%H:%M:%S', time.localtime(last['at']))}), not queued again: this exact "
               "configuration is what you submitted last. Change a setting to queue a new run, or queue an "
               "identical one on purpose.", icon=":material/content_copy:")
    if rid:
        st.button("Queue it again", key=f"t_again_{rid}", on_click=_force_again, args=(token, rid),
                  icon=":material/replay:")


def _force_again(token: str, rid: int) -> None:
    st.session_state[FORCE] = (token, rid)


def _follow(rid: int) -> None:
    """The Jobs tab (and the URL, for a reload) follow the run just submitted."""
    st.session_state["watch_run"] = rid
    st.session_state["t_watch_select"] = rid
    st.session_state[URL_RUN] = rid
    _sync_url()


def _max_name() -> int:
    from core import validation

    return int(getattr(validation, "MAX_NAME_LENGTH", 200))


def _lab_error():
    from core.validation import LabError

    return LabError


def submit_token(what: str, cfg, name: str | None, search: dict | None) -> str:
    """What identifies one submission: the kind, the full config, the name and the search."""
    d = {"what": what, "config": cfg.to_dict(), "name": name, "search": search}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def make_config(TrainConfig, kwargs: dict):
    """TrainConfig from the form, keeping only the fields this TrainConfig knows."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in kwargs.items() if k in known})


# ---------------------------------------------------------------- names
def default_run_name(cfg) -> str:
    """A name made from the config that will actually run (dataset, model, key parameters)."""
    ds = (cfg.dataset or {}).get("name", "?")
    parts = [f"{cfg.model} on {ds}", f"{cfg.epochs} ep", f"bs {cfg.batch_size}",
             f"{cfg.optimizer} lr {cfg.learning_rate:.0e}"]
    if cfg.input_size:
        parts.append(f"{int(cfg.input_size[0])}x{int(cfg.input_size[1])}")
    if (cfg.model_options or {}).get("trainable") not in (None, "frozen"):
        parts.append(f"fine-tune {cfg.model_options['trainable']}")
    if cfg.augment:
        parts.append("augmented")
    return " · ".join(parts)


def _vocabulary() -> dict[str, dict[str, str]]:
    """kind -> {word as written in a name: the registered name it means}."""
    from core.datasets import list_datasets
    from core.models import list_models

    datasets = {i.name: i.name for i in (_resources.cached_dataset_infos() or list_datasets())}
    datasets.update({k: v for k, v in SHORT_DATASET_NAMES.items() if v in datasets})
    return {"model": {m: m for m in list_models()}, "dataset": datasets, "optimizer": {o: o for o in choices("optimizer")}}


def _word(w: str) -> str:
    return rf"(?<![a-z0-9]){re.escape(w.lower())}(?![a-z0-9])"


def name_conflicts(name: str, cfg) -> list[str]:
    """What a typed run name says that the config does not do: another model, dataset or
    optimiser known to the lab, or another number of epochs. Empty when consistent."""
    text = re.sub(r"[\s\-]+", "_", name.lower())
    actual = {"model": cfg.model, "dataset": (cfg.dataset or {}).get("name", ""), "optimizer": cfg.optimizer}
    vocab = _vocabulary()
    for kind, value in actual.items():  # the true names first: "fashion_mnist" is not a mention of "mnist"
        for word, meant in vocab[kind].items():
            if meant == value:
                text = re.sub(_word(word), " ", text)
    out = []
    for kind in ("model", "dataset", "optimizer"):
        for word in sorted(vocab[kind], key=len, reverse=True):
            if re.search(_word(word), text):
                out.append(f"it mentions the {kind} {word} but this run uses {actual[kind]}")
                text = re.sub(_word(word), " ", text)
    m = re.search(r"(?<![a-z0-9.])(\d+)_?(?:ep|epochs?)(?![a-z])", text)
    if m and int(m.group(1)) != int(cfg.epochs):
        out.append(f"it says {_format.plural(int(m.group(1)), 'epoch')} but this run trains {cfg.epochs}")
    return out


# ---------------------------------------------------------------- widget state
def _saved() -> dict:
    if SAVED not in st.session_state:
        st.session_state[SAVED] = {}
    return st.session_state[SAVED]


def _check(key: str, value: Any, options: list | None) -> tuple[bool, Any]:
    """(valid, value converted to the widget's type) for a value of field ``key``."""
    spec = field_spec(key)
    if spec is None:
        return False, value
    try:
        if spec.kind == "choice":
            return isinstance(value, str) and (options is None or value in options), value
        if spec.kind == "int":
            if isinstance(value, bool):
                return False, value
            f = float(value)
            if not f.is_integer():
                return False, value
            v = int(f)
            return spec.low <= v <= spec.high, v
        if spec.kind == "float":
            if isinstance(value, bool):
                return False, value
            v = float(value)
            return math.isfinite(v) and spec.low <= v <= spec.high, v
        if spec.kind == "bool":
            return isinstance(value, bool), value
        if spec.kind == "text":
            return isinstance(value, str) and (key != "t_name" or len(value) <= _max_name()), value
        if spec.kind == "multi":
            vals = [value] if isinstance(value, str) else list(value)
            return all(isinstance(v, str) and (options is None or v in options) for v in vals), vals
    except (TypeError, ValueError, OverflowError):
        return False, value
    return False, value


def _shown(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "(none)"
    return str(v)


def _prepare(key: str, label: str, options: list | None = None, why: str = "") -> str | None:
    """Give the widget ``key`` its value before it is drawn: its own (live), else the kept one,
    else the default. A value not valid any more is replaced and a message says so."""
    ss, saved, spec = st.session_state, _saved(), field_spec(key)
    default = spec.default
    if spec.kind == "choice" and options is not None and default not in options:
        default = options[0]
    if spec.kind == "multi" and options is not None:
        default = [v for v in default if v in options]
    live = key in ss
    if not live and key not in saved:
        ss[key] = default
        return None
    current = ss[key] if live else saved[key]
    ok, value = _check(key, current, options)
    if ok:
        if not live:
            ss[key] = value
        return None
    if spec.kind == "multi" and options is not None and isinstance(current, (list, tuple)):
        value = [v for v in current if v in options]
        ss[key] = value
        dropped = [v for v in current if v not in options]
        return f"{label}: {_shown(dropped)} not available{why}; kept {_shown(value)}."
    ss[key] = default
    return f"{label}: {_shown(current)} is not available{why}, so it is now {_shown(default)}."


def _widget(fn, key: str, label: str, *, options: list | None = None, why: str = "", **kwargs):
    """Draw one form widget with a stable key, its value kept across reruns, family switches
    and pages; a forced change is shown as a warning under the widget."""
    note = _prepare(key, label, options, why)
    # the value is also passed as the widget's default: the browser then shows it even on a
    # run where Streamlit does not send session-state values to the frontend (the first page
    # view after a server start, a deep link in legacy pages mode)
    kwargs.update(_streamlit_internals.widget_default(fn, st.session_state[key], options))
    value = fn(label, options, key=key, **kwargs) if options is not None else fn(label, key=key, **kwargs)
    _saved()[key] = value
    if note:
        _streamlit_internals.widget_container(fn).warning(_plain(note), icon=":material/sync_problem:")
    return value


def _restore_dataset_keys() -> list[str]:
    """Put the kept dataset choice (name, folder, subsample) back before the picker draws."""
    notes = []
    names = [i.name for i in _resources.cached_dataset_infos()]
    for key, value in list(_saved().items()):
        if not key.startswith(f"{DS_KEY}_") or key in st.session_state or field_spec(key) is None:
            continue
        ok, v = _check(key, value, names if key == f"{DS_KEY}_name" else None)
        if ok:
            st.session_state[key] = v
        else:
            _saved().pop(key, None)
            notes.append(f"Dataset: {_shown(value)} is not a dataset of this lab; the default is used.")
    return notes


def _remember_dataset_keys() -> None:
    name = st.session_state.get(f"{DS_KEY}_name")
    for key in _widgets.dataset_widget_keys(DS_KEY, name):
        if key in st.session_state:
            _saved()[key] = st.session_state[key]


def _recommendation(ds_name: str, family: str, model: str) -> None:
    """Offer the dataset's recommended settings (its registered ``train_defaults``); applied
    only by the user's click."""
    rec = next((getattr(i, "train_defaults", None) for i in _resources.cached_dataset_infos() if i.name == ds_name), None)
    if not rec:
        return
    r_model, r_epochs, r_batch = rec["model"], int(rec["epochs"]), int(rec["batch_size"])
    r_size, r_cw = rec.get("image_size"), rec.get("class_weight", "none")
    from core.models import model_info

    r_family = model_info(r_model).get("family", "zoo")
    ss = st.session_state
    want = {"t_family": r_family, f"t_model_{r_family}": r_model, "t_epochs": r_epochs, "t_batch": r_batch,
            "t_size_auto": r_size is None, "t_cw": r_cw}
    if r_size:
        want.update({"t_h": int(r_size[0]), "t_w": int(r_size[1])})
    current = {k: ss.get(k, _saved().get(k, field_spec(k).default)) for k in want}
    if all(current[k] == v for k, v in want.items()):
        return
    text = (f"Suggested for {ds_name}: {r_model}, {_format.plural(r_epochs, 'epoch')}, batch {r_batch}, "
            + (f"input {r_size[0]}x{r_size[1]}" if r_size else "automatic input size")
            + (", balanced class weights" if r_cw == "balanced" else "") + ".")
    c = st.columns([4, 1])
    c[0].caption(_plain(text + " Your settings are kept unless you apply these."))
    c[1].button("Apply suggestion", key=f"t_apply_{ds_name}", on_click=_apply, args=(want, ds_name, current),
                icon=":material/tune:")


def _apply(want: dict, ds_name: str, before: dict) -> None:
    changes = []
    for k, v in want.items():
        if before.get(k) != v:
            changes.append(f"{k.removeprefix('t_')}: {before.get(k)} → {v}")
        st.session_state[k] = v
        _saved()[k] = v
    st.session_state[FLASH] = [f"Applied the suggested settings for {ds_name}: " + "; ".join(changes) + "."]


# ---------------------------------------------------------------- the URL (reload = new session)
def _to_url(key: str, value: Any) -> str | list[str] | None:
    spec = field_spec(key)
    if spec is None or value == spec.default:
        return None
    if spec.kind == "bool":
        return "1" if value else "0"
    if spec.kind == "multi":
        return [str(v) for v in value] or [""]
    if spec.kind == "float":
        return repr(float(value))
    return str(value)


def _from_url(key: str, raw: list[str]) -> tuple[bool, Any]:
    spec = field_spec(key)
    if spec.kind == "multi":
        return True, [v for v in raw if v != ""]
    text = raw[-1] if raw else ""
    if spec.kind == "bool":
        if text in ("1", "true", "True"):
            return True, True
        if text in ("0", "false", "False"):
            return True, False
        return False, text
    if spec.kind in ("int", "float"):
        return _check(key, text, None)
    return True, text


def _url_state() -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for key, value in sorted(_saved().items()):
        v = _to_url(key, value)
        if v is not None:
            out[key] = v
    aug = st.session_state.get("train_augment")
    if aug:
        out["t_aug"] = json.dumps(aug, sort_keys=True, separators=(",", ":"))
    if st.session_state.get(URL_RUN):
        out["run"] = str(st.session_state[URL_RUN])
    return out


def _ours(key: str) -> bool:
    return key in ("run", "t_aug") or field_spec(key) is not None


def _sync_url() -> None:
    """Mirror the form into the URL (only values that differ from the defaults). Only the form's
    own parameters are set or removed: the tabs' ``train_tab`` is bound to its widget, and
    Streamlit refuses to set or clear a bound parameter through ``st.query_params``."""
    qp = st.query_params
    want = _url_state()
    have = {k: (qp.get_all(k) if isinstance(want.get(k), list) else qp.get(k)) for k in qp if _ours(k)}
    if have == want:
        return
    for k in [k for k in have if k not in want]:
        del qp[k]
    changed = {k: v for k, v in want.items() if have.get(k) != v}
    if changed:
        qp.update(changed)


def _load_url_once() -> None:
    """First run of this session on this page: take the form from the URL (a reload, a shared
    link). Invalid values are reported and ignored; nothing from the URL is trusted."""
    if st.session_state.get(URL_LOADED):
        return
    st.session_state[URL_LOADED] = True
    qp = st.query_params
    notes = []
    saved = _saved()
    for key in list(qp):
        if key == "run":
            raw = qp.get("run", "")
            if raw.isdigit() and _resources.guarded_store().exists(int(raw)):
                st.session_state[URL_RUN] = int(raw)
                st.session_state.setdefault("watch_run", int(raw))
            else:
                notes.append(f"Ignored run={raw} from the link: no such run.")
            continue
        if key == "t_aug":
            try:
                from core.data.augment import AugmentSpec

                spec = AugmentSpec.from_dict(json.loads(qp.get("t_aug")))
                st.session_state.setdefault("train_augment", None if spec.is_identity else spec.to_dict())
            except Exception:  # noqa: BLE001 - anything wrong in a URL is reported, not raised
                notes.append("Ignored the augmentation from the link: it is not a valid augmentation.")
            continue
        if field_spec(key) is None or key in saved:
            continue
        ok, value = _from_url(key, qp.get_all(key))
        if ok:
            saved[key] = value
        else:
            notes.append(f"Ignored {key}={_shown(qp.get_all(key))} from the link: not a valid value.")
    if notes:
        st.session_state.setdefault(FLASH, []).extend(notes)


def _plain(text: Any) -> str:
    """Text shown as typed inside Markdown (names, paths, values from the URL are never markup)."""
    return _format.md_text(text)


# ---------------------------------------------------------------- LR finder
def lr_finder(cfg, token: str) -> None:
    """LR range test: through the job manager when it supports lr_find jobs, else here."""
    jobs = _resources.get_jobs()
    if hasattr(jobs, "submit_lr_find"):
        run_id = _queue_once(cfg, token, "lr_find", lambda: _resources.acting(jobs.submit_lr_find)(cfg))
        if run_id is not None:
            st.info(f"LR finder queued as run #{run_id}; its plot appears in the **Jobs** tab when done.")
        return
    from core.training.lr_finder import lr_find

    with st.spinner("Sweeping learning rates (a short run on a few batches)…"):
        res = lr_find(cfg, num_steps=60)
    st.session_state["t_lr_result"] = {"lrs": list(map(float, res.lrs)), "losses": list(map(float, res.losses)),
                                       "smoothed": list(map(float, res.smoothed)),
                                       "suggested_lr": float(res.suggested_lr) if res.suggested_lr else None}


def _use_lr(value: float) -> None:
    st.session_state["t_lr"] = float(value)
    _saved()["t_lr"] = float(value)
    st.session_state[FLASH] = [f"Learning rate set to {value:.2e} (the LR finder's suggestion)."]


def show_lr_result(res: dict, key: str = "t_use_lr") -> None:
    from core.analysis import plots

    st.plotly_chart(plots.lr_finder(res), width="stretch", key=f"{key}_plot")
    if res.get("suggested_lr"):
        st.info(f"Suggested learning rate: {res['suggested_lr']:.2e}")
        st.button("Use the suggested learning rate", key=key, on_click=_use_lr, args=(float(res["suggested_lr"]),))


# ---------------------------------------------------------------- Jobs tab
def _snapshot(store):
    snap = getattr(store, "read_snapshot", None)
    return snap() if callable(snap) else contextlib.nullcontext()


def _active_and_recent(store) -> tuple[list, list]:
    """Running and queued runs (oldest first) and the 5 newest runs, through the job snapshot
    every page uses (core.jobs.status.job_snapshot) when there is one."""
    try:
        from core.jobs.status import job_snapshot
    except ImportError:
        job_snapshot = None
    if job_snapshot is not None:
        snap = _jobs_ui.visible_snapshot(job_snapshot(_resources.get_store(), recent=5, limit=100))
        return sorted([*snap.running, *snap.queued], key=lambda r: r.id), list(snap.recent)
    active, _ = store.list_runs(status=list(ACTIVE_STATUSES), limit=100, sort="id", descending=False)
    recent, _ = store.list_runs(limit=5)
    return active, recent


@_widgets.live_fragment(_jobs_ui.JOBS_REFRESH_S)
@_widgets.guarded
def jobs_tab() -> None:
    """The watched run and the queue, from one read of the store, redrawn together (they used
    to be read at different times: the queue said 0 % while the panel said 77 %). Reads the
    store only, so it keeps working after navigating away and back, and from other tabs."""
    store = _resources.guarded_store()
    with _snapshot(store):
        active, recent = _active_and_recent(store)
        choices = {r.id: r for r in active}
        watch = st.session_state.get("watch_run")
        if watch and watch not in choices and store.exists(watch):
            choices[watch] = store.get_run(watch)
        for r in recent:
            choices.setdefault(r.id, r)
        if not choices:
            st.info("No jobs yet. Fill in the form on **New run** and press Submit.", icon=":material/info:")
            queue_table([], None)
            return
        ids = list(choices)
        if st.session_state.get("t_watch_select") not in ids:
            st.session_state["t_watch_select"] = watch if watch in ids else ids[0]
        rid = st.selectbox("Run", ids, key="t_watch_select", format_func=lambda i: _format.run_label(choices[i]))
        st.session_state["watch_run"] = rid
        r = store.get_run(rid)
        hist = store.get_metric_history(r.id) if r.kind == "train" else None
    run_panel(r, hist)
    queue_table(active, r)


def run_panel(r, hist) -> None:
    info = r.progress_info or {}
    c = st.columns(4)
    c[0].metric("Status", r.status)
    ep, n_ep = info.get("epoch"), info.get("epochs") or (r.config or {}).get("epochs")
    c[1].metric("Epoch", f"{ep or '—'} / {n_ep or '—'}")
    c[2].metric("Images/s", _format.fmt_num(info.get("images_per_sec"), 0))
    c[3].metric("ETA", _format.fmt_duration(info.get("eta_s")) if r.status == "running" else "—")
    st.progress(min(1.0, max(0.0, float(r.progress or 0.0))), text=_plain(progress_words(r)))
    if r.status in ACTIVE_STATUSES:
        if _widgets.permitted("cancel", r) and st.button("Cancel", key=f"t_cancel_{r.id}", icon=":material/stop_circle:"):
            _resources.acting(_resources.get_jobs().cancel)(r.id)
            st.toast(f"Cancel requested for run #{r.id}")
    elif r.status == "succeeded":
        st.success(f"Run #{r.id} done: test accuracy {_format.fmt_num(r.summary.get('accuracy'))}, balanced accuracy "
                   f"{_format.fmt_num(r.summary.get('balanced_accuracy'))}.")
        st.page_link("pages/runs.py", label=f"Open run #{r.id}", query_params={"run": str(r.id)},
                     icon=":material/open_in_new:")
    elif r.status in FINAL_STATUSES:  # failed, interrupted or cancelled
        (st.warning if r.status == "cancelled" else st.error)(_plain(f"Run #{r.id} {r.status}. {r.error or ''}"))
    if hist is not None and not hist.empty:
        from core.analysis import plots

        st.plotly_chart(plots.training_curves(hist), width="stretch", key=f"t_curves_{r.id}")
    if r.kind == "lr_find" and r.status == "succeeded":
        res = _lr_result_from_run(r)
        if res:
            show_lr_result(res, key=f"t_use_lr_{r.id}")


def progress_words(r) -> str:
    """The same words as the sidebar and Home (core.jobs.status.progress_text), with the percentage."""
    pct = f"{100 * float(r.progress or 0.0):.0f} %"
    try:
        from core.jobs.status import progress_text
    except ImportError:
        return f"{pct} · {(r.progress_info or {}).get('message') or r.status}"
    text = progress_text(r)
    return text if pct in text else f"{text} · {pct}"


def _lr_result_from_run(r) -> dict | None:
    return _artifacts.run_folder(r).read_json("lr_find")


def queue_table(active: list, watched) -> None:
    """Queued and running runs. The watched run's row is the very record the panel above shows."""
    st.subheader("Queue")
    rows = [watched if watched is not None and r.id == watched.id else r for r in active]
    if not rows:
        st.caption("The queue is empty.")
        return
    st.dataframe(pd.DataFrame([{"id": r.id, "name": r.name, "status": r.status, "dataset": r.dataset,
                                "model": r.model, "progress": round(100 * float(r.progress or 0.0))} for r in rows]),
                 hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=100,
                                                                            format="%d %%")})


body()
