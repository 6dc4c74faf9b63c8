"""A hyper-parameter search on its run page: how it samples, and its trials drawn as Optuna
draws them -- a parallel-coordinates plot (each finished trial a line through its parameters to
its score) and the parameters' importances (fANOVA), with the reason when one cannot be drawn."""
from __future__ import annotations

import json

import streamlit as st

from pages import _format, _resources

SAMPLER_TEXT = {
    "tpe": "TPE (Optuna): each trial is asked after a trial has finished, from the results so far",
    "random": "random (Optuna): every trial drawn up front",
}


def _param(params: dict, key: str, default=None):
    raw = params.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _header(r, n_children: int) -> None:
    params = getattr(r, "params", None) or {}
    sampler = params.get("search.sampler") or "random"
    n_trials = _param(params, "search.n_trials", n_children)
    at_once = _param(params, "search.concurrency")
    parts = [f"Sampler: {SAMPLER_TEXT.get(sampler, sampler)}", f"{n_children} of {_format.plural(n_trials, 'trial')} asked"]
    if at_once:
        parts.append(f"{at_once} at a time")
    st.caption(_format.md_text(" · ".join(parts)))
    if params.get("search.stopped"):
        st.warning(_format.md_text(f"This search stopped asking for trials: {params['search.stopped']}"),
                   icon=":material/warning:")


def importance_params(study) -> tuple[list[str], str | None]:
    """The parameters whose importance can be measured, or why none can: it needs at least two
    finished trials, parameters that varied among them and scores that differ."""
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    if len(done) < 2:
        return [], (f"Parameter importances need at least 2 finished trials; this search has {len(done)} so far.")
    varied = [k for k in done[0].params if len({json.dumps(t.params.get(k), default=str) for t in done}) > 1]
    if not varied:
        return [], "Parameter importances are not shown: every finished trial had the same parameters."
    if len({t.value for t in done}) < 2:
        return [], "Parameter importances are not shown: every finished trial had the same score."
    return varied, None


def search_view(r) -> None:
    """The search's sampler and its trials' plots (``core.training.search.search_study``);
    nothing for a run that is not a search."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    from core.training.search import search_study

    if r.kind != "search":
        return
    store = _resources.guarded_store()
    _header(r, len(getattr(r, "children", []) or []))
    study, note = search_study(store, r.id)
    if study is None:
        st.info(_format.md_text(note))
        return
    monitor = (r.config or {}).get("monitor") or "val_loss"
    target = f"best {monitor}"
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not done:
        st.info("The plots of this search appear when its first trial has finished.")
        return
    st.markdown(f"**Trials** ({_format.plural(len(done), 'finished trial')}, {_format.md_text(target)})")
    fig = optuna.visualization.plot_parallel_coordinate(study, target_name=target)
    fig.update_layout(margin={"l": 80, "r": 40, "t": 60, "b": 90})  # room for the axes' end labels
    st.plotly_chart(fig, width="stretch", key="r_search_parallel")
    st.caption("Each line is one finished trial: its parameters, left to right, and its score (colour).")
    varied, why = importance_params(study)
    if why:
        st.info(_format.md_text(why))
        return
    fig = optuna.visualization.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0),
                                                      params=varied, target_name=target)
    fig.update_layout(height=120 + 60 * len(varied))
    st.plotly_chart(fig, width="stretch", key="r_search_importance")
    st.caption(_format.md_text(f"How much of the variation of {target} each parameter explains (fANOVA, over the "
                               f"{len(done)} finished trials; a guide with few trials, not a proof)."))
