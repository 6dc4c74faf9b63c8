"""Recipes: the five reports' experiments as one-click recipes (pick one and a budget, see the
configs and a rough time, launch them as one group, follow them), the reproduction table
(claim vs the lab's result with its interval and a verdict) and the pitfall demos."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pages import _format, _frame, _jobs_ui, _resources, _streamlit_internals, _widgets

_streamlit_internals.ensure_frame(_frame.navigation)

TABS = ["Recipes", "Reproduction table", "Pitfalls"]
FOLDER_DATASETS = {"ham10000": ("ham10000_dir", "metadata_csv"), "fundus": ("fundus_dir", "labels_csv")}


@_widgets.guarded
def body() -> None:
    st.title("Recipes")
    st.caption("The experiments of the five source reports, ready to run, with the figures each report claims; "
               "and the mistakes they made, measured.")
    tabs = st.tabs(TABS, key="rc_tab", on_change="rerun")
    for tab, fn in zip(tabs, (recipes_tab, table_tab, pitfalls_tab), strict=True):
        with tab:
            if tab.open is not False:  # None when tabs do not track state: draw all
                fn()


# ------------------------------------------------------------------ Recipes tab
def recipes_tab() -> None:
    from core.recipes import catalog as R
    from core.recipes.estimate import estimate_seconds, fmt_seconds
    from core.recipes.runs import launch_recipe
    from core.validation import LabError

    names = sorted(R.list_recipes(), key=lambda n: (R.get_recipe(n).report == "pitfall", n))  # reports, then pitfalls
    c = st.columns([3, 1])
    name = c[0].selectbox("Recipe", names, index=names.index(default_recipe(names)), key="rc_recipe",
                          format_func=lambda n: R.get_recipe(n).title)
    budget = c[1].radio("Budget", list(R.BUDGETS), key="rc_budget", horizontal=True,
                        help="quick: minutes on 2 CPU cores (a subsample, fewer epochs, a smaller input where the "
                             "model allows); full: the report's epochs and data.")
    recipe = R.get_recipe(name)
    st.markdown(f"**Source:** {_format.md_text(recipe.section)}")
    st.markdown(_format.md_text(recipe.description))
    data, weights = _inputs(recipe)
    try:
        planned = R.plan(name, budget, data=data, weights=weights)
    except LabError as err:  # a bad folder or weights value: say so, keep the page
        _widgets.show_error(err)
        return
    st.subheader("What will run")
    st.dataframe(plan_table(planned), hide_index=True, width="stretch")
    total = sum(estimate_seconds(p.config, p.kind) for p in planned)
    st.caption(f"Rough total on 2 CPU cores: **{fmt_seconds(total)}**, from the model's size, the number of "
               "images and the epochs only (full budget: for the full dataset); it can be off by a factor of 2-3.")
    claims = claims_table(recipe)
    if claims:
        st.dataframe(claims, hide_index=True, width="stretch")
    with st.expander("Full configurations (JSON)"):
        st.code(json.dumps([p.config for p in planned], indent=2), language="json")
    problems = R.data_problems(planned)
    missing_data(planned, problems)
    token = json.dumps([name, budget, data, weights], sort_keys=True)
    last = st.session_state.get("rc_last_launch")
    again = last is not None and last["token"] == token
    label = ("Launch again (another group)" if again else f"Launch {_format.plural(len(planned), 'run')} as one group")
    if _widgets.permitted("launch_recipe") and st.button(label, key="rc_launch", type="primary",
                                                         disabled=bool(problems)):
        with _widgets.single_click("recipe_launch") as act:  # a double click launches one group
            launch = _resources.acting(launch_recipe)(_resources.get_jobs(), name, budget, data=data,
                                                      weights=weights) if act else None
        if launch is not None:
            st.session_state["rc_last_launch"] = {"group": launch.group_id, "runs": launch.run_ids, "token": token}
            st.rerun()  # redraw with the launch's outcome and the button saying a new click makes another group
    if again:
        st.success(f"Queued {_format.plural(len(last['runs']), 'run')} as recipe group #{last['group']}; they run one "
                   "after the other: follow them below (the sidebar shows the queue).", icon=":material/check:")
    follow(name)


DEEP_LINK = "recipe"  # recipes?recipe=NAME opens on that recipe


def default_recipe(names: list[str]) -> str:
    """The recipe the page opens on: a deep link's (``?recipe=NAME``), else the first that can be
    launched here (its data available), else report B's CNN (nothing can run before data is given)."""
    from core.recipes import catalog as R

    linked = st.query_params.get(DEEP_LINK)
    if linked in names:
        return linked
    return R.first_runnable(names) or "report_b_cnn5"


