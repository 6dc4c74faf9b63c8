"""The Train page (AppTest on the real app, a real store on a temp dir and the real job
manager): it never creates or mislabels a run, its options and bounds come from the config
table, its form survives a reload, and its Jobs tab (drawn only while open) follows the run just
submitted, shows one reading of the store and cancels a run.

Most tests switch the job manager's supervisor off (LAB_DASHBOARD_SUPERVISOR=0): submitting
still goes through ``JobManager.submit`` into the real store, but no training starts, so the
tests stay fast. The browser checks (Enter in a field, the live refresh of the Jobs tab) are in
tests/e2e/test_train_form.py.
"""
from __future__ import annotations

import re

import pytest

from lab_pages_support import PROJECT_ROOT, app_at, env_store, problems, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]

TIMEOUT = 120


@pytest.fixture()
def env(lab_env, monkeypatch):
    monkeypatch.setenv("LAB_DASHBOARD_SUPERVISOR", "0")  # runs stay queued: no training in these tests
    return lab_env


def all_runs():
    """Every run in the store (details, with config), oldest first."""
    s = env_store()
    runs, _ = s.list_runs(limit=None, sort="id", descending=False)
    return [s.get_run(r.id) for r in runs]


def train_page(query: dict | None = None):
    """The Train page in a new browser session (a new AppTest), opened with ``query`` in the URL."""
    at = app_at("train", query, timeout=TIMEOUT)
    assert_ok(at)
    return at


def assert_ok(at) -> None:
    assert problems(at) == []


def texts(at, kinds=("markdown", "info", "success", "warning", "caption", "error")) -> str:
    return "\n".join(str(e.value) for k in kinds for e in getattr(at, k))


def plain(s: str) -> str:
    """Markdown-escaped page text back to what the user reads."""
    return re.sub(r"\\(.)", r"\1", s)


def open_jobs(at):
    """The user opens the Jobs tab (drawn only while open)."""
    at.session_state["train_tab"] = "Jobs"
    at.run()
    assert_ok(at)
    return at


def submit(at):
    next(b for b in at.button if b.label == "Submit").click().run()
    return at


# ------------------------------------------------------------------ submitting: never an accidental run
def test_enter_in_a_field_never_submits(env):
    """Enter submits an st.form (enter_to_submit=True by default): 4 accidental runs in 7 s.
    The page has no form that submits on Enter; committing a value (what Enter does) queues
    nothing; only the Submit button does."""
    at = train_page()
    forms = at.get("form")
    assert all(f.proto.form.enter_to_submit is False for f in forms), \
        [f.proto.form.form_id for f in forms if f.proto.form.enter_to_submit]
    at.number_input(key="t_epochs").set_value(2).run()        # typed + Enter
    at.text_input(key="t_name").set_value("quick digits").run()
    at.number_input(key="t_batch").set_value(16).run()
    assert_ok(at)
    assert all_runs() == []
    submit(at)
    assert_ok(at)
    (r,) = all_runs()
    assert r.config["epochs"] == 2 and r.config["batch_size"] == 16 and r.name == "quick digits"


def test_double_click_submits_once(env):
    at = train_page()
    at.number_input(key="t_epochs").set_value(1).run()
    submit(at)
    submit(at)  # the second click of a double click: the same form state
    runs = all_runs()
    assert len(runs) == 1, [(r.id, r.name) for r in runs]
    rid = runs[0].id
    assert f"Already submitted as run #{rid}" in texts(at)
    # on purpose, an identical run can still be queued (once per click on "Queue it again")
    at.button(key=f"t_again_{rid}").click().run()
    assert_ok(at)
    assert len(all_runs()) == 2
    # a changed setting is a new submission
    at.number_input(key="t_seed").set_value(3).run()
    submit(at)
    assert len(all_runs()) == 3 and all_runs()[-1].config["seed"] == 3


