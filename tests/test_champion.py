"""The champion of a dataset: the store's rules and history on SQLite and
PostgreSQL, the CLI, and the pages (Predict preselects it, Runs and Compare mark it) through
AppTest on real finished digits runs."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.store import Store
from core.store import schema as S
from core.validation import NotFoundError, ValidationError
from lab_pages_support import app_at, problems


def finished(store: Store, name: str, dataset: str = "digits", *, status: str = "succeeded",
             kind: str = "train") -> int:
    rid = store.create_run({"model": "small_cnn"}, name=name, dataset=dataset, model="small_cnn", kind=kind,
                           status="running")
    store.set_status(rid, status)
    return rid


def test_champion_rules_and_history(any_store, monkeypatch):
    a, b = finished(any_store, "first"), finished(any_store, "second")
    fashion = finished(any_store, "on fashion", "fashion_mnist")
    failed = finished(any_store, "broke", status="failed")
    search = finished(any_store, "a search", kind="search")
    assert any_store.champion("digits") is None and any_store.champions() == {} and any_store.champion_history("digits") == []

    e = any_store.set_champion("digits", a, by="ana", note="best balanced accuracy")
    assert (e.run_id, e.run_ref, e.run_name, e.set_by, e.note, e.is_current) == (a, a, "first", "ana",
                                                                                 "best balanced accuracy", True)
    assert any_store.champion("digits").run_id == a and any_store.champions() == {"digits": a}
    assert any_store.set_champion("digits", a, by="someone else").set_by == "ana"  # already champion: no change
    assert len(any_store.champion_history("digits")) == 1

    monkeypatch.setenv("LAB_USER", "ben")  # who, when not given: LAB_USER
    any_store.set_champion("digits", b)
    now, before = any_store.champion_history("digits")
    assert (now.run_id, now.set_by, now.is_current) == (b, "ben", True)
    assert (before.run_id, before.cleared_by, before.cleared_reason) == (a, "ben", f"replaced by run {b}")
    assert before.set_at <= before.cleared_at == now.set_at

    refusals = {"failed": (failed, "only a succeeded run"), "search": (search, "only a training run"),
                "other dataset": (fashion, "trained on 'fashion_mnist', not on 'digits'")}
    not_refused = {}  # every refusal is tried on this store; the wrong ones are named together
    for case, (rid, msg) in refusals.items():
        try:
            any_store.set_champion("digits", rid)
            not_refused[case] = "accepted"
        except ValidationError as exc:
            if msg not in str(exc):
                not_refused[case] = str(exc)
    assert not_refused == {}
    with pytest.raises(NotFoundError, match="does not exist"):
        any_store.set_champion("digits", 99999)
    with pytest.raises(ValidationError, match="dataset name"):
        any_store.set_champion("", a)
    assert any_store.champions() == {"digits": b}  # refusals changed nothing

    any_store.set_champion("fashion_mnist", fashion, by="ana")
    assert any_store.champions() == {"digits": b, "fashion_mnist": fashion}
    ended = any_store.clear_champion("digits", by="carl")
    assert (ended.run_id, ended.cleared_by, ended.cleared_reason) == (b, "carl", "cleared")
    assert any_store.champion("digits") is None and any_store.clear_champion("digits") is None
    assert any_store.champions() == {"fashion_mnist": fashion}

    # renaming or deleting a champion: the history keeps what it was; deleting ends its period
    any_store.set_champion("digits", a, by="ana")
    any_store.rename_run(a, "first, renamed")
    any_store.delete_run(a)
    assert any_store.champion("digits") is None and any_store.champions() == {"fashion_mnist": fashion}
    hist = any_store.champion_history("digits")
    assert [(h.run_id, h.run_ref, h.run_name, h.cleared_reason) for h in hist] == [
        (None, a, "first", "run deleted"), (b, b, "second", "cleared"), (None, a, "first", f"replaced by run {b}")]
    assert all(h.cleared_at is not None for h in hist)


def test_one_current_champion_per_dataset_is_enforced_by_the_database(any_store):
    a, b = finished(any_store, "a"), finished(any_store, "b")
    any_store.set_champion("digits", a)
    with pytest.raises(sa.exc.IntegrityError):
        with any_store.engine.begin() as conn:
            conn.execute(sa.insert(S.champions).values(dataset="digits", run_id=b, run_ref=b, run_name="b",
                                                       set_at=sa.func.now()))
    with any_store.engine.begin() as conn:  # a history row (cleared) of the same dataset is fine
        conn.execute(sa.insert(S.champions).values(dataset="digits", run_id=b, run_ref=b, run_name="b",
                                                   set_at=sa.func.now(), cleared_at=sa.func.now()))
    assert any_store.champions() == {"digits": a}


def test_concurrent_changes_leave_one_champion(any_store):
    ids = [finished(any_store, f"r{i}") for i in range(6)]
    errors: list[BaseException] = []

    def set_many(offset: int) -> None:
        try:
            for k in range(6):
                any_store.set_champion("digits", ids[(offset + k) % len(ids)], by=f"t{offset}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=set_many, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    hist = any_store.champion_history("digits")
    assert sum(h.is_current for h in hist) == 1 and any_store.champions()["digits"] == hist[0].run_id
    assert all(h.cleared_at is not None for h in hist[1:])


def test_cli_champion(lab_env, capsys):
    from core.cli.main import main

    s = Store()
    a, b = finished(s, "cli a"), finished(s, "cli b")
    s.close()
    assert main(["runs", "champion", "digits"]) == 0
    assert "Champion of digits: none" in capsys.readouterr().out
    assert main(["runs", "champion", "digits", str(a), "--note", "first", "--by", "dana"]) == 0
    assert f"run {a} 'cli a'" in capsys.readouterr().out
    assert main(["runs", "champion", "digits", str(b)]) == 0
    capsys.readouterr()
    assert main(["runs", "champion", "digits"]) == 0
    out = capsys.readouterr().out
    assert f"Champion of digits: run {b} 'cli b'" in out and f"replaced by run {b}" in out and "dana" in out
    assert main(["runs", "champion", "fashion_mnist", str(a)]) == 2
    assert "not on 'fashion_mnist'" in capsys.readouterr().err
    assert main(["runs", "champion", "digits", "--clear"]) == 0
    assert "digits has no champion now" in capsys.readouterr().out
    assert Store().champions() == {}


# ---------------------------------------------------------------- pages (AppTest, real runs)
@pytest.fixture()
def shared_store(trained):
    s = Store(trained["env"]["LAB_DATABASE_URL"], models_dir=trained["env"]["LAB_MODELS_DIR"])
    yield s
    s.clear_champion("digits", by="test cleanup")  # other page tests expect no champion
    s.close()


def test_predict_preselects_the_champion_unless_a_run_is_asked_for(trained, shared_store):
    older, newest = trained["ids"]
    at = app_at("predict")
    assert problems(at) == [] and at.selectbox(key="p_run").value == newest  # no champion: the newest run
    shared_store.set_champion("digits", older, by="tester")
    at = app_at("predict")
    assert problems(at) == []
    assert at.selectbox(key="p_run").value == older
    assert any("Champion of digits" in c.value and "tester" in c.value for c in at.caption)
    at.selectbox(key="p_ds").set_value("digits").run()
    assert at.selectbox(key="p_run").value == older
    at = app_at("predict", {"run": str(newest)})  # an explicit deep link wins
    assert problems(at) == [] and at.selectbox(key="p_run").value == newest


def test_runs_and_compare_show_the_champion_and_the_run_page_sets_it(trained, shared_store):
    from pages._format import md_text

    older, newest = trained["ids"]
    evil = "**bold** [x](https://evil.example) :red[alert]"
    name = shared_store.get_run(older).name
    shared_store.rename_run(older, evil)
    try:
        shared_store.set_champion("digits", older, by="tester", note="a *note*")
        at = app_at("runs")
        assert problems(at) == []
        df = at.dataframe[0].value
        assert list(df.loc[df["id"] == older, "champion"]) == ["★"]
        assert list(df.loc[df["id"] == newest, "champion"]) == [""]

        at = app_at("runs", {"run": str(older)})
        assert problems(at) == []
        cap = next(c.value for c in at.caption if "Champion of digits" in c.value)
        assert md_text("a *note*") in cap

        at = app_at("runs", {"run": str(newest)})
        at.session_state["r_tab"] = "Manage"
        at.run()
        assert problems(at) == []
        assert any(md_text(evil) in c.value for c in at.caption)  # "now the champion: ...", escaped
        at.button(key=f"r_champ_set_{newest}").click().run()
        assert problems(at) == []
        assert shared_store.champions() == {"digits": newest}
        hist = next(d.value for d in at.dataframe if "set by" in d.value.columns)
        hist = hist.head(2)  # (earlier tests of this process may have left older history)
        assert list(hist["run"]) == [f"#{newest}", f"#{older}"] and list(hist["name"])[1] == evil
        assert list(hist["ended"]) == ["current", f"replaced by run {newest}"]

        at = app_at("compare", {"runs": f"{older},{newest}"})
        assert problems(at) == []
        legend = next(m.value for m in at.markdown if "■" in m.value)
        assert legend.count("champion of digits") == 1
        assert legend.index("champion of digits") > legend.index(f"#{newest}")
        table = at.dataframe[0].value
        assert list(table.loc["champion"]) == ["—", "★ of digits"]
    finally:
        shared_store.rename_run(older, name)


@pytest.fixture()
def hostile_env(shared_datasets, monkeypatch):
    """tests/security_support.py's store of runs whose names, notes and classes carry Markdown."""
    from security_support import hostile_store

    h = hostile_store()
    for k, v in h["env"].items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("LAB_DATA_ROOTS", raising=False)
    yield h
    s = Store(h["env"]["LAB_DATABASE_URL"], models_dir=h["env"]["LAB_MODELS_DIR"])
    s.clear_champion("image_folder", by="test cleanup")
    s.close()


