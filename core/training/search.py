"""Hyper-parameter random search (report A's RandomizedSearchCV, done with Optuna).

A search *space* is a JSON-serialisable dict mapping a dotted TrainConfig path to a
distribution::

    {"model_options.dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
     "model_options.units":   {"type": "int", "low": 8, "high": 64, "step": 7},
     "optimizer":             {"type": "categorical", "choices": ["adam", "adagrad", "rmsprop"]},
     "learning_rate":         {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}

``sample_trials`` draws complete, validated ``TrainConfig`` objects with Optuna's
``RandomSampler`` (ask interface), reproducibly for a seed and without duplicates.
``run_search`` trains each trial completely with ``train()`` on ONE split (same train/val/test
ids for every trial), so the results are comparable; the dashboard submits the same trials
to the job manager instead.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.store.artifacts import RunFolder
from core.validation import ValidationError, check_number, check_one_of, check_type

# Report A: dropout 0-0.3 step 0.1, units (first conv) 8-64 step 7, 0-3 extra conv/pool/dropout
# blocks, optimiser Adam/Adagrad/RMSprop; plus a log-uniform learning rate.
REPORT_A_SPACE: dict[str, dict[str, Any]] = {
    "model_options.dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
    "model_options.units": {"type": "int", "low": 8, "high": 64, "step": 7},
    "model_options.extra_blocks": {"type": "int", "low": 0, "high": 3},
    "optimizer": {"type": "categorical", "choices": ["adam", "adagrad", "rmsprop"]},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
}

# For the quick-start model (options it accepts).
SMALL_CNN_SPACE: dict[str, dict[str, Any]] = {
    "model_options.dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
    "model_options.dense_units": {"type": "int", "low": 8, "high": 64, "step": 7},
    "optimizer": {"type": "categorical", "choices": ["adam", "adagrad", "rmsprop"]},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
}

SPACES = {"report_a": REPORT_A_SPACE, "small_cnn": SMALL_CNN_SPACE}
TYPES = ("float", "int", "categorical")


def _distribution(key: str, spec: dict[str, Any]):
    import optuna.distributions as D

    check_type(f"space[{key!r}]", spec, dict)
    t = check_one_of(f"space[{key!r}].type", spec.get("type"), TYPES)
    allowed = {"float": {"type", "low", "high", "step", "log"}, "int": {"type", "low", "high", "step", "log"},
               "categorical": {"type", "choices"}}[t]
    extra = set(spec) - allowed
    if extra:
        raise ValidationError(
            f"Unknown key(s) {sorted(extra)} in space[{key!r}] of type {t!r}. Valid keys: {sorted(allowed)}."
        )
    if t == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValidationError(f"space[{key!r}].choices must be a non-empty list. Got {choices!r} instead.")
        return D.CategoricalDistribution(choices)
    if "low" not in spec or "high" not in spec:
        raise ValidationError(f"space[{key!r}] needs 'low' and 'high'. Got {spec!r} instead.")
    integer = t == "int"
    low = check_number(f"space[{key!r}].low", spec["low"], integer=integer)
    high = check_number(f"space[{key!r}].high", spec["high"], integer=integer)
    if high < low:
        raise ValidationError(f"space[{key!r}]: 'high' ({high}) must be >= 'low' ({low}).")
    log = bool(spec.get("log", False))
    step = spec.get("step")
    if log and step is not None:
        raise ValidationError(f"space[{key!r}]: 'step' and 'log' cannot be combined.")
    if log and low <= 0:
        raise ValidationError(f"space[{key!r}]: a log scale needs low > 0. Got {low}.")
    if integer:
        return D.IntDistribution(int(low), int(high), log=log, step=int(step) if step is not None else 1)
    return D.FloatDistribution(float(low), float(high), log=log, step=float(step) if step is not None else None)


def validate_space(space: dict[str, Any]) -> dict[str, Any]:
    """Check a space; returns {key: optuna distribution}."""
    from core.training.config import TrainConfig

    check_type("space", space, dict)
    if not space:
        raise ValidationError("The search space is empty; give at least one parameter to vary.")
    fields = TrainConfig.field_names()
    out = {}
    for key, spec in space.items():
        check_type("space key", key, str)
        top = key.split(".", 1)[0]
        if top not in fields:
            raise ValidationError(f"Search space key {key!r} is not a TrainConfig field path. "
                                  f"Valid top-level keys: {', '.join(fields)}.")
        out[key] = _distribution(key, spec)
    return out


def _set_path(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cur = d
    for p in parts[:-1]:
        if cur.get(p) is None:
            cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return float(round(v, 10))
    return v


def sample_trials(base_config, space: dict[str, Any], n_trials: int, seed: int = 0, *, max_attempts: int = 50):
    """``n_trials`` distinct complete TrainConfigs (validated), reproducible for a seed."""
    import optuna

    from core.training.config import TrainConfig

    n_trials = check_number("n_trials", n_trials, low=1, high=10_000, integer=True)
    seed = check_number("seed", seed, low=0, integer=True)
    dists = validate_space(space)
    base = base_config.to_dict() if isinstance(base_config, TrainConfig) else dict(base_config)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction="maximize")
    configs, seen = [], set()
    attempts = 0
    base_name = base.get("name") or f"{base.get('model')}-search"
    while len(configs) < n_trials:
        trial = study.ask(dists)
        params = {k: _clean(trial.params[k]) for k in dists}
        key = json.dumps(params, sort_keys=True)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        if key in seen:
            attempts += 1
            if attempts > max_attempts * n_trials:
                raise ValidationError(
                    f"The search space has fewer than {n_trials} distinct combinations ({len(configs)} found); "
                    "ask for fewer trials or widen the space."
                )
            continue
        seen.add(key)
        d = copy.deepcopy(base)
        for k, v in params.items():
            _set_path(d, k, v)
        d["name"] = f"{base_name}-trial{len(configs) + 1:03d}"
        cfg = TrainConfig.from_dict(d)
        cfg.validate()
        configs.append(cfg)
    return configs


def trial_params(config, space: dict[str, Any]) -> dict[str, Any]:
    """The values of the space's keys in a config (for result tables)."""
    d = config.to_dict()
    out = {}
    for key in space:
        cur: Any = d
        for p in key.split("."):
            cur = cur.get(p) if isinstance(cur, dict) else None
        out[key] = cur
    return out


