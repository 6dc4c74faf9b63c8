"""External validation as a background job: a run of kind ``validation`` whose parent is the run
being validated (``core.analysis.external.validate_run`` does the work; the evaluation is recorded
with the parent run, and the job's summary says which one it is)."""
from __future__ import annotations

from pathlib import Path

from core.validation import ValidationError


def submit_validation(store, run_id: int, data_dir, *, labels_csv=None, name: str | None = None) -> int:
    """Queue the validation of run ``run_id`` on the images in ``data_dir``; the job's run id. ``store``
    may be a guarded store (the "validate" right on the run is checked then)."""
    from core.analysis.external import detect_format, run_context

    ctx = run_context(store, run_id)  # a run that cannot be validated is refused now, not in the worker
    detect_format(data_dir, labels_csv)  # so is a folder that cannot be read
    config = {"validation": {"run_id": int(ctx.run.id), "data_dir": str(data_dir),
                             "labels_csv": None if labels_csv is None else str(labels_csv), "name": name}}
    label = f"validation of run {ctx.run.id} on {Path(str(data_dir)).name or 'external images'}"
    return store.create_run(config, name=label[:200], dataset=ctx.run.dataset, model=ctx.run.model,
                            kind="validation", parent_id=int(ctx.run.id))


def run_validation(store, run_id: int, detail, out_dir: Path, flags, t_spawn: float | None = None
                   ) -> tuple[str, str | None]:
    """The runner of ``kind="validation"`` (``core.jobs.kinds.JOB_KINDS``)."""
    from core.analysis.external import validate_run

    spec = (detail.config or {}).get("validation") or {}
    if not spec.get("run_id") or not spec.get("data_dir"):
        raise ValidationError(f"Run {run_id} is a validation job without the run and folder to validate "
                              f"(config {detail.config!r}).")

    def progress(fraction: float, text: str) -> None:
        store.set_progress(run_id, min(0.99, fraction), {"message": f"external validation: {text}"})

    def should_stop() -> bool:
        return bool(flags.stop) or store.is_cancel_requested(run_id)

    eid = validate_run(store, int(spec["run_id"]), spec["data_dir"], labels_csv=spec.get("labels_csv"),
                       name=spec.get("name"), progress=progress, should_stop=should_stop,
                       created_by=getattr(detail, "owner_id", None))
    ev = store.get_external_evaluation(eid)
    summary = ev.result.get("summary") or {}
    store.log_summary(run_id, {k: v for k, v in {
        "external_evaluation_id": float(eid), "n_images": float(ev.n_images), "n_overlap": float(ev.n_overlap),
        "balanced_accuracy": summary.get("balanced_accuracy"), "macro_auc": summary.get("macro_auc"),
        "feature_auc": ev.shift.get("feature_auc")}.items() if isinstance(v, (int, float))})
    return "succeeded", None
