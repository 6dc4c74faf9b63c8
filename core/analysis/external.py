"""External validation: a succeeded run scored on a labelled image set it has never seen.

The set is read by the lab's own loaders (``core.datasets.folders``): class folders, a
HAM10000-style metadata CSV or an EyePACS/APTOS labels CSV. Before anything is scored its images are
checked against the run's own training, validation and test images (``core.analysis.overlap``); the
overlapping ones are reported with their split and left out. The rest get the full evaluation the run
got on its own test split (``core.metrics.classification.evaluate``, the same dict as the run's
``evaluation`` file), slices where the set has metadata, and a shift report (``core.analysis.shift``).
The result is stored with the run (``core.store.external``) and the per-image predictions written to
the run's folder (``core.store.external.predictions_path``); the images themselves are never copied.

Images are addressed by their position in the set's sorted relative file list (:func:`external_files`),
whose sha256 (:func:`files_hash`) is stored: a page re-lists the folder and compares the hash before
showing an image.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.store.artifacts import RunFolder
from core.validation import DatasetError, LabError, ValidationError

#: bootstrap resamples of the external figures (the run's own evaluation uses the training's setting)
N_BOOTSTRAP = 500
#: above this many images the CLI queues a background job instead of validating in the foreground
BACKGROUND_ABOVE = 2000
HAM_COLUMNS = {"lesion_id", "image_id", "dx"}
FUNDUS_COLUMNS = ({"image", "level"}, {"id_code", "diagnosis"})


class NothingLeftError(DatasetError):
    """Every image of the external set overlaps the run's own data: nothing is scored or recorded.
    ``overlap`` is the overlap record, ``rel_paths`` the set's sorted relative file list."""

    def __init__(self, overlap: dict[str, Any], rel_paths: list[str]):
        self.overlap, self.rel_paths = overlap, rel_paths
        c = overlap.get("counts") or {}
        super().__init__(
            f"Every one of the {len(rel_paths)} images of the external set is also in the run's own data "
            f"({c.get('train', 0)} in training, {c.get('val', 0)} in validation, {c.get('test', 0)} in test; checked by "
            f"{overlap.get('by')}), so nothing is left to validate on. Use images the run never saw, or train a run "
            "with these left out (dataset parameter exclude_ids=FILE listing their image or lesion ids).")

    def listing(self) -> list[str]:
        """One line per image: its relative path, the split it is in and what it matched."""
        return [f"{self.rel_paths[it['index']]}: in {it['split']} (matches {it['match']})"
                for it in self.overlap.get("items") or []]


@dataclass
class ExternalSet:
    """A loaded external set: the dataset (labels in the run's class order, sorted by relative path),
    the relative paths, where it came from."""
    ds: Any
    rel_paths: list[str]
    source: dict[str, Any]
    notices: list[str]


# ----------------------------------------------------------------------------- reading the set
def _csv_format(csv: Path) -> str | None:
    try:
        cols = set(pd.read_csv(csv, nrows=0).columns)
    except Exception:  # noqa: BLE001 - not a CSV we can read: not a labels file
        return None
    if HAM_COLUMNS <= cols:
        return "ham10000_csv"
    if any(f <= cols for f in FUNDUS_COLUMNS):
        return "eyepacs_csv"
    return None


def detect_format(data_dir, labels_csv=None) -> tuple[str, str | None]:
    """(format, labels CSV or None): the given CSV's kind, else a labels CSV found at the top of the
    folder, else class folders."""
    from core.datasets.common import check_path

    folder = check_path(data_dir, what="external image folder")
    if labels_csv is not None:
        csv = check_path(labels_csv, what="labels CSV", must_be="file")
        fmt = _csv_format(csv)
        if fmt is None:
            raise DatasetError(f"The labels CSV {str(csv)!r} has neither the HAM10000 columns (lesion_id, image_id, dx) "
                               "nor the EyePACS (image, level) or APTOS (id_code, diagnosis) columns.")
        return fmt, str(csv)
    for csv in sorted(folder.glob("*.csv")):
        fmt = _csv_format(csv)
        if fmt is not None:
            return fmt, str(csv)
    return "folders", None


def _load_raw(fmt: str, data_dir: str, labels_csv: str | None):
    from core.datasets.folders import load_fundus, load_ham10000, load_image_folder

    if fmt == "ham10000_csv":
        return load_ham10000(data_dir, metadata_csv=labels_csv, max_missing_fraction=1.0)
    if fmt == "eyepacs_csv":
        return load_fundus(data_dir, labels_csv=labels_csv, max_missing_fraction=1.0)
    return load_image_folder(data_dir)