def missing_data(planned, problems: list[str]) -> None:
    """What data the recipe lacks, each said once: a Keras dataset with its import form, a folder
    as a warning (its command quoted as code)."""
    from pages import _dataset_import

    _dataset_import.show_flash()
    keras = {p.config["dataset"]["name"] for p in planned if _dataset_import.is_keras_dataset(p.config["dataset"]["name"])}
    for msg in problems:
        ds = msg.split(":", 1)[0]
        if ds in keras:
            _dataset_import.import_form("rc", ds, _dataset_title(ds))
        else:
            st.warning(f"Data missing: {_dataset_import.markdown_with_code(msg)}", icon=":material/folder_off:")


def _dataset_title(name: str) -> str:
    return next((i.title for i in _resources.cached_dataset_infos() if i.name == name), name)


def _inputs(recipe) -> tuple[dict, str | None]:
    """Folders of the datasets that need one, and the weights of runs needing ImageNet weights."""
    from core.config import get_settings

    data: dict[str, dict] = {}
    for ds in sorted({r.config["dataset"]["name"] for r in recipe.runs} & set(FOLDER_DATASETS)):
        attr, extra = FOLDER_DATASETS[ds]
        pre = getattr(get_settings(), attr, None)
        c = st.columns(2)
        path = c[0].text_input(f"{ds} folder on the server", value=str(pre or ""), key=f"rc_path_{ds}",
                               help="The folder of the images (the lab's dataset settings pre-fill it).")
        csv = c[1].text_input(f"{ds} {extra} (optional)", key=f"rc_{extra}_{ds}")
        params = {k: v.strip() for k, v in (("path", path), (extra, csv)) if v.strip()}
        if params:
            data[ds] = params
    weights = None
    if recipe.needs_imagenet:
        st.warning("Some runs of this recipe need ImageNet weights: Keras' cached file is used (downloaded when "
                   "the network allows), or give a weights file. 'none' trains from random weights: a smoke test "
                   "whose results are not comparable with the report.", icon=":material/download:")
        weights = st.text_input("Backbone weights", value="imagenet", key="rc_weights").strip() or None
    return data, weights


def plan_table(planned) -> pd.DataFrame:
    from core.recipes.estimate import estimate_seconds, fmt_seconds

    rows = []
    for p in planned:
        c = p.config
        rows.append({
            "run": p.run.key, "what": p.run.title, "kind": p.kind, "model": c["model"],
            "dataset": c["dataset"]["name"], "subsample/class": c["dataset"].get("params", {}).get("max_per_class"),
            "input": "x".join(map(str, c["input_size"] or [])) or "auto", "normalization": c["normalization"] or "auto",
            "augment": c["augment"] if isinstance(c["augment"], str) else ("custom" if c["augment"] else "none"),
            "optimizer": c["optimizer"], "lr": c["learning_rate"], "schedule": c["schedule"], "epochs": c["epochs"],
            "batch": c["batch_size"], "class weight": c["class_weight"], "monitor": c["monitor"],
            "weights": c["weights"] or "random", "rough time": fmt_seconds(estimate_seconds(c, p.kind)),
        })
    return pd.DataFrame(rows)


def claims_table(recipe) -> list[dict]:
    rows = []
    for r in recipe.runs:
        for cl in r.claims:
            rows.append({"run": r.key, "report claims": cl.label, "value": cl.value, "compared with": cl.metric,
                         "how": cl.note})
        if r.params:
            rows.append({"run": r.key, "report claims": f"{r.params['total']:,} parameters "
                                                        f"({r.params['trainable']:,} trainable)",
                         "value": None, "compared with": "the built model", "how": "checked by the test suite"})
    return rows


