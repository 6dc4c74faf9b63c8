"""The Predict page's results table: one row per upload (thumbnail, the user's file name, the top
class and its calibrated probability, every class's probability, a low-confidence mark, the
compatibility warnings), sortable in the browser, with filters, a CSV download and single-row
selection (the selected image's detail opens below)."""
from __future__ import annotations

import csv
import io

import pandas as pd
import streamlit as st

from core.serving.batch import BatchRow, csv_header, csv_row, is_low_confidence
from pages import _format

TABLE_KEY = "p_table"
FILTERS = {"all": "All, upload order", "uncertain": "Uncertain first", "class": "By predicted class",
           "warnings": "With warnings"}


def frame(uploads, results, class_names: list[str]) -> pd.DataFrame:
    """The table of every upload with a result (upload order; ``#`` is the upload's position)."""
    k = len(class_names)
    recs = []
    for i, (u, r) in enumerate(zip(uploads, results)):
        if r is None:
            continue
        rec = {"#": i + 1, "image": r.thumbnail, "file": u.name, "prediction": None, "probability": None,
               "uncertain": False}
        if r.probs is not None:
            top = int(r.probs.argmax())
            rec.update(prediction=class_names[top] if top < k else str(top), probability=float(r.probs[top]),
                       uncertain=is_low_confidence(float(r.probs[top]), k))
        for j, c in enumerate(class_names):
            rec[f"p({c})"] = float(r.probs[j]) if r.probs is not None else None
        rec["warnings"] = " | ".join(r.warnings)
        rec["error"] = r.error or ""
        recs.append(rec)
    cols = ["#", "image", "file", "prediction", "probability", "uncertain", *[f"p({c})" for c in class_names],
            "warnings", "error"]
    return pd.DataFrame(recs, columns=cols)


def filtered(df: pd.DataFrame, how: str, cls: str | None = None) -> pd.DataFrame:
    """``df`` as the filter asks: uncertain rows first (lowest probability first), one predicted
    class, or only the rows with warnings (or errors)."""
    if how == "uncertain":
        return df.sort_values(["uncertain", "probability"], ascending=[False, True], na_position="first",
                              kind="stable")
    if how == "class":
        return df[df["prediction"] == cls]
    if how == "warnings":
        return df[(df["warnings"] != "") | (df["error"] != "")]
    return df


def csv_bytes(uploads, results, class_names: list[str]) -> bytes:
    """The CLI's CSV (``core.serving.batch.csv_header``/``csv_row``), one row per predicted upload,
    with the user's file names."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(csv_header(class_names))
    for u, r in zip(uploads, results):
        if r is not None:
            w.writerow(csv_row(BatchRow(file=u.name, probs=r.probs, error=r.error, notices=r.notices,
                                        warnings=r.warnings), class_names))
    return buf.getvalue().encode("utf-8")


def filter_bar(df: pd.DataFrame, class_names: list[str]) -> tuple[pd.DataFrame, str]:
    """The filter widgets; the rows they keep and the key of the table showing them (a selection
    belongs to one filter: a row position means another image once the rows change)."""
    c = st.columns([3, 2])
    how = c[0].segmented_control("Show", list(FILTERS), format_func=FILTERS.get, default="all", key="p_filter",
                                 required=True) or "all"
    cls = None
    if how == "class":
        present = [n for n in class_names if n in set(df["prediction"].dropna())] or class_names
        cls = c[1].selectbox("Predicted class", present, key="p_filter_class")
    view = filtered(df, how, cls)
    what = FILTERS[how].lower() + (f" '{cls}'" if cls is not None else "")
    st.caption(_format.md_text(f"Showing {len(view)} of {_format.plural(len(df), 'image')}: {what}."))
    key = TABLE_KEY if how == "all" else f"{TABLE_KEY}_{how}_{class_names.index(cls) if cls in class_names else ''}"
    return view, key


def _column_config(class_names: list[str]) -> dict:
    cfg = {
        "#": st.column_config.NumberColumn("#", help="Position in the upload", width="small"),
        "image": st.column_config.ImageColumn("Image", width="small"),
        "file": st.column_config.TextColumn("File"),
        "prediction": st.column_config.TextColumn("Prediction"),
        "probability": st.column_config.ProgressColumn("Probability", min_value=0.0, max_value=1.0,
                                                       format="percent",
                                                       help="Of the predicted class; calibrated when the run has "
                                                            "a temperature"),
        "uncertain": st.column_config.CheckboxColumn("Uncertain", help="Near chance, or under 50%: do not rely on it"),
        "warnings": st.column_config.TextColumn("Warnings", help="Does the image look like the training data?"),
        "error": st.column_config.TextColumn("Error"),
    }
    for c in class_names:
        cfg[f"p({c})"] = st.column_config.NumberColumn(f"p({c})", format="%.3f")
    return cfg


def show(uploads, results, class_names: list[str], run_id: int, *, notice: str | None = None) -> int | None:
    """The table, its filters and the CSV download (``notice``: a line above it, the research-use
    notice of a medical model). Returns the upload index of the selected row."""
    df = frame(uploads, results, class_names)
    n_unc, n_warn = int(df["uncertain"].sum()), int(((df["warnings"] != "") | (df["error"] != "")).sum())
    if notice:
        st.caption(f":material/health_and_safety: **{_format.md_text(notice)}** It holds for every row.")
    st.caption(f"{_format.plural(len(df), 'image')} · {n_unc} uncertain · {n_warn} with warnings or errors. Click a column "
               "header to sort; select a row to see its explanation.")
    view, key = filter_bar(df, class_names)
    if not (df["error"] != "").any():
        view = view.drop(columns=["error"])
    event = st.dataframe(view, hide_index=True, width="stretch", height=min(38 + 35 * max(len(view), 1), 560),
                         column_config=_column_config(class_names), on_select="rerun",
                         selection_mode="single-row", key=key, row_height=48)
    st.download_button("Download the table (CSV)", data=csv_bytes(uploads, results, class_names),
                       file_name=f"predictions_run{run_id}.csv", mime="text/csv", key="p_csv", on_click="ignore",
                       icon=":material/download:")
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    if rows and 0 <= rows[0] < len(view):
        return int(view.iloc[rows[0]]["#"]) - 1
    return None


def error_summary(uploads, results) -> None:
    """The files that could not be read, in one message (the table's Error column has each reason)."""
    bad = [(u.name, r.error) for u, r in zip(uploads, results) if r is not None and r.error]
    if not bad:
        return
    if len(bad) <= 3:
        for name, err in bad:
            st.error(_format.md_text(f"{name}: {err}"), icon=":material/broken_image:")
        return
    names = ", ".join(n for n, _ in bad[:3])
    st.error(_format.md_text(f"{_format.plural(len(bad), 'file')} could not be read as images ({names}, …): see the Error column "
                             "and the CSV."), icon=":material/broken_image:")
