"""Review flags: the predictions people flagged on Predict as wrong or uncertain. Reviewers (instructors and
admins; in single-user mode the local user) work through the queue, lowest model confidence first: accept the
proposed label, relabel, or reject, each decision kept with its note; they delete flags and export the accepted
ones as a dataset version that Train can use. Everyone else sees, and may delete, only the flags they made."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.validation import LabError
from pages import _format, _frame, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

STATUSES = ["pending", "accepted", "relabelled", "rejected"]
DECISIONS = {"accept": "Accept the proposed label", "relabel": "Relabel (choose the class)", "reject": "Reject"}
SHOWN = 30  # flags drawn at once (the lowest-confidence first)


@_widgets.guarded
def body() -> None:
    st.title("Review flags")
    flash()
    store = _resources.guarded_store()
    review = store.can("review_flags")
    if review:
        st.caption("Predictions flagged on **Predict & explain** as wrong or uncertain, the model's least confident "
                   "first. Accept the proposed label, relabel or reject each; every decision is kept. Accepted and "
                   "relabelled flags can be exported as a dataset version for Train.")
        flags = _filtered_flags(store)
    else:
        st.info(f"You see only the flags you made, and may delete them. {_format.md_text(review.reason)} "
                "Reviewers (instructors and admins) decide on every flag.", icon=":material/visibility:")
        flags = store.list_flags(created_by=store.actor.user_id)
    if not flags:
        st.info(_empty_text(store, bool(review)), icon=":material/flag:")
    if len(flags) > SHOWN:
        st.caption(f"Showing the {SHOWN} least confident of {_format.plural(len(flags), 'flag')}; narrow the filters "
                   "or decide on these first.")
    who = people(store.actor, bool(review))
    for f in flags[:SHOWN]:
        with st.container(border=True):
            show_flag(store, f, review=bool(review), who=who)
    if review:
        st.divider()
        export_section(store)


def _empty_text(store, review: bool) -> str:
    how = "On **Predict & explain**, open \"This prediction is wrong or uncertain\" under a prediction to flag it."
    if not review:
        return "You have not flagged any prediction. " + how
    total = len(store.list_flags())
    if not total:
        return "No flags yet. " + how
    return (f"No flag matches these filters ({_format.plural(total, 'flag')} in all): choose another status or "
            "dataset, or (all).")


def _filtered_flags(store) -> list:
    c = st.columns(2)
    status = c[0].selectbox("Status", ["(all)", *STATUSES], index=1, key="rv_status")
    datasets = sorted({f.dataset for f in store.list_flags()})
    dataset = c[1].selectbox("Dataset", ["(all)", *datasets], key="rv_dataset")
    return store.list_flags(status=None if status == "(all)" else status,
                            dataset=None if dataset == "(all)" else dataset)


def people(actor, review: bool):
    """users.id -> the label shown for who flagged or decided: "you" for the actor; for a reviewer, the
    person's e-mail or name (reviewers read the audit log, which names them too); else "another user"."""
    raw = _resources.get_store()  # labels only: reading another's user record through the guard is manage_users
    seen: dict = {}

    def who(uid) -> str:
        if uid is None:
            return "unknown"
        if uid == actor.user_id:
            return "you"
        if not review:
            return "another user"
        if uid not in seen:
            try:
                seen[uid] = raw.get_user(uid).label
            except LabError:
                seen[uid] = f"user #{uid}"
        return seen[uid]

    return who


def _label(names: list[str], i) -> str:
    return "—" if i is None else (_format.plain_text(names[i]) if 0 <= int(i) < len(names) else f"class {i}")


def show_flag(store, f, *, review: bool, who) -> None:
    left, mid, right = st.columns([1, 2, 2])
    image = _flag_image(store, f)
    if image is not None:
        left.image(image, caption=f"Flag #{f.id}", width="stretch")
    else:
        left.caption(f"Flag #{f.id}: its image file is missing from the flags folder.")
    names = list(f.class_names)
    mid.markdown(f"**Flag #{f.id}** · {_format.md_text(f.status)} · "
                 f"{'wrong' if f.kind == 'wrong' else 'uncertain'} · dataset {_format.md_text(f.dataset)}")
    mid.markdown(f"Model said **{_format.md_text(_label(names, f.predicted))}** ({f.confidence:.1%}); proposed "
                 f"label: **{_format.md_text(_label(names, f.proposed_label))}**"
                 + (f"; final label: **{_format.md_text(_label(names, f.final_label))}**"
                    if f.final_label is not None else ""))
    mid.caption(f"Run #{f.run_id} · flagged by {_format.md_text(who(f.created_by))} "
                f"on {f.created_at:%Y-%m-%d %H:%M} UTC")
    if f.note:
        mid.markdown(f"Note: {_format.md_text(f.note)}")
    probs = pd.DataFrame({"class": [_label(names, i) for i in range(len(names))],
                          "probability": np.round(np.asarray(f.probs, dtype=float), 4)})
    mid.dataframe(probs.sort_values("probability", ascending=False).head(5), hide_index=True, width="stretch")
    with right:
        if review:
            decide_controls(store, f)
        delete_control(store, f)
    history = store.flag_decisions(f.id)
    if history:
        with st.expander(f"Decision history ({len(history)})"):
            st.dataframe(pd.DataFrame([{"when": f"{d.decided_at:%Y-%m-%d %H:%M} UTC", "decision": d.decision,
                                        "label": _label(names, d.label), "note": d.note, "by": who(d.decided_by)}
                                       for d in history]), hide_index=True, width="stretch")