@_widgets.live_fragment(_jobs_ui.JOBS_REFRESH_S)
def follow(name: str) -> None:
    """The groups of this recipe already launched and their runs, newest first, with their progress."""
    from core.recipes.runs import find_recipe_groups, find_recipe_runs

    store = _resources.guarded_store()
    every = find_recipe_groups(store)
    groups = [g for g in every if g.recipe == name]
    runs = find_recipe_runs(store, name, groups=every)
    if not runs and not groups:
        st.caption("No run of this recipe yet.")
        return
    st.subheader("Launched groups")
    if groups:
        st.dataframe(pd.DataFrame(group_rows(groups[:20], runs)), hide_index=True, width="stretch", column_config={
            "open": st.column_config.LinkColumn("open", display_text="open"),
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)})
    st.dataframe(pd.DataFrame([{
        "open": f"runs?run={r.id}", "id": r.id, "run": r.tags.get("recipe_run"), "budget": r.tags.get("recipe_budget"),
        "group": r.tags.get("recipe_group"), "status": r.status, "progress": float(r.progress or 0.0),
        "accuracy": r.summary.get("accuracy"), "wall time": _format.fmt_duration(r.duration_s),
    } for r in runs[:50]]), hide_index=True, width="stretch", column_config={
        "open": st.column_config.LinkColumn("open", display_text="open"),
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)})
    if runs:
        st.page_link("pages/train.py", label="Follow live curves on Train → Jobs", icon=":material/monitoring:",
                     query_params={"run": str(runs[0].id)})


def group_rows(groups, runs) -> list[dict]:
    """One row per recipe group: "Recipe group #id", its status and "runs done" as N/M, counted from
    its runs (so it is right even before the job supervisor has rolled the group up)."""
    from core.store.schema import FINAL_STATUSES

    rows = []
    for g in groups:
        kids = [r for r in runs if r.parent_id == g.id]
        n = max(len(g.run.children), len(kids))
        done = sum(r.status in FINAL_STATUSES for r in kids)
        ok = sum(r.status == "succeeded" for r in kids)
        rows.append({"open": f"runs?run={g.id}", "group": f"Recipe group #{g.id}", "budget": g.budget,
                     "status": g.run.status, "progress": done / n if n else 0.0, "runs done": f"{done}/{n}",
                     "succeeded": ok, "created": g.run.created_at})
    return rows


# ------------------------------------------------------------------ Reproduction table
def table_tab() -> None:
    from core.recipes import catalog as R
    from core.recipes.reproduction import reproduction_table

    st.markdown("Each report's claim next to the lab's result on its held-out test split, with the 95 % bootstrap "
                "interval. **Verdict**: the claim lies within the interval (reproduced), the lab's interval lies "
                "below or above the claim, or the run is missing.")
    reports = st.multiselect("Reports", ["A", "B", "C", "D", "E", "pitfall"], default=["A", "B", "C", "D", "E"],
                             key="rc_reports")
    names = [n for n in R.list_recipes() if R.get_recipe(n).report in reports]
    rows = reproduction_table(_resources.guarded_store(), names) if names else []
    if not rows:
        st.info("Choose at least one report.")
        return
    df = reproduction_frame(rows)
    st.dataframe(df, hide_index=True, width="stretch", height=min(720, 35 * (len(df) + 1) + 3),
                 column_config=reproduction_columns())
    st.caption("Quick-budget results use a subsample and few epochs: they check that a recipe runs, not the "
               "report's figure. Report D's headline is a mean of one-vs-rest accuracies and is compared with the "
               "same mean computed from our predictions; accuracy, balanced accuracy and kappa are shown beside it.")


REPRODUCTION_NUMBERS = ("claimed", "result", "accuracy", "balanced_accuracy", "kappa_quadratic")


def reproduction_frame(rows: list[dict]) -> pd.DataFrame:
    """The reproduction table as the page shows it: numbers as text with three decimals, "—" where
    there is none (no "None" cells), the interval in one cell and a link to the run."""
    df = pd.DataFrame(rows)
    df["open"] = [f"runs?run={i}" if i else "" for i in df["run_id"]]
    df["interval"] = [f"[{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "—"
                      for lo, hi in zip(df["ci_low"], df["ci_high"], strict=True)]
    for c in REPRODUCTION_NUMBERS:
        df[c] = [_format.fmt_num(v) for v in df[c]]
    df["status"] = [s or "—" for s in df["status"]]
    cols = ["recipe", "run", "budget", "claim", "verdict", "claimed", "result", "interval", "open", "metric",
            "accuracy", "balanced_accuracy", "kappa_quadratic", "status", "note"]
    return df[cols].fillna("")


