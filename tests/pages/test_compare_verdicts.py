"""Compare calls out a run that is not a working classifier (one class predicted for nearly every test
image, or balanced accuracy at chance), on the page and in the shareable HTML report. Two real
HAM10000 runs trained with a learning rate so large that both collapse."""
from __future__ import annotations

import pytest

from lab_pages_support import app_at, env_store, lab_environ, make_finished_runs, problems
from verdicts_support import collapsed_ham_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("page_jobs_cleanup")]


@pytest.fixture(scope="module")
def two_collapsed(shared_datasets, tmp_path_factory):
    root = tmp_path_factory.mktemp("compare_verdicts")
    cfg = collapsed_ham_config(shared_datasets)
    ids = make_finished_runs(root, [{**cfg, "name": "collapsed a"}, {**cfg, "name": "collapsed b", "seed": 1}])
    mp = pytest.MonkeyPatch()
    for k, v in lab_environ(root).items():
        mp.setenv(k, v)
    yield ids
    mp.undo()


def test_compare_page_names_each_run_that_is_not_a_working_classifier(two_collapsed):
    at = app_at("compare", {"runs": ",".join(map(str, two_collapsed))})
    assert problems(at) == []
    flagged = [str(w.value) for w in at.warning if "not a working classifier" in str(w.value)]
    assert len(flagged) == 2, [str(w.value) for w in at.warning]
    assert any("collapsed a" in w for w in flagged) and any("collapsed b" in w for w in flagged)


def test_the_report_carries_the_same_verdicts(two_collapsed):
    from core.analysis.report import compare_report

    store = env_store()
    try:
        text = compare_report(store, two_collapsed)
    finally:
        store.close()
    assert text.count("not a working classifier") == 2
    assert "collapsed a: not a working classifier" in text and "collapsed b: not a working classifier" in text