def class_mapping(ext_names, ext_codes, run_names, run_codes, present) -> np.ndarray:
    """For each external class index, the run's class index (by name or short code, any case).
    ``present``: the external class indices that have images (others may stay unmatched)."""
    lookup = {}
    for i, name in enumerate(run_names):
        lookup[str(name).strip().lower()] = i
        if run_codes:
            lookup[str(run_codes[i]).strip().lower()] = i
    out = np.full(len(ext_names), -1)
    for c, name in enumerate(ext_names):
        keys = [str(name).strip().lower()] + ([str(ext_codes[c]).strip().lower()] if ext_codes else [])
        out[c] = next((lookup[k] for k in keys if k in lookup), -1)
    bad = [ext_names[c] for c in present if out[c] < 0]
    if bad:
        accepted = ", ".join(f"{n} ({run_codes[i]})" if run_codes else str(n) for i, n in enumerate(run_names))
        raise DatasetError(f"The external set has class(es) the run does not know: {', '.join(map(str, bad))}. "
                           f"The run's classes (folder names may be the name or the code): {accepted}.")
    return out


def _relative(paths, folder: Path) -> list[str]:
    root = folder.resolve()
    out = []
    for p in paths:
        rp = Path(p).resolve()
        try:
            out.append(rp.relative_to(root).as_posix())
        except ValueError:  # a linked file outside the folder: its name
            out.append(rp.name)
    return out


def load_external(data_dir, labels_csv=None, *, class_names, class_codes=None, fmt: str | None = None) -> ExternalSet:
    """The external set in the run's class order, sorted by relative path (``fmt``: the format as
    stored, else detected)."""
    from core.datasets.base import Dataset

    fmt, csv = (fmt, labels_csv) if fmt else detect_format(data_dir, labels_csv)
    raw = _load_raw(fmt, str(data_dir), csv)
    if raw.paths is None:
        raise DatasetError("An external set must be image files in a folder.")
    mapping = class_mapping(raw.class_names, raw.class_codes, list(class_names), class_codes, np.unique(raw.labels))
    rel = _relative(raw.paths, Path(data_dir))
    order = np.argsort(np.asarray(rel), kind="stable")
    ds = raw.subset(order, by="position")
    ds = Dataset(name="external", class_names=list(class_names), class_codes=class_codes, ids=ds.ids,
                 labels=mapping[ds.labels], paths=ds.paths, metadata=ds.metadata, groups=ds.groups,
                 group_name=ds.group_name, ordinal=ds.ordinal, domain=ds.domain, report=ds.report)
    source = {"format": fmt, "data_dir": str(Path(data_dir).expanduser().resolve()), "labels_csv": csv}
    return ExternalSet(ds, [rel[i] for i in order], source, list(raw.report.get("notices") or []))


def files_hash(rel_paths) -> str:
    """sha256 of the sorted relative file list, one path a line."""
    return hashlib.sha256("\n".join(sorted(rel_paths)).encode("utf-8")).hexdigest()


def external_files(source: dict[str, Any], *, class_names, class_codes=None) -> tuple[list[str], list[str], str]:
    """(relative paths, absolute paths, files_hash) of a stored evaluation's set as the folder holds it now,
    in the order its predictions CSV's ``index`` counts."""
    es = load_external(source["data_dir"], source.get("labels_csv"), class_names=class_names, class_codes=class_codes,
                       fmt=source.get("format"))
    return es.rel_paths, [str(p) for p in es.ds.paths], files_hash(es.rel_paths)


def evaluation_files(store, ev) -> tuple[list[str], list[str], bool]:
    """(relative paths, absolute paths, unchanged) of stored evaluation ``ev``'s set as its folder holds it
    now: ``unchanged`` is False when the file list's sha256 differs from the stored one (then an index of
    the predictions CSV no longer names the same image)."""
    meta = RunFolder.of(store.get_run(ev.run_id), store).read_json("meta") or {}
    rel, paths, digest = external_files(ev.source, class_names=meta.get("class_names") or [],
                                        class_codes=meta.get("class_codes"))
    return rel, paths, digest == ev.files_hash


# ----------------------------------------------------------------------------- validating a run
class _Steps:
    """Progress (fraction, text) and the stop check between the steps of a validation."""

    def __init__(self, progress: Callable[[float, str], None] | None, should_stop: Callable[[], bool] | None):
        self.progress, self.should_stop = progress, should_stop

    def __call__(self, fraction: float, text: str) -> None:
        if self.should_stop is not None and self.should_stop():
            from core.training.reporters import Cancelled

            raise Cancelled("The external validation was stopped; nothing was recorded.")
        if self.progress is not None:
            self.progress(float(fraction), text)


