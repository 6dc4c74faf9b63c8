"""Data explorer (EDA): sizes, classes, splits, distributions, samples, image statistics,
exposure screening (fundus) and HAM10000 metadata views."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import _ui


@_ui.guarded
def body() -> None:
    st.title("Data explorer")
    picked = _ui.dataset_picker("eda")
    if picked is None:
        return
    name, params = picked
    with st.spinner(f"Loading {name}…"):
        ds = _ui.load_dataset_cached(name, params)
    from core.datasets import eda

    tab_over, tab_samples, tab_images, tab_meta = st.tabs(
        ["Overview", "Samples", "Image statistics", "Metadata" if ds.domain == "lesion" else "Metadata & quality"])
    with tab_over:
        overview(ds, eda)
    with tab_samples:
        samples(ds)
    with tab_images:
        image_statistics(ds, eda)
    with tab_meta:
        metadata_views(ds, eda)


def overview(ds, eda) -> None:
    from core import plots
    from core.datasets.splits import make_split

    dist = eda.class_distribution(ds)
    ratio = eda.imbalance_ratio(ds)
    c = st.columns(4)
    c[0].metric("Images", f"{len(ds):,}")
    c[1].metric("Classes", ds.num_classes)
    c[2].metric("Imbalance ratio", f"{ratio:.1f} : 1", help="Largest class size / smallest class size.")
    if ds.groups is not None:
        c[3].metric(f"Distinct {ds.group_name or 'groups'}", f"{len(pd.unique(ds.groups)):,}")
    split = _split_sizes(ds, make_split)
    if split is not None:
        st.caption("Default split (stratified" + (f", grouped by {split['grouped_by']}" if split["grouped_by"] else "")
                   + f"): train {split['train']:,} · validation {split['val']:,} · test {split['test']:,}")
    a, b = st.columns(2)
    figs = plots.class_distribution(dist)
    if isinstance(figs, (tuple, list)):
        a.plotly_chart(figs[0], width="stretch")
        b.plotly_chart(figs[1], width="stretch")
    else:
        st.plotly_chart(figs, width="stretch")
    st.dataframe(dist, hide_index=True, width="stretch")
    if ds.report:
        with st.expander("Loading report"):
            st.json(ds.report, expanded=False)


@st.cache_data(show_spinner=False, max_entries=16)
def _split_cached(spec_key: str, _ds, _make_split):
    sp = _make_split(_ds)
    return {"train": len(sp.train), "val": len(sp.val), "test": len(sp.test), "grouped_by": sp.grouped_by}


def _split_sizes(ds, make_split):
    return _split_cached(repr(ds.spec) + str(len(ds)), ds, make_split)


def samples(ds) -> None:
    from core.datasets.io import load_images
    import numpy as np

    per_class = st.slider("Images per class", 1, 12, 6, key="eda_per_class")
    seed = st.number_input("Sample seed", 0, 10_000, 0, key="eda_seed")
    rng = np.random.default_rng(int(seed))
    for k, cname in enumerate(ds.class_names):
        pos = np.flatnonzero(ds.labels == k)
        if len(pos) == 0:
            continue
        pick = rng.choice(pos, size=min(per_class, len(pos)), replace=False)
        imgs = load_images(ds, pick, size=None)
        st.markdown(f"**{cname}** · {len(pos):,} images")
        cols = st.columns(per_class)
        for col, img, p in zip(cols, imgs, pick):
            col.image(img, caption=str(ds.ids[p])[:18], width="stretch", clamp=True)


def image_statistics(ds, eda) -> None:
    sample = st.select_slider("Images to measure", [100, 300, 1000, 3000], value=300, key="eda_sample")
    with st.spinner("Measuring images…"):
        stats = eda.image_stats(ds, sample=int(sample))
    df = stats if isinstance(stats, pd.DataFrame) else pd.DataFrame(stats.get("per_image", stats))
    if isinstance(stats, dict):
        summ = {k: v for k, v in stats.items() if k != "per_image" and not isinstance(v, (list, dict, pd.DataFrame))}
        if summ:
            st.json(summ, expanded=False)
    if df.empty:
        st.info("No images could be measured.")
        return
    cols = st.columns(3)
    if {"width", "height"} <= set(df.columns):
        cols[0].plotly_chart(px.scatter(df, x="width", y="height", title="Image sizes (px)", opacity=0.5),
                             width="stretch")
    if "channels" in df.columns:
        cc = df["channels"].value_counts().rename_axis("channels").reset_index(name="images")
        cols[1].plotly_chart(px.bar(cc, x="channels", y="images", title="Channels"), width="stretch")
    if "brightness" in df.columns:
        color = "class" if "class" in df.columns else None
        cols[2].plotly_chart(px.histogram(df, x="brightness", color=color, nbins=40, title="Mean brightness (0-255)"),
                             width="stretch")
    mean_cols = [c for c in df.columns if c.startswith("mean_")]
    if mean_cols:
        long = df.melt(value_vars=mean_cols, var_name="channel", value_name="mean")
        st.plotly_chart(px.box(long, x="channel", y="mean", title="Per-channel means"), width="stretch")


def metadata_views(ds, eda) -> None:
    if ds.domain == "fundus":
        exposure(ds, eda)
    md = ds.metadata
    if ds.domain == "lesion" or {"age", "sex", "localization", "dx_type"} & set(md.columns):
        ham_metadata(ds, eda, md)
    else:
        miss = eda.missing_values(ds)
        if isinstance(miss, pd.DataFrame) and not miss.empty:
            st.dataframe(miss, hide_index=True)
        if ds.domain != "fundus":
            st.caption("This dataset has no per-image metadata beyond ids and labels.")


def exposure(ds, eda) -> None:
    st.subheader("Exposure screening")
    st.caption("Report D's rule on grayscale histograms: under-exposed when 90% of pixels are in 0-30, "
               "over-exposed when most pixels are near white.")
    with st.spinner("Screening photos…"):
        scr = eda.exposure_screening(ds)
    df = scr if isinstance(scr, pd.DataFrame) else pd.DataFrame(scr)
    flag_col = next((c for c in ("flag", "exposure", "status") if c in df.columns), None)
    if flag_col:
        counts = df[flag_col].value_counts().rename_axis(flag_col).reset_index(name="images")
        st.plotly_chart(px.bar(counts, x=flag_col, y="images", title="Exposure"), width="stretch")
        flagged = df[df[flag_col].astype(str).str.lower().isin(["under", "over", "under-exposed", "over-exposed",
                                                                 "underexposed", "overexposed"])]
        st.write(f"{len(flagged)} flagged of {len(df)} photos.")
        if len(flagged):
            from core.datasets.io import load_images

            pos = ds.index_of(flagged["id"].head(8)) if "id" in flagged.columns else []
            if len(pos):
                cols = st.columns(len(pos))
                for col, img, (_, row) in zip(cols, load_images(ds, pos, size=(160, 160)), flagged.head(8).iterrows()):
                    col.image(img, caption=f"{row['id']} · {row[flag_col]}", width="stretch")
    st.dataframe(df, hide_index=True, width="stretch")


def ham_metadata(ds, eda, md: pd.DataFrame) -> None:
    label_col = "dx" if "dx" in md.columns else None
    md = md.copy()
    if label_col is None:
        md["class"] = [ds.class_names[i] for i in ds.labels]
        label_col = "class"
    miss = eda.missing_values(ds)
    if "age" in md.columns:
        a, b = st.columns(2)
        a.plotly_chart(px.histogram(md, x="age", nbins=20, title="Age"), width="stretch")
        b.plotly_chart(px.box(md, x=label_col, y="age", title="Age by class"), width="stretch")
        n_missing = int(md["age"].isna().sum())
        st.caption(f"Missing ages: {n_missing}. The lab keeps them missing (no imputation in EDA).")
    if "sex" in md.columns:
        st.plotly_chart(px.histogram(md, x=label_col, color="sex", barmode="group", title="Sex by class"),
                        width="stretch")
    c, d = st.columns(2)
    if "localization" in md.columns:
        loc = md["localization"].value_counts().rename_axis("localization").reset_index(name="images")
        c.plotly_chart(px.bar(loc, x="images", y="localization", orientation="h", title="Lesion localisation"),
                       width="stretch")
    if "dx_type" in md.columns:
        dt = md["dx_type"].value_counts().rename_axis("dx_type").reset_index(name="images")
        d.plotly_chart(px.pie(dt, names="dx_type", values="images", title="Diagnosis confirmation (dx_type)"),
                       width="stretch")
    if ds.groups is not None:
        gs = eda.group_sizes(ds)
        gdf = gs if isinstance(gs, pd.DataFrame) else pd.DataFrame(gs)
        size_col = next((c for c in ("images", "size", "count", "n_images") if c in gdf.columns), None)
        if size_col:
            st.plotly_chart(px.histogram(gdf, x=size_col, title=f"Images per {ds.group_name or 'group'}"),
                            width="stretch")
        n_multi = int((gdf[size_col] > 1).sum()) if size_col else 0
        st.warning(f"{n_multi:,} {ds.group_name or 'group'}s have more than one image. Splitting by image would put "
                   f"photos of the same lesion in train and test (leakage, as in report C); the lab splits by "
                   f"{ds.group_name or 'group'}.", icon=":material/warning:")
    if isinstance(miss, pd.DataFrame) and not miss.empty:
        with st.expander("Missing values"):
            st.dataframe(miss, hide_index=True)


body()