@pytest.mark.slow
def test_champion_names_notes_and_who_are_shown_as_text(hostile_env):
    from pages._format import md_text
    from security_support import HOSTILE, HOSTILE_FILE, assert_only_text

    ids = hostile_env["ids"]
    s = Store(hostile_env["env"]["LAB_DATABASE_URL"], models_dir=hostile_env["env"]["LAB_MODELS_DIR"])
    s.set_champion("image_folder", ids["hostile"], by=HOSTILE, note=HOSTILE)
    s.close()
    seen = assert_only_text(app_at("runs"), "runs table with a champion")
    at = app_at("runs", {"run": str(ids["hostile"])})
    seen += assert_only_text(at, "the champion's run page")
    assert any(md_text(HOSTILE) in c.value and "Champion of image" in c.value for c in at.caption)
    at = app_at("runs", {"run": str(ids["plain"])})
    at.session_state["r_tab"] = "Manage"
    at.run()
    seen += assert_only_text(at, "another run's Manage tab")
    assert any(f"Now the champion of image_folder: run #{ids['hostile']} {md_text(HOSTILE)}" in c.value
               for c in at.caption)
    at = app_at("compare", {"runs": f"{ids['hostile']},{ids['plain']}"})
    seen += assert_only_text(at, "compare with a champion")
    seen += assert_only_text(app_at("predict"), "predict preselecting a hostile champion")
    at = app_at("runs")
    at.session_state["r_import"] = True  # open "Import a run bundle"
    at.run()
    at.file_uploader(key="r_import_file").set_value((f"{HOSTILE_FILE}.zip", b"not a zip", "application/zip")).run()
    at.button(key="r_import_go").click().run()
    assert [e.value for e in at.exception] == []
    assert any(md_text(HOSTILE_FILE) in e.value for e in at.error)
    seen += [e.value for e in at.error]
    assert md_text(HOSTILE) in "\n".join(seen)