def reproduction_columns() -> dict:
    """Widths that show the claims and verdicts in full, the verdict beside the claim (the longest
    verdict: 'reproduced (within the interval)'), without scrolling at 1400 px."""
    cc = st.column_config

    def num(label, width=64):
        return cc.TextColumn(label, width=width, alignment="right")

    return {
        "recipe": cc.TextColumn("recipe", width=128), "run": cc.TextColumn("run", width=100),
        "budget": cc.TextColumn("budget", width=56),
        "claim": cc.TextColumn("claim", width=310, help="what the report claims, in its words (or why it claims "
                               "nothing for this run)"),
        "claimed": num("claimed"), "result": num("result"), "interval": cc.TextColumn("95 % interval", width=110),
        "verdict": cc.TextColumn("verdict", width=224), "open": cc.LinkColumn("run", display_text="open", width=48),
        "accuracy": num("accuracy"), "balanced_accuracy": num("balanced acc.", 84), "kappa_quadratic": num("kappa"),
    }


# ------------------------------------------------------------------ Pitfalls tab
def pitfalls_tab() -> None:
    from core.recipes import pitfalls as P

    key = st.radio("Pitfall", list(P.PITFALLS), key="rc_pitfall", horizontal=True,
                   format_func=lambda k: P.PITFALLS[k].title)
    pit = P.PITFALLS[key]
    st.markdown(_format.md_text(pit.explanation))
    st.caption(f"Recipe: {pit.recipe} (launch it on the Recipes tab).")
    {"leakage": leakage_demo, "shuffled_eval": shuffled_demo, "accuracy_imbalance": imbalance_demo,
     "ovr_mean": ovr_demo}[key](pit)


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def leakage_demo(pit) -> None:
    from core.recipes import pitfalls as P

    store = _resources.guarded_store()
    m = P.measure(store, "leakage")
    if not m["measured"]:
        st.info(m["text"].capitalize() + ".", icon=":material/info:")
    else:
        cnn_numbers(m)
    st.subheader("The leak measured with a memorising model")
    with st.spinner("Measuring the leak with a 1-nearest-neighbour model (about 10 s, once per server)…"):
        lesson = P.leakage_lesson(store)
    if lesson is None:
        st.info("Give the lab a HAM10000 folder (LAB_HAM10000_DIR) or launch pitfall_leakage to measure how much "
                "the leak helps a model that memorises.", icon=":material/info:")
        return
    st.dataframe(lesson_table(lesson), hide_index=True, width="stretch")
    for sentence in lesson["text"]:
        st.markdown(_format.md_text(sentence))


def cnn_numbers(m: dict) -> None:
    """The two CNN runs of the recipe: their test metrics side by side and each split's overlap."""
    rep = m["result"]
    st.dataframe(pd.DataFrame({"image-level split (leaky)": rep["leaky"], "lesion-grouped split": rep["grouped"],
                               "difference": rep["difference"]}), width="stretch")
    for name, ov in (rep.get("overlap") or {}).items():
        st.caption(f"{name}: {ov['test_images_sharing_a_group_with_train']} of {ov['test_images']} test images "
                   f"share a lesion with a training image ({ov['fraction']:.0%}).")
    leaky, grouped = m["runs"]
    st.caption(f"CNN runs #{leaky} and #{grouped}. Accuracy intervals: leaky {_ci(rep['ci']['leaky'])}, grouped "
               f"{_ci(rep['ci']['grouped'])}: where they overlap, the difference is within the noise.")


def lesson_table(lesson: dict) -> pd.DataFrame:
    """The 1-NN's numbers on both splits, one row per figure."""
    img, grp = lesson["image_split"], lesson["grouped_split"]

    def pct(v):
        return "—" if v is None else f"{v:.0%}"

    rows = [("test images with a photo of their lesion in training", pct(img["leaked_share"]),
             pct(grp["leaked_share"])),
            ("… whose nearest training image is that lesion", pct(img["same_lesion_nn_share"]), "—"),
            ("1-NN accuracy", _fmt(img["knn_accuracy"]), _fmt(grp["knn_accuracy"])),
            ("1-NN accuracy, training photos of the test lesions removed", _fmt(img["knn_accuracy_without_test_lesions"]),
             "—"),
            ("1-NN accuracy on the leaked test images", _fmt(img["knn_accuracy_leaked"]), "—"),
            ("1-NN accuracy on the other test images", _fmt(img["knn_accuracy_other"]), "—"),
            ("a model recognising every lesion it has seen (ceiling)", _fmt(img["lesion_memory_accuracy"]), "—")]
    return pd.DataFrame(rows, columns=["memorising model (1-nearest-neighbour)", "image-level split",
                                       "lesion-grouped split"])


