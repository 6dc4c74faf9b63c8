"""A lab with sign-in on for the page tests of roles (AppTest): an ``[auth]`` section in the app's
secrets, one signed-in person per role (``at.user``, the claims Streamlit's OpenID Connect sign-in
gives, with a ``roles`` claim), and a real store whose runs have two owners:

- "bob shared": bob's (a student) real finished digits run, shared with the class;
- "bob private": bob's run, not shared;
- "alice run": alice's (a student) run.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from lab_pages_support import APP, QUICK_CONFIG, lab_environ

ISSUER = "https://idp.example.test/realms/lab"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "3f" * 32,
        "client_id": "lab", "client_secret": "not-used-by-apptest",
        "server_metadata_url": "https://idp.example.test/realms/lab/.well-known/openid-configuration"}
#: role -> (subject, e-mail) of the person signed in with that role
PEOPLE = {"admin": ("u-admin", "ada@uni.test"), "instructor": ("u-inst", "ines@uni.test"),
          "student": ("u-alice", "alice@uni.test"), "viewer": ("u-vic", "vic@clinic.test"),
          "bob": ("u-bob", "bob@uni.test"), "dave": ("u-dave", "dave@uni.test")}
ROLE_OF = {"bob": "student", "dave": "viewer"}


def claims(who: str) -> dict:
    """The ``st.user`` of ``who`` (a role, or "bob"/"dave") signed in through the identity provider."""
    sub, email = PEOPLE[who]
    return {"is_logged_in": True, "iss": ISSUER, "sub": sub, "email": email, "email_verified": True,
            "name": email.split("@")[0].title(), "roles": [ROLE_OF.get(who, who)]}


@contextlib.contextmanager
def lab_with_owners(root: Path):
    """The store at ``root`` (users, runs of bob and alice) and the environment pointing at it
    (job supervisor off: the queued runs stay queued). Yields {"store", "ids", "users", "root"}."""
    from core.jobs import worker
    from core.store import Store

    env = {**lab_environ(root), "LAB_DASHBOARD_SUPERVISOR": "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    store = Store(env["LAB_DATABASE_URL"], models_dir=env["LAB_MODELS_DIR"])
    try:
        users = {}
        for who, (sub, email) in PEOPLE.items():
            users[who] = store.upsert_user(ISSUER, sub, email=email, email_verified=True, role=ROLE_OF.get(who, who),
                                           role_source="claim")
        cfg = {**QUICK_CONFIG, "dataset": {"name": "digits", "params": {"max_per_class": 30}}, "epochs": 1}

        def run(name: str, owner: str) -> int:
            return store.create_run(cfg, name=name, dataset="digits", model=cfg["model"], seed=0,
                                    owner_id=users[owner].id)

        ids = {"bob shared": run("bob shared", "bob"), "bob private": run("bob private", "bob"),
               "alice run": run("alice run", "student")}
        import signal

        saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGTERM)}
        try:
            assert worker.run(ids["bob shared"]) == 0  # the worker's own code path: a real finished run
        finally:
            for s, h in saved.items():
                signal.signal(s, h)
        store.set_shared(ids["bob shared"], True)
        yield {"store": store, "ids": ids, "users": users, "root": root}
    finally:
        store.close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def as_user(lab: dict, who: str | None, page: str, query: dict | None = None, *, timeout: float = 180):
    """The app (sign-in on) with ``who`` signed in (None: nobody), on ``pages/<page>.py``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.secrets["auth"] = dict(AUTH)
    at.user = claims(who) if who else {"is_logged_in": False}
    if query:
        at.query_params.update(query)
    at.run()
    if page != "home" and who:
        at.switch_page(f"pages/{page}.py").run()
    return at


def open_page(lab: dict, who: str, page: str, query: dict | None = None):
    return as_user(lab, who, page, query)
