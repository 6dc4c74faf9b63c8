"""The Optuna study behind a search that learns (TPE), rebuilt from its trials' results.

A search's study is never kept only in memory: each time a trial is asked for, the study is
rebuilt from the trials so far (finished ones with their value, failed ones as failed, running
ones as running) with ``optuna.trial.create_trial`` + ``study.add_trial`` -- the same thing as
``study.tell`` on a study that lived all along -- and ``study.ask(distributions)`` gives the next
trial's parameters. So a supervisor that restarts mid-search goes on from the stored trial runs,
and the same seed with the same results gives the same trials (the sampler's seed for trial
number ``k`` is derived from the search's seed and ``k``). Real results depend on the machine
(floating-point paths, thread timing), so two machines may ask different trials after the first.

``history`` entries are ``Told(params, value, state)`` with ``state`` one of ``STATES``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

SAMPLERS = ("random", "tpe")
STATES = ("complete", "fail", "running")


@dataclass(frozen=True)
class Told:
    """One trial of a search as the study knows it: its parameters, and its value once complete."""

    params: dict[str, Any]
    value: float | None = None
    state: str = "complete"


def startup_trials(n_trials: int) -> int:
    """How many first trials TPE draws at random before it models the results: a third of the
    search, at least 1 and at most Optuna's default 10 (so a 3-trial search learns from trial 2)."""
    return max(1, min(10, int(n_trials) // 3))


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number`` (0-based) of a search seeded ``seed``."""
    return (int(seed) * 1_000_003 + int(number)) % (2**32)


def direction_of(monitor: str | None) -> str:
    """``minimize`` for a loss, else ``maximize`` (the monitors of ``TrainConfig``)."""
    return "minimize" if (monitor or "val_loss") == "val_loss" else "maximize"


def _state(name: str):
    from optuna.trial import TrialState

    return {"complete": TrialState.COMPLETE, "fail": TrialState.FAIL, "running": TrialState.RUNNING}[name]


def _inside(dist, value) -> bool:
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def build_study(dists: dict[str, Any], history: list[Told], *, direction: str, sampler=None):
    """An in-memory Optuna study holding ``history`` (each entry added as a FrozenTrial)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler or optuna.samplers.RandomSampler(seed=0), direction=direction)
    for told in history:
        state = told.state if told.state in STATES else "fail"
        value = told.value if state == "complete" and told.value == told.value else None
        if state == "complete" and value is None:
            state = "fail"  # a finished trial without a usable value (NaN, missing)
        params = {k: told.params[k] for k in dists if k in told.params}
        if len(params) != len(dists) or not all(_inside(dists[k], v) for k, v in params.items()):
            continue  # a trial outside the space (a changed space, an old run): not told
        study.add_trial(optuna.trial.create_trial(params=params, distributions={k: dists[k] for k in params},
                                                  value=value, state=_state(state)))
    return study


def tpe_sampler(seed: int, number: int, n_startup: int):
    """Optuna's TPE sampler for trial ``number`` (running trials count as bad: the constant liar,
    so trials asked while others run spread out)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=trial_seed(seed, number), n_startup_trials=int(n_startup),
                                          constant_liar=True)


def ask_next(dists: dict[str, Any], history: list[Told], *, seed: int, n_startup: int,
             direction: str = "maximize") -> dict[str, Any]:
    """The parameters of the next trial: the study rebuilt from ``history``, then ``study.ask``."""
    sampler = tpe_sampler(seed, len(history), n_startup)
    study = build_study(dists, history, direction=direction, sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna warns when constant_liar meets a running trial's missing value
        trial = study.ask(dists)
    return {k: trial.params[k] for k in dists}
