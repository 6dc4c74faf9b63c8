"""The sign-in configuration, checked before anyone can use it: which mode the lab is in (an
``[auth]`` section in Streamlit's secrets = sign-in; none = single-user mode), whether that
``[auth]`` section can be safe, and whether a lab without sign-in listens beyond this machine.

Pure functions over plain mappings: no Streamlit import and no Streamlit cache, so that
``scripts/serve.py`` refuses an unsafe configuration before the server starts, and the page
frame (``pages/_frame.py``) refuses it again on every page (a secrets file changed while the
server runs). docs/AUTH.md describes every setting checked here.
"""
from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: the cookie_secret of the worked example in docs/AUTH.md: refused, like Streamlit's own "xxx"
EXAMPLE_COOKIE_SECRET = "replace-me-with-the-output-of-secrets-token-hex-32"
EXAMPLE_SECRETS = frozenset({EXAMPLE_COOKIE_SECRET, "xxx", "changeme", "change-me", "secret", "cookie_secret"})
MIN_COOKIE_SECRET = 32  # characters: 64 hex digits from secrets.token_hex(32) is what the docs say
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_hex(32))"'
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

EXPOSED_WARNING = (
    "This lab has no sign-in and listens on {address}: anyone who can reach this address can see, "
    "train, change and delete everything. Serve it on 127.0.0.1 (the default), or turn on sign-in "
    "(an [auth] section in .streamlit/secrets.toml, docs/AUTH.md).")


def provider_names(auth: Mapping[str, Any]) -> list[str]:
    """The identity providers an ``[auth]`` section configures: one per sub-section
    (``[auth.keycloak]`` -> "keycloak"), or "default" for the flat form (client_id in [auth])."""
    names = [name for name, value in auth.items() if isinstance(value, Mapping)]
    if not names and any(k in auth for k in PROVIDER_KEYS):
        return ["default"]
    return names


def _provider(auth: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return auth if name == "default" else auth[name]


def auth_problems(auth: Mapping[str, Any]) -> list[str]:
    """What makes an ``[auth]`` section unsafe or unusable, each with what to set ([] when fine)."""
    where = "in the [auth] section of .streamlit/secrets.toml"
    fix = f"set cookie_secret {where} to a long random value, e.g. the output of `{MAKE_SECRET}`"
    problems = []
    secret = auth.get("cookie_secret")
    if not isinstance(secret, str) or not secret.strip():
        problems.append(f"Sign-in is configured without a cookie_secret: {fix}.")
    elif secret.strip().lower() in EXAMPLE_SECRETS:
        problems.append(f"The cookie_secret is an example value from the documentation, which anyone can read: {fix}.")
    elif len(secret) < MIN_COOKIE_SECRET:
        problems.append(f"The cookie_secret is {len(secret)} characters long; at least {MIN_COOKIE_SECRET} "
                        f"are needed: {fix}.")
    redirect = auth.get("redirect_uri")
    if not isinstance(redirect, str) or not redirect.rstrip("/").endswith("/oauth2callback"):
        problems.append("Sign-in needs redirect_uri " + where + ": the lab's address followed by /oauth2callback, "
                        'e.g. redirect_uri = "http://localhost:8501/oauth2callback" (registered with the provider too).')
    names = provider_names(auth)
    if not names:
        problems.append("Sign-in has no identity provider: add a section such as [auth.keycloak] with "
                        + ", ".join(PROVIDER_KEYS) + " (docs/AUTH.md has a worked example).")
    for name in names:
        section = _provider(auth, name)
        missing = [k for k in PROVIDER_KEYS if not section.get(k)]
        if missing:
            label = "[auth]" if name == "default" else f"[auth.{name}]"
            problems.append(f"The provider section {label} lacks {', '.join(missing)}: set "
                            f"{'them' if len(missing) > 1 else 'it'} to the values the identity provider gave the lab.")
    return problems


def is_loopback(address: str | None) -> bool:
    """Whether a server address only accepts connections from this machine (None or "" means
    every interface, Streamlit's default)."""
    if not address:
        return False
    host = address.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposed_warning(address: str | None) -> str:
    return EXPOSED_WARNING.format(address=address or "every network interface (0.0.0.0)")


def read_secrets(paths: Iterable[str | Path]) -> dict[str, Any]:
    """The secrets Streamlit would load from ``paths`` (its ``secrets.files``: TOML files, later
    ones override earlier ones; missing files are skipped). A file that cannot be parsed raises
    ValueError naming it."""
    merged: dict[str, Any] = {}
    for p in paths:
        path = Path(p).expanduser()
        if path.suffix != ".toml" or not path.is_file():
            continue
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"The secrets file {path} cannot be read: {err}") from err
    return merged
