"""Train: build a TrainConfig (sensible defaults per dataset), LR finder, optional search,
submit to the job manager; a live panel that reads the store; cancel; the queue."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _ui

_ui.ensure_frame()

# sensible defaults per dataset: (model, epochs, batch size, input size or None)
DEFAULTS = {
    "digits": ("small_cnn", 5, 32, None),
    "mnist": ("small_cnn", 3, 64, None),
    "fashion_mnist": ("report_b_cnn5", 20, 32, None),
    "cifar10": ("report_e_model3", 15, 64, None),
    "ham10000": ("report_a_tuned_cnn", 10, 16, [120, 150]),
    "fundus": ("densenet121", 10, 16, [224, 224]),
    "image_folder": ("small_cnn", 10, 32, [64, 64]),
    "medmnist": ("small_cnn", 10, 64, None),
}
OPTIMIZERS = ["adam", "adamax", "adagrad", "rmsprop", "sgd"]
SCHEDULES = ["constant", "plateau", "one_cycle"]
MONITORS = ["val_loss", "val_accuracy", "val_macro_f1"]
NORMALIZATIONS = ["rescale", "minmax", "per_image_mean", "backbone", "none"]


@_ui.guarded
def body() -> None:
    st.title("Train")
    tab_new, tab_live = st.tabs(["New run", "Jobs"])
    with tab_new:
        cfg = build_config()
    with tab_live:
        live_panel()
        queue()
    if cfg is None:
        return


def build_config():
    from core.models import list_models, model_info
    from core.training import TrainConfig

    picked = _ui.dataset_picker("train")
    if picked is None:
        return None
    ds_name, ds_params = picked
    d_model, d_epochs, d_batch, d_size = DEFAULTS.get(ds_name, ("small_cnn", 10, 32, None))

    st.subheader("Model")
    c = st.columns(3)  # outside the form: the options below depend on the choice
    family = c[0].radio("Family", ["zoo", "backbone"], horizontal=True, key="t_family",
                        index=1 if model_info(d_model).get("family") == "backbone" else 0,
                        help="zoo: the report architectures trained from scratch; backbone: transfer learning.")
    names = list_models(family=family) or list_models()
    m_idx = names.index(d_model) if d_model in names else 0
    model = c[1].selectbox("Architecture", names, index=m_idx, key=f"t_model_{family}")
    info = model_info(model)
    c[2].caption(f"**{info.get('title', model)}**" + (f" — report {info['report']}" if info.get("report") else "")
                 + (f"\n\n{info['description']}" if info.get("description") else ""))

    with st.form("train_form", border=True):
        options: dict = {}
        weights = None
        if info.get("family") == "backbone":
            b = st.columns(4)
            weights = b[0].selectbox("Weights", ["imagenet", "none"], key="t_weights",
                                     help="ImageNet weights are downloaded by Keras on first use (internet needed).")
            weights = None if weights == "none" else weights
            cuts = ["(whole backbone)"] + list(info.get("cut_points") or [])
            cut = b[1].selectbox("Cut layer", cuts, key="t_cut")
            if cut != "(whole backbone)":
                options["cut_layer"] = cut
            options["head"] = b[2].selectbox("Head", list(info.get("heads") or ["gap_dense"]), key="t_head")
            mode = b[3].selectbox("Training", ["frozen", "fine-tune last N layers"], key="t_trainable")
            if mode == "frozen":
                options["trainable"] = "frozen"
            else:
                options["trainable"] = int(st.number_input("N layers to fine-tune", 1, 500, 20, key="t_ft_n"))
            h = st.columns(2)
            options["dense_units"] = int(h[0].number_input("Dense units", 8, 4096, 128, key="t_units"))
            options["dropout"] = float(h[1].slider("Dropout", 0.0, 0.9, 0.3, key="t_dropout"))

        st.subheader("Input and data")
        c = st.columns(4)
        default_size = d_size or list(info.get("default_input") or (32, 32))[:2]
        use_default = c[0].checkbox("Model's default input size", value=d_size is None, key="t_size_default")
        h = c[1].number_input("Height", 8, 1024, int((default_size or [32, 32])[0]), key="t_h")
        w = c[2].number_input("Width", 8, 1024, int((default_size or [32, 32])[1]), key="t_w")
        norm = c[3].selectbox("Normalisation", NORMALIZATIONS,
                              index=NORMALIZATIONS.index("backbone") if info.get("family") == "backbone" else 0,
                              key="t_norm")
        c = st.columns(4)
        val_ratio = c[0].slider("Validation fraction", 0.05, 0.4, 0.1, 0.05, key="t_val")
        test_ratio = c[1].slider("Test fraction", 0.05, 0.4, 0.2, 0.05, key="t_test")
        class_weight = c[2].selectbox("Class weights", ["none", "balanced"], key="t_cw",
                                      index=1 if ds_name in ("ham10000", "fundus") else 0)
        oversample = c[3].checkbox("Oversample minority classes", key="t_oversample")
        aug = st.session_state.get("train_augment")
        from core.augment import AugmentSpec

        st.caption("Augmentation (set it in the **Augmentation studio**): "
                   + (AugmentSpec.from_dict(aug).describe() if aug else "none"))

        st.subheader("Optimisation")
        c = st.columns(4)
        optimizer = c[0].selectbox("Optimiser", OPTIMIZERS, key="t_opt")
        lr = c[1].number_input("Learning rate", 1e-7, 10.0, float(st.session_state.get("t_lr_suggested", 1e-3)),
                               format="%.6f", key="t_lr")
        schedule = c[2].selectbox("Schedule", SCHEDULES, key="t_sched")
        monitor = c[3].selectbox("Monitor", MONITORS, key="t_monitor")
        c = st.columns(5)
        epochs = c[0].number_input("Epochs", 1, 500, d_epochs, key=f"t_epochs_{ds_name}")
        batch = c[1].number_input("Batch size", 1, 1024, d_batch, key=f"t_batch_{ds_name}")
        patience = c[2].number_input("Early-stopping patience (0 = off)", 0, 100, 0, key="t_patience")
        weight_decay = c[3].number_input("Weight decay", 0.0, 1.0, 0.0, format="%.6f", key="t_wd")
        seed = c[4].number_input("Seed", 0, 2**31 - 1, 0, key="t_seed")
        name = st.text_input("Run name (optional)", key="t_name")

        st.subheader("Hyper-parameter search (optional)")
        do_search = st.checkbox("Random search instead of one run", key="t_search")
        s = st.columns(4)
        n_trials = s[0].number_input("Trials", 2, 50, 4, key="t_trials")
        lr_lo = s[1].number_input("LR from", 1e-6, 1.0, 1e-4, format="%.6f", key="t_lr_lo")
        lr_hi = s[2].number_input("LR to", 1e-6, 1.0, 1e-2, format="%.6f", key="t_lr_hi")
        opts = s[3].multiselect("Optimisers", OPTIMIZERS, default=["adam", "adamax"], key="t_search_opts")

        b = st.columns([1, 1, 3])
        submitted = b[0].form_submit_button("Submit", type="primary", icon=":material/play_arrow:")
        lr_clicked = b[1].form_submit_button("Find LR", icon=":material/query_stats:")

    cfg_kwargs = dict(
        dataset={"name": ds_name, "params": ds_params},
        split={"val_ratio": float(val_ratio), "test_ratio": float(test_ratio), "seed": int(seed), "grouped": "auto"},
        model=model, model_options=options, input_size=None if use_default else [int(h), int(w)],
        normalization=norm, weights=weights, optimizer=optimizer, learning_rate=float(lr),
        weight_decay=float(weight_decay), schedule=schedule, epochs=int(epochs), batch_size=int(batch),
        early_stopping=int(patience) or None, monitor=monitor, class_weight=class_weight, oversample=bool(oversample),
        augment=aug, seed=int(seed), name=name.strip() or None,
    )
    cfg = make_config(TrainConfig, cfg_kwargs)
    if submitted:
        cfg.validate()
        jobs = _ui.get_jobs()
        if do_search:
            space = {"learning_rate": {"type": "float", "low": float(min(lr_lo, lr_hi)),
                                       "high": float(max(lr_lo, lr_hi)), "log": True}}
            if opts:
                space["optimizer"] = {"type": "categorical", "choices": list(opts)}
            parent = jobs.submit_search(cfg, space, int(n_trials), int(seed), name=cfg_kwargs["name"])
            st.session_state["watch_run"] = parent
            st.success(f"Search #{parent} queued with {int(n_trials)} trials (see **Runs**, filtered by parent).")
        else:
            run_id = jobs.submit(cfg, name=cfg_kwargs["name"])
            st.session_state["watch_run"] = run_id
            st.success(f"Run #{run_id} queued. Follow it in the **Jobs** tab (it keeps going if you leave this page).")
    if lr_clicked:
        lr_finder(cfg)
    if st.session_state.get("t_lr_result") is not None:
        show_lr_result(st.session_state["t_lr_result"])
    return cfg


def make_config(TrainConfig, kwargs: dict):
    """TrainConfig from the form, keeping only the fields this TrainConfig knows."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in kwargs.items() if k in known})