@dataclass
class RunContext:
    run: Any
    folder: RunFolder
    meta: dict[str, Any]
    evaluation: dict[str, Any]


def run_context(store, run_id) -> RunContext:
    """The run, its folder, meta and own evaluation; a clear error when it cannot be validated."""
    run = store.get_run(run_id)
    if run.status != "succeeded" or run.kind != "train":
        raise ValidationError(f"Run {run.id} is a {run.status} {run.kind} run; only a succeeded training run can be "
                              "validated on an external set.")
    folder = RunFolder.of(run, store)
    meta = folder.read_json("meta") or {}
    if not folder.has("model") or not meta.get("class_names") or not folder.has("split"):
        raise LabError(f"Run {run.id} has no model, meta or split file in {folder.path}; it cannot be validated.")
    return RunContext(run, folder, meta, folder.read_json("evaluation") or {})


def _run_dataset(ctx: RunContext):
    from core.datasets import load_dataset
    from core.datasets.splits import Split

    spec = ctx.meta.get("dataset") or {}
    try:
        ds = load_dataset(spec["name"], **dict(spec.get("params") or {}))
    except (LabError, KeyError) as e:
        raise LabError(f"The training data of run {ctx.run.id} ({spec.get('name')}) cannot be loaded, so the external "
                       f"set cannot be checked against it: {e}") from None
    return ds, Split.from_dict(ctx.folder.read_json("split"))


def score(tm, ds, ordinal: bool, *, n_bootstrap: int = N_BOOTSTRAP) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(predictions frame, evaluation): exactly the evaluation the run's own test split got."""
    from core.metrics.classification import evaluate, predict_dataset

    pred = predict_dataset(tm.model, ds, tm.preprocessing, batch_size=64)
    return pred, evaluate(pred, list(ds.class_names), ordinal=ordinal, n_bootstrap=n_bootstrap, seed=0)


def external_slices(ds, pred: pd.DataFrame, names: list[str], *, n_bootstrap: int = N_BOOTSTRAP) -> dict | None:
    """Slices of the external figures by the set's metadata and its images' brightness and size."""
    from core.analysis.slices import image_properties, slice_metrics
    from core.metrics.classification import _unpack

    ids, yt, yp, probs, _, _ = _unpack(pred, names)
    meta = ds.metadata.assign(id=ds.metadata["id"].astype(str))
    props, notices = image_properties(ds, ids)
    meta = meta.drop(columns=[c for c in props.columns if c != "id" and c in meta.columns]).merge(props, on="id",
                                                                                                  how="left")
    try:
        res = slice_metrics(ids, yt, yp, probs, meta, names, n_bootstrap=n_bootstrap, seed=0)
    except LabError:
        return None
    res["notices"] = [*notices, *res["notices"]]
    return res


def _shift(ctx: RunContext, tm, run_ds, split, ext_ds, result: dict, step: _Steps) -> dict[str, Any]:
    from core.analysis import shift as sh

    train_ds = run_ds.subset(list(split.train))
    tpos, epos = sh.sample_positions(len(train_ds)), sh.sample_positions(len(ext_ds))
    step(0.75, "image statistics")
    t_stats, e_stats = sh.image_stats(train_ds, tpos), sh.image_stats(ext_ds, epos)
    step(0.8, "features of training and external images")
    fm = sh.feature_model(tm.model)
    tf_ = sh.features(fm, train_ds.subset(tpos, by="position"), tm.preprocessing)
    ef_ = sh.features(fm, ext_ds.subset(epos, by="position"), tm.preprocessing)
    fa = sh.feature_auc(tf_, ef_)
    own, ext = ctx.evaluation.get("summary") or {}, result.get("summary") or {}
    return sh.shift_report(train_stats=t_stats, ext_stats=e_stats, fa=fa, ece_internal=own.get("ece"),
                           ece_external=ext.get("ece"), bacc_internal=own.get("balanced_accuracy"),
                           bacc_external=ext.get("balanced_accuracy"))


def _predictions_csv(folder: RunFolder, eid: int, keep: np.ndarray, pred: pd.DataFrame, k: int) -> None:
    from core.files import atomic_write_text
    from core.metrics.classification import prob_columns
    from core.store.external import predictions_path

    probs = pred[prob_columns(k)].to_numpy()
    df = pd.DataFrame({"index": keep, "label": pred["y_true"].to_numpy(), "pred": probs.argmax(1)})
    for c in range(k):
        df[f"p_{c}"] = probs[:, c]
    path = predictions_path(folder.path, eid)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, df.to_csv(index=False))


