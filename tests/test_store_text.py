"""Text that reaches the run store (names, notes, tags, parameters, config strings, dataset
parameters) is checked once, the same way on SQLite and PostgreSQL: a NUL, another control
character, half a surrogate pair, a bidirectional control or an invisible format character is
refused with a message naming it and saying what is accepted; nothing is half-written. A
failure message is always recorded (such characters are replaced there, never refused).
The command line exits 2 with the message and leaves no run behind."""
from __future__ import annotations

import json

import pytest

from core.store import Store
from core.training.config import TrainConfig
from core.validation import ValidationError, check_text

# character -> what the message calls it
REFUSED = {
    "\x00": "U+0000 NULL",
    "\x1b": "U+001B ESCAPE",
    "\u202e": "U+202E RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "U+2066 LEFT-TO-RIGHT ISOLATE",
    "\u200f": "U+200F RIGHT-TO-LEFT MARK",
    "\u061c": "U+061C ARABIC LETTER MARK",
    "\u200b": "U+200B ZERO WIDTH SPACE",
    "\u2060": "U+2060 WORD JOINER",
    "\ufeff": "U+FEFF ZERO WIDTH NO-BREAK SPACE",
    "\u00ad": "U+00AD SOFT HYPHEN",  # another format (Cf) character
    "\ud800": "U+D800",  # half a surrogate pair: not text at all
}
ACCEPTED = "Ünïcode 名前 שלום مرحبا 🙂 a\u00a0b (x) – 10% #1"


@pytest.fixture()
def store(any_store):
    """This file's store tests run on SQLite and PostgreSQL (conftest's ``any_store``)."""
    return any_store


def _writes(store, rid: int, bad: str) -> dict:
    """Every store write of user text, each with ``bad`` in it."""
    return {
        "new run's name": lambda: store.create_run({}, name=f"a{bad}b"),
        "new run's dataset": lambda: store.create_run({}, name="x", dataset=f"digits{bad}"),
        "new run's tag": lambda: store.create_run({}, name="x", tags={"k": f"v{bad}"}),
        "rename": lambda: store.rename_run(rid, f"renamed{bad}"),
        "notes": lambda: store.set_notes(rid, f"a note{bad}"),
        "tag key": lambda: store.add_tag(rid, f"tag{bad}"),
        "tag value": lambda: store.set_tags(rid, {"k": f"v{bad}"}),
        "parameter value": lambda: store.log_params(rid, {"dataset": {"params": {"path": f"/data{bad}"}}}),
        "parameter name": lambda: store.log_params(rid, {f"p{bad}": 1}),
        "metric key": lambda: store.log_summary(rid, {f"acc{bad}": 0.5}),
        "champion note": lambda: store.set_champion("digits", rid, note=f"best{bad}"),
    }


def test_every_text_write_refuses_control_bidi_and_invisible_characters(store):
    rid = store.create_run({}, name="kept")
    for ch, label in REFUSED.items():
        for what, write in _writes(store, rid, ch).items():
            with pytest.raises(ValidationError) as e:
                write()
            msg = str(e.value)
            assert label in msg, (what, msg)
            assert "Accepted:" in msg and "SQL:" not in msg and "INSERT" not in msg and "UPDATE" not in msg, msg
    r = store.get_run(rid)
    assert (r.name, r.notes, r.tags, r.params, r.summary) == ("kept", None, {}, {}, {})
    assert store.list_runs(limit=None)[1] == 1  # no run was created by a refused write


def test_ordinary_text_of_every_script_is_kept(store):
    rid = store.create_run({"note": ACCEPTED}, name=ACCEPTED, dataset="digits", tags={"ключ": ACCEPTED})
    store.set_notes(rid, f"line 1\n\tline 2\r\n{ACCEPTED}")
    store.log_params(rid, {"label": ACCEPTED})
    r = store.get_run(rid)
    assert r.name == ACCEPTED and r.tags == {"ключ": ACCEPTED} and r.params["label"] == ACCEPTED
    assert r.notes == f"line 1\n\tline 2\r\n{ACCEPTED}"


def test_a_failure_message_is_always_recorded(store):
    """An error text is the lab's own (an exception's message): never refused, a NUL or an
    undecodable file name in it is replaced so that the run still ends ``failed``."""
    rid = store.create_run({}, name="x", status="running")
    store.set_status(rid, "failed", "DatasetError: cannot read 'a\x00b' or '\udcff.png'")
    r = store.get_run(rid)
    assert r.status == "failed"
    assert r.error == "DatasetError: cannot read 'a\ufffdb' or '\ufffd.png'"


def test_the_message_says_what_was_wrong_and_what_is_accepted():
    with pytest.raises(ValidationError) as e:
        check_text("\u202egpj.exe", "run name")
    assert str(e.value).startswith("The run name contains U+202E RIGHT-TO-LEFT OVERRIDE at character 1")
    assert "Accepted:" in str(e.value)
    assert check_text(ACCEPTED, "run name") == ACCEPTED
    assert check_text("a\n\tb\r\n", "note") == "a\n\tb\r\n"
    with pytest.raises(ValidationError, match="must be text"):
        check_text(3, "note")


@pytest.mark.parametrize("change, where", [
    ({"name": "x\x00y"}, "U+0000 NULL"),
    ({"dataset": {"name": "image_folder", "params": {"path": "/data/pets\x00"}}}, "'dataset.params.path'"),
    ({"dataset": {"name": "digits", "params": {"max_per_class\u200b": 3}}}, "U+200B ZERO WIDTH SPACE"),
    ({"model": "mobilenetv2", "weights": "/w\u202e.h5"}, "'weights'"),
    ({"model_options": {"dropout": 0.2, "filters": [8, "a\x00"]}}, "'model_options.filters[1]'"),
    ({"augment": "\x00"}, "U+0000 NULL"),
])
def test_validate_checks_every_config_string(change, where):
    cfg = TrainConfig.from_dict({"dataset": {"name": "digits", "params": {}}, **change})
    with pytest.raises(ValidationError) as e:
        cfg.validate()
    assert where in str(e.value) and "Accepted:" in str(e.value)


@pytest.mark.parametrize("how", ["config file", "flag"])
def test_cli_train_refuses_a_bad_name_with_exit_2_and_no_run(store_url, tmp_path, monkeypatch, capsys, how):
    from core.cli.main import main

    monkeypatch.setenv("LAB_DATABASE_URL", store_url)
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path / "models"))
    if how == "config file":
        cfg = tmp_path / "cfg.json"
        cfg.write_text(json.dumps({"name": "x\u0000y", "epochs": 1}))
        args, label = ["--config", str(cfg)], "U+0000 NULL"
    else:
        args, label = ["--name", "\u202egpj.exe"], "U+202E RIGHT-TO-LEFT OVERRIDE"
    assert main(["train", "--dataset", "digits", "--epochs", "1", *args]) == 2
    err = capsys.readouterr().err
    assert label in err and "SQL:" not in err and "Traceback" not in err
    s = Store(store_url, models_dir=tmp_path / "models")
    try:
        assert s.list_runs(limit=None)[1] == 0
    finally:
        s.close()
