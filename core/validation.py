"""One style of argument checking, after scikit-learn's parameter validation.

Every message says what was expected, what came, and (where useful) how to fix it:
``The 'optimizer' parameter must be one of {'adam', 'sgd'}. Got 'adamw' instead.``
"""
from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any


class LabError(Exception):
    """Base class of every user-facing error of the lab. ``str(err)`` is shown as is."""


class ValidationError(LabError, ValueError):
    """An argument or configuration value is not acceptable."""


class DatasetError(LabError):
    """A dataset cannot be found, read or split."""


class ModelError(LabError):
    """A model cannot be built, loaded or used."""


class NotFoundError(LabError, KeyError):
    """A named thing (run, model, dataset, layer) does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that
        return str(self.args[0]) if self.args else ""


def _fmt_options(options: Iterable[Any]) -> str:
    return "{" + ", ".join(repr(o) for o in options) + "}"


def check_one_of(name: str, value: Any, options: Iterable[Any]) -> Any:
    options = list(options)
    if value not in options:
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, [str(o) for o in options], n=3)
            if close:
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?"
        raise ValidationError(
            f"The {name!r} parameter must be one of {_fmt_options(options)}. Got {value!r} instead.{hint}"
        )
    return value


def finite_or_none(x) -> float | None:
    """A float, or None for None/NaN/inf: how stored summaries and JSON write undefined values."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
    allow_none: bool = False,
) -> Any:
    if value is None and allow_none:
        return None
    kind = "an int" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise ValidationError(f"The {name!r} parameter must be {kind}. Got {value!r} ({type(value).__name__}) instead.")
    if not math.isfinite(float(value)):
        raise ValidationError(f"The {name!r} parameter must be a finite number. Got {value!r} instead.")
    lo_ok = low is None or (value >= low if low_inclusive else value > low)
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok):
        lb = "[" if low_inclusive else "("
        rb = "]" if high_inclusive else ")"
        rng = f"{lb}{'-inf' if low is None else low}, {'inf' if high is None else high}{rb}"
        raise ValidationError(f"The {name!r} parameter must be {kind} in the range {rng}. Got {value!r} instead.")
    return int(value) if integer else value


def check_type(name: str, value: Any, types: type | tuple[type, ...], *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if not isinstance(value, types):
        tnames = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ValidationError(f"The {name!r} parameter must be of type {tnames}. Got {value!r} ({type(value).__name__}) instead.")
    return value


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> NotFoundError:
    """Build (not raise) the error for an unknown registry name, with close matches."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return NotFoundError(f"Unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(valid)}.")


# ---------------------------------------------------------------- text that reaches the store
# Bidirectional controls reorder the text shown after them ("\u202egpj.exe" reads "exe.jpg").
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
TEXT_ACCEPTED = ("Accepted: letters, digits, punctuation, symbols and spaces of any script, tabs and "
                 "line breaks; remove that character (it is often pasted in unseen) and try again.")
_CONTROL_NAMES = {0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x0B: "LINE TABULATION", 0x0C: "FORM FEED",
                  0x1B: "ESCAPE", 0x7F: "DELETE"}
_STORE_BREAKING = re.compile("[\x00\ud800-\udfff]")


def refused_char_reason(ch: str) -> str | None:
    """Why the character ``ch`` is refused in text the lab stores, or None when it is accepted:
    control characters other than tab and line breaks, halves of surrogate pairs,
    bidirectional controls and the other invisible format characters (Unicode category Cf)."""
    if ch in "\t\n\r":
        return None
    cat = unicodedata.category(ch)
    if cat == "Cc":
        return "a control character, which the run store does not keep (PostgreSQL cannot store a NUL at all)"
    if cat == "Cs":
        return "half of a UTF-16 surrogate pair, which is not text"
    if ch in BIDI_CONTROLS:
        return ("a bidirectional control: it reorders the text shown after it, so what is shown is not what "
                "is stored (\"\\u202egpj.exe\" shows as \"exe.jpg\")")
    if cat == "Cf":
        return "an invisible formatting character: a copy of the text shown would not be the stored text"
    return None


def char_label(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: a character's code point and Unicode name."""
    name = unicodedata.name(ch, "") or _CONTROL_NAMES.get(ord(ch), "")
    if not name:
        name = {"Cc": "(a control character)", "Cs": "(a surrogate)"}.get(unicodedata.category(ch), "")
    return f"U+{ord(ch):04X} {name}".rstrip()


def find_refused_char(text: str) -> tuple[int, str, str] | None:
    """(position, character, reason) of the first refused character of ``text`` (see
    ``refused_char_reason``), or None."""
    if text.isprintable():  # the common case, at C speed
        return None
    for i, ch in enumerate(text):
        reason = refused_char_reason(ch)
        if reason:
            return i, ch, reason
    return None


def check_text(value: Any, what: str, *, allow_none: bool = False) -> Any:
    """``value`` when it is text the lab may store and show (run names, notes, tags, parameters,
    config strings); a ValidationError naming the first refused character and what is accepted
    otherwise. The one check of every text written to the run store, on SQLite and PostgreSQL alike."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"The {what} must be text. Got {value!r} ({type(value).__name__}) instead.")
    found = find_refused_char(value)
    if found:
        i, ch, reason = found
        raise ValidationError(f"The {what} contains {char_label(ch)} at character {i + 1}, {reason}. {TEXT_ACCEPTED}")
    return value


def check_texts(value: Any, what: str) -> Any:
    """``check_text`` on every string inside ``value`` (dict keys and values, list items, nested),
    naming the place: ``The config value 'dataset.params.path' contains ...``."""
    _check_texts(value, what, "")
    return value


def _check_texts(value: Any, what: str, where: str) -> None:
    if isinstance(value, str):
        check_text(value, f"{what} {where!r}" if where else what)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            key = f"{where}.{k}" if where else str(k)
            if isinstance(k, str):
                check_text(k, f"{what} key {key!r}")
            _check_texts(v, what, key)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_texts(v, what, f"{where}[{i}]")


def storable_text(text: str | None) -> str | None:
    """A message the lab writes itself (an error), made storable: a NUL and halves of surrogate
    pairs (undecodable file names) become U+FFFD. Such a text is recorded, never refused."""
    return None if text is None else _STORE_BREAKING.sub("\ufffd", text)


MAX_NAME_LENGTH = 200  # run names (the store's column width)
MAX_TAG_VALUE_LENGTH = 500  # tag values


def check_run_name(name: Any, *, what: str = "run name") -> str | None:
    """A run name stripped of surrounding blanks; ValidationError when longer than MAX_NAME_LENGTH
    or holding a character ``check_text`` refuses.

    Names are refused, never silently cut: the message gives the limit and the length.
    """
    if name is None:
        return None
    if not isinstance(name, str):
        raise ValidationError(f"A {what} must be text. Got {type(name).__name__} instead.")
    name = check_text(name, what).strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"A {what} may have at most {MAX_NAME_LENGTH} characters; this one has {len(name):,} "
            f"(it starts {name[:40]!r}). Shorten it; put longer descriptions in the run's notes."
        )
    return name


def fit_name(base: str, suffix: str = "") -> str:
    """``base + suffix`` for a name the lab derives (a re-run, a search trial), shortening ``base``
    with an ellipsis so that the whole stays within MAX_NAME_LENGTH."""
    base = (base or "").strip()
    room = MAX_NAME_LENGTH - len(suffix)
    if len(base) > room:
        base = base[: max(room - 1, 0)].rstrip() + "…"
    return (base + suffix)[:MAX_NAME_LENGTH]