# ------------------------------------------------------------------ the form: what you see is what runs
def test_family_switch_never_changes_other_widgets(env):
    """Backbone -> zoo used to put the architecture back to the dataset default (and epochs and
    batch size with it): run #5, named "ham small_cnn…", trained report_a_tuned_cnn."""
    at = train_page()
    at.selectbox(key="t_model_zoo").set_value("report_b_cnn5").run()
    at.number_input(key="t_epochs").set_value(3).run()
    at.number_input(key="t_batch").set_value(8).run()
    at.selectbox(key="t_opt").set_value("sgd").run()
    at.radio(key="t_family").set_value("backbone").run()
    assert_ok(at)
    at.selectbox(key="t_model_backbone").set_value("vgg16").run()
    at.selectbox(key="t_cut").set_value("block4_pool").run()
    at.selectbox(key="t_norm").set_value("backbone").run()
    at.radio(key="t_family").set_value("zoo").run()
    assert_ok(at)
    assert at.selectbox(key="t_model_zoo").value == "report_b_cnn5"
    assert at.number_input(key="t_epochs").value == 3 and at.number_input(key="t_batch").value == 8
    assert at.selectbox(key="t_opt").value == "sgd"
    # 'backbone' normalisation is invalid for a zoo model: changed, and said so under the widget
    assert at.selectbox(key="t_norm").value == "auto"
    assert any("Normalisation" in plain(w.value) and "backbone" in w.value for w in at.warning)
    # the backbone settings are kept for when the user switches back
    at.radio(key="t_family").set_value("backbone").run()
    assert at.selectbox(key="t_model_backbone").value == "vgg16" and at.selectbox(key="t_cut").value == "block4_pool"
    # a cut layer that the new backbone does not have is replaced visibly, never silently
    at.selectbox(key="t_model_backbone").set_value("resnet50").run()
    assert at.selectbox(key="t_cut").value == "(whole backbone)"
    assert any("block4_pool" in plain(w.value) and "resnet50" in plain(w.value) for w in at.warning)
    at.radio(key="t_family").set_value("zoo").run()
    submit(at)
    assert_ok(at)
    (r,) = all_runs()
    assert r.model == "report_b_cnn5" and r.config["epochs"] == 3 and r.config["batch_size"] == 8
    # the default name is the config that runs
    assert r.name.startswith("report_b_cnn5 on digits") and "3 ep" in r.name and "bs 8" in r.name


def test_dataset_suggestion_is_applied_only_on_request(env, shared_datasets):
    at = train_page()
    at.number_input(key="t_epochs").set_value(2).run()
    at.selectbox(key="train_name").set_value("ham10000").run()
    at.text_input(key="train_path_ham10000").set_value(str(shared_datasets / "ham10000")).run()
    assert_ok(at)
    assert at.selectbox(key="t_model_zoo").value == "small_cnn" and at.number_input(key="t_epochs").value == 2
    assert "Suggested for ham10000: report_a_tuned_cnn" in plain(texts(at))
    at.button(key="t_apply_ham10000").click().run()
    assert_ok(at)
    assert at.selectbox(key="t_model_zoo").value == "report_a_tuned_cnn"
    assert at.number_input(key="t_epochs").value == 10 and at.number_input(key="t_batch").value == 16
    assert (at.number_input(key="t_h").value, at.number_input(key="t_w").value) == (120, 150)
    assert "epochs: 2 → 10" in plain(texts(at))  # what changed is listed


def test_options_and_help_come_from_the_config_table(env, monkeypatch):
    """The page has no copy of the accepted values: its option lists and help texts are read
    from core.training.config.PARAMS (a choice added there is offered), and its GPUs input (the
    Advanced section) sets TrainConfig.gpus."""
    import dataclasses

    from core.training import config as train_config

    source = (PROJECT_ROOT / "pages" / "train.py").read_text()
    copied = [v for v in ("adagrad", "rmsprop", "one_cycle", "val_macro_f1", "per_image_mean", "report_a_tuned_cnn")
              if f'"{v}"' in source]
    assert copied == [], f"pages/train.py copies {copied}"
    opt = train_config.PARAMS["optimizer"]
    monkeypatch.setitem(train_config.PARAMS, "optimizer",
                        dataclasses.replace(opt, choices=(*opt.choices, "lion"), help="the optimiser (table)"))
    at = train_page()
    assert list(at.selectbox(key="t_opt").options) == [*opt.choices, "lion"]
    assert at.selectbox(key="t_opt").help == "The optimiser (table)."
    assert "lion" in at.multiselect(key="t_search_opts").options
    assert list(at.selectbox(key="t_sched").options) == list(train_config.SCHEDULES)
    assert list(at.selectbox(key="t_monitor").options) == list(train_config.MONITORS)
    assert at.number_input(key="t_gpus").help.startswith("GPUs this run needs; 0 = CPU.")
    at.number_input(key="t_gpus").set_value(2).run()
    submit(at)
    assert_ok(at)
    (r,) = all_runs()
    assert r.config["gpus"] == 2


