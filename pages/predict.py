"""Predict & explain: a finished run + uploaded images -> top-k probabilities, a CAM overlay
(Grad-CAM, Grad-CAM++, ScoreCAM, saliency), the run's per-class sensitivity/specificity,
warnings when an image does not look like the training data. Uploads stay in memory."""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from core.serving.batch import ABSOLUTE_LOW, near_chance_threshold
from core.serving.inference import decode_upload, display_copy, predict_and_explain
from pages import _artifacts, _format, _frame, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

METHODS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "ScoreCAM", "saliency": "Saliency (SmoothGrad)"}


@_widgets.guarded
def body() -> None:
    st.title("Predict & explain")
    store = _resources.guarded_store()  # the runs this session's actor may predict with
    c = st.columns([1, 3])
    datasets = [i.name for i in _resources.cached_dataset_infos()]
    ds_filter = c[0].selectbox("Dataset", ["(all)"] + datasets, key="p_ds")
    # the newest 100 succeeded training runs (of that dataset); ?run= adds an older one
    rows, total = store.list_runs(status="succeeded", kind="train", dataset=None if ds_filter == "(all)" else ds_filter,
                                  limit=100)
    if not total and ds_filter == "(all)":
        st.info("No trained models yet. Train one on **Train** (or the quick start on **Home**), then come back "
                "to upload images.", icon=":material/info:")
        return
    pre = st.query_params.get("run")
    if pre and pre.isdigit() and int(pre) not in {r.id for r in rows} and store.exists(int(pre)):
        r = store.get_run(int(pre))  # a run outside the newest 100, asked for by ?run=
        if r.status == "succeeded":
            rows.insert(0, r)
    if not rows:
        st.info(f"No succeeded runs on {ds_filter} yet. Choose another dataset or train one on **Train**.")
        return
    champs = store.champions()
    idx = preselected(store, rows, pre, champs, None if ds_filter == "(all)" else ds_filter)
    ids = [r.id for r in rows]
    labels = {r.id: _format.run_label(r) + (" · ★ champion" if champs.get(r.dataset) == r.id else "") for r in rows}
    rid = c[1].selectbox("Model (a succeeded run)", ids, index=idx, format_func=labels.get, key="p_run")
    run = store.get_run(rid)
    champion_caption(store, run, champs)
    # the run's meta names the classes and the domain: the model itself (TensorFlow) is
    # loaded only once there is an image to predict, so the page shows at once
    ev, _, meta = _artifacts.run_artifacts(run)
    tm = None
    if not meta.get("class_names"):  # an older run without a meta file: ask the model
        with st.spinner("Loading the model…"):
            tm = _artifacts.load_run_model(run)
        meta = tm.meta
    class_names = list(meta.get("class_names") or [])
    if is_domain_model(meta):
        st.warning(f"**{_format.RESEARCH_NOTICE}** It is repeated beside every prediction of this model.",
                   icon=":material/health_and_safety:")

    c = st.columns(4)
    method = c[0].selectbox("Explanation", list(METHODS), format_func=METHODS.get, key="p_method")
    target = c[1].selectbox("Target class", ["(predicted)"] + class_names, key="p_target")
    alpha = c[2].slider("Overlay opacity", 0.0, 1.0, 0.45, 0.05, key="p_alpha")
    top_k = int(c[3].number_input("Top k", 1, max(1, len(class_names)), min(5, max(1, len(class_names))), key="p_topk"))

    files = st.file_uploader("Images (JPEG, PNG, TIFF, BMP, WebP, GIF) — kept in memory, never written to disk",
                             type=_widgets.UPLOAD_TYPES, accept_multiple_files=True, key="p_files")
    if not files:
        st.info("Upload one or more images to get the model's probabilities and an explanation overlay.")
        return
    if tm is None:
        with st.spinner("Loading the model…"):
            tm = _artifacts.load_run_model(run)
    for f in files:
        with st.container(border=True):
            show_one(f.name, f.getvalue(), tm, meta, class_names, method, target, alpha, top_k, ev, run.id)


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


DOMAIN_MODELS = ("lesion", "fundus")  # medical images: the research-use notice goes beside each prediction


def is_domain_model(meta: dict) -> bool:
    return (meta or {}).get("domain") in DOMAIN_MODELS


