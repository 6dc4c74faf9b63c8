"""A printable case sheet (HTML) for one predicted image."""
from __future__ import annotations


def case_sheet_button(store, run, ev: dict | None, class_names: list[str], *, name: str, image, overlay, probs,
                      warnings: list[str], method: str, key: str, where=None) -> None:
    """A download button for the case sheet of one predicted image."""
    return None