def test_input_bounds_come_from_the_config_table(env, monkeypatch):
    """The page's number inputs and sliders offer the bounds of core.training.config's table
    (``Param.widget_range``): 1..500 epochs on the page, while validation and the CLI accept up
    to 10,000; a bound changed in the table is the page's bound."""
    import dataclasses

    from core.training import config as train_config
    from core.validation import ValidationError

    epochs = train_config.PARAMS["epochs"]
    assert epochs.widget_range == (1, 500) and (epochs.low, epochs.high) == (1, 10000)
    assert epochs.check("epochs", 10000) == 10000
    with pytest.raises(ValidationError):
        epochs.check("epochs", 10001)
    at = train_page()
    expected = {"t_epochs": (1, 500), "t_batch": (1, 1024), "t_patience": (0, 100), "t_seed": (0, 2**31 - 1),
                "t_gpus": (0, 64), "t_lr": (1e-7, 10.0), "t_wd": (0.0, 1.0)}
    offered = {key: (at.number_input(key=key).min, at.number_input(key=key).max) for key in expected}
    assert offered == expected  # every input named at once when some differ
    sliders = {key: (at.slider(key=key).min, at.slider(key=key).max) for key in ("t_val", "t_test")}
    assert sliders == {key: pytest.approx((0.05, 0.4)) for key in ("t_val", "t_test")}
    monkeypatch.setitem(train_config.PARAMS, "epochs", dataclasses.replace(epochs, widget=(1, 20)))
    at = train_page()
    assert at.number_input(key="t_epochs").max == 20


def test_contradicting_name_is_flagged_before_submit(env):
    at = train_page()
    at.selectbox(key="t_model_zoo").set_value("report_a_tuned_cnn").run()
    at.text_input(key="t_name").set_value("ham small_cnn 20 epochs").run()
    assert_ok(at)
    warn = plain("\n".join(w.value for w in at.warning))
    assert "small_cnn but this run uses report_a_tuned_cnn" in warn
    assert "ham but this run uses digits" in warn and "20 epochs" in warn
    submit(at)
    assert all_runs() == []
    assert any("Not queued" in plain(e.value) for e in at.error)
    ok = next(c for c in at.checkbox if c.key.startswith("t_name_ok_"))
    ok.check().run()
    submit(at)
    (r,) = all_runs()
    assert r.name == "ham small_cnn 20 epochs" and r.model == "report_a_tuned_cnn"
    # names that agree with the config pass without a word
    at.text_input(key="t_name").set_value("Report-A-tuned-CNN on digits, 5 epochs").run()
    assert not at.warning or all("contradicts" not in w.value for w in at.warning)


# ------------------------------------------------------------------ the Jobs tab and reloads
def test_train_draws_the_jobs_tab_only_while_it_is_open(env):
    store = env_store()
    rid = store.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": 2},
                           name="curves", dataset="digits", model="small_cnn", seed=0)
    store.set_status(rid, "running")
    for step in (1, 2):
        store.log_metrics(rid, {"loss": 1.0 / step, "accuracy": 0.4 * step}, step=step)
    store.set_status(rid, "succeeded")

    at = train_page()
    assert at.button(key="t_submit") is not None
    # the Jobs tab (panel, queue table, curves chart) waits until it is opened
    assert len(at.get("plotly_chart")) == 0 and len(at.dataframe) == 0
    assert "t_watch_select" not in [s.key for s in at.selectbox]

    open_jobs(at)
    assert at.selectbox(key="t_watch_select").value == rid
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"t_curves_{rid}")]
    assert len(charts) == 1