def low_confidence_hint(p: float, k: int) -> str | None:
    """A plain-language hint when the top-1 probability ``p`` (of ``k`` classes) is low, else None."""
    if k < 2 or p != p:
        return None
    chance = 1.0 / k
    if p < near_chance_threshold(k):
        return (f"**Low confidence — close to a guess.** The top class gets {p:.0%}, while picking one of the "
                f"{k} classes at random would give {chance:.0%} each. Do not rely on it; the image may be "
                "ambiguous, of another kind than the training images, or the model too weak.")
    if p < ABSOLUTE_LOW:
        return (f"**Low confidence.** The top class gets only {p:.0%}: by the model's own probabilities this "
                f"answer is more likely wrong than right (chance level is {chance:.0%}). Look at the other "
                "classes in the chart before using it.")
    return None


@st.cache_data(max_entries=64, show_spinner=False)
def _explained(_tm, model_path: str, model_mtime: float, digest: str, method: str, class_index, alpha: float, _image):
    """Probabilities and overlay of one upload, cached per (model file, bytes, method, class, opacity)
    so that reruns of the page (another widget changed) do not recompute the CAM."""
    return predict_and_explain(_tm, _image, method=method, class_index=class_index, alpha=alpha)


def show_one(name, data, tm, meta, class_names, method, target, alpha, top_k, ev, run_id) -> None:
    out = decode_upload(name, data, meta)
    if not out.ok:
        st.error(_format.md_text(out.error), icon=":material/broken_image:")
        return
    for n in out.notices:
        st.info(f"{_format.md_text(name)}: {_format.md_text(n)}", icon=":material/info:")
    for w in out.warnings:
        st.warning(f"{_format.md_text(name)}: {_format.md_text(w)}", icon=":material/warning:")
    class_index = None if target == "(predicted)" else class_names.index(target)
    with st.spinner(f"Predicting and explaining {_format.md_text(name)}…"):
        res = _explained(tm, str(tm.path), tm.path.stat().st_mtime, hashlib.sha1(data).hexdigest(), method,
                         class_index, float(alpha), out.image)
    probs = res.probs
    order = probs.argsort()[::-1][:top_k]
    pred = int(order[0])
    left, mid, right = st.columns([1, 1, 1])
    left.image(display_copy(out.image), caption=f"{_format.md_text(name)} ({out.image.shape[1]}x{out.image.shape[0]})",
               width="stretch", clamp=True)
    mid.image(res.overlay, caption=f"{METHODS[method]} for '{_format.md_text(class_names[res.class_index])}'", width="stretch")
    mid.download_button("Download overlay (PNG)", data=_format.png_bytes(res.overlay),
                        file_name=f"{name.rsplit('.', 1)[0]}_{method}_run{run_id}.png", mime="image/png",
                        key=f"p_dl_{name}_{run_id}_{method}", on_click="ignore")
    from core.analysis import plots

    fig = plots.probability_bars(probs, class_names, top_k=top_k, title=f"Top {len(order)} probabilities")
    right.plotly_chart(fig, width="stretch", key=f"p_probs_{name}")
    right.markdown(f"**Prediction: {_format.md_text(class_names[pred])}** ({probs[pred]:.1%})")
    if getattr(res, "calibration_note", None):
        right.caption(_format.md_text(res.calibration_note))
    if is_domain_model(meta):
        right.warning(f"**{_format.RESEARCH_NOTICE}**", icon=":material/health_and_safety:")
    hint = low_confidence_hint(float(probs[pred]), len(class_names))
    if hint:
        right.warning(hint, icon=":material/help:")
    predicted_class_facts(right, ev, class_names, pred)


def predicted_class_facts(right, ev, class_names, pred: int) -> None:
    """Beside a prediction: how the predicted class fared on the run's test split, with a warning when a
    prediction of it was usually wrong there (``core.analysis.verdicts.low_precision_warning``)."""
    from core.analysis.verdicts import low_precision_warning
    from pages._verdicts import low_precision_hint

    if not ev:
        return
    if list(ev.get("class_names") or []) == list(class_names):
        low_precision_hint(low_precision_warning(ev, pred), where=right)
    per_class = pd.DataFrame(ev["per_class"]).set_index("class")
    if class_names[pred] in per_class.index:
        row = per_class.loc[class_names[pred]]
        right.caption(f"On the run's test split, class '{_format.md_text(class_names[pred])}' had sensitivity "
                      f"{_format.fmt_num(row.get('sensitivity'))} and specificity {_format.fmt_num(row.get('specificity'))} "
                      f"(precision {_format.fmt_num(row.get('precision'))}, n={int(row.get('support', 0))}).")
        with right.expander("All classes on the test split"):
            st.dataframe(per_class[["sensitivity", "specificity", "precision", "support"]], width="stretch")


body()
