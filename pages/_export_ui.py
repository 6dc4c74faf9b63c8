"""The Run page's "Export" section: ONNX / LiteRT export of a succeeded run, verified on its
test split (core.serving.export), then the parity numbers and a download button; earlier exports listed."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.store.artifacts import file_name
from core.validation import LabError
from pages import _artifacts, _format, _resources

QUANT_LABELS = {"none": "none (float32)", "float16": "float16 (weights)", "int8": "int8 (weights + activations)"}


def export_section(r) -> None:
    """Format and quantisation choice, an Export button (export + verification), the parity numbers
    and a download button; the run's earlier exports with their parity."""
    from core.serving.export import FORMAT_TITLES

    st.markdown("**Export** — the model as ONNX or LiteRT (TFLite) for a small inference service or a phone. The "
                "exported graph takes raw pixels (0–255) at the model's input size and applies the run's "
                "normalisation itself; each export is checked against Keras on the run's test split before it is "
                "offered (see docs/EXPORT.md and scripts/predict_exported.py).")
    if r.status != "succeeded":
        st.caption("Only a succeeded run can be exported.")
        return
    c = st.columns([2, 2, 1])
    fmt = c[0].selectbox("Format", list(FORMAT_TITLES), format_func=FORMAT_TITLES.get, key=f"r_exp_fmt_{r.id}")
    quant = c[1].selectbox("Quantisation", list(QUANT_LABELS), format_func=QUANT_LABELS.get, key=f"r_exp_q_{r.id}",
                           disabled=fmt != "tflite", help="LiteRT only; int8 is calibrated on training images.")
    key = f"r_exp_last_{r.id}"
    if c[2].button("Export", key=f"r_exp_go_{r.id}", icon=":material/output:", type="primary"):
        from core.serving.export import export_run

        q = None if fmt != "tflite" or quant == "none" else quant
        try:
            with st.spinner("Exporting and verifying on the test split…"):
                _resources.guarded_store().authorize("export", r.id)  # checked and recorded; Denied says why
                st.session_state[key] = export_run(_resources.get_store(), r.id, fmt, quantize=q)
        except (LabError, OSError) as err:  # OSError: the run folder cannot be written (permissions, full disk)
            st.session_state.pop(key, None)
            st.warning(f"Not exported: {_format.md_text(err)}", icon=":material/warning:")
    last = st.session_state.get(key)
    if last and Path(last["path"]).is_file():
        _show_parity(last, r.id)
    _earlier_exports(r)


def _show_parity(rep: dict, run_id: int) -> None:
    from core.serving.export import FORMAT_TITLES

    p = rep["parity"]
    title = FORMAT_TITLES[rep["format"]] + (f" {rep['quantize']}" if rep["quantize"] else " float32")
    m = st.columns(4)
    m[0].metric("max |Δp| vs Keras", f"{p['max_abs_diff']:.2g}")
    m[1].metric("Agreement", f"{p['agreement']:.1%}")
    m[2].metric("Test accuracy (export)", f"{p['accuracy_export']:.3f}", **_accuracy_delta(p["accuracy_cost"]))
    m[3].metric("Size", f"{rep['bytes'] / 1e6:.2f} MB")
    goal = p.get("meets_goal")
    note = "" if goal is None else (" Goal (max |Δp| < 1e-4, 100 % agreement) met." if goal else
                                    " Goal (max |Δp| < 1e-4, 100 % agreement) NOT met.")
    st.caption(f"{title}: verified on {p['images']} test images.{note}")
    path = Path(rep["path"])
    st.download_button(f"Download {path.name}", data=_reader(path), file_name=path.name,
                       mime="application/octet-stream", key=f"r_exp_dl_{run_id}", on_click="ignore",
                       icon=":material/download:")


def _accuracy_delta(cost: float) -> dict:
    """st.metric's delta for the export's accuracy against Keras, at the shown precision (3 decimals):
    a loss goes down in red, a gain up in green, no change is neutral (no arrow, grey)."""
    shown = round(-float(cost), 3)
    if shown == 0:
        return {"delta": "same as Keras", "delta_color": "off", "delta_arrow": "off"}
    return {"delta": f"{shown:+.3f} vs Keras", "delta_color": "normal"}


def _reader(path: Path):
    """The file's bytes, read only when the user downloads (exports of backbones are tens of MB)."""
    return lambda: path.read_bytes()


def _earlier_exports(r) -> None:
    from core.serving.export import FORMAT_TITLES, list_exports

    found = list_exports(_artifacts.run_folder(r).path)
    if not found:
        st.caption("No exports of this run yet.")
        return
    rows = [{"file": e["file"], "format": FORMAT_TITLES.get(e["format"], e["format"]),
             "quantisation": e.get("quantize") or "float32", "max |Δp|": e["parity"]["max_abs_diff"],
             "agreement": e["parity"]["agreement"], "accuracy (Keras)": e["parity"]["accuracy_keras"],
             "accuracy (export)": e["parity"]["accuracy_export"], "MB": e.get("bytes", 0) / 1e6,
             "made (UTC)": str(e.get("created_at") or "").replace("T", " ")[:16]} for e in found]
    st.caption(f"Exports of this run (kept in its {file_name('exports')}/ folder, parity measured on its test split):")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"max |Δp|": st.column_config.NumberColumn(format="%.2e"),
                                "agreement": st.column_config.NumberColumn(format="percent"),
                                "MB": st.column_config.NumberColumn(format="%.2f")})
    names = [e["file"] for e in found]
    c = st.columns([3, 2])
    pick = c[0].selectbox("Earlier export", names, key=f"r_exp_pick_{r.id}", label_visibility="collapsed")
    chosen = next(e for e in found if e["file"] == pick)
    c[1].download_button("Download", data=_reader(Path(chosen["path"])), file_name=pick,
                         mime="application/octet-stream", key=f"r_exp_dl_old_{r.id}", on_click="ignore",
                         icon=":material/download:")
