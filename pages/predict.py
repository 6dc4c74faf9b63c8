"""Predict & explain: a finished run + uploaded images (or zips of images) -> a sortable table of
every image's probabilities from one batched pass (ONNX Runtime when the run has a verified export,
else Keras), and for a selected image a CAM overlay (Grad-CAM, Grad-CAM++, ScoreCAM, saliency), the
run's per-class sensitivity/specificity and warnings when an image does not look like the training
data. Uploads stay in memory. The table is ``pages._predict_table``, the detail ``pages._predict_detail``,
the batched pass ``pages._predict_run``, the zips ``pages._predict_inputs``."""
from __future__ import annotations

import streamlit as st

from pages import (
    _artifacts,
    _format,
    _frame,
    _predict_detail,
    _predict_inputs,
    _predict_run,
    _predict_table,
    _resources,
    _streamlit_internals,
    _widgets,
)

_streamlit_internals.ensure_frame(_frame.navigation)

METHODS = _predict_detail.METHODS
FEW = 3  # up to this many uploads, every image's detail opens at once (more: select a row of the table)


@_widgets.guarded
def body() -> None:
    st.title("Predict & explain")
    store = _resources.guarded_store()  # the runs this session's actor may predict with
    run = choose_run(store)
    if run is None:
        return
    # the run's meta names the classes and the domain: the model itself (TensorFlow) is
    # loaded only once there is an image to predict, so the page shows at once
    ev, _, meta = _artifacts.run_artifacts(run)
    tm = None
    if not meta.get("class_names"):  # an older run without a meta file: ask the model
        with st.spinner("Loading the model…"):
            tm = _artifacts.load_run_model(run)
        meta = tm.meta
    class_names = list(meta.get("class_names") or [])
    if _predict_detail.is_domain_model(meta):
        st.warning(f"**{_format.RESEARCH_NOTICE}** It is repeated beside every prediction of this model.",
                   icon=":material/health_and_safety:")
    ctx = {"store": store, "run": run, "meta": meta, "class_names": class_names, "ev": ev,
           **explanation_settings(class_names)}
    inputs = read_uploads()
    if inputs is None:
        return
    if tm is None:
        with st.spinner("Loading the model…"):
            tm = _artifacts.load_run_model(run)
    ctx["tm"] = tm
    show_predictions(ctx, inputs.uploads)


def choose_run(store):
    """The dataset filter and the run selector (champion or ?run= preselected); None (with a message)
    when there is no run to choose."""
    c = st.columns([1, 3])
    datasets = [i.name for i in _resources.cached_dataset_infos()]
    ds_filter = c[0].selectbox("Dataset", ["(all)"] + datasets, key="p_ds")
    # the newest 100 succeeded training runs (of that dataset); ?run= adds an older one
    rows, total = store.list_runs(status="succeeded", kind="train", dataset=None if ds_filter == "(all)" else ds_filter,
                                  limit=100)
    if not total and ds_filter == "(all)":
        st.info("No trained models yet. Train one on **Train** (or the quick start on **Home**), then come back "
                "to upload images.", icon=":material/info:")
        return None
    pre = st.query_params.get("run")
    if pre and pre.isdigit() and int(pre) not in {r.id for r in rows} and store.exists(int(pre)):
        r = store.get_run(int(pre))  # a run outside the newest 100, asked for by ?run=
        if r.status == "succeeded":
            rows.insert(0, r)
    if not rows:
        st.info(f"No succeeded runs on {ds_filter} yet. Choose another dataset or train one on **Train**.")
        return None
    champs = store.champions()
    idx = preselected(store, rows, pre, champs, None if ds_filter == "(all)" else ds_filter)
    ids = [r.id for r in rows]
    labels = {r.id: _format.run_label(r) + (" · ★ champion" if champs.get(r.dataset) == r.id else "") for r in rows}
    rid = c[1].selectbox("Model (a succeeded run)", ids, index=idx, format_func=labels.get, key="p_run")
    run = store.get_run(rid)
    champion_caption(store, run, champs)
    return run


