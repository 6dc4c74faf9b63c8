"""External evaluations of a run: a run scored on a labelled image set it has never seen.

One row per evaluation (a run may have several): its name, when and by whom, how many images
were scored and how many were left out as overlapping the run's own data, the sha256 of the set's
sorted relative file list, where the set came from (the folder as the operator gave it, never an
uploaded file's name), the evaluation (the same shape as the run's own test evaluation), the shift
report and the overlap check. The per-image predictions are a CSV in the run's folder
(:func:`predictions_path`); deleting the evaluation deletes it too.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.base import StoreBase
from core.store.records import aware, column_json, loads_or, utcnow
from core.validation import NotFoundError, ValidationError

FORMATS = ("folders", "ham10000_csv", "eyepacs_csv")
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class ExternalEvaluation:
    id: int
    run_id: int
    name: str
    created_at: datetime
    created_by: int | None
    n_images: int
    n_overlap: int
    files_hash: str
    source: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    shift: dict[str, Any] = field(default_factory=dict)
    overlap: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def predictions_path(run_folder: str | Path, eval_id: int) -> Path:
    """The per-image predictions CSV of external evaluation ``eval_id`` inside a run's folder."""
    return Path(run_folder) / "external" / f"{int(eval_id)}.csv"


def _check_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValidationError(f"The {what} must be a whole number >= 0. Got {v!r} instead.")
    return v


def _check_source(source: Any) -> dict[str, Any]:
    if not isinstance(source, dict) or source.get("format") not in FORMATS or not source.get("data_dir"):
        raise ValidationError(f"The source of an external evaluation must be a dict with 'format' (one of "
                              f"{', '.join(FORMATS)}), 'data_dir' and 'labels_csv'. Got {source!r} instead.")
    return {"format": source["format"], "data_dir": str(source["data_dir"]),
            "labels_csv": None if source.get("labels_csv") is None else str(source["labels_csv"])}


def _check_dict(v: Any, what: str) -> dict:
    if not isinstance(v, dict):
        raise ValidationError(f"The {what} of an external evaluation must be a dict. Got {type(v).__name__} instead.")
    return v


def _from_row(r: sa.Row) -> ExternalEvaluation:
    return ExternalEvaluation(
        id=int(r.id), run_id=int(r.run_id), name=r.name, created_at=aware(r.created_at),
        created_by=None if r.created_by is None else int(r.created_by), n_images=int(r.n_images),
        n_overlap=int(r.n_overlap), files_hash=r.files_hash, source=loads_or(r.source, {}),
        result=loads_or(r.result, {}), shift=loads_or(r.shift, {}), overlap=loads_or(r.overlap, {}))


class ExternalStore(StoreBase):
    """Adding, listing, reading and deleting the external evaluations of runs."""

    def add_external_evaluation(self, run_id: int, *, name: str, n_images: int, n_overlap: int, files_hash: str,
                                source: dict, result: dict, shift: dict, overlap: dict,
                                created_by: int | None = None) -> int:
        """Record an external evaluation of run ``run_id``; its id."""
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            raise ValidationError(f"An external evaluation's name must be text of 1-200 characters. Got {name!r}.")
        if not isinstance(files_hash, str) or not _HASH.match(files_hash):
            raise ValidationError(f"files_hash must be a sha256 in hex (64 characters). Got {files_hash!r} instead.")
        values = dict(
            name=name.strip(), created_at=utcnow(), created_by=created_by,
            n_images=_check_int(n_images, "image count"), n_overlap=_check_int(n_overlap, "overlap count"),
            files_hash=files_hash, source=column_json(_check_source(source)),
            result=column_json(_check_dict(result, "result")), shift=column_json(_check_dict(shift, "shift")),
            overlap=column_json(_check_dict(overlap, "overlap")))
        with self._write() as conn:
            row = self._require(conn, run_id)
            return int(conn.execute(sa.insert(S.external_evaluations).values(run_id=row.id, **values)
                                    .returning(S.external_evaluations.c.id)).scalar_one())

    def list_external_evaluations(self, run_id: int) -> list[ExternalEvaluation]:
        """Every external evaluation of run ``run_id``, newest first."""
        c = S.external_evaluations.c
        with self._read() as conn:
            row = self._require(conn, run_id)
            rows = conn.execute(sa.select(S.external_evaluations).where(c.run_id == row.id)
                                .order_by(c.created_at.desc(), c.id.desc())).all()
        return [_from_row(r) for r in rows]

    def get_external_evaluation(self, eval_id: int) -> ExternalEvaluation:
        """One external evaluation; ``NotFoundError`` when it does not exist."""
        eid = _eval_id(eval_id)
        with self._read() as conn:
            r = conn.execute(sa.select(S.external_evaluations).where(S.external_evaluations.c.id == eid)).first()
        if r is None:
            raise NotFoundError(f"External evaluation {eid} does not exist (it may have been deleted).")
        return _from_row(r)

    def delete_external_evaluation(self, eval_id: int) -> None:
        """Delete an external evaluation and its per-image predictions file."""
        ev = self.get_external_evaluation(eval_id)
        with self._write() as conn:
            conn.execute(sa.delete(S.external_evaluations).where(S.external_evaluations.c.id == ev.id))
        for folder in {self.run_dir(ev.run_id), *self._model_folders(ev.run_id)}:
            try:
                predictions_path(folder, ev.id).unlink(missing_ok=True)
            except OSError:
                pass

    def _model_folders(self, run_id: int) -> list[Path]:
        """Where the run's model is registered (an imported run keeps its files where they were)."""
        a = S.artifacts.c
        with self._read() as conn:
            paths = conn.execute(sa.select(a.path).where(a.run_id == int(run_id), a.kind == "model")).scalars().all()
        return [self._abs(p).parent for p in paths]


def _eval_id(eval_id: Any) -> int:
    try:
        if isinstance(eval_id, bool):
            raise TypeError
        return int(eval_id)
    except (TypeError, ValueError):
        raise ValidationError(f"An external evaluation id must be an integer. Got {eval_id!r} instead.") from None