def _flag_image(store, f):
    from core.serving.flagging import flag_image_path

    path = flag_image_path(store, f)
    return path.read_bytes() if path.is_file() else None


def decide_controls(store, f) -> None:
    names = list(f.class_names)
    k = f"rv_{f.id}"
    accept = (f"Accept the proposed label ({_label(names, f.proposed_label)})" if f.proposed_label is not None
              else f"Accept the model's answer ({_label(names, f.predicted)})")
    words = {**DECISIONS, "accept": accept}
    decision = st.radio("Decision", list(DECISIONS), format_func=words.get, key=f"{k}_decision", horizontal=True)
    label = None
    if decision == "relabel":
        start = f.proposed_label if f.proposed_label is not None else f.predicted
        label = st.selectbox("Class", list(range(len(names))), index=int(start), key=f"{k}_label",
                             format_func=lambda i: _label(names, i))
    note = st.text_input("Decision note", key=f"{k}_note", max_chars=2000)
    if st.button("Save decision", key=f"{k}_save", icon=":material/gavel:"):
        with _widgets.single_click(f"{k}_save") as act:
            if act:
                try:
                    new = store.decide_flag(f.id, decision, label=label, note=note.strip(),
                                            decided_by=store.actor.user_id)
                except LabError as err:
                    st.error(_format.md_text(err), icon=":material/error:")
                    return
                st.session_state["rv_flash"] = f"Flag #{new.id} is now {new.status}."
                st.rerun()


def delete_control(store, f) -> None:
    k = f"rv_{f.id}_delete"
    if st.button("Delete flag", key=k, icon=":material/delete:", help="Removes the flag, its decisions and its image."):
        from core.serving.flagging import delete_flag

        try:
            delete_flag(store, f.id)
        except LabError as err:
            st.error(_format.md_text(err), icon=":material/error:")
            return
        st.session_state["rv_flash"] = f"Flag #{f.id} deleted, with its image."
        st.rerun()


def export_section(store) -> None:
    st.subheader("Export accepted flags as a dataset version")
    st.caption("Accepted and relabelled flags of one dataset, with their final labels, become a new version "
               "(named flags-*dataset*-v*N*) that Train lists.")
    datasets = sorted({f.dataset for f in store.list_flags(status=["accepted", "relabelled"])})
    if not datasets:
        st.caption("No accepted or relabelled flags yet: accept or relabel flags above, then export them here.")
        return
    c = st.columns([2, 3], vertical_alignment="bottom")
    dataset = c[0].selectbox("Dataset", datasets, key="rv_export_dataset")
    if c[1].button("Export accepted flags as a dataset version", key="rv_export", icon=":material/dataset:"):
        from core.datasets.flagged import export_flags

        with _widgets.single_click("rv_export") as act:
            if act:
                v = export_flags(store, dataset, decided_by=store.actor.user_id)
                st.session_state["rv_exported"] = {"name": v.name, "n": v.n_images, "sha": v.manifest_sha256,
                                                   "dataset": dataset}
    done = st.session_state.get("rv_exported")
    if done:
        st.success(f"Exported **{_format.md_text(done['name'])}**: {_format.plural(done['n'], 'image')}, manifest "
                   f"sha256 {_format.md_text(done['sha'])}. On **Train** it can be used alone, or added to the "
                   f"training part of {_format.md_text(done['dataset'])} (never its test split).",
                   icon=":material/dataset:")
    earlier = store.list_flag_datasets(dataset)
    if earlier:
        st.caption("Versions exported so far (each keeps its own copy of the images):")
        st.dataframe(pd.DataFrame([{"version": v.name, "images": v.n_images, "flags": len(v.flag_ids),
                                    "exported": v.created_at, "manifest sha256": v.manifest_sha256}
                                   for v in earlier]), hide_index=True, width="stretch")

def flash() -> None:
    """The outcome of the last decision or deletion (the page reran after it)."""
    msg = st.session_state.pop("rv_flash", None)
    if msg:
        st.success(_format.md_text(msg), icon=":material/check:")


body()