def lr_finder(cfg) -> None:
    """LR range test: through the job manager when it supports lr_find jobs, else here."""
    jobs = _ui.get_jobs()
    if hasattr(jobs, "submit_lr_find"):
        run_id = jobs.submit_lr_find(cfg)
        st.session_state["watch_run"] = run_id
        st.info(f"LR finder queued as run #{run_id}; its plot appears in the **Jobs** tab when done.")
        return
    from core.lr_finder import lr_find

    with st.spinner("Sweeping learning rates (a short run on a few batches)…"):
        res = lr_find(cfg, num_steps=60)
    st.session_state["t_lr_result"] = {"lrs": list(map(float, res.lrs)), "losses": list(map(float, res.losses)),
                                       "smoothed": list(map(float, res.smoothed)),
                                       "suggested_lr": float(res.suggested_lr) if res.suggested_lr else None}


def show_lr_result(res: dict) -> None:
    from core import plots

    st.plotly_chart(plots.lr_finder(res), width="stretch")
    if res.get("suggested_lr"):
        st.info(f"Suggested learning rate: {res['suggested_lr']:.2e}")
        if st.button("Use the suggested learning rate", key="t_use_lr"):
            st.session_state["t_lr_suggested"] = res["suggested_lr"]
            st.session_state.pop("t_lr", None)
            st.rerun()


