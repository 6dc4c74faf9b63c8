"""Text the lab shows, wherever it is drawn (pages, reports, figures): stored text whose every
character shows, and the one way numbers and durations are written. Pure functions."""
from __future__ import annotations

from typing import Any

import numpy as np

from core.validation import refused_char_reason


def plain_text(value: Any) -> str:
    """``value`` as text whose every character shows: a control character, a bidirectional control
    or an invisible format character (what the run store refuses today, ``core.validation.check_text``,
    but an older store may hold) becomes its code, ``[U+202E]``, so "\u202egpj.exe" never reads
    "exe.jpg" and a copied name is the stored one. Tabs and line breaks are kept."""
    s = "" if value is None else str(value)
    if s.isprintable():  # the common case
        return s
    return "".join(f"[U+{ord(ch):04X}]" if refused_char_reason(ch) else ch for ch in s)


def fmt_duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 07 s``, ``2 h 05 min``; "—" for none."""
    if seconds is None or not np.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def fmt_num(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals; "—" for none or not finite; other values as text."""
    if v is None:
        return "—"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not np.isfinite(f):
        return "—"
    return f"{f:.{digits}f}"
