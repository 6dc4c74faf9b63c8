"""User text shown as text, in a real browser: `streamlit run app.py` + headless Chromium (Playwright).

A store whose run names, notes, tags, class names, file names and error texts are Markdown
(``![t](http://127.0.0.1:9/pixel.png) [phish](https://evil.example/login) :red[RED]`` ...):
on the run page, the Runs list, Home with a running job, Compare, Predict with an
upload whose file name is Markdown, a failed run and a bad ?run= value, the DOM holds no image
or link made of them, no coloured text or LaTeX, the title reads exactly the name, and the
browser never requests 127.0.0.1:9 or evil.example. Waits are on conditions, never sleeps.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab_pages_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, digit_png, lab_environ, require_chromium  # noqa: E402
from security_support import HOSTILE, add_running_run, hostile_store  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARGS = CHROMIUM_ARGS
WJ = "\u2060"  # the invisible word joiner md_text puts inside autolinks and directives

# what the page's DOM must not contain, whatever the page
DOM_PROBE = """() => {
  const hrefs = [...document.querySelectorAll('a')].map(a =>
      a.getAttribute('href') || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '');
  const srcs = [...document.querySelectorAll('img, image, video, audio, source, iframe')].map(e =>
      e.getAttribute('src') || e.getAttribute('href') || e.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '');
  return {
    links: hrefs.filter(h => /evil\\.example|127\\.0\\.0\\.1:9|pixel\\.png|mailto:/.test(h)),
    media: srcs.filter(s => /127\\.0\\.0\\.1:9|pixel\\.png|evil\\.example/.test(s)),
    colored: [...document.querySelectorAll('.stMarkdownColoredText, .stMarkdownColoredBackground, .stMarkdownBadge')]
        .map(e => e.textContent.trim()).filter(t => /^(RED|F|U)$/.test(t)),
    katex: document.querySelectorAll('.katex').length,
    bold: [...document.querySelectorAll('strong, em')].map(e => e.textContent).filter(t => /^(bold|it)$/.test(t)),
  };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, shared_datasets):
    require_chromium()
    h = hostile_store()
    add_running_run(h)  # a job named HOSTILE, running now (listed on Home and in the sidebar)
    root = tmp_path_factory.mktemp("e2e_security") / "lab"
    shutil.copytree(h["root"], root, ignore=shutil.ignore_patterns("data"))  # the runs; data read in place
    env = {**os.environ, **lab_environ(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("LAB_DATA_ROOTS", None)
    with StreamlitServer(root, env) as srv:
        yield {"base": srv.base, "ids": h["ids"]}


def test_user_text_is_never_markup_in_the_browser(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # first renders import TensorFlow on a busy CPU
    base, ids = server["base"], server["ids"]
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(120_000)
        pg.on("request", lambda req: requests.append(req.url))

        def clean(where: str) -> None:
            expect(pg.locator("[data-testid='stException']")).to_have_count(0)
            found = pg.evaluate(DOM_PROBE)
            assert found == {"links": [], "media": [], "colored": [], "katex": 0, "bold": []}, (where, found)

        markdown = pg.locator("[data-testid='stMarkdownContainer'], [data-testid='stCaptionContainer']")
        # the run page: the title reads the name, character for character (its other tabs:
        # tests/test_security.py, AppTest)
        pg.goto(f"{base}/runs?run={ids['hostile']}")
        title = pg.locator("h1").filter(has_text=f"Run #{ids['hostile']}:")
        expect(title).to_be_visible()
        assert title.inner_text().replace(WJ, "").strip() == f"Run #{ids['hostile']}: {HOSTILE}"
        clean("run page")

        # a failed run whose error quotes the name; a ?run= value that is Markdown
        pg.goto(f"{base}/runs?run={ids['failed']}")
        expect(markdown.filter(has_text="boom:").first).to_be_visible()
        clean("failed run")
        pg.goto(f"{base}/runs?run=![q](http://127.0.0.1:9/q.png)")
        expect(pg.get_by_text("is not a run id", exact=False)).to_be_visible()
        clean("bad ?run=")

        # the Runs list, Home (a running job with that name), Compare
        pg.goto(f"{base}/runs")
        expect(pg.get_by_role("heading", name="Runs")).to_be_visible()
        clean("runs list")
        pg.goto(base + "/")
        expect(pg.get_by_role("heading", name="Image-classification lab")).to_be_visible()
        expect(markdown.filter(has_text="[phish](https:").first).to_be_visible()  # the running job, as text
        clean("home")
        pg.goto(f"{base}/compare?runs={ids['hostile']},{ids['plain']}")
        expect(pg.get_by_role("heading", name="Results")).to_be_visible()
        clean("compare")

        # Predict: an upload whose file name is Markdown
        pg.goto(f"{base}/predict?run={ids['hostile']}")
        expect(pg.get_by_text("Upload one or more images", exact=False)).to_be_visible()
        data, _ = digit_png(0, size=16)
        fname = "![u](http://127.0.0.1:9/u.png) :red[U].png"
        pg.locator("input[type='file']").set_input_files(
            files=[{"name": fname, "mimeType": "image/png", "buffer": data}])
        expect(pg.get_by_text("Prediction:", exact=False).first).to_be_visible()
        expect(markdown.filter(has_text="![u](http:").first).to_be_visible()  # the upload's caption, as text
        clean("predict")
        browser.close()

    leaked = [u for u in requests if urlparse(u).netloc in ("127.0.0.1:9", "evil.example", "www.evil.example")]
    assert leaked == [], leaked
    assert any(u.startswith(base) for u in requests)  # the recorder saw the page's own requests
