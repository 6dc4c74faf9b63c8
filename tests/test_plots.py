"""Figure builders return plotly figures with the expected traces, built from real evaluate() output."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.analysis import data_plots, plots
from core.metrics.classification import evaluate, predictions_frame
from core.validation import ValidationError

NAMES = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def evaluation():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return evaluate(predictions_frame(np.arange(n), y, p, NAMES), NAMES, n_bootstrap=0)


def test_class_distribution_figures():
    dist = pd.DataFrame({"label": [0, 1, 2], "class": NAMES, "count": [50, 30, 20], "percent": [50.0, 30.0, 20.0]})
    bar = data_plots.class_distribution_bar(dist)
    assert isinstance(bar, go.Figure) and len(bar.data) == 1
    assert list(bar.data[0].y) == [50, 30, 20] and bar.data[0].text[0] == "50<br>50.0%"
    pie = data_plots.class_distribution_pie({"a": 3, "b": 1})
    assert pie.data[0].type == "pie" and "percent" in pie.data[0].textinfo
    with pytest.raises(ValidationError, match="'class' and 'count'"):
        data_plots.class_distribution_bar(pd.DataFrame({"x": [1]}))


def test_evaluation_figures(evaluation):
    cm = plots.confusion_matrix_figure(evaluation["confusion"])
    assert len(cm.data) == 1 and cm.data[0].type == "heatmap"
    assert np.asarray(cm.data[0].z).shape == (3, 3)
    total = sum(sum(r) for r in evaluation["confusion"]["counts"])
    assert sum(int(t.split("<br>")[0]) for row in cm.data[0].text for t in row) == total
    roc = plots.roc_figure(evaluation["roc"])
    assert len(roc.data) == 3 + 2 + 1  # classes, micro, macro, chance
    assert any("micro" in t.name for t in roc.data) and any("macro" in t.name for t in roc.data)
    assert len(plots.pr_figure(evaluation["pr"]).data) == 3
    cal = plots.calibration_figure(evaluation["calibration"])
    assert [t.type for t in cal.data] == ["bar", "scatter", "scatter"]
    assert sum(cal.data[0].y) == 300 and "ECE" in cal.layout.title.text
    pcb = plots.per_class_bars(evaluation["per_class"])
    assert len(pcb.data) == 4 and list(pcb.data[0].x) == NAMES
    pb = plots.probability_bars([0.1, 0.7, 0.2], NAMES, top_k=2)
    assert list(pb.data[0].y) == ["bird", "dog"]  # most likely drawn on top (last)
    with pytest.raises(ValidationError, match="square"):
        plots.confusion_matrix_figure([[1, 2, 3]], ["a"])


def test_training_and_lr_figures():
    wide = [{"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "accuracy": 0.5 + e / 10, "val_accuracy": 0.45 + e / 10}
            for e in range(1, 4)]
    fig = plots.training_curves(wide)
    assert len(fig.data) == 4 and [a.text for a in fig.layout.annotations] == ["loss", "accuracy"]
    long = pd.DataFrame([(e, k, v) for row in wide for e, (k, v) in [(row["epoch"], kv) for kv in row.items()
                                                                      if kv[0] != "epoch"]],
                        columns=["step", "key", "value"])
    assert plots.history_frame(long).equals(plots.history_frame(wide)[plots.history_frame(long).columns])
    assert len(plots.training_curves(long, metrics=["loss"]).data) == 2
    lrs = np.logspace(-6, 0, 50)
    lr = plots.lr_finder_figure(lrs, np.linspace(2, 1, 50), np.linspace(2, 1, 50), 1e-3)
    assert len(lr.data) == 2 and lr.layout.xaxis.type == "log" and len(lr.layout.shapes) == 1
    cc = plots.compare_curves({"run 1": wide, "run 2": wide[:2]}, metric="val_accuracy")
    assert len(cc.data) == 2 and len(cc.data[1].x) == 2


def test_compare_roc_and_images(evaluation):
    fig = plots.compare_roc({"a": evaluation["roc"], "b": evaluation["roc"]}, curve="micro")
    assert len(fig.data) == 3
    imgs = [np.zeros((8, 8), np.uint8), np.full((10, 6, 3), 200, np.uint8), np.ones((5, 5, 1), np.uint8)]
    grid = data_plots.image_grid(imgs, ["x", "y", "z"], cols=2)
    assert len(grid.data) == 3 and all(t.type == "image" for t in grid.data)
    assert np.asarray(grid.data[0].z).shape == (8, 8, 3)
    with pytest.raises(ValidationError, match="2 titles for 3 images"):
        data_plots.image_grid(imgs, ["x", "y"])


def test_eda_helpers():
    ages = pd.Series([30, 40, 50, np.nan, 60], name="age")
    sex = pd.Series(["m", "f", "m", "f", "m"])
    assert len(data_plots.histogram(ages).data) == 1
    assert len(data_plots.histogram(ages, by=sex).data) == 2
    assert len(data_plots.box_plot(ages, by=sex).data) == 2
    hist = pd.DataFrame({"class": ["a"] * 2 + ["b"] * 2, "bin_left": [0, 128] * 2, "bin_right": [128, 256] * 2,
                         "fraction": [0.3, 0.7, 0.5, 0.5]})
    fig = data_plots.brightness_figure(hist)
    assert len(fig.data) == 2 and list(fig.data[0].x) == [64, 192]


def test_architecture_names_take_whole_evaluations(evaluation):
    assert len(plots.roc_curves(evaluation).data) == 6
    assert len(plots.pr_curves(evaluation).data) == 3
    assert len(plots.calibration(evaluation).data) == 3
    cm = plots.confusion_matrix(evaluation, normalize=True)
    assert cm.data[0].zmax == 1 and "normalised" in cm.layout.title.text
    assert len(plots.roc_overlay({"r1": evaluation, "r2": evaluation}).data) == 3
    res = {"lrs": [1e-5, 1e-3, 1e-1], "losses": [2, 1, 3], "smoothed": [2, 1.2, 2.5], "suggested_lr": 1e-3}
    assert len(plots.lr_finder(res).data) == 2
    # a store history of two runs (key, step, value, run)
    long = pd.DataFrame({"run": [1] * 4 + [2] * 4, "key": ["loss", "val_loss"] * 4,
                         "step": [1, 1, 2, 2] * 2, "value": [1.0, 1.1, 0.8, 0.9, 1.2, 1.3, 0.7, 0.95]})
    fig = plots.training_curves(long)
    assert len(fig.data) == 4 and {t.name for t in fig.data} == {"1", "2"}  # legend: one entry per run
    assert {t.hovertemplate.split("<br>")[0] for t in fig.data} >= {"1 · train loss", "2 · validation loss"}
    assert {t.line.dash for t in fig.data} == {"solid", "dash"}


def test_class_names_and_group_values_are_plain_text_in_figures():
    """Plotly renders <a href>, <b>, <img-like> tags in ticks, legends and subplot titles: a class
    name or metadata value from a user's dataset must show as text, never as a live link."""
    import json

    import numpy as np
    import pandas as pd

    from core.analysis import data_plots, plots

    evil = ['<a href="https://evil.example/login">phish</a>', "<b>bold</b>", "plain & simple"]
    figs = [
        data_plots.class_distribution_bar({n: i + 1 for i, n in enumerate(evil)}),
        data_plots.class_distribution_pie({n: i + 1 for i, n in enumerate(evil)}),
        plots.confusion_matrix_figure(np.eye(3, dtype=int) * 4 + 1, evil),
        plots.roc_figure({evil[0]: {"fpr": [0, 1], "tpr": [0, 1], "auc": 0.5}}),
        plots.pr_figure({evil[0]: {"recall": [0, 1], "precision": [1, 0], "ap": 0.5}}),
        plots.per_class_bars([{"class": n, "precision": .5, "sensitivity": .5, "specificity": .5, "f1": .5} for n in evil]),
        plots.probability_bars([0.2, 0.3, 0.5], evil),
        data_plots.image_grid([np.zeros((4, 4), np.uint8)] * 3, evil),
        data_plots.histogram(pd.Series([1.0, 2.0, 3.0]), by=pd.Series(evil)),
        data_plots.box_plot(pd.Series([1.0, 2.0, 3.0]), by=pd.Series(evil)),
        data_plots.brightness_figure(pd.DataFrame({"class": evil, "bin_left": [0, 0, 0], "bin_right": [8, 8, 8],
                                              "fraction": [.1, .2, .3]})),
    ]
    for fig in figs:
        text = json.dumps(fig.to_plotly_json(), default=str)
        assert "<a href" not in text and "<b>bold" not in text, text[:400]
        assert "&lt;a href" in text or "&lt;b&gt;" in text
