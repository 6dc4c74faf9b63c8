"""Admin: the lab's users (role, disabled) for admins, the role x action table every check reads
(``core.auth.policy``), and the audit log (who did what, when, allowed or denied) with filters and
paging. Every change goes through ``core.auth.guard.GuardedStore``: checked, and written to the
audit log with its before and after."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.auth.policy import ACTIONS, ROLES, matrix
from pages import _format, _frame, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

AUDIT_PAGE_SIZE = 50
SCOPE_WORDS = {"any": "any run", "shared": "own + shared", "own": "own", "none": "—"}


@_widgets.guarded
def body() -> None:
    st.title("Admin")
    users_ok = _resources.may("manage_users")
    log_ok = _resources.may("view_audit_log")
    if not users_ok and not log_ok:
        st.error(_format.md_text(users_ok.reason), icon=":material/lock:")
        return
    store = _resources.guarded_store()
    names = (["Users"] if users_ok else []) + ["Roles and actions"] + (["Audit log"] if log_ok else [])
    tabs = st.tabs(names, key="adm_tab", on_change="rerun")
    sections = {"Users": lambda: users_tab(store), "Roles and actions": roles_tab, "Audit log": lambda: audit_tab(store)}
    for tab, name in zip(tabs, names, strict=True):
        if tab.open is not False:
            with tab:
                sections[name]()


# ------------------------------------------------------------------ users
def users_frame(users) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": u.id, "email": u.email or "", "name": _format.plain_text(u.name or ""), "role": u.role,
        "signs in with": u.issuer, "first seen": _when(u.created_at), "last seen": _when(u.last_seen_at),
        "disabled": "yes" if u.disabled else "",
    } for u in users])


def _when(t) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "—"


def users_tab(store) -> None:
    users = store.list_users()
    st.caption("A role set here overrides the one from the identity provider's claim and takes effect at that "
               "person's next page action; so does disabling. Every change is in the audit log.")
    st.dataframe(users_frame(users), hide_index=True, width="stretch", key="adm_users")
    if not users:
        return
    by_id = {u.id: u for u in users}
    c = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
    uid = c[0].selectbox("User", list(by_id), key="adm_user", format_func=lambda i: f"#{i} {by_id[i].label}")
    u = by_id[uid]
    me = _resources.current_actor().user_id == u.id
    role = c[1].selectbox("Role", list(ROLES), index=list(ROLES).index(u.role), key=f"adm_role_{uid}")
    if c[2].button("Save role", key="adm_save_role", icon=":material/badge:", disabled=role == u.role):
        if me and role != "admin":
            st.error("You cannot take away your own admin role: ask another admin.", icon=":material/block:")
        else:
            store.set_user_role(uid, role)
            st.toast(f"{u.label} is now {role}.")
            st.rerun()
    label = "Enable" if u.disabled else "Disable"
    if c[3].button(label, key="adm_disable", icon=":material/person_off:" if not u.disabled else ":material/person:"):
        if me:
            st.error("You cannot disable yourself: ask another admin.", icon=":material/block:")
        else:
            store.set_user_disabled(uid, not u.disabled)
            st.toast(f"{u.label} {'enabled' if u.disabled else 'disabled'}.")
            st.rerun()


# ------------------------------------------------------------------ the policy
def roles_tab() -> None:
    st.caption("What each role may do, and on which runs: the one table the pages, the command line and the core "
               "library all check. 'own + shared': the person's own runs and those shared with the class.")
    rows = [{"action": r["action"], "what": ACTIONS[r["action"]],
             **{role: SCOPE_WORDS[r[role]] for role in ROLES}} for r in matrix()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="adm_matrix",
                 height=38 + 35 * len(rows))


# ------------------------------------------------------------------ the audit log
def audit_tab(store) -> None:
    c = st.columns([3, 3, 2], vertical_alignment="bottom")
    who = c[0].text_input("Actor (e-mail or name)", key="adm_a_actor").strip() or None
    action = c[1].selectbox("Action", ["(all)", *sorted(set(ACTIONS) | {"sign_in"})], key="adm_a_action")
    denied = c[2].toggle("Denied only", key="adm_a_denied")
    filters = {"actor": who, "action": None if action == "(all)" else action, "allowed": False if denied else None}
    total = store.audit_log(**filters, limit=1)[1]
    if not total:
        st.info("No audit entry matches these filters." if any(v is not None for v in filters.values())
                else "The audit log is empty.", icon=":material/info:")
        return
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="adm_a_page"))
    entries, _ = store.audit_log(**filters, limit=AUDIT_PAGE_SIZE, offset=(page - 1) * AUDIT_PAGE_SIZE)
    first = (page - 1) * AUDIT_PAGE_SIZE + 1
    st.caption(f"{_format.plural(total, 'entry', 'entries')} · showing {first}–{first + len(entries) - 1}, "
               "newest first")
    st.dataframe(audit_frame(entries), hide_index=True, width="stretch", key="adm_audit")


def audit_frame(entries) -> pd.DataFrame:
    return pd.DataFrame([{
        "when": f"{e.at:%Y-%m-%d %H:%M:%S}", "who": e.actor_label, "action": e.action, "target": e.target or "",
        "allowed": "yes" if e.allowed else "DENIED", "reason": e.reason or "",
        "before": _short(e.before), "after": _short(e.after),
    } for e in entries])


def _short(value) -> str:
    if value is None or value == "":
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "…"


body()