@st.fragment(run_every=1.5)
@_ui.guarded
def live_panel() -> None:
    """Progress of the run being watched (or the latest active one). Reads the store only,
    so it keeps working after navigating away and back, and from other browser tabs."""
    store = _ui.get_store()
    active, _ = store.list_runs(status=["running", "queued"], limit=20, sort="id", descending=False)
    recent, _ = store.list_runs(limit=20)
    choices = {r.id: r for r in active}
    watch = st.session_state.get("watch_run")
    if watch and watch not in choices and store.exists(watch):
        choices[watch] = store.get_run(watch)
    for r in recent[:5]:
        choices.setdefault(r.id, r)
    if not choices:
        st.info("No jobs yet. Fill in the form on **New run** and press Submit.", icon=":material/info:")
        return
    ids = list(choices)
    default = ids.index(watch) if watch in ids else 0
    rid = st.selectbox("Run", ids, index=default, key="t_watch_select",
                       format_func=lambda i: _ui.run_label(choices[i]))
    st.session_state["watch_run"] = rid
    r = store.get_run(rid)
    info = r.progress_info or {}
    c = st.columns(4)
    c[0].metric("Status", r.status)
    ep, n_ep = info.get("epoch"), info.get("epochs") or (r.config or {}).get("epochs")
    c[1].metric("Epoch", f"{ep or '—'} / {n_ep or '—'}")
    c[2].metric("Images/s", _ui.fmt_num(info.get("images_per_sec"), 0))
    c[3].metric("ETA", _ui.fmt_duration(info.get("eta_s")) if r.status == "running" else "—")
    st.progress(float(r.progress or 0.0), text=f"{100 * float(r.progress or 0):.0f}% · {info.get('message') or r.status}")
    if r.status in ("running", "queued"):
        if st.button("Cancel", key=f"t_cancel_{r.id}", icon=":material/stop_circle:"):
            _ui.get_jobs().cancel(r.id)
            st.toast(f"Cancel requested for run #{r.id}")
    elif r.status == "succeeded":
        st.success(f"Done: test accuracy {_ui.fmt_num(r.summary.get('accuracy'))}, balanced accuracy "
                   f"{_ui.fmt_num(r.summary.get('balanced_accuracy'))}.")
        st.page_link("pages/runs.py", label=f"Open run #{r.id}", query_params={"run": str(r.id)},
                     icon=":material/open_in_new:")
    elif r.status in ("failed", "interrupted", "cancelled"):
        (st.warning if r.status == "cancelled" else st.error)(f"Run #{r.id} {r.status}. {r.error or ''}")
    hist = store.get_metric_history(r.id) if r.kind == "train" else None
    if hist is not None and not hist.empty:
        from core import plots

        st.plotly_chart(plots.training_curves(hist), width="stretch", key=f"t_curves_{r.id}")
    if r.kind == "lr_find" and r.status == "succeeded":
        res = _lr_result_from_run(r)
        if res:
            show_lr_result(res)


def _lr_result_from_run(r) -> dict | None:
    import json

    for a in r.artifacts:
        if a.kind in ("lr_find", "lr_finder") and a.path.is_file():
            return json.loads(a.path.read_text())
    return None


def queue() -> None:
    st.subheader("Queue")
    rows, total = _ui.get_store().list_runs(status=["queued", "running"], sort="id", descending=False, limit=100)
    if not total:
        st.caption("The queue is empty.")
        return
    st.dataframe(pd.DataFrame([{"id": r.id, "name": r.name, "status": r.status, "dataset": r.dataset,
                                "model": r.model, "progress": r.progress} for r in rows]),
                 hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)})


body()
