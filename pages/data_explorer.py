"""Data explorer (EDA): sizes, classes, splits, distributions, samples, image statistics,
exposure screening (fundus), HAM10000 metadata views and the label audit (``core.analysis.audit``)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _format, _frame, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)


@_widgets.guarded
def body() -> None:
    st.title("Data explorer")
    picked = _widgets.dataset_picker("eda")
    if picked is None:
        return
    name, params = picked
    with st.spinner(f"Loading {name}…"):
        ds = _resources.load_dataset_cached(name, params)
    from core.datasets import eda

    # only the open tab runs (on_change="rerun"), as on the Run page: a first visit draws the
    # overview (class distribution) without first decoding samples, measuring images and
    # drawing the other tabs' charts (the browser drew all of them before showing anything)
    labels = ["Overview", "Samples", "Image statistics", "Metadata" if ds.domain == "lesion" else "Metadata & quality",
              "Label audit"]
    if st.session_state.get("eda_tab") in ("Metadata", "Metadata & quality"):  # the same tab, under its other name
        st.session_state["eda_tab"] = labels[3]
    tabs = st.tabs(labels, key="eda_tab", on_change="rerun")
    sections = [lambda: overview(ds, eda), lambda: samples(ds), lambda: image_statistics(ds, eda),
                lambda: metadata_views(ds, eda), lambda: label_audit(ds, name, params)]
    for tab, section in zip(tabs, sections):
        if tab.open is not False:  # None when the tabs do not track state: draw them all
            with tab:
                section()


def overview(ds, eda) -> None:
    from core.datasets.splits import make_split
    from core.validation import LabError

    for problem in eda.load_problems(ds):  # absent/unreadable files etc.: visible, not only in the raw report
        if problem["level"] == "warning":
            st.warning(problem["message"], icon=":material/warning:")
        else:
            st.info(problem["message"], icon=":material/info:")
    dist = eda.class_distribution(ds)
    ratio = eda.imbalance_ratio(ds)
    c = st.columns(4)
    c[0].metric("Images", f"{len(ds):,}")
    c[1].metric("Classes", ds.num_classes)
    c[2].metric("Imbalance ratio", f"{ratio:.1f} : 1" if ratio == ratio and ratio != float("inf") else "∞",
                help="Largest class size / smallest class size.")
    counts = _group_counts(ds, eda)
    if counts is not None:
        c[3].metric(group_metric_label(counts), f"{counts['present']:,}", help=group_counts_help(counts))
        if counts["in_metadata"] is not None and counts["in_metadata"] != counts["present"]:
            st.caption(f"{_format.plural(counts['in_metadata'], group_word(counts))} in the metadata (the CSV "
                       f"also lists images absent here); {counts['present']:,} with images present here, the "
                       "lesions every split and run of this selection uses.")
    try:
        split = _split_sizes(ds, make_split)
    except LabError as err:  # too few images for the default split: say so, keep exploring
        split = None
        st.caption(f"Default split: not possible on this selection. {_format.md_text(err)}")
    if split is not None:
        st.caption("Default split (stratified" + (f", grouped by {split['grouped_by']}" if split["grouped_by"] else "")
                   + f"): train {split['train']:,} · validation {split['val']:,} · test {split['test']:,}")
    # the class distribution as a table whose share column is a bar: a first visit shows it
    # without loading a chart library (plotly.js took 0.75 s of the browser's main thread before
    # anything else on the page showed); the bar and pie charts are drawn when asked for
    st.dataframe(dist.assign(percent=dist["percent"].round(1)), hide_index=True, width="stretch",
                 column_config={"percent": st.column_config.ProgressColumn(
                     "share of images", format="%.1f%%", min_value=0, max_value=100,
                     help="Percent of all images in this class; the bar is drawn to 100 %.")})
    with _widgets.lazy_expander("Bar and pie charts", key="eda_charts", icon=":material/bar_chart:") as open_:
        if open_:
            from core.analysis import data_plots

            a, b = st.columns(2)
            a.plotly_chart(data_plots.class_distribution_bar(dist), width="stretch", key="eda_bar")
            b.plotly_chart(data_plots.class_distribution_pie(dist), width="stretch", key="eda_pie")
    if ds.report:
        with _widgets.lazy_expander("Loading report (raw)", key="eda_report") as open_:
            if open_:
                st.json(ds.report, expanded=False)


def group_word(counts: dict) -> str:
    """'lesion' for lesion_id, 'patient' for patient_id...: the group in words."""
    return (counts["group_name"] or "group").removesuffix("_id")


def group_metric_label(counts: dict) -> str:
    return f"{group_word(counts).capitalize()}s with images present here"


def group_counts_help(counts: dict) -> str:
    base = (f"Distinct {counts['group_name']} values among the images loaded here (absent images and a subsample "
            "leave some out).")
    if counts["in_metadata"] is None:
        return base
    return base + f" The metadata CSV lists {counts['in_metadata']:,}."


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def _group_counts_cached(spec_key: str, _ds, _eda) -> dict | None:
    return _eda.group_counts(_ds)


def _group_counts(ds, eda) -> dict | None:
    return _group_counts_cached(_ds_key(ds), ds, eda)


@st.cache_data(show_spinner=False, max_entries=16)
def _split_cached(spec_key: str, _ds, _make_split):
    sp = _make_split(_ds)
    return {"train": len(sp.train), "val": len(sp.val), "test": len(sp.test), "grouped_by": sp.grouped_by}


def _split_sizes(ds, make_split):
    return _split_cached(_ds_key(ds), ds, make_split)


def samples(ds) -> None:
    import numpy as np

    from core.datasets.io import load_images

    per_class = st.slider("Images per class", 1, 12, 6, key="eda_per_class")
    seed = st.number_input("Sample seed", 0, 10_000, 0, key="eda_seed")
    rng = np.random.default_rng(int(seed))
    for k, cname in enumerate(ds.class_names):
        pos = np.flatnonzero(ds.labels == k)
        if len(pos) == 0:
            continue
        pick = rng.choice(pos, size=min(per_class, len(pos)), replace=False)
        imgs = load_images(ds, pick, size=None)
        st.markdown(f"**{_format.md_text(cname)}** · {_format.plural(len(pos), 'image')}")
        cols = st.columns(per_class)
        for col, img, p in zip(cols, imgs, pick):
            col.image(img, caption=_format.md_text(str(ds.ids[p])[:18]), width="stretch", clamp=True)


@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)  # as long as the dataset cache
def _image_stats_cached(spec_key: str, sample: int, _ds, _eda) -> pd.DataFrame:
    return _eda.image_stats(_ds, sample=sample)


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def _exposure_cached(spec_key: str, _ds, _eda) -> dict:
    return _eda.exposure_screening(_ds)


def _ds_key(ds) -> str:
    """Cache key of a loaded dataset: its spec (name, folder, parameters) and size."""
    return repr(ds.spec) + str(len(ds))


def image_statistics(ds, eda) -> None:
    import plotly.express as px

    from core.analysis import data_plots

    sample = st.select_slider("Images to measure", [100, 300, 1000, 3000], value=300, key="eda_sample")
    with st.spinner("Measuring images…"):  # cached per dataset and sample size: a revisit is instant
        df = _image_stats_cached(_ds_key(ds), int(sample), ds, eda)
    if df.empty:
        st.info("No images could be measured.")
        return
    unreadable = int((~df["readable"].astype(bool)).sum())
    if unreadable:
        st.warning(f"{unreadable:,} of {_format.plural(len(df), 'sampled image')} could not be read.")
    below = dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0, title=None)  # legends under the plot
    cols = st.columns([3, 1])
    sizes = px.scatter(df, x="width", y="height", color="class", title="Image sizes (px)", opacity=0.6)
    cols[0].plotly_chart(sizes.update_layout(legend=below), width="stretch", key="eda_sizes")
    cc = df["channels"].value_counts().rename_axis("channels").reset_index(name="images")
    cc["channels"] = cc["channels"].map({1: "1 (grey)", 3: "3 (RGB)", 4: "4 (RGBA/CMYK)"}).fillna(cc["channels"].astype(str))
    cols[1].plotly_chart(px.bar(cc, x="channels", y="images", title="Channels as stored").update_xaxes(type="category"),
                         width="stretch", key="eda_channels")
    bright = px.histogram(df, x="brightness", color="class", nbins=40, title="Mean brightness (0-255)",
                          barmode="overlay", opacity=0.6)
    st.plotly_chart(bright.update_layout(legend=below), width="stretch", key="eda_brightness")
    st.plotly_chart(data_plots.channel_means_figure(df), width="stretch", key="eda_channel_means")
    if (df["channels"] == 1).all():
        st.caption("Grey images: the three channel means are the same grey mean.")


def metadata_views(ds, eda) -> None:
    if ds.domain == "fundus":
        exposure(ds, eda)
    md = ds.metadata
    if ds.domain == "lesion" or {"age", "sex", "localization", "dx_type"} & set(md.columns):
        ham_metadata(ds, eda, md)
    else:
        miss = eda.missing_values(ds)
        if isinstance(miss, pd.DataFrame) and not miss.empty:
            st.caption("Missing values per metadata column")
            st.dataframe(_pct(miss), hide_index=True, column_config=_PCT_COLUMNS)
        if ds.domain != "fundus":
            st.caption("This dataset has no per-image metadata beyond ids and labels.")


def exposure(ds, eda) -> None:
    import plotly.express as px

    st.subheader("Exposure screening")
    with st.spinner("Screening photos…"):
        scr = _exposure_cached(_ds_key(ds), ds, eda)
    t = scr["thresholds"]
    st.caption(f"Each photo is converted to grey (0 = black, 255 = white). It is flagged **under-exposed** (too "
               f"dark) when at least {t['dark_fraction']:.0%} of its pixels are {t['dark_level']} or darker, and "
               f"**over-exposed** (too bright) when more than {t['bright_fraction']:.0%} of its pixels are "
               f"{t['bright_level']} or brighter. This is the screening rule of report D, the fundus source report.")
    table = scr["table"]
    counts = table["flag"].value_counts().rename_axis("exposure").reset_index(name="images")
    a, b = st.columns([1, 2])
    a.plotly_chart(px.bar(counts, x="exposure", y="images", title="Exposure"), width="stretch", key="eda_exposure")
    flagged = table[table["flag"].isin(["under-exposed", "over-exposed"])]
    b.write(f"{len(flagged):,} flagged of {_format.plural(scr['n_screened'], 'photo')} screened.")
    if len(flagged):
        from core.datasets.io import load_images

        show = flagged.head(8)
        pos = ds.index_of(show["id"])
        cols = b.columns(4)
        for i, (img, (_, row)) in enumerate(zip(load_images(ds, pos, size=(160, 160)), show.iterrows())):
            cols[i % 4].image(img, caption=f"{_format.md_text(row['id'])} · {row['flag']}", width="stretch")
    with st.expander("All screened photos"):
        shown = table.assign(**{c: (100 * table[c]).round(1) for c in ("dark_fraction", "bright_fraction")})
        st.dataframe(shown, hide_index=True, width="stretch",
                     column_config={"dark_fraction": st.column_config.NumberColumn(
                                        f"dark pixels (≤ {t['dark_level']})", format="%.1f%%"),
                                    "bright_fraction": st.column_config.NumberColumn(
                                        f"bright pixels (≥ {t['bright_level']})", format="%.1f%%")})


def ham_metadata(ds, eda, md: pd.DataFrame) -> None:
    import plotly.express as px

    label_col = "dx" if "dx" in md.columns else None
    md = md.copy()
    if "age" in md.columns and "age_imputed" in md.columns:  # show ages as recorded
        md["age"] = pd.to_numeric(md["age"], errors="coerce").mask(md["age_imputed"].astype(bool))
    if label_col is None:
        md["class"] = [ds.class_names[i] for i in ds.labels]
        label_col = "class"
    miss = eda.missing_values(ds)
    if "age" in md.columns:
        a, b = st.columns(2)
        a.plotly_chart(px.histogram(md, x="age", nbins=20, title="Age"), width="stretch")
        b.plotly_chart(px.box(md, x=label_col, y="age", title="Age by class"), width="stretch")
        row = miss[miss["column"] == "age"] if isinstance(miss, pd.DataFrame) else pd.DataFrame()
        n_missing = int(row["missing"].iloc[0]) if len(row) else int(md["age"].isna().sum())
        st.caption(f"Missing ages: {n_missing:,}" + (" (imputed for training; flagged in `age_imputed`)."
                                                   if "age_imputed" in md.columns else "."))
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
        pie = px.pie(dt, names="dx_type", values="images", title="Diagnosis confirmation (dx_type)")
        pie.update_traces(texttemplate="%{percent:.1%}", textposition="inside",
                          hovertemplate="%{label}: %{value:,} images (%{percent:.1%})<extra></extra>")
        d.plotly_chart(pie.update_layout(uniformtext=dict(minsize=10, mode="hide")), width="stretch")
    if ds.groups is not None:
        gdf = eda.group_sizes(ds)
        gname = ds.group_name or "group"
        st.plotly_chart(px.bar(gdf, x="images_per_group", y="groups", title=f"Images per {gname}",
                               labels={"images_per_group": f"images per {gname}", "groups": f"{gname}s"}),
                        width="stretch", key="eda_groups")
        n_multi = int(gdf.loc[gdf["images_per_group"] > 1, "groups"].sum())
        word = gname.removesuffix("_id")
        st.warning(f"{n_multi:,} of the {_format.plural(gdf.attrs.get('n_groups', 0), word)} with images present here "
                   f"{'has' if n_multi == 1 else 'have'} more than one image. Splitting by "
                   f"image would put photos of the same lesion in both the training and the test set, so the test "
                   f"score would overstate how well a model does on lesions it has never seen (this is called "
                   f"leakage; report C, one of the source reports the lab builds on, is the example). The lab splits by "
                   f"{gname}: all photos of one {gname.replace('_id', '')} go to the same part.",
                   icon=":material/warning:")
    if isinstance(miss, pd.DataFrame) and not miss.empty:
        with st.expander("Missing values"):
            st.dataframe(_pct(miss), hide_index=True, column_config=_PCT_COLUMNS)


_PCT_COLUMNS = {"percent": st.column_config.NumberColumn("percent", format="%.1f%%")}


def _pct(df: pd.DataFrame) -> pd.DataFrame:
    """Percent columns rounded to one decimal for display."""
    return df.assign(percent=df["percent"].round(1)) if "percent" in df.columns else df


# ---------------------------------------------------------------------------------- label audit
AUDIT_GALLERY = 12


def label_audit(ds, name: str, params: dict) -> None:
    """Launch a label audit of this dataset; the latest finished one's most suspect labels."""
    st.markdown("Which labels are probably wrong? A *label audit* trains the model K times (K-fold), each time "
                "predicting the images it did not see, then ranks every image by how well its label agrees "
                "with those out-of-sample predictions (cleanlab). It also flags outliers and near-duplicates.")
    if _widgets.permitted("start_audit"):
        _launch_audit(name, params)
    store = _resources.guarded_store()  # the audits this session's actor may see
    runs, _ = store.list_runs(dataset=name, kind="audit", status="succeeded", limit=1)
    if not runs:
        st.info("No finished label audit of this dataset yet.")
        return
    from core.analysis.audit import load_audit

    detail = store.get_run(runs[0].id)
    got = load_audit(detail)
    if got is None:
        st.warning(f"The files of audit run #{detail.id} are missing.")
        return
    _audit_gallery(ds, detail, *got)


