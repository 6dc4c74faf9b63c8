"""'This prediction is wrong' on Predict: a flag with the correct label, a note and consent."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.validation import LabError
from pages import _format, _widgets

KINDS = {"wrong": "This prediction is wrong", "uncertain": "I am not sure about this prediction"}
MAX_NOTE = 2000


def flag_form(store, run, class_names: list[str], image_bytes: bytes, probs, *, key: str) -> None:
    """Render the flag form for one predicted image (an expander); nothing is stored without consent."""
    decision = store.can("flag", run)
    if not decision:
        st.caption(f":material/lock: Flagging this prediction: {_format.md_text(decision.reason)}")
        return
    done = st.session_state.get(f"{key}_flag_id")
    if done is not None:  # flagged in an earlier run of the page
        st.success(saved_text(done), icon=":material/flag:")
        return
    with st.expander("This prediction is wrong or uncertain", icon=":material/flag:"):
        fid = _form(store, run, list(class_names), image_bytes, probs, key=key)
    if fid is not None:  # below the expander, so it shows whether or not the expander stays open
        st.session_state[f"{key}_flag_id"] = fid
        st.success(saved_text(fid), icon=":material/flag:")


def saved_text(flag_id: int) -> str:
    return (f"Flag #{flag_id} saved — **pending review** by an instructor. Reviewers see it on **Review flags**; "
            "you can find (and delete) it there too.")


def _form(store, run, class_names: list[str], image_bytes: bytes, probs, *, key: str) -> int | None:
    """The form; the new flag's id once submitted and stored, else None (a message says what was wrong)."""
    from core.serving.flagging import CONSENT_TEXT

    p = np.asarray(probs, dtype=float).ravel()
    pred = int(np.argmax(p)) if p.size else 0
    with st.form(key=f"{key}_flag_form", border=False):
        kind = st.radio("What is the matter?", list(KINDS), format_func=KINDS.get, key=f"{key}_flag_kind",
                        horizontal=True)
        choices = [None, *range(len(class_names))]
        label = st.selectbox("The correct label", choices, key=f"{key}_flag_label",
                             format_func=lambda i: "(I do not know)" if i is None else
                             _format.plain_text(class_names[i]) + (" (the model's answer)" if i == pred else ""),
                             help="Required for 'wrong'; optional when you are unsure.")
        note = st.text_area("Note (optional)", key=f"{key}_flag_note", max_chars=MAX_NOTE,
                            placeholder="Why you think so: what the image shows, where it comes from (no names "
                                        "or patient details).")
        consent = st.checkbox(_format.md_text(CONSENT_TEXT), key=f"{key}_flag_consent")
        submitted = st.form_submit_button("Submit flag", icon=":material/flag:")
    if not submitted:
        return None
    problem = _problem(kind, label, pred, consent, class_names)
    if problem:
        st.error(problem, icon=":material/error:")
        return None
    with _widgets.single_click(f"{key}_flag") as act:
        if not act:
            return None
        try:
            return _submit(store, run, class_names, image_bytes, p, kind=kind, label=label, note=note,
                           consent=consent)
        except LabError as err:
            st.error(f"The flag was not saved: {_format.md_text(err)}", icon=":material/block:")
            return None


def _problem(kind: str, label, pred: int, consent: bool, class_names: list[str]) -> str | None:
    """What is wrong with the form as submitted (in words), else None."""
    if not consent:
        return "Tick the consent box to submit the flag: nothing is stored without it."
    if kind == "wrong" and label is None:
        return "Pick the correct label for a wrong prediction (or choose 'I am not sure about this prediction')."
    if kind == "wrong" and label == pred:
        return (f"The correct label you picked, '{_format.md_text(class_names[pred])}', is the model's own answer. "
                "Pick another class, or choose 'I am not sure about this prediction'.")
    return None


def _submit(store, run, class_names, image_bytes, p, *, kind, label, note, consent) -> int:
    from core.serving.flagging import flag_prediction

    actor = getattr(store, "actor", None)
    return flag_prediction(store, run.id, image_bytes, [float(x) for x in p], kind=kind,
                           proposed_label=None if label is None else int(label), note=(note or "").strip(),
                           consent=bool(consent), class_names=list(class_names),
                           created_by=getattr(actor, "user_id", None))
