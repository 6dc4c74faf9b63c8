"""Who is using the lab: Streamlit's own OpenID Connect sign-in (``st.login`` / ``st.user`` /
``st.logout``) turned into the ``core.auth`` actor every page acts as.

Two modes, chosen by the configuration (``pages/_auth_config.py`` checks it):

- no ``[auth]`` section in ``.streamlit/secrets.toml``: single-user mode, the local actor (admin);
- an ``[auth]`` section: a visitor who is not signed in sees only the landing page with "Log in";
  a signed-in person acts as the user the store keeps for their issuer + subject, re-read at
  every page run, so a disabled account or a changed role takes effect at their next action.

The lab stores no passwords and has no OAuth code of its own: Streamlit and its identity
provider do the sign-in; this module only reads the claims Streamlit verified.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.auth.policy import Actor
from pages import _auth_config, _format

ACTOR_KEY = "_lab_actor"  # session state: ((issuer, subject), Actor) of the person signed in
GATE_KEY = "_lab_gate_open"  # session state: gate() let this page run show the lab


def auth_section() -> dict[str, Any] | None:
    """The ``[auth]`` section of Streamlit's secrets, or None (no secrets file, or no such section)."""
    try:
        if not st.secrets.load_if_toml_exists() or "auth" not in st.secrets:
            return None
        section = st.secrets["auth"]
    except Exception:  # noqa: BLE001 - an unreadable secrets file: Streamlit reports it at start
        return None
    return section.to_dict() if hasattr(section, "to_dict") else dict(section or {})


def auth_enabled() -> bool:
    """Sign-in is on: ``.streamlit/secrets.toml`` has an ``[auth]`` section."""
    return auth_section() is not None


def config_problems() -> list[str]:
    """Why the sign-in configuration cannot be used safely ([] when it can, or when it is off)."""
    section = auth_section()
    return [] if section is None else _auth_config.auth_problems(section)


def signed_in() -> bool:
    """A person signed in through the identity provider (False in single-user mode)."""
    try:
        return bool(st.user.get("is_logged_in"))
    except Exception:  # noqa: BLE001 - no script run context
        return False


def may_see_lab() -> bool:
    """Whether this page run may show anything of the lab (runs, jobs, the store's address):
    single-user mode, or a person whose account ``gate()`` accepted in this run."""
    return not auth_enabled() or bool(st.session_state.get(GATE_KEY))


_STORE_SOURCE: list[Callable[[], Any]] = []  # the cached store's getter, given by the frame (no import cycle)


def use_store(getter: Callable[[], Any]) -> None:
    """Where the actor's user record is read: ``pages._frame`` passes ``_resources.get_store``
    (``_resources`` imports this module for ``guarded_store``, so this one cannot import it)."""
    _STORE_SOURCE[:] = [getter]


def _store():
    if not _STORE_SOURCE:
        raise RuntimeError("pages._auth has no store: pages._frame calls use_store(_resources.get_store) first")
    return _STORE_SOURCE[0]()


def current_actor() -> Actor | None:
    """The actor of this page run: the local admin in single-user mode; the signed-in person
    (their stored user, refreshed now: ``Denied`` when disabled); None when nobody is signed in."""
    from core.auth import actors

    if not auth_enabled():
        return actors.local_actor(_store())
    if not signed_in():
        st.session_state.pop(ACTOR_KEY, None)
        return None
    claims = st.user.to_dict()
    key = (str(claims.get("iss") or ""), str(claims.get("sub") or ""))
    known = st.session_state.get(ACTOR_KEY)
    try:
        if known is None or known[0] != key:
            actor = actors.actor_from_claims(_store(), claims, provider=str(claims.get("provider") or "default"))
        else:
            actor = actors.refresh_actor(_store(), known[1])
    except Exception:
        st.session_state.pop(ACTOR_KEY, None)
        raise
    st.session_state[ACTOR_KEY] = (key, actor)
    return actor


def gate() -> Callable[[], None] | None:
    """Who may go on, checked once per page run by the frame: None when the lab may be shown
    (single-user mode, or a signed-in person whose account is enabled, re-read now); else the
    one view this visitor gets instead: the configuration refused, the landing page with
    "Log in", a disabled account's refusal, or the store that cannot be read."""
    from core.auth.guard import Denied

    st.session_state[GATE_KEY] = False
    if not auth_enabled():
        st.session_state[GATE_KEY] = True
        return None
    problems = config_problems()
    if problems:
        return functools.partial(config_refused_page, problems)
    if not signed_in():
        st.session_state.pop(ACTOR_KEY, None)
        return landing_page
    try:
        current_actor()
    except Denied as err:
        return functools.partial(refused_page, str(err))
    except Exception as err:  # noqa: BLE001 - the store cannot be read: nobody can be checked
        return functools.partial(store_error_page, str(err))
    st.session_state[GATE_KEY] = True
    return None


def require_actor() -> Actor:
    """The actor of this page run; the landing page (and ``st.stop()``) when nobody is signed in,
    a refusal with "Log out" when the person's account is disabled."""
    view = gate() if not st.session_state.get(GATE_KEY) else None
    if view is not None:
        view()
        st.stop()
    actor = current_actor()
    assert actor is not None
    return actor


def login_buttons() -> None:
    """One "Log in" button per configured identity provider (``st.login``)."""
    names = _auth_config.provider_names(auth_section() or {})
    for name in names or ["default"]:
        label = "Log in" if len(names) <= 1 else f"Log in with {name}"
        provider = None if name == "default" else name
        st.button(label, type="primary", icon=":material/login:", key=f"login_{name}",
                  on_click=st.login, args=(provider,) if provider else ())


def landing_page() -> None:
    """What a visitor who is not signed in sees: what the lab is, and "Log in". Nothing else."""
    st.title("Image-classification lab")
    st.markdown("Sign in with your organisation's account to train, compare and use image classifiers. "
                "What you can see and do depends on the role your account has in the lab.")
    login_buttons()


def config_refused_page(problems: list[str]) -> None:
    st.title("Image-classification lab")
    st.error("The lab's sign-in is configured in a way that cannot be safe, so it does not start:\n\n"
             + "\n".join(f"- {_format.md_text(p)}" for p in problems)
             + "\n\nFix .streamlit/secrets.toml (docs/AUTH.md) and restart the lab.", icon=":material/gpp_bad:")


def store_error_page(err: str) -> None:
    st.title("Image-classification lab")
    st.error("The lab cannot check who you are because its run store cannot be read: "
             f"{_format.md_text(err[:300])}. Try again in a moment, or tell the lab's administrator.",
             icon=":material/cloud_off:")


def refused_page(reason: str) -> None:
    st.title("Image-classification lab")
    st.error(_format.md_text(reason), icon=":material/block:")
    st.button("Log out", icon=":material/logout:", key="logout_refused", on_click=st.logout)


def sign_out_button() -> None:
    """Who is signed in, their role, and "Log out" (the sidebar of every page); nothing in
    single-user mode."""
    known = st.session_state.get(ACTOR_KEY)
    if not auth_enabled() or not signed_in() or known is None:
        return
    actor: Actor = known[1]
    st.caption(f"Signed in as **{_format.md_text(actor.label)}** · role: **{actor.role}**")
    st.button("Log out", icon=":material/logout:", key="logout", on_click=st.logout)