def run_search(base_config, space: dict[str, Any], n_trials: int, seed: int = 0, *, out_dir,
               reporter=None, n_bootstrap: int = 0):
    """Train every trial completely on the same split; returns a DataFrame (one row a trial)
    sorted by validation score, also written to ``out_dir/search.csv``."""
    import pandas as pd

    from core.datasets import load_dataset
    from core.datasets.splits import make_split
    from core.training.engine import train
    from core.training.reporters import Cancelled, TrainingError, _SafeReporter

    rep = _SafeReporter(reporter)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trials = sample_trials(base_config, space, n_trials, seed)
    base = trials[0]
    ds = load_dataset(base.dataset["name"], **dict(base.dataset.get("params") or {}))
    sp = base.resolved_split()
    split = make_split(ds, val_ratio=sp["val_ratio"], test_ratio=sp["test_ratio"], seed=int(sp["seed"]), grouped=sp["grouped"])
    RunFolder(out).write_json("search_space", {"space": space, "n_trials": n_trials, "seed": seed,
                                               "base_config": trials[0].to_dict()})
    rows = []
    for i, cfg in enumerate(trials, 1):
        rep.on_message("info", f"trial {i}/{len(trials)}: " + ", ".join(f"{k}={v}" for k, v in trial_params(cfg, space).items()))
        row: dict[str, Any] = {"trial": i, "name": cfg.name, **trial_params(cfg, space)}
        try:
            res = train(cfg, out_dir=out / f"trial_{i:03d}", reporter=reporter, split=split, n_bootstrap=n_bootstrap)
        except Cancelled:
            raise
        except TrainingError as e:
            row.update(status="failed", error=str(e))
            rows.append(row)
            rep.on_message("warning", f"trial {i} failed: {e}")
            continue
        s = res.summary
        row.update(
            status="finished",
            monitor=cfg.monitor,
            best_val=res.meta.get("best_value"),
            best_epoch=res.best_epoch,
            epochs_run=res.epochs_run,
            test_accuracy=s.get("accuracy"),
            test_macro_f1=s.get("macro_f1"),
            test_balanced_accuracy=s.get("balanced_accuracy"),
            trainable_params=res.params["trainable"],
            train_time_s=res.train_time_s,
            out_dir=str(res.out_dir),
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    if "best_val" in df and len(df):
        ascending = base.monitor == "val_loss"
        df = df.sort_values("best_val", ascending=ascending, na_position="last").reset_index(drop=True)
    RunFolder(out).write_csv("search_trials", df)
    return df


# ---------------------------------------------------------------------- search roll-up (job supervisor)
def best_trial(store, parent, trials):
    """The best succeeded trial on the search's monitor (best epoch's value), else test accuracy."""
    from core.validation import NotFoundError

    ok = [t for t in trials if t.status == "succeeded"]
    if not ok:
        return None
    try:
        monitor = store.get_run(parent.id).config.get("monitor")
    except NotFoundError:  # deleted meanwhile
        monitor = None
    for key, maximise in ((f"best_{monitor}" if monitor else None, monitor not in (None, "val_loss")),
                          ("best_val_loss", False), ("best_val_accuracy", True), ("accuracy", True)):
        cands = [t for t in ok if key and key in t.summary and t.summary[key] == t.summary[key]]  # not NaN
        if cands:
            return (max if maximise else min)(cands, key=lambda t: t.summary[key])
    return ok[0]


def _final_status(parent, counts: dict[str, int], n: int) -> str:
    if parent.cancel_requested:
        return "cancelled"
    if counts.get("succeeded"):
        return "succeeded"
    if counts.get("cancelled") == n:
        return "cancelled"
    if counts.get("interrupted"):
        return "interrupted"
    return "failed"


def _parts(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def roll_up(store, kind: str, unit: str, info: Callable, finish: Callable) -> list[int]:
    """Make every unfinished parent run of ``kind`` (no worker runs it) follow its children:
    ``running`` once one child started or ended; progress = children ended / all, with
    ``progress_info`` ``{"message": "N/M <unit> done", <unit>: {status: count}, **info(...)}``;
    when every child has ended, ``finish(parent, children, counts, info) -> (status, error)``
    gives its final status. A parent without children is left as it is. Returns the ids of the
    parents that finished. ``info(parent, children, counts)`` adds keys to the progress info."""
    from core.store.schema import ACTIVE_STATUSES, FINAL_STATUSES

    done = []
    parents, _ = store.list_runs(kind=kind, status=ACTIVE_STATUSES, limit=None)
    for p in parents:
        children, n = store.list_runs(parent_id=p.id, limit=None, sort="id", descending=False)
        if not n:
            continue
        counts: dict[str, int] = {}
        for c in children:
            counts[c.status] = counts.get(c.status, 0) + 1
        n_final = sum(counts.get(s, 0) for s in FINAL_STATUSES)
        if p.status == "queued" and (n_final > 0 or counts.get("running", 0) > 0):
            store.set_status(p.id, "running")
        extra = {"message": f"{n_final}/{n} {unit} done", unit: counts, **info(p, children, counts)}
        if extra != {k: p.progress_info.get(k) for k in extra} or abs(p.progress - n_final / n) > 1e-9:
            store.set_progress(p.id, n_final / n, extra)
        if n_final < n:
            continue
        status, error = finish(p, children, counts, extra)
        if p.status == "queued":
            store.set_status(p.id, "running")
        store.set_status(p.id, status, error)
        done.append(p.id)
    return done


def update_searches(store) -> list[int]:
    """Make every unfinished search parent (kind ``search``) follow its trials (``roll_up``):
    progress = trials done, the best trial (``best_run_id``) and, when all are done, the best
    trial's summary and a final status: ``succeeded`` when at least one trial succeeded (a
    search is for its best trial), else cancelled / interrupted / failed. Returns the ids of
    the searches that finished. Called by the job supervisor (``update_parents``)."""
    def info(p, trials, counts):
        best = best_trial(store, p, trials) if counts.get("succeeded") else None
        return {"best_run_id": best.id} if best is not None else {}

    def finish(p, trials, counts, extra):
        n = len(trials)
        best = next((t for t in trials if t.id == extra.get("best_run_id")), None)
        if best is not None:
            store.log_summary(p.id, {**best.summary, "best_run_id": best.id,
                                     "trials": n, "trials_succeeded": counts.get("succeeded", 0)})
        status = _final_status(p, counts, n)
        return status, None if status == "succeeded" else f"trials: {_parts(counts)}"

    return roll_up(store, "search", "trials", info, finish)


def group_status(parent, counts: dict[str, int]) -> tuple[str, str | None]:
    """The final status of a group whose runs have all ended, and its error text:

    - ``cancelled`` when the group was cancelled (its unfinished runs were cancelled with it);
    - ``succeeded`` when every run succeeded;
    - ``failed`` when any run failed ("partly done: 2 of 3 runs succeeded (...)" when some did);
    - else ``interrupted`` when any run was interrupted, else ``cancelled`` (runs cancelled one by one).

    Unlike a search (done when its best trial is), a group is done only when all its runs are:
    a recipe needs every one of them for its comparison."""
    n = sum(counts.values())
    ok = counts.get("succeeded", 0)
    what = f"{ok} of {n} runs succeeded ({_parts(counts)})"
    what = f"partly done: {what}" if 0 < ok < n else what
    if parent.cancel_requested:
        return "cancelled", f"cancelled: {what}"
    if ok == n:
        return "succeeded", None
    if counts.get("failed"):
        return "failed", what
    return ("interrupted" if counts.get("interrupted") else "cancelled"), what


def update_groups(store) -> list[int]:
    """Make every unfinished group of runs (kind ``group``, e.g. a recipe's, ``core.recipes``)
    follow its runs (``roll_up``): ``queued`` while none started, ``running`` while any is queued
    or running once one started, progress "N/M runs done", and when all have ended the final
    status of ``group_status`` and a summary ``runs`` / ``runs_succeeded`` / ``runs_failed``.
    Returns the ids of the groups that finished. Called by the job supervisor (``update_parents``)."""
    def finish(p, runs, counts, extra):
        store.log_summary(p.id, {"runs": len(runs), "runs_succeeded": counts.get("succeeded", 0),
                                 "runs_failed": counts.get("failed", 0)})
        return group_status(p, counts)

    return roll_up(store, "group", "runs", lambda p, runs, counts: {}, finish)


def update_parents(store) -> list[int]:
    """Every parent run that no worker runs (searches, groups) follows its children; the ids of
    those that finished. The job supervisor calls it every tick and after recovery."""
    return update_searches(store) + update_groups(store)


def search_concurrency(store, parent_id: int) -> int | None:
    """The most trials of search ``parent_id`` that may run at once (``None``: no bound),
    as given to ``JobManager.submit_search(concurrency=...)``."""
    import json as _json

    from core.validation import NotFoundError

    try:
        raw = store.get_run(parent_id).params.get("search.concurrency")
    except NotFoundError:
        return None
    try:
        value = _json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return int(value) if isinstance(value, (int, float)) and value >= 1 else None
