"""'This prediction is wrong' on Predict: a flag with the correct label, a note and consent."""
from __future__ import annotations


def flag_form(store, run, class_names: list[str], image_bytes: bytes, probs, *, key: str) -> None:
    """Render the flag form for one predicted image (an expander); nothing is stored without consent."""
    return None
