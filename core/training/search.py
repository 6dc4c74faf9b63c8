"""Hyper-parameter random search (report A's RandomizedSearchCV, done with Optuna).

A search *space* is a JSON-serialisable dict mapping a dotted TrainConfig path to a
distribution::

    {"model_options.dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
     "model_options.units":   {"type": "int", "low": 8, "high": 64, "step": 7},
     "optimizer":             {"type": "categorical", "choices": ["adam", "adagrad", "rmsprop"]},
     "learning_rate":         {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}

Two samplers (``SAMPLERS``): ``random`` draws every trial up front (``sample_trials``: complete,
validated ``TrainConfig`` objects with Optuna's ``RandomSampler``, reproducibly for a seed and
without duplicates); ``tpe`` learns from finished trials: Optuna's TPE sampler asks for the next
trial only when one has finished and its result is told (``core.training.search_tpe``). Queued
through the job manager, a TPE search starts with its first trial; the supervisor's tick
(``update_searches``) asks for the next ones, at most ``concurrency`` unfinished at once, from a
study rebuilt from the stored trial runs (so a restart goes on where the search was).
``run_search`` trains each trial completely with ``train()`` on ONE split (same train/val/test
ids for every trial), so the results are comparable; the dashboard submits the same trials
to the job manager instead.
"""
from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.store.artifacts import RunFolder
from core.training.search_tpe import Told
from core.validation import LabError, ValidationError, check_number, check_one_of, check_type

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

log = logging.getLogger(__name__)

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
    """The values of the space's keys in a config (a TrainConfig or its dict; for result tables)."""
    d = config if isinstance(config, dict) else config.to_dict()
    out = {}
    for key in space:
        cur: Any = d
        for p in key.split("."):
            cur = cur.get(p) if isinstance(cur, dict) else None
        out[key] = cur
    return out


def _trial_config(base: dict[str, Any], params: dict[str, Any], number: int):
    """Trial ``number`` (1-based): ``base`` with ``params`` set, named, validated."""
    from core.training.config import TrainConfig

    d = copy.deepcopy(base)
    for k, v in params.items():
        _set_path(d, k, _clean(v))
    d["name"] = f"{base.get('name') or str(base.get('model')) + '-search'}-trial{number:03d}"
    cfg = TrainConfig.from_dict(d)
    cfg.validate()
    return cfg


def plan_search(base_config, space: dict[str, Any], n_trials: int, seed: int = 0,
                sampler: str = "random") -> tuple[list, dict[str, Any]]:
    """The trials to queue now and the search's parameters (stored on its parent run as
    ``search.*``): every trial for ``random``; the first one for ``tpe`` (the others are asked
    as trials finish, see ``update_searches``), one trial at a time unless ``concurrency`` says more."""
    from core.training.search_tpe import SAMPLERS, ask_next, startup_trials

    sampler = check_one_of("sampler", sampler, SAMPLERS)
    seed = check_number("seed", seed, low=0, integer=True)
    params: dict[str, Any] = {"space": dict(space), "n_trials": n_trials, "seed": seed, "sampler": sampler}
    if sampler == "random":
        return list(sample_trials(base_config, space, n_trials, seed)), params
    dists = validate_space(space)
    base = base_config.to_dict()
    n_startup = startup_trials(n_trials)
    first = ask_next(dists, [], seed=seed, n_startup=n_startup, direction=_direction(base))
    params.update(concurrency=1, n_startup=n_startup)
    return [_trial_config(base, first, 1)], params


def _direction(config: dict) -> str:
    from core.training.search_tpe import direction_of

    return direction_of(config.get("monitor"))


def _param(params: dict[str, str], key: str, default: Any = None) -> Any:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # text is stored as it is


