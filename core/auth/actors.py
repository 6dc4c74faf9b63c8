"""Who is acting: the single user of a lab without sign-in, the local operator (the CLI and
``python -m core jobs serve``), or a person signed in through an OpenID Connect provider.

    actor = local_actor(store)                               # single-user mode: the local admin
    actor = operator_actor(store)                            # the operating-system user
    actor = actor_from_claims(store, st.user, provider="keycloak")   # at sign-in
    actor = refresh_actor(store, actor)                      # at every page action

Settings (environment):

LAB_OPERATOR_ROLE     the operator's role (default admin: whoever runs the CLI has the store's credentials)
LAB_ROLE_CLAIM        the ID-token claim holding roles or groups (default "roles"; a list or a string)
LAB_ROLE_MAP          claim value -> role, "lab-admin=admin,teacher=instructor" (a value that is a
                      role's name maps to that role)
LAB_ADMINS            e-mails that are admins, matched only when the provider verified the e-mail
LAB_ADMINS_PROVIDERS  the providers whose verified e-mails LAB_ADMINS trusts (default: any configured one)
LAB_DEFAULT_ROLE      the role of a new user no claim and no admin gave one (default viewer)

An admin's choice (Admin page, ``python -m core users set-role``) is kept at later sign-ins;
otherwise the role is worked out again at each sign-in. A disabled user gets ``Denied``.
"""
from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from core.auth.guard import Denied
from core.auth.policy import ROLES, Actor
from core.validation import ValidationError, check_text

LOCAL_ACTOR = Actor(user_id=1, label="local", role="admin", kind="local")
"""The single user of a lab without sign-in (the migration's local user is the store's first
user). ``local_actor(store)`` reads its id from the store."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def _role_setting(name: str, default: str) -> str:
    role = _env(name, default)
    if role not in ROLES:
        raise ValidationError(f"{name}={role!r} is not a role; accepted: {', '.join(ROLES)}.")
    return role


def _disabled(label: str) -> Denied:
    return Denied(f"The account {label} is disabled in this lab. Ask an admin of the lab to enable it again.",
                  action="sign_in")


def local_actor(store) -> Actor:
    """The local user (admin, kind "local"): the single user of a lab without sign-in."""
    user = store.local_user()
    return Actor(user_id=user.id, label=user.label, role="admin", kind="local")


def operator_actor(store) -> Actor:
    """The operating-system user running the CLI or ``core jobs serve`` (user issuer "os", subject
    "<login>@<host>"), with the role of ``LAB_OPERATOR_ROLE`` (default admin)."""
    try:
        login = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        login = "unknown"
    role = _role_setting("LAB_OPERATOR_ROLE", "admin")
    user = store.upsert_user("os", f"{login}@{socket.gethostname()}"[:255], name=_clean(login, "name"),
                             role=role, role_source="operator")
    if user.disabled:
        raise _disabled(user.label)
    if user.role != role:
        user = store.set_user_role(user.id, role, source="operator")
    return Actor(user_id=user.id, label=user.label, role=role, kind="operator", email=user.email)


def _clean(value: Any, what: str) -> str | None:
    """A claim's text the store accepts, else None (an odd name must not lock a person out)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        text = check_text(value.strip(), what)
    except ValidationError:
        return None
    return text if len(text) <= (320 if what == "email" else 200) else None


def _listed(text: str) -> list[str]:
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


def role_map() -> dict[str, str]:
    """``LAB_ROLE_MAP`` as a dict (ValidationError naming a pair that is not ``value=role``)."""
    out: dict[str, str] = {}
    for pair in _listed(_env("LAB_ROLE_MAP")):
        value, eq, role = pair.partition("=")
        if not eq or role.strip() not in ROLES or not value.strip():
            raise ValidationError(f"LAB_ROLE_MAP holds {pair!r}; each entry must be 'claim value=role' with a "
                                  f"role among {', '.join(ROLES)} (e.g. 'lab-admin=admin,teacher=instructor').")
        out[value.strip()] = role.strip()
    return out


def role_from_claims(claims: Mapping, *, provider: str) -> tuple[str, str]:
    """The role a token gives and how: ("instructor", "claim"), ("admin", "admins_list") or the
    default role ("viewer", "default"). Of several roles in the claim, the widest wins."""
    raw = claims.get(_env("LAB_ROLE_CLAIM", "roles"))
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list | tuple) else []
    mapping = role_map()
    found = {mapping.get(str(v), str(v) if str(v) in ROLES else None) for v in values} - {None}
    if found:
        return min(found, key=ROLES.index), "claim"
    email = claims.get("email")
    verified = claims.get("email_verified") is True or str(claims.get("email_verified")).lower() == "true"
    admins = {e.lower() for e in _listed(_env("LAB_ADMINS"))}
    providers = _listed(_env("LAB_ADMINS_PROVIDERS"))
    if isinstance(email, str) and verified and email.strip().lower() in admins and (not providers or provider in providers):
        return "admin", "admins_list"
    return _role_setting("LAB_DEFAULT_ROLE", "viewer"), "default"


def actor_from_claims(store, claims: Mapping, *, provider: str) -> Actor:
    """The signed-in person of an ID token's ``claims`` (recorded or updated in the store, by
    issuer and subject). ``Denied`` when the user is disabled."""
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not issuer.strip() or not isinstance(subject, str) or not subject.strip():
        raise Denied("The identity provider's token names no issuer ('iss') or subject ('sub'); the lab cannot "
                     "tell who you are. Ask the provider's administrator to include both.", action="sign_in")
    email, name = _clean(claims.get("email"), "email"), _clean(claims.get("name") or claims.get("preferred_username"), "name")
    verified = claims.get("email_verified") is True or str(claims.get("email_verified")).lower() == "true"
    known = store.find_user(issuer.strip(), subject.strip())
    role, source = (known.role, "admin") if known is not None and known.role_source == "admin" else \
        role_from_claims(claims, provider=provider)
    user = store.upsert_user(issuer, subject, email=email, email_verified=verified, name=name, role=role,
                             role_source=source)
    if user.disabled:
        raise _disabled(user.label)
    if user.role_source != "admin" and (user.role, user.role_source) != (role, source):
        user = store.set_user_role(user.id, role, source=source)
    return Actor(user_id=user.id, label=user.label, role=user.role, kind="user", email=user.email)


def refresh_actor(store, actor: Actor) -> Actor:
    """``actor`` with the role the store has now (one small query); ``Denied`` when the user was
    disabled. Called at every page action, so a change takes effect at the person's next action."""
    if actor.user_id is None:
        return actor
    user = store.get_user(actor.user_id)
    if user.disabled:
        raise _disabled(user.label)
    if actor.kind == "local":
        return actor
    return actor if user.role == actor.role else replace(actor, role=user.role)
