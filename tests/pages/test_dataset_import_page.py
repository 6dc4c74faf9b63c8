"""Importing a Keras built-in dataset from the browser (AppTest, the Data explorer's dataset
picker): the original files of a server folder are checked and copied into Keras' cache
(a private KERAS_HOME), after which the dataset is ready; a wrong folder is refused with a
clear message and nothing is copied; the "not in the cache" message shows once, as Markdown."""
from __future__ import annotations

import shutil

import pytest

from lab_pages_support import app_at, page_texts, problems

pytestmark = pytest.mark.usefixtures("page_jobs_cleanup")


@pytest.fixture(scope="module")
def module_keras_home(tmp_path_factory):
    """KERAS_HOME of this module: Keras reads it once, when it is first imported."""
    home = tmp_path_factory.mktemp("keras_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_HOME", str(home))
        yield home


@pytest.fixture()
def keras_env(module_keras_home, lab_env, shared_datasets, monkeypatch):
    """An empty Fashion-MNIST cache for this test; the shared datasets folder is the only data root."""
    from core.datasets.keras_cache import keras_home

    home = keras_home()  # this module's, unless Keras was loaded before with another KERAS_HOME
    fashion = home / "datasets" / "fashion-mnist"
    ours = home.resolve() == module_keras_home.resolve()
    if fashion.exists() and not ours:
        pytest.skip(f"Keras is loaded in this process with a cache that holds Fashion-MNIST ({home})")
    shutil.rmtree(fashion, ignore_errors=True)
    monkeypatch.setenv("LAB_DATA_ROOTS", str(shared_datasets))
    from pages import _resources

    _resources.cached_dataset_infos.clear()
    yield home
    shutil.rmtree(fashion, ignore_errors=True)  # what the test imported, and only that
    _resources.cached_dataset_infos.clear()


def _pick_fashion(at):
    at.selectbox(key="eda_name").set_value("fashion_mnist").run()
    return at


def _fashion_label(at) -> str:
    return next(o for o in at.selectbox(key="eda_name").options if o.startswith("Fashion-MNIST"))


def _cache_files(home):
    folder = home / "datasets" / "fashion-mnist"
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_message_shows_once_as_markdown_with_the_import_form(keras_env):
    at = _pick_fashion(app_at("data_explorer"))
    assert problems(at) == []  # no second copy of the message as an error
    notes = [w.value for w in at.warning if "not in Keras' cache" in w.value]
    assert len(notes) == 1, page_texts(at)
    assert "\\`" not in notes[0]  # Markdown, no escaped backticks shown raw
    assert at.text_input(key="eda_import_fashion_mnist") is not None
    assert at.button(key="eda_import_go_fashion_mnist") is not None


def test_import_from_a_server_folder_makes_the_dataset_ready(keras_env, shared_datasets):
    at = _pick_fashion(app_at("data_explorer"))
    at.text_input(key="eda_import_fashion_mnist").set_value(str(shared_datasets / "fashion_mnist")).run()
    at.button(key="eda_import_go_fashion_mnist").click().run()
    assert problems(at) == []
    assert any("Imported Fashion-MNIST" in s.value for s in at.success), page_texts(at)
    assert len(_cache_files(keras_env)) == 4
    assert _fashion_label(at) == "Fashion-MNIST (ready)"
    assert not any("not in Keras' cache" in w.value for w in at.warning)
    assert at.metric[0].label == "Images" and at.metric[0].value == "70,000"


def test_a_wrong_folder_is_refused_and_nothing_is_copied(keras_env, shared_datasets):
    at = _pick_fashion(app_at("data_explorer"))
    at.text_input(key="eda_import_fashion_mnist").set_value(str(shared_datasets / "cifar10")).run()
    at.button(key="eda_import_go_fashion_mnist").click().run()
    msgs = [e.value for e in at.error]
    assert len(msgs) == 1 and "lacks the IDX file(s)" in msgs[0] and "Nothing was copied" in msgs[0], msgs
    assert _cache_files(keras_env) == []
    at.text_input(key="eda_import_fashion_mnist").set_value("/etc").run()  # outside the data roots
    at.button(key="eda_import_go_fashion_mnist").click().run()
    assert any("outside the folders this lab may read" in e.value for e in at.error)
    assert _cache_files(keras_env) == []
    assert _fashion_label(at) == "Fashion-MNIST (needs download)"


def test_recipes_opens_on_a_recipe_that_can_run(keras_env, shared_datasets, monkeypatch):
    from core.recipes import catalog as R

    monkeypatch.setenv("LAB_HAM10000_DIR", str(shared_datasets / "ham10000" / "reduced_200x150"))
    at = app_at("recipes")
    assert problems(at) == []
    name = at.selectbox(key="rc_recipe").value
    assert R.runnable(name) and not at.button(key="rc_launch").disabled, name
    assert not any("Data missing" in w.value for w in at.warning)


def test_a_deep_link_to_a_recipe_still_wins(keras_env, shared_datasets, monkeypatch):
    monkeypatch.setenv("LAB_HAM10000_DIR", str(shared_datasets / "ham10000" / "reduced_200x150"))
    at = app_at("recipes", {"recipe": "report_b_cnn5"})
    assert problems(at) == []
    assert at.selectbox(key="rc_recipe").value == "report_b_cnn5"
    assert at.button(key="rc_launch").disabled  # Fashion-MNIST is not in this test's Keras cache
    assert sum("not in Keras' cache" in w.value for w in at.warning) == 1
    assert "\\`" not in page_texts(at)