def validate_run(store, run_id, data_dir, *, labels_csv=None, name: str | None = None,
                 progress: Callable[[float, str], None] | None = None, should_stop: Callable[[], bool] | None = None,
                 created_by: int | None = None) -> int:
    """Score run ``run_id`` on the labelled image set in ``data_dir`` and record it; the evaluation id.

    ``progress(fraction, text)`` is told each step; ``should_stop()`` true stops it (``Cancelled``) before
    anything is recorded. ``store`` may be a guarded store (the "validate" right is checked on recording).
    """
    from core.analysis.overlap import check_overlap, overlapping_indices
    from core.serving.trained_model import load_trained

    step = _Steps(progress, should_stop)
    ctx = run_context(store, run_id)
    if hasattr(store, "can") and not store.can("validate", store.run_access(ctx.run.id)):
        store.authorize("validate", ctx.run.id)  # refused before any image is read: Denied, audited
    step(0.02, "reading the external set")
    es = load_external(data_dir, labels_csv, class_names=ctx.meta["class_names"], class_codes=ctx.meta.get("class_codes"))
    step(0.1, "reading the run's training data")
    run_ds, split = _run_dataset(ctx)
    step(0.15, "checking the set against the run's training, validation and test images")
    overlap = check_overlap(es.ds, run_ds, split,
                            progress=lambda i, n: step(0.15 + 0.35 * i / max(n, 1), f"image check {i}/{n}"))
    left_out = set(overlapping_indices(overlap))
    keep = np.array([i for i in range(len(es.ds)) if i not in left_out], dtype=np.int64)
    if len(keep) == 0:
        raise NothingLeftError(overlap, es.rel_paths)
    ext_ds = es.ds.subset(keep, by="position")
    step(0.55, f"scoring {len(keep)} images")
    tm = load_trained(ctx.folder.path)
    ordinal = bool(ctx.meta.get("ordinal"))
    pred, result = score(tm, ext_ds, ordinal)
    step(0.7, "slices")
    slices = external_slices(ext_ds, pred, list(ext_ds.class_names))
    if slices is not None:
        result["slices"] = slices
    result["notices"] = [*es.notices, *(result.get("notices") or [])]
    shift = _shift(ctx, tm, run_ds, split, ext_ds, result, step)
    step(0.95, "recording")
    label = (name or "").strip() or f"{Path(str(data_dir)).name or 'external'} ({len(es.ds)} images)"
    kw = {} if created_by is None else {"created_by": created_by}
    eid = store.add_external_evaluation(ctx.run.id, name=label[:200], n_images=int(len(keep)),
                                        n_overlap=int(len(left_out)), files_hash=files_hash(es.rel_paths),
                                        source=es.source, result=result, shift=shift, overlap=overlap, **kw)
    _predictions_csv(ctx.folder, eid, keep, pred, len(ext_ds.class_names))
    step(1.0, "done")
    return eid


def summary_lines(ev) -> list[str]:
    """What the CLI prints about a stored external evaluation."""
    from core.analysis.overlap import overlap_sentence

    s = ev.result.get("summary") or {}

    def fig(key: str, label: str) -> str:
        v, lo, hi = s.get(key), s.get(f"ci_low_{key}"), s.get(f"ci_high_{key}")
        if v is None:
            return f"  {label:<20} n/a"
        iv = f"  (95% CI {lo:.3f}-{hi:.3f})" if lo is not None and hi is not None else ""
        return f"  {label:<20} {v:.3f}{iv}"

    lines = [f"External evaluation {ev.id} of run {ev.run_id}: {ev.name}",
             f"  {ev.n_images} image(s) scored, {ev.n_overlap} left out as overlapping the run's own data",
             "  " + overlap_sentence(ev.overlap, ev.n_images + ev.n_overlap),
             fig("balanced_accuracy", "balanced accuracy"), fig("macro_auc", "macro AUC"), fig("accuracy", "accuracy")]
    if "kappa_quadratic" in s:
        lines.append(fig("kappa_quadratic", "quadratic kappa"))
    lines.append(fig("ece", "ECE"))
    for r in ev.result.get("per_class") or []:
        sens, spec = r.get("sensitivity"), r.get("specificity")
        lines.append(f"    {str(r.get('class')):<32} n={r.get('support', '?'):<5} sensitivity "
                     f"{'n/a' if sens is None else f'{sens:.2f}'}  specificity {'n/a' if spec is None else f'{spec:.2f}'}")
    auc, iv = ev.shift.get("feature_auc"), ev.shift.get("feature_auc_interval") or [None, None]
    if auc is not None:
        lines.append(f"  shift: feature AUC {auc:.3f}" + (f" ({iv[0]:.3f}-{iv[1]:.3f})" if iv[0] is not None else ""))
    lines.append("  verdict: " + str(ev.shift.get("verdict", "")))
    return lines
