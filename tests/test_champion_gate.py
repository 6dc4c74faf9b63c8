"""Promoting a champion shows the classes whose test sensitivity is under the dataset's floor and
needs a note to go ahead (kept with the champion record); CLI exit 2 without one. On a real
collapsed HAM10000 run (a model at chance misses melanoma, basal cell carcinoma or actinic keratoses)."""
from __future__ import annotations

import pytest

from verdicts_support import collapsed_ham_store


@pytest.fixture(scope="module")
def collapsed(shared_datasets, tmp_path_factory):
    from core.store import Store
    from core.store.artifacts import RunFolder

    rid, mp = collapsed_ham_store(shared_datasets, tmp_path_factory.mktemp("gate_ham"))
    store = Store()
    run = store.get_run(rid)
    ev = RunFolder.of(run, store).read_json("evaluation")
    yield {"store": store, "id": rid, "ev": ev,
           "sens": {c["class"]: c["sensitivity"] for c in ev["per_class"]}}
    store.close()
    mp.undo()


def _missed(sens: dict) -> list[str]:
    return [c for c in ("Melanoma", "Basal cell carcinoma", "Actinic keratoses") if sens[c] < 0.5]


def test_registrations_carry_the_default_floors():
    from core.datasets import list_datasets

    infos = {i.name: i for i in list_datasets()}
    assert infos["ham10000"].sensitivity_floors == {"Melanoma": 0.5, "Basal cell carcinoma": 0.5,
                                                    "Actinic keratoses": 0.5}
    assert infos["fundus"].sensitivity_floors == {"Moderate": 0.5, "Severe": 0.5, "Proliferative": 0.5}
    assert infos["digits"].sensitivity_floors == {}


def test_promotion_without_a_note_is_refused_with_the_classes(collapsed, monkeypatch):
    from core.analysis.verdicts import PromotionRefused, promote_champion

    monkeypatch.delenv("LAB_SENSITIVITY_FLOORS", raising=False)
    missed = _missed(collapsed["sens"])
    assert missed
    with pytest.raises(PromotionRefused) as err:
        promote_champion(collapsed["store"], "ham10000", collapsed["id"])
    msg = str(err.value)
    for c in missed:
        assert f"{c} {collapsed['sens'][c]:.3f}" in msg
    assert "note" in msg
    assert collapsed["store"].champion("ham10000") is None
    with pytest.raises(PromotionRefused):
        promote_champion(collapsed["store"], "ham10000", collapsed["id"], note="   ")


def test_promotion_with_a_note_keeps_the_note_and_the_shortfalls(collapsed, monkeypatch):
    from core.analysis.verdicts import promote_champion

    monkeypatch.delenv("LAB_SENSITIVITY_FLOORS", raising=False)
    e = promote_champion(collapsed["store"], "ham10000", collapsed["id"], note="teaching demo of a collapsed model",
                         by="dana")
    assert e.run_id == collapsed["id"] and e.set_by == "dana"
    assert e.note.startswith("teaching demo of a collapsed model")
    for c in _missed(collapsed["sens"]):
        assert f"{c} {collapsed['sens'][c]:.3f}" in e.note
    assert collapsed["store"].champion("ham10000").note == e.note
    collapsed["store"].clear_champion("ham10000")


def test_floors_can_be_overridden_from_the_environment(collapsed, monkeypatch):
    from core.analysis.verdicts import promote_champion, sensitivity_floors
    from core.validation import ValidationError

    names = collapsed["ev"]["class_names"]
    monkeypatch.setenv("LAB_SENSITIVITY_FLOORS", "ham10000:mel=0,bcc=0,akiec=0")
    assert sensitivity_floors("ham10000", names, ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]) == {}
    e = promote_champion(collapsed["store"], "ham10000", collapsed["id"])  # every floor switched off
    assert e.note is None
    collapsed["store"].clear_champion("ham10000")
    monkeypatch.setenv("LAB_SENSITIVITY_FLOORS", "ham10000:*=0.99")
    assert set(sensitivity_floors("ham10000", names)) == set(names)
    monkeypatch.setenv("LAB_SENSITIVITY_FLOORS", "ham10000:Melanoma=high")
    with pytest.raises(ValidationError, match="LAB_SENSITIVITY_FLOORS.*accepted"):
        sensitivity_floors("ham10000", names)


def test_cli_refuses_without_a_note_and_promotes_with_one(collapsed, capsys, monkeypatch):
    from core.cli.main import main

    monkeypatch.delenv("LAB_SENSITIVITY_FLOORS", raising=False)
    assert main(["runs", "champion", "ham10000", str(collapsed["id"])]) == 2
    err = capsys.readouterr().err
    for c in _missed(collapsed["sens"]):
        assert f"{c} {collapsed['sens'][c]:.3f}" in err
    assert "--note" in err
    assert main(["runs", "champion", "ham10000", str(collapsed["id"]), "--note", "kept for the lesson"]) == 0
    out = capsys.readouterr().out
    assert "kept for the lesson" in out and "below" in out
    collapsed["store"].clear_champion("ham10000")
