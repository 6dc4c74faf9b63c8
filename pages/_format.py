"""Text for the pages: Markdown-safe text, numbers, durations, counts, labels, PNG bytes.

Pure functions, no ``st.*`` calls (testable without a script run).
"""
from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from core.text import fmt_duration, fmt_num, plain_text  # noqa: F401 - the pages' text helpers too

RESEARCH_NOTICE = "Research use only — not a diagnosis. This model has not been validated for clinical use."

_WJ = "\u2060"  # WORD JOINER: invisible, no line break; splits sequences without changing the text
_MD_TYPOGRAPHY = re.compile(r"(?<!\S)(?:<->|->|<-|--|>=|<=|~=)(?!\S)")  # Streamlit turns these into arrows etc.
_MD_ALWAYS = re.compile(r"([\\`*~\[\]<$&|])")  # code, emphasis, strikethrough, links/images, HTML, LaTeX, tables
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # intraword _ never emphasises: keep it
_MD_LINE_START = re.compile(r"^([ \t]*)([#>+=-]|\d+[.)])", re.MULTILINE)  # headings, quotes, lists, setext
_MD_HASH_AFTER_SPACE = re.compile(r"(?<=\s)#")  # a heading's closing "##" would be dropped
_MD_COLON = re.compile(r":(?=[\w+\-/])")  # :red[...], :material/x:, :tada:, :streamlit:, https://
_MD_WWW = re.compile(r"(?<=www)\.", re.IGNORECASE)  # GFM's www. autolinks
_MD_AT = re.compile(r"@(?=[\w-])")  # GFM's e-mail autolinks


def md_text(value: Any) -> str:
    """``value`` shown as literal text inside Streamlit Markdown (titles, captions, st.error,
    progress texts, image captions, spinners...): run names, notes, tags, class names, file
    names, ids, error messages. Not needed for plain-text widgets (selectbox options,
    dataframes, text inputs); never wrap the result in backticks (code spans show backslashes).

    Two mechanisms, because Streamlit's Markdown has two kinds of syntax:
    - constructs parsed from the source (links, images, emphasis, code, HTML, LaTeX, tables,
      headings, lists) are backslash-escaped, which CommonMark shows as the bare character;
    - rewrites done afterwards on the decoded text (GFM autolinks of ``https://``, ``www.``
      and e-mail addresses; Streamlit's ``:red[..]`` directives, ``:material/..:`` icons,
      ``:streamlit:``, emoji shortcodes, ``->`` arrows) cannot be escaped that way: an
      invisible word joiner (U+2060) is put inside the sequence instead.
    Characters that cannot start markup (``.``, ``(``, ``'``, ``/``, ``_`` inside words...)
    are left alone so messages stay readable in the source. Invisible and bidirectional
    characters of ``value`` are shown as their code first (``plain_text``).
    """
    s = plain_text(value)  # first: the word joiners put in below are the helper's own
    s = _MD_TYPOGRAPHY.sub(lambda m: _WJ.join(m.group(0)), s)
    s = _MD_ALWAYS.sub(r"\\\1", s)
    s = _MD_UNDERSCORE.sub(r"\\_", s)
    s = _MD_LINE_START.sub(lambda m: m.group(1) + (m.group(2)[:-1] + "\\" + m.group(2)[-1]), s)
    s = _MD_HASH_AFTER_SPACE.sub(r"\\#", s)
    s = _MD_COLON.sub(":" + _WJ, s)
    s = _MD_WWW.sub(_WJ + ".", s)
    return _MD_AT.sub("@" + _WJ, s)


def redact_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``1,000 runs`` (``plural_word`` for irregular ones: ``plural(2, 'class', 'classes')``)."""
    n = int(n)
    return f"{n:,} {word if n == 1 else (plural_word or word + 's')}"


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image (HxW, HxWx1 or HxWx3) to PNG in memory."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def run_label(r) -> str:
    """A run in a selectbox or a progress text (plain text: ``plain_text`` of its name)."""
    return plain_text(f"#{r.id} · {r.name} · {r.dataset or '?'} · {r.model or '?'} · {r.status}")


def availability_label(a: str) -> str:
    return {"builtin": "built in", "cached": "ready", "needs_download": "needs download",
            "needs_folder": "needs a folder"}.get(a, a)