def _launch_audit(name: str, params: dict) -> None:
    from core import models as model_registry

    with st.form("audit_form"):
        c = st.columns(3)
        k = c[0].number_input("Folds (K)", min_value=2, max_value=10, value=3, key="audit_k")
        epochs = c[1].number_input("Epochs per fold", min_value=1, max_value=100, value=5, key="audit_epochs")
        names = list(model_registry.list_models())
        model = c[2].selectbox("Model", names, index=names.index("small_cnn") if "small_cnn" in names else 0,
                               key="audit_model")
        go = st.form_submit_button("Audit labels", icon=":material/fact_check:")
    if go:
        from core.analysis.audit import submit_audit
        from core.validation import LabError

        cfg = {"dataset": {"name": name, "params": dict(params or {})}, "model": model}
        try:
            with _widgets.single_click(f"audit_{name}") as act:  # a double click queues one audit
                rid = _resources.acting(submit_audit)(_resources.get_jobs(), cfg,
                                                      {"k": int(k), "epochs": int(epochs)}) if act else None
        except LabError as err:
            st.error(_format.md_text(err))
            return
        if rid is None:
            return
        st.success(f"Label audit queued as run #{rid}; its results appear here when it has finished.")


def _audit_gallery(ds, detail, table: pd.DataFrame, summary: dict) -> None:
    st.caption(f"Audit run #{detail.id} ({_format.md_text(detail.name)}): {_format.plural(summary['n_images'], 'image')}, "
               f"{_format.plural(summary['k'], 'fold')} x {_format.plural(summary['epochs'], 'epoch')}, out-of-sample accuracy "
               f"{summary['oos_accuracy']:.3f}; {_format.plural(summary['n_label_issues'], 'likely label issue')}, "
               f"{_format.plural(summary['n_duplicate_groups'], 'group')} of near-duplicates "
               f"({_format.md_text(summary['duplicates'])}).")
    if summary.get("flip_labels"):
        st.caption(f"This audit flipped {summary['flip_labels']} labels on purpose (a demonstration); it ranked "
                   f"{summary['flipped_recall_top2x']:.0%} of them among its {2 * summary['flip_labels']} most "
                   "suspect labels.")
    flagged = table[table["is_label_issue"].astype(bool)].sort_values("rank")
    st.markdown(f"**Most suspect labels** (lowest label quality first; {len(flagged):,} flagged)")
    show = flagged.head(AUDIT_GALLERY)
    pos = pd.Index(ds.ids).get_indexer(show["id"].astype(str))
    show, pos = show[pos >= 0], pos[pos >= 0]
    if len(show):
        from core.datasets.io import load_images

        cols = st.columns(6)
        for i, (img, (_, row)) in enumerate(zip(load_images(ds, pos, size=(96, 96)), show.iterrows(), strict=True)):
            cols[i % 6].image(img, width="stretch", clamp=True,
                              caption=_format.md_text(f"{row['id']}: given {row['given_class']} → "
                                                  f"{row['suggested_class']} · q={row['label_quality']:.2f}"))
    elif len(flagged):
        st.caption("The flagged images are not in this selection of the dataset (other max-per-class?).")
    cols = ["rank", "id", "given_class", "suggested_class", "label_quality", "is_label_issue", "outlier_score",
            "duplicate_group"]
    st.dataframe(table[[c for c in cols if c in table]].head(200), hide_index=True, width="stretch")


body()
