"""A printable case sheet (HTML) for one predicted image: ``core.analysis.case_sheet`` written on download."""
from __future__ import annotations

import streamlit as st

from pages import _artifacts


def external_evaluations(store, run_id: int) -> list:
    """The run's external evaluations (newest first) as this session's actor may read them."""
    return list(store.list_external_evaluations(run_id))


def case_sheet_builder(store, run, ev: dict | None, class_names: list[str], *, name: str, image, overlay, probs,
                       warnings: list[str], method: str):
    """A function returning the case sheet's HTML bytes. What needs the store (external results, the model's
    domain) is read now; the images are encoded only when called (on download)."""
    from core.analysis.case_sheet import case_sheet_html

    external = external_evaluations(store, run.id)
    _, _, meta = _artifacts.run_artifacts(run)
    domain = (meta or {}).get("domain")
    probs = [float(p) for p in probs]
    warnings = [str(w) for w in warnings or []]

    def build() -> bytes:
        return case_sheet_html(run=run, class_names=list(class_names), name=name, image=image, overlay=overlay,
                               probs=probs, warnings=warnings, method=method, ev=ev, external=external,
                               domain=domain).encode("utf-8")

    return build


def case_sheet_button(store, run, ev: dict | None, class_names: list[str], *, name: str, image, overlay, probs,
                      warnings: list[str], method: str, key: str, where=None) -> None:
    """A download button for the case sheet of one predicted image (nothing is written to disk; the
    downloaded file's name carries the image's name)."""
    from core.analysis.case_sheet import case_sheet_file_name

    build = case_sheet_builder(store, run, ev, class_names, name=name, image=image, overlay=overlay, probs=probs,
                               warnings=warnings, method=method)
    (where if where is not None else st).download_button(
        "Case sheet (HTML)", data=build, file_name=case_sheet_file_name(name, run.id), mime="text/html",
        key=key, on_click="ignore", icon=":material/description:",
        help="A printable page with the image, its overlay, the top classes, the model's internal and external "
             "results for the predicted class and the warnings. Open it in a browser and print it.")