def test_train_form_submit_and_cancel(lab_env):
    """The Train form queues the config it shows; Cancel on the Jobs tab stops the run (the
    supervisor is on here: the run may have started)."""
    at = app_at("train")
    assert problems(at) == []
    # widgets inside a form take effect with the submit, in one script run
    at.number_input(key="t_epochs").set_value(30)
    at.selectbox(key="t_opt").set_value("adamax")
    submit(at)
    assert problems(at) == []
    store = env_store()
    runs, total = store.list_runs()
    assert total == 1
    r = store.get_run(runs[0].id)
    assert r.config["epochs"] == 30 and r.config["optimizer"] == "adamax" and r.config["dataset"]["name"] == "digits"
    open_jobs(at)
    cancel = next(b for b in at.button if b.key == f"t_cancel_{r.id}")
    cancel.click().run()
    final = wait_for(lambda: store.get_run(r.id).status in ("cancelled", "failed", "succeeded")
                     and store.get_run(r.id), timeout=180, interval=1.0, what="the cancelled run to stop")
    assert final.status == "cancelled", (final.status, final.error)


def test_jobs_tab_follows_the_run_just_submitted(env):
    at = train_page()
    submit(at)
    (first,) = all_runs()
    open_jobs(at)
    at.selectbox(key="t_watch_select").set_value(first.id).run()  # the user looks at run #1
    at.number_input(key="t_epochs").set_value(7).run()
    submit(at)
    assert_ok(at)
    second = all_runs()[-1]
    assert second.id != first.id
    assert at.selectbox(key="t_watch_select").value == second.id
    assert at.query_params.get("run") == str(second.id)


def test_form_survives_a_reload(env):
    """A reload is a new browser session: the form comes back from the URL, the Jobs tab
    follows the run submitted last; values forged in the URL are checked like any input."""
    at = train_page()
    at.selectbox(key="t_model_zoo").set_value("report_b_cnn5").run()
    at.number_input(key="t_epochs").set_value(3).run()
    at.selectbox(key="t_opt").set_value("rmsprop").run()
    at.number_input(key="t_lr").set_value(0.0025).run()
    at.slider(key="t_val").set_value(0.15).run()
    at.text_input(key="t_name").set_value("cnn5 probe").run()
    at.number_input(key="train_mpc_digits").set_value(40).run()
    submit(at)
    (r,) = all_runs()
    url = dict(at.query_params)
    assert url.get("run") == str(r.id)

    again = open_jobs(train_page(url))  # the reload, and a look at the Jobs tab
    assert again.selectbox(key="train_name").value == "digits"
    assert again.number_input(key="train_mpc_digits").value == 40
    assert again.selectbox(key="t_model_zoo").value == "report_b_cnn5"
    assert again.number_input(key="t_epochs").value == 3
    assert again.selectbox(key="t_opt").value == "rmsprop"
    assert again.number_input(key="t_lr").value == pytest.approx(0.0025)
    assert again.slider(key="t_val").value == pytest.approx(0.15)
    assert again.text_input(key="t_name").value == "cnn5 probe"
    assert again.selectbox(key="t_watch_select").value == r.id
    # the same config: pressing Submit after the reload is a normal submit of the same form
    # (a new session), and it queues exactly that configuration
    submit(again)
    assert all_runs()[-1].config == r.config

    forged = train_page({"t_epochs": "-4", "t_model_zoo": "![x](http://127.0.0.1:9/p.png)", "run": "999"})
    assert forged.number_input(key="t_epochs").value == 5  # the default
    assert forged.selectbox(key="t_model_zoo").value == "small_cnn"
    shown = "\n".join(i.value for i in forged.info) + "\n".join(w.value for w in forged.warning)
    assert "t_epochs" in plain(shown) and "run=999" in plain(shown)
    assert "![x](http" not in shown  # shown as text, never as Markdown


