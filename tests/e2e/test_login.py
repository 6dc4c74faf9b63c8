"""Sign-in through a real OpenID Connect provider (tests/oidc: the npm package oidc-provider on
loopback) in a real browser: each of the four users fills in the provider's login form, lands in
the lab signed in with their role, logs out and comes back. A visitor without a cookie, or with a
forged one, gets the landing page only; a user disabled in the store mid-session is refused at
their next action. The login-to-first-paint time of each login is printed (bench figure)."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, PROJECT_ROOT, http_ok, lab_environ, require_chromium, wait_for  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROLE_MAP = "lab-admin=admin,teacher=instructor,clinician=viewer"
EXPECTED_ROLE = {"admin": "admin", "instructor": "instructor", "student": "student", "clinician": "viewer"}
TIMINGS: dict[str, list[float]] = {}


def _secrets_toml(oidc: dict) -> str:
    return f"""[auth]
redirect_uri = "{oidc['redirect_uri']}"
cookie_secret = "{secrets.token_hex(32)}"

[auth.testidp]
client_id = "{oidc['client_id']}"
client_secret = "{oidc['client_secret']}"
server_metadata_url = "{oidc['issuer']}/.well-known/openid-configuration"
client_kwargs = {{ prompt = "login" }}
"""


@pytest.fixture(scope="module")
def lab(oidc_provider, tmp_path_factory):
    """The lab (scripts/serve.py) with sign-in through the test provider, on the port the
    provider's client was registered with; an empty store."""
    require_chromium()
    root = tmp_path_factory.mktemp("login")
    (root / "secrets.toml").write_text(_secrets_toml(oidc_provider))
    env = {**os.environ, **lab_environ(root), "TF_CPP_MIN_LOG_LEVEL": "2", "LAB_DASHBOARD_SUPERVISOR": "0",
           "LAB_ROLE_MAP": ROLE_MAP}
    base = f"http://127.0.0.1:{oidc_provider['lab_port']}"
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "scripts/serve.py", "--server.headless", "true", "--server.port",
                             str(oidc_provider["lab_port"]), "--server.address", "127.0.0.1",
                             "--secrets.files", str(root / "secrets.toml")],
                            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is not None or http_ok(base + "/_stcore/health"), timeout=90, interval=0.2,
                 what="the lab's health check")
        assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
        yield {"base": base, "root": root, "env": env, "oidc": oidc_provider}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if TIMINGS:
            print("\nlogin to first painted page (s): " + ", ".join(f"{u} {min(t):.2f}" for u, t in TIMINGS.items()))


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def _expect_landing(page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.locator("[data-testid='stSidebar']").get_by_text("Signed in as")).to_have_count(0)
    body = page.locator("body").inner_text()
    for hidden in ("Store:", "sqlite", "Runs", "Train", "Predict", "Jobs"):
        assert hidden not in body, f"{hidden!r} shown to a visitor who is not signed in"


def _log_in(page, user: str) -> float:
    """Click "Log in", fill the provider's form; returns the seconds from submitting the form to
    the lab's page painted with the person signed in."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Log in").click()
    page.locator("input[name='login']").fill(user)
    page.locator("input[name='password']").fill(user)
    start = time.perf_counter()
    page.get_by_role("button", name="Sign-in").click()
    expect(page.locator("[data-testid='stSidebar']").get_by_text("Signed in as")).to_be_visible()
    expect(page.get_by_role("heading", name="Image-classification lab")).to_be_visible()
    took = time.perf_counter() - start
    TIMINGS.setdefault(user, []).append(took)
    return took


def _signed_in_as(page) -> str:
    """The sidebar's "Signed in as ..." line as a reader sees it (without the word joiners that
    keep an e-mail from becoming a link)."""
    caption = page.locator("[data-testid='stSidebar'] [data-testid='stCaptionContainer']", has_text="Signed in as")
    return caption.inner_text().replace("\u2060", "").strip()


def _log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()
    confirm = page.get_by_role("button", name="Yes, sign me out")  # the provider's own sign-out page
    confirm.click()
    _expect_landing(page)


@pytest.mark.parametrize("user", ["admin", "instructor", "student", "clinician"])
def test_each_user_logs_in_sees_their_role_logs_out_and_comes_back(lab, page, user):
    from playwright.sync_api import expect

    page.goto(lab["base"])
    _expect_landing(page)
    _log_in(page, user)
    sidebar = page.locator("[data-testid='stSidebar']")
    assert _signed_in_as(page) == f"Signed in as {user}@lab.test · role: {EXPECTED_ROLE[user]}"
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    sidebar.get_by_role("link", name="Runs").click()
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    _log_out(page)
    _log_in(page, user)  # back again: the provider asks for the password again
    assert _signed_in_as(page).endswith(f"role: {EXPECTED_ROLE[user]}")


def test_no_cookie_gets_the_landing_page_only_at_any_address(lab, page):
    for path in ("/", "/runs", "/predict?run=1", "/nosuchpage"):
        page.goto(lab["base"] + path)
        _expect_landing(page)


def test_a_forged_cookie_gets_the_landing_page(lab, page):
    import json

    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    forged = {"is_logged_in": True, "provider": "testidp", "iss": lab["oidc"]["issuer"], "sub": "admin",
              "email": "admin@lab.test", "email_verified": True, "roles": ["lab-admin"], "origin": lab["base"]}
    for secret in ("not-the-lab-secret", ""):  # signed with another key, and not signed at all
        value = (create_signed_value(secret, "_streamlit_user", json.dumps(forged)).decode() if secret
                 else json.dumps(forged))
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "_streamlit_user", "value": value, "url": lab["base"]}])
        page.goto(lab["base"] + "/runs")
        _expect_landing(page)


def test_a_user_disabled_mid_session_is_refused_at_the_next_action(lab, page):
    from playwright.sync_api import expect

    from core.store import Store

    page.goto(lab["base"])
    _log_in(page, "student")
    store = Store(lab["env"]["LAB_DATABASE_URL"], models_dir=lab["env"]["LAB_MODELS_DIR"])
    try:
        user = store.find_user(lab["oidc"]["issuer"], "student")
        store.set_user_disabled(user.id, True)
        page.locator("[data-testid='stSidebar']").get_by_role("link", name="Runs").click()
        expect(page.get_by_text("is disabled in this lab")).to_be_visible()
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_have_count(0)
        assert "Store:" not in page.locator("body").inner_text()
    finally:
        store.set_user_disabled(user.id, False)
        store.close()
