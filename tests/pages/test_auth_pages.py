"""Sign-in in the app's frame (pages/_auth.py, pages/_frame.py) with AppTest's simulated user:
single-user mode needs nothing; with an [auth] section a visitor who is not signed in sees the
landing page and nothing of the lab; each role signed in sees the lab with who they are; a user
disabled in the store is refused at their next page run; an unsafe configuration is refused (here
and by scripts/serve.py before the server starts); a lab without sign-in on a public address warns."""
from __future__ import annotations

import sys

import pytest

from lab_pages_support import APP, PROJECT_ROOT, env_store, page_texts, problems

pytestmark = pytest.mark.slow

ROLE_MAP = "lab-admin=admin,teacher=instructor,clinician=viewer"
CLAIM_FOR = {"admin": "lab-admin", "instructor": "teacher", "student": "student", "viewer": "clinician"}
ISSUER = "https://idp.example.test/realms/lab"


def auth_secrets(**changes) -> dict:
    auth = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "9f" * 32,
            "testidp": {"client_id": "lab", "client_secret": "s3cr3t",
                        "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration"}}
    auth.update(changes)
    return {"auth": {k: v for k, v in auth.items() if v is not None}}


def run_app(*, secrets: dict | None = None, user: dict | None = None, at=None):
    from streamlit.testing.v1 import AppTest

    if at is None:
        at = AppTest.from_file(APP, default_timeout=120)
        if secrets:
            at.secrets = secrets
        if user is not None:
            at.user = user
    return at.run()


def next_action(at):
    """The person's next page run, through app.py as a browser's always is (AppTest otherwise
    reruns the page file alone, Streamlit's legacy pages/ mode, which a served lab leaves at start)."""
    at._page_hash = at._finished_page_script_hash = ""
    return at.run()


def person(claim: str, sub: str = "u1") -> dict:
    return {"is_logged_in": True, "provider": "testidp", "iss": ISSUER, "sub": sub, "email": f"{sub}@lab.test",
            "email_verified": True, "name": sub.title(), "roles": [claim]}


def sidebar_texts(at) -> str:
    return "\n".join(str(e.value) for e in at.sidebar.get("caption")) + "\n" + "\n".join(
        str(e.value) for e in at.sidebar.get("markdown"))


@pytest.fixture()
def one_run(lab_env):
    store = env_store()
    rid = store.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": 1},
                           name="confidential patient study", dataset="digits", model="small_cnn", seed=0)
    yield store, rid
    store.close()


def test_single_user_mode_needs_no_sign_in(one_run):
    at = run_app()
    assert problems(at) == []
    assert not [b for b in at.button if b.label == "Log in"]
    assert "Signed in as" not in sidebar_texts(at)
    assert "Store:" in sidebar_texts(at)  # the lab as before
    assert not any("anyone who can reach" in str(w.value) for w in at.warning)  # 127.0.0.1 by default


def test_a_visitor_not_signed_in_sees_the_landing_page_only(one_run):
    at = run_app(secrets=auth_secrets(), user={"is_logged_in": False})
    assert problems(at) == []
    assert [b.label for b in at.button] == ["Log in"]
    texts = page_texts(at) + sidebar_texts(at)
    for hidden in ("confidential patient study", "Store:", "sqlite", "digits", "small_cnn"):
        assert hidden not in texts
    assert not at.dataframe and not at.get("image")


@pytest.mark.parametrize("role", ["admin", "instructor", "student", "viewer"])
def test_each_role_signed_in_sees_the_lab_and_who_they_are(one_run, monkeypatch, role):
    monkeypatch.setenv("LAB_ROLE_MAP", ROLE_MAP)
    store, _ = one_run
    at = run_app(secrets=auth_secrets(), user=person(CLAIM_FOR[role], sub=role))
    assert problems(at) == []
    caption = sidebar_texts(at).replace("\u2060", "")
    assert f"Signed in as **{role}@lab.test** · role: **{role}**" in caption.replace("\\", "")
    assert "Log out" in [b.label for b in at.sidebar.button]
    assert at.title and at.title[0].value == "Image-classification lab"
    assert store.find_user(ISSUER, role).role == role