def stored_space(params: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A search's space from its parent's stored parameters (``search.space.<key>.<field>``);
    ``{}`` for a search given as a list of trials."""
    head, out = "search.space.", {}
    for k in params:
        if k.startswith(head) and k.endswith(".type"):
            key = k[len(head):-len(".type")]
            out[key] = {f: _param(params, f"{head}{key}.{f}") for f in ("type", "low", "high", "step", "log", "choices")
                        if f"{head}{key}.{f}" in params}
            out[key]["type"] = params[k]
    return out


def search_history(store, parent, space: dict[str, Any]) -> list:
    """Every trial of search ``parent`` (a RunDetail) as the study knows it (``Told``), in
    the order they were queued: succeeded with its best validation value of the search's
    monitor, failed / interrupted / cancelled as failed, queued / running as running."""
    from core.store.schema import ACTIVE_STATUSES

    children, _ = store.list_runs(parent_id=parent.id, limit=None, sort="id", descending=False)
    configs = store.get_configs([c.id for c in children]) if children else {}
    monitor = parent.config.get("monitor") or "val_loss"
    out = []
    for c in children:
        params = trial_params(configs.get(c.id, {}), space)
        if c.status in ACTIVE_STATUSES:
            out.append(Told(params, None, "running"))
        elif c.status == "succeeded" and c.summary.get(f"best_{monitor}") is not None:
            out.append(Told(params, float(c.summary[f"best_{monitor}"]), "complete"))
        else:
            out.append(Told(params, None, "fail"))
    return out


def search_study(store, parent_id: int):
    """``(study, note)``: the Optuna study of a stored search (its finished trials told), for its
    plots; ``(None, why)`` when there is nothing to draw."""
    from core.training.search_tpe import build_study

    parent = store.get_run(parent_id)
    space = stored_space(parent.params)
    if not space:
        return None, "This search was given its trials as a list, not as a space to sample: there is nothing to plot."
    try:
        dists = validate_space(space)
    except ValidationError as e:
        return None, f"The stored search space cannot be read: {e}"
    study = build_study(dists, search_history(store, parent, space), direction=_direction(parent.config))
    return study, None


def _local_trials(base_config, space: dict[str, Any], n_trials: int, seed: int, sampler: str, history: list):
    """The trials of a search trained here, one after the other: random ones drawn up front;
    TPE asks each one from ``history`` (the caller tells each result before the next is asked)."""
    from core.training.config import TrainConfig
    from core.training.search_tpe import ask_next, startup_trials

    if sampler == "random":
        yield from sample_trials(base_config, space, n_trials, seed)
        return
    dists = validate_space(space)
    base = base_config.to_dict() if isinstance(base_config, TrainConfig) else dict(base_config)
    for i in range(n_trials):
        params = ask_next(dists, history, seed=seed, n_startup=startup_trials(n_trials), direction=_direction(base))
        yield _trial_config(base, params, i + 1)


def _train_trial(cfg, i: int, space, *, out: Path, split, reporter, n_bootstrap: int) -> dict[str, Any]:
    """Train trial ``i`` completely; its row of the results table."""
    from core.training.engine import train
    from core.training.reporters import Cancelled, TrainingError, _SafeReporter

    rep = _SafeReporter(reporter)
    rep.on_message("info", f"trial {i}: " + ", ".join(f"{k}={v}" for k, v in trial_params(cfg, space).items()))
    row: dict[str, Any] = {"trial": i, "name": cfg.name, **trial_params(cfg, space)}
    try:
        res = train(cfg, out_dir=out / f"trial_{i:03d}", reporter=reporter, split=split, n_bootstrap=n_bootstrap)
    except Cancelled:
        raise
    except TrainingError as e:
        rep.on_message("warning", f"trial {i} failed: {e}")
        return {**row, "status": "failed", "error": str(e)}
    s = res.summary
    return {**row, "status": "finished", "monitor": cfg.monitor, "best_val": res.meta.get("best_value"),
            "best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "test_accuracy": s.get("accuracy"),
            "test_macro_f1": s.get("macro_f1"), "test_balanced_accuracy": s.get("balanced_accuracy"),
            "trainable_params": res.params["trainable"], "train_time_s": res.train_time_s,
            "out_dir": str(res.out_dir)}


def run_search(base_config, space: dict[str, Any], n_trials: int, seed: int = 0, *, out_dir,
               reporter=None, n_bootstrap: int = 0, sampler: str = "random"):
    """Train every trial completely on the same split, one after the other (``sampler``
    ``tpe``: each trial asked after the one before was told its result); returns a DataFrame
    (one row a trial) sorted by validation score, also written to ``out_dir/search.csv``."""
    import pandas as pd

    from core.datasets import load_dataset
    from core.datasets.splits import make_split
    from core.training.search_tpe import SAMPLERS

    sampler = check_one_of("sampler", sampler, SAMPLERS)
    n_trials = check_number("n_trials", n_trials, low=1, high=10_000, integer=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    history: list = []
    rows: list[dict[str, Any]] = []
    split = base = None
    for i, cfg in enumerate(_local_trials(base_config, space, n_trials, seed, sampler, history), 1):
        if base is None:
            base = cfg
            ds = load_dataset(cfg.dataset["name"], **dict(cfg.dataset.get("params") or {}))
            sp = cfg.resolved_split()
            split = make_split(ds, val_ratio=sp["val_ratio"], test_ratio=sp["test_ratio"], seed=int(sp["seed"]),
                               grouped=sp["grouped"])
            RunFolder(out).write_json("search_space", {"space": space, "n_trials": n_trials, "seed": seed,
                                                       "sampler": sampler, "base_config": cfg.to_dict()})
        row = _train_trial(cfg, i, space, out=out, split=split, reporter=reporter, n_bootstrap=n_bootstrap)
        rows.append(row)
        value = row.get("best_val")
        ok = row["status"] == "finished" and value is not None and value == value
        history.append(Told(trial_params(cfg, space), float(value) if ok else None, "complete" if ok else "fail"))
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


def roll_up(store, kind: str, unit: str, info: Callable, finish: Callable,
            expected: dict[int, int] | None = None) -> list[int]:
    """Make every unfinished parent run of ``kind`` (no worker runs it) follow its children:
    ``running`` once one child started or ended; progress = children ended / all, with
    ``progress_info`` ``{"message": "N/M <unit> done", <unit>: {status: count}, **info(...)}``;
    when every child has ended, ``finish(parent, children, counts, info) -> (status, error)``
    gives its final status. A parent without children is left as it is. Returns the ids of the
    parents that finished. ``info(parent, children, counts)`` adds keys to the progress info.
    ``expected`` ({parent id: number of children it will have}) counts children not asked for
    yet (a TPE search's later trials): progress is out of that many, and it ends only with them."""
    from core.store.schema import ACTIVE_STATUSES, FINAL_STATUSES

    done = []
    parents, _ = store.list_runs(kind=kind, status=ACTIVE_STATUSES, limit=None)
    for p in parents:
        children, n = store.list_runs(parent_id=p.id, limit=None, sort="id", descending=False)
        if not n:
            continue
        n = max(n, (expected or {}).get(p.id, 0))
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

    return roll_up(store, "search", "trials", info, finish, expected=ask_tpe_trials(store))


def ask_tpe_trials(store) -> dict[int, int]:
    """Queue the next trials of every unfinished TPE search that has room (fewer unfinished
    trials than its ``concurrency``, fewer trials than ``n_trials``, not cancelled), each asked
    from the study rebuilt from its stored trials. Returns {search id: trials it will have}: its
    ``n_trials``, or the trials it has when it asks no more (cancelled, or asking failed: the
    reason is stored as its parameter ``search.stopped``)."""
    from core.store.schema import ACTIVE_STATUSES

    out: dict[int, int] = {}
    parents, _ = store.list_runs(kind="search", status=ACTIVE_STATUSES, limit=None)
    for p in parents:
        detail = store.get_run(p.id)
        if detail.params.get("search.sampler") != "tpe":
            continue
        n_trials = int(_param(detail.params, "search.n_trials", 0))
        if detail.cancel_requested or "search.stopped" in detail.params:
            out[p.id] = len(detail.children)
            continue
        out[p.id] = n_trials
        try:
            _ask_more(store, detail, n_trials)
        except (LabError, ValueError, TypeError, KeyError) as e:  # a search that cannot ask ends with the trials it has
            log.exception("search %s: asking for the next trial failed", p.id)
            store.log_params(p.id, {"search.stopped": f"asking for the next trial failed: {e}"[:2000]})
            out[p.id] = len(store.get_run(p.id).children)
    return out


def _ask_more(store, parent, n_trials: int) -> list[int]:
    """Queue trials of TPE search ``parent`` while it has room; the new run ids."""
    from core.training.search_tpe import ask_next
    from core.validation import fit_name

    space = stored_space(parent.params)
    dists = validate_space(space)
    history = search_history(store, parent, space)
    room = min(int(search_concurrency(store, parent.id) or 1) - sum(t.state == "running" for t in history),
               n_trials - len(history))
    seed = int(_param(parent.params, "search.seed", 0))
    n_startup = int(_param(parent.params, "search.n_startup", 1))
    base = dict(parent.config)
    new = []
    for _ in range(max(0, room)):
        params = ask_next(dists, history, seed=seed, n_startup=n_startup, direction=_direction(base))
        cfg = _trial_config(base, params, len(history) + 1)
        d = cfg.to_dict()
        rid = store.create_run(d, name=fit_name(parent.name, f" · trial {len(history) + 1}"),
                               dataset=(d.get("dataset") or {}).get("name"), model=cfg.model, seed=cfg.seed,
                               kind="train", parent_id=parent.id)
        store.log_params(rid, d)
        history.append(Told(trial_params(d, space), None, "running"))
        new.append(rid)
    return new


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