# ------------------------------------------------------------------ one reading of the store; GPUs
def test_panel_and_queue_show_one_reading(env):
    """The panel and the queue table of the Jobs tab come from the same read of the store."""
    s = env_store()
    rid = s.create_run({"dataset": {"name": "digits", "params": {}}, "model": "small_cnn", "epochs": 4},
                       name="progress probe", dataset="digits", model="small_cnn", status="running")
    s.set_progress(rid, 0.77, {"epoch": 3, "epochs": 4, "message": "training"})
    at = train_page()
    assert len(at.dataframe) == 0 and "t_watch_select" not in [s.key for s in at.selectbox]  # Jobs: when opened
    open_jobs(at)
    assert at.selectbox(key="t_watch_select").value == rid

    def shown():
        bar = next(e for e in at.get("progress") if "progress probe" not in str(e.proto.text))
        table = at.dataframe[-1].value.set_index("id")
        return round(bar.proto.value), int(table.loc[rid, "progress"]), plain(bar.proto.text)

    value, cell, text = shown()
    assert value == cell == 77 and "77 %" in text
    s.set_progress(rid, 0.9, {"epoch": 4, "epochs": 4, "message": "training"})
    at.run()
    value, cell, text = shown()
    assert value == cell == 90 and "90 %" in text


def test_a_gpu_machine_offers_one_gpu_per_run_by_default(env, monkeypatch):
    """With GPUs (LAB_GPUS overrides the detection, as on a GPU host) a new run asks for one
    GPU, so the local executor pins it to a GPU instead of hiding the GPUs from it; without
    GPUs the default stays 0 (CPU) and the page says the machine has none."""
    monkeypatch.setenv("LAB_GPUS", "0,1")
    at = train_page()
    assert at.number_input(key="t_gpus").value == 1
    assert "This machine: 2 GPUs (0, 1)" in texts(at)
    submit(at)
    assert_ok(at)
    (r,) = all_runs()
    assert r.config["gpus"] == 1

    monkeypatch.setenv("LAB_GPUS", "")
    at = train_page()
    assert at.number_input(key="t_gpus").value == 0
    assert "This machine has no GPU" in texts(at)


# ------------------------------------------------------------------ the search fields; the open tab in the URL
SEARCH_FIELDS = {"number_input": ("t_trials", "t_lr_lo", "t_lr_hi"), "multiselect": ("t_search_opts",)}


def _search_widgets(at):
    return [getattr(at, kind)(key=key) for kind, keys in SEARCH_FIELDS.items() for key in keys]


def test_search_fields_are_disabled_while_search_is_off_and_keep_their_values(env):
    at = train_page()
    assert at.checkbox(key="t_search").value is False
    assert [w.disabled for w in _search_widgets(at)] == [True] * 4  # nothing to edit for one run

    at.checkbox(key="t_search").check().run()
    assert [w.disabled for w in _search_widgets(at)] == [False] * 4
    at.number_input(key="t_trials").set_value(6).run()
    at.multiselect(key="t_search_opts").set_value(["sgd"]).run()

    at.checkbox(key="t_search").uncheck().run()
    assert_ok(at)
    assert [w.disabled for w in _search_widgets(at)] == [True] * 4
    assert at.number_input(key="t_trials").value == 6 and at.multiselect(key="t_search_opts").value == ["sgd"]
    at.checkbox(key="t_search").check().run()
    assert at.number_input(key="t_trials").value == 6 and at.multiselect(key="t_search_opts").value == ["sgd"]


def test_a_reload_reopens_the_tab_that_was_open(env):
    """A reload is a new session: the open tab comes back from the URL (the Jobs tab while a run
    trains), and the New-run tab, the default, leaves the URL clean. (The browser writes the
    tab into the URL when it is opened: tests/e2e/test_page_state.py.)"""
    again = train_page({"train_tab": "Jobs"})  # the reload of /train?train_tab=Jobs
    assert again.session_state["train_tab"] == "Jobs"
    assert "No jobs yet" in texts(again)  # the Jobs tab is drawn

    fresh = train_page()
    assert fresh.session_state["train_tab"] == "New run" and "train_tab" not in fresh.query_params
    assert "No jobs yet" not in texts(fresh)