def test_a_user_disabled_mid_session_is_refused_at_the_next_run(one_run, monkeypatch):
    monkeypatch.setenv("LAB_ROLE_MAP", ROLE_MAP)
    store, _ = one_run
    at = run_app(secrets=auth_secrets(), user=person("student"))
    assert "Signed in as" in sidebar_texts(at)
    store.set_user_disabled(store.find_user(ISSUER, "u1").id, True)
    at = next_action(at)
    assert any("is disabled in this lab" in str(e.value) for e in at.error)
    assert "Store:" not in sidebar_texts(at) and "Signed in as" not in sidebar_texts(at)
    assert [b.label for b in at.button] == ["Log out"]


def test_a_changed_role_takes_effect_at_the_next_run(one_run, monkeypatch):
    monkeypatch.setenv("LAB_ROLE_MAP", ROLE_MAP)
    store, _ = one_run
    at = run_app(secrets=auth_secrets(), user=person("student"))
    store.set_user_role(store.find_user(ISSUER, "u1").id, "instructor")
    at = next_action(at)
    assert "role: **instructor**" in sidebar_texts(at)


@pytest.mark.parametrize("changes, says", [
    ({"cookie_secret": None}, "without a cookie_secret"),
    ({"cookie_secret": "replace-me-with-the-output-of-secrets-token-hex-32"}, "example value"),
    ({"cookie_secret": "short"}, "at least 32"),
])
def test_an_unsafe_configuration_is_refused_on_every_page(lab_env, changes, says):
    at = run_app(secrets=auth_secrets(**changes), user=person("lab-admin"))
    assert any(says in str(e.value) and "cookie_secret" in str(e.value) for e in at.error), page_texts(at)
    assert not [b for b in at.button if b.label == "Log in"]
    assert "Store:" not in sidebar_texts(at)


def test_a_lab_without_sign_in_on_a_public_address_warns_on_every_page(lab_env):
    from streamlit import config

    from lab_pages_support import app_at

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")  # what --server.address 0.0.0.0 sets
    try:
        at = app_at("home")  # the frame draws it above whichever page app.py runs
        assert "anyone who can reach this address" in str(at.main.children[0].value)
    finally:
        config.set_option("server.address", before)


# ---------------------------------------------------------------- the start-up check (scripts/serve.py)
def _check(tmp_path, toml: str | None, *extra: str) -> list[str]:
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    import serve

    args = list(extra)
    if toml is not None:
        (tmp_path / "secrets.toml").write_text(toml)
        args += ["--secrets.files", str(tmp_path / "secrets.toml")]
    else:
        args += ["--secrets.files", str(tmp_path / "none.toml")]
    return serve.check_sign_in(args)


def test_serve_refuses_auth_without_a_cookie_secret_saying_what_to_set(tmp_path):
    toml = ('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n[auth.kc]\nclient_id = "lab"\n'
            'client_secret = "x"\nserver_metadata_url = "https://kc.example/.well-known/openid-configuration"\n')
    with pytest.raises(SystemExit) as err:
        _check(tmp_path, toml)
    assert "without a cookie_secret" in str(err.value) and "secrets.token_hex(32)" in str(err.value)
    with pytest.raises(SystemExit, match="example value"):
        example = 'cookie_secret = "replace-me-with-the-output-of-secrets-token-hex-32"\n'
        _check(tmp_path, toml.replace("[auth.kc]", example + "[auth.kc]"))
    ok = toml.replace("[auth.kc]", f'cookie_secret = "{"ab" * 32}"\n[auth.kc]')
    assert _check(tmp_path, ok, "--server.port", "8555") == ["--server.port", "8555", "--secrets.files",
                                                             str(tmp_path / "secrets.toml")]


def test_serve_keeps_single_user_mode_on_loopback_unless_told(tmp_path, capsys):
    args = _check(tmp_path, None)
    from streamlit import config

    assert config.get_option("server.address") == "127.0.0.1" or args[-2:] == ["--server.address", "127.0.0.1"]
    _check(tmp_path, None, "--server.address", "0.0.0.0")
    assert "anyone who can reach this address" in capsys.readouterr().err
