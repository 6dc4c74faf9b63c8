"""One predicted image on the Predict page, in detail: the upload, its CAM overlay (computed here,
on demand), the top-k probabilities, the run's facts about the predicted class, the low-precision
and low-confidence hints, the research notice of medical models, and the flag / case-sheet hooks."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.serving.batch import ABSOLUTE_LOW, near_chance_threshold
from core.serving.inference import display_copy, predict_and_explain
from pages import _case_sheet, _flagging, _format

METHODS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "ScoreCAM", "saliency": "Saliency (SmoothGrad)"}
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


def show(ctx: dict, upload, result, index: int) -> None:
    """The detail of upload number ``index``. ``ctx``: store, run, tm, meta, class_names, method,
    target, alpha, top_k, ev (the page's choices and the run's evaluation)."""
    from core.serving.inference import decode_upload

    name = upload.name
    if result is None or result.error or result.probs is None:
        st.error(_format.md_text(f"{name}: {result.error if result else 'not predicted yet'}"),
                 icon=":material/broken_image:")
        return
    for n in result.notices:
        st.info(f"{_format.md_text(name)}: {_format.md_text(n)}", icon=":material/info:")
    for w in result.warnings:
        st.warning(f"{_format.md_text(name)}: {_format.md_text(w)}", icon=":material/warning:")
    out = decode_upload(name, upload.data)  # the image at its own size (the table kept only a thumbnail)
    if not out.ok:
        st.error(_format.md_text(out.error), icon=":material/broken_image:")
        return
    probs, class_names, tm = result.probs, ctx["class_names"], ctx["tm"]
    pred = int(probs.argmax())
    class_index = pred if ctx["target"] == "(predicted)" else class_names.index(ctx["target"])
    with st.spinner(f"Explaining {_format.md_text(name)}…"):
        res = _explained(tm, str(tm.path), tm.path.stat().st_mtime, upload.digest, ctx["method"], class_index,
                         float(ctx["alpha"]), out.image)
    left, mid, right = st.columns([1, 1, 1])
    left.image(display_copy(out.image), caption=f"{_format.md_text(name)} ({out.image.shape[1]}x{out.image.shape[0]})",
               width="stretch", clamp=True)
    key = f"{index}_{upload.digest[:12]}_{ctx['run'].id}"  # the same bytes may be uploaded twice
    _overlay(mid, ctx, name, res, key)
    _probabilities(right, ctx, probs, pred, res, key)
    _hooks(ctx, upload, out, res, probs, result.warnings, key)


def _overlay(where, ctx: dict, name: str, res, key: str) -> None:
    method, class_names = ctx["method"], ctx["class_names"]
    where.image(res.overlay, caption=f"{METHODS[method]} for '{_format.md_text(class_names[res.class_index])}'",
                width="stretch")
    where.download_button("Download overlay (PNG)", data=_format.png_bytes(res.overlay),
                          file_name=f"{name.rsplit('/', 1)[-1].rsplit('.', 1)[0]}_{method}_run{ctx['run'].id}.png",
                          mime="image/png", key=f"p_dl_{key}_{method}", on_click="ignore")


def _probabilities(right, ctx: dict, probs, pred: int, res, key: str) -> None:
    from core.analysis import plots

    class_names = ctx["class_names"]
    fig = plots.probability_bars(probs, class_names, top_k=ctx["top_k"],
                                 title=f"Top {min(ctx['top_k'], len(probs))} probabilities")
    right.plotly_chart(fig, width="stretch", key=f"p_probs_{key}")
    right.markdown(f"**Prediction: {_format.md_text(class_names[pred])}** ({probs[pred]:.1%})")
    if getattr(res, "calibration_note", None):
        right.caption(_format.md_text(res.calibration_note))
    if is_domain_model(ctx["meta"]):
        right.warning(f"**{_format.RESEARCH_NOTICE}**", icon=":material/health_and_safety:")
    hint = low_confidence_hint(float(probs[pred]), len(class_names))
    if hint:
        right.warning(hint, icon=":material/help:")
    predicted_class_facts(right, ctx["ev"], class_names, pred)


def _hooks(ctx: dict, upload, out, res, probs, warnings: list[str], key: str) -> None:
    """'This prediction is wrong' and the case sheet (pages._flagging, pages._case_sheet)."""
    key = f"p_{key}"
    _case_sheet.case_sheet_button(ctx["store"], ctx["run"], ctx["ev"], ctx["class_names"], name=upload.name,
                                  image=out.image, overlay=res.overlay, probs=probs, warnings=list(warnings),
                                  method=ctx["method"], key=f"{key}_sheet")
    _flagging.flag_form(ctx["store"], ctx["run"], ctx["class_names"], upload.data, probs, key=f"{key}_flag")


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