def _ci(pair) -> str:
    return "—" if pair[0] is None else f"[{pair[0]:.3f}, {pair[1]:.3f}]"


def shuffled_demo(pit) -> None:
    from core.recipes import pitfalls as P

    store = _resources.guarded_store()
    rows, _ = store.list_runs(status="succeeded", kind="train", limit=50)
    if not rows:
        st.info("Needs one finished run (any): launch pitfall_shuffled_eval, or train one on **Train**.",
                icon=":material/info:")
        return
    default = P.latest_recipe_run(store, pit.recipe)
    ids = [r.id for r in rows]
    idx = ids.index(default.id) if default is not None and default.id in ids else 0
    rid = st.selectbox("Run", ids, index=idx, key="rc_shuffle_run",
                       format_func=lambda i: _format.run_label(next(r for r in rows if r.id == i)))
    m = P.measure(store, "shuffled_eval", run_id=rid)
    if not m["measured"]:
        st.warning(m["text"])
        return
    res = m["result"]
    keys = list(res["difference"])
    st.dataframe(pd.DataFrame({"aligned by sample id": {k: res["aligned"].get(k) for k in keys},
                               "shuffled (misaligned)": {k: res["shuffled"].get(k) for k in keys},
                               "difference": res["difference"]}), width="stretch")
    st.caption(f"Expected accuracy of two unrelated label lists with these class shares: "
               f"{_fmt(res['chance_accuracy'])}.")


def imbalance_demo(pit) -> None:
    from core.recipes import pitfalls as P

    m = P.measure(_resources.guarded_store(), "accuracy_imbalance")
    base = m["baseline"]
    c = st.columns(3)
    c[0].metric("Accuracy of 'always nevus'", f"{base['accuracy']:.1%}")
    c[1].metric("Balanced accuracy", f"{base['balanced_accuracy']:.1%}")
    c[2].metric("Melanoma sensitivity", f"{base['sensitivity']['mel']:.0%}")
    table = {"always nevus": base["sensitivity"]}
    if m["measured"]:
        rid = m["runs"][0]
        table[f"run #{rid}"] = m["result"]["sensitivity"]
        st.caption(f"Run #{rid}: accuracy {_fmt(m['result']['accuracy'])}, balanced accuracy "
                   f"{_fmt(m['result']['balanced_accuracy'])}.")
    st.markdown("**Sensitivity per class**")
    st.dataframe(pd.DataFrame(table), width="stretch")
    st.caption("'Always nevus' is computed from the 10,015 labels of HAM10000_metadata.csv (no training).")


def ovr_demo(pit) -> None:
    from core.recipes import pitfalls as P
    from core.recipes.catalog import ovr_mean_from_accuracy

    m = P.measure(_resources.guarded_store(), "ovr_mean")
    per_grade = P.REPORT_D_OVR["per_grade"]
    c = st.columns(3)
    c[0].metric('Report D headline ("accuracy")', "92.1 %")
    c[1].metric("The accuracy it implies", f"{m['report_d_accuracy']:.1%}")
    c[2].metric("Always 'no DR' on EyePACS (73 %)", f"{ovr_mean_from_accuracy(0.73, 5):.1%}",
                help="the mean one-vs-rest accuracy of a model that never finds retinopathy")
    st.caption(f"Report D's per-grade one-vs-rest accuracies average {sum(per_grade) / 5:.1%}.")
    if not m["measured"]:
        st.info("Launch pitfall_ovr_mean (or report_d_densenet) to measure it on our own predictions.",
                icon=":material/info:")
        return
    rep = m["result"]
    st.dataframe(pd.DataFrame({f"run #{m['runs'][0]}": {
        "mean one-vs-rest accuracy (report D's way)": rep["mean_ovr_accuracy"], "accuracy": rep["accuracy"],
        "balanced accuracy": rep["balanced_accuracy"], "quadratic weighted kappa": rep["kappa_quadratic"]}}),
        width="stretch")


body()
