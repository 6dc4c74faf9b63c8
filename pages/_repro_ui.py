"""The Train page's reproducibility control (TrainConfig.reproducible): a checkbox, and a caption saying the
default and what each choice costs (measured in docs/REPRODUCIBILITY.md)."""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

LABEL = "Reproducible (bit for bit)"
HELP = ("TensorFlow's op determinism. On, the same seed on the same machine and software gives the same weights and "
        "metrics to the last digit; off, TensorFlow may pick faster kernels whose sums can land in another order.")
CAPTION_ON = ("On (the default): the same seed repeats a run exactly. Cost: report B's CNN5 trained about a "
              "quarter slower on 2 CPU cores than with it off (docs/REPRODUCIBILITY.md).")
CAPTION_OFF = ("Off: about a third faster for report B's CNN5 on 2 CPU cores, as TensorFlow may then spread "
               "work over more threads; two runs with the same seed can differ in the last digits, so their "
               "metrics are not comparable bit for bit.")


def reproducible_control(widget: Callable, key: str) -> bool:
    """The checkbox (drawn by the page's ``widget`` helper under ``key``) and its caption; its value."""
    on = bool(widget(st.checkbox, key, LABEL, help=HELP))
    st.caption(CAPTION_ON if on else CAPTION_OFF)
    return on