def explanation_settings(class_names: list[str]) -> dict:
    c = st.columns(4)
    method = c[0].selectbox("Explanation", list(METHODS), format_func=METHODS.get, key="p_method")
    target = c[1].selectbox("Target class", ["(predicted)"] + class_names, key="p_target")
    alpha = c[2].slider("Overlay opacity", 0.0, 1.0, 0.45, 0.05, key="p_alpha")
    top_k = int(c[3].number_input("Top k", 1, max(1, len(class_names)), min(5, max(1, len(class_names))), key="p_topk"))
    return {"method": method, "target": target, "alpha": alpha, "top_k": top_k}


def read_uploads():
    """The uploaded images, zips opened (their messages shown); None while there is nothing to predict."""
    files = st.file_uploader(
        "Images (JPEG, PNG, TIFF, BMP, WebP, GIF) or zip archives of images — kept in memory, never written to disk",
        type=[*_widgets.UPLOAD_TYPES, "zip"], accept_multiple_files=True, key="p_files",
        help="Select many images at once, or upload a .zip (folders inside are fine). Each file may be up to the "
             "server's upload limit (server.maxUploadSize in .streamlit/config.toml).")
    if not files:
        st.info("Upload one or more images, or a zip of images, to get the model's probabilities for each and "
                "an explanation overlay.")
        return None
    sig = tuple((f.name, getattr(f, "file_id", ""), f.size) for f in files)
    memo = st.session_state.get("_p_inputs")
    if memo is None or memo[0] != sig:  # a zip is opened once per upload, not on every rerun
        memo = (sig, _predict_inputs.read_inputs([(f.name, f.getvalue()) for f in files]))
        st.session_state["_p_inputs"] = memo
    inputs = memo[1]
    for kind, text in inputs.messages:
        getattr(st, kind)(_format.md_text(text), icon=":material/folder_zip:")
    return inputs if inputs.uploads else None


def show_predictions(ctx: dict, uploads) -> None:
    """The batched probabilities of every upload; the table (two or more images) and the detail of the
    selected image (or of each one when there are only a few)."""
    results = _predict_run.results(ctx["tm"], uploads)
    selected = None
    if len(uploads) > 1:
        notice = _format.RESEARCH_NOTICE if _predict_detail.is_domain_model(ctx["meta"]) else None
        selected = _predict_table.show(uploads, results, ctx["class_names"], ctx["run"].id, notice=notice)
    if len(uploads) > FEW:
        _predict_table.error_summary(uploads, results)
        if selected is None:
            st.caption("Select a row of the table to see that image's explanation overlay and details.")
            return
    picks = [selected] if selected is not None else [i for i, r in enumerate(results) if r is not None]
    for i in picks:
        with st.container(border=True):
            _predict_detail.show(ctx, uploads[i], results[i], i)


def champion_caption(store, run, champs: dict[str, int]) -> None:
    """A caption when the chosen run is the champion of its dataset: since when, set by whom."""
    if run.dataset and champs.get(run.dataset) == run.id:
        e = store.champion(run.dataset)
        if e is not None:
            st.caption(f":material/star: Champion of {_format.md_text(run.dataset)} since {e.set_at:%Y-%m-%d %H:%M} "
                       f"(set by {_format.md_text(e.set_by or '?')}).")


def preselected(store, rows: list, pre: str | None, champs: dict[str, int], dataset: str | None) -> int:
    """Index in ``rows`` of the run to preselect: an explicit ``?run=`` deep link, else the champion
    of the dataset shown (or, for all datasets, of the newest run's dataset), else the newest run.
    A champion older than the newest 100 runs is added to ``rows``."""
    ids = [r.id for r in rows]
    if pre and pre.isdigit() and int(pre) in ids:
        return ids.index(int(pre))
    champ = champs.get(dataset if dataset is not None else rows[0].dataset)
    if champ is None:
        return 0
    if champ not in ids:
        if not store.exists(champ):
            return 0
        rows.insert(0, store.get_run(champ))
        return 0
    return ids.index(champ)


body()
