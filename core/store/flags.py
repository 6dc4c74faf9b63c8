"""Flagged predictions, their review decisions and the dataset versions exported from them
(tables ``flags``, ``flag_decisions`` and ``flag_datasets``, revision 0010).

A flag is one prediction a person marked as wrong or uncertain: the run, the calibrated
probabilities, the label they propose, a note, who and when. Its image is a file of re-encoded
pixels named by its sha256 (``core.serving.flagging`` writes it; the store keeps only the name
"<sha256>.png"): no uploaded file name is stored. Every review decision is a row of
``flag_decisions`` (kept when the flag is decided again); the flag's ``status`` and
``final_label`` are those of its latest decision.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.store import schema as S
from core.store.base import StoreBase
from core.store.records import aware, column_json, loads_or, utcnow
from core.validation import NotFoundError, ValidationError, check_one_of, check_text

FLAG_KINDS = S.FLAG_KINDS
FLAG_STATUSES = S.FLAG_STATUSES
FLAG_DECISIONS = S.FLAG_DECISIONS
#: decision -> the status it gives the flag
DECISION_STATUS = {"accept": "accepted", "relabel": "relabelled", "reject": "rejected"}
MAX_NOTE = 2000
_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class FlagRecord:
    id: int
    run_id: int | None
    dataset: str
    class_names: list[str]
    image_sha256: str
    image_path: str          # relative to the flags folder: "<sha256>.png"
    probs: list[float]       # calibrated
    predicted: int
    confidence: float        # top-1 probability
    kind: str                # "wrong" | "uncertain"
    proposed_label: int | None
    note: str
    created_by: int | None
    created_at: datetime
    status: str              # "pending" | "accepted" | "relabelled" | "rejected"
    final_label: int | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        return d

    def class_name(self, label: int | None) -> str | None:
        return None if label is None else self.class_names[label]


@dataclass
class FlagDecision:
    id: int
    flag_id: int
    decision: str            # "accept" | "relabel" | "reject"
    label: int | None
    note: str
    decided_by: int | None
    decided_at: datetime


@dataclass
class FlagDatasetRecord:
    """One exported version of a dataset made of reviewed flags (``core.datasets.flagged``)."""

    id: int
    name: str                # "flags-<dataset>-v<version>"
    dataset: str
    version: int
    path: str
    n_images: int
    manifest_sha256: str
    flag_ids: list[int]
    created_by: int | None
    created_at: datetime


def _flag(row) -> FlagRecord:
    return FlagRecord(
        id=row.id, run_id=row.run_id, dataset=row.dataset, class_names=list(loads_or(row.class_names, [])),
        image_sha256=row.image_sha256, image_path=row.image_path, probs=[float(p) for p in loads_or(row.probs, [])],
        predicted=int(row.predicted), confidence=float(row.confidence), kind=row.kind,
        proposed_label=row.proposed_label, note=row.note or "", created_by=row.created_by,
        created_at=aware(row.created_at), status=row.status, final_label=row.final_label)


def _label(value: Any, n: int, what: str, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise ValidationError(f"{what} must be a class index from 0 to {n - 1}. Got {value!r} instead.")
    return int(value)


def _note(note: Any) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise ValidationError(f"A flag note must be text. Got {type(note).__name__} instead.")
    note = check_text(note.strip(), "The flag note")
    if len(note) > MAX_NOTE:
        raise ValidationError(f"A flag note may hold at most {MAX_NOTE} characters. Got {len(note)}.")
    return note


def _probs(probs: Any, n: int) -> list[float]:
    try:
        out = [float(p) for p in probs]
    except (TypeError, ValueError):
        raise ValidationError(f"The probabilities must be a list of {n} numbers. Got {probs!r} instead.") from None
    if len(out) != n or any(not math.isfinite(p) or p < 0 or p > 1 for p in out):
        raise ValidationError(f"The probabilities must be {n} numbers between 0 and 1, one per class. "
                              f"Got {len(out)} value(s): {out[:12]}.")
    return out


def _class_names(names: Any) -> list[str]:
    if not isinstance(names, (list, tuple)) or len(names) < 2 or not all(isinstance(c, str) for c in names):
        raise ValidationError(f"class_names must be a list of at least two class names. Got {names!r} instead.")
    return [check_text(c, "A class name") for c in names]


class FlagStore(StoreBase):
    """Adding, listing, reviewing and deleting flags; the flag dataset versions."""

    def add_flag(self, run_id: int, *, image_sha256: str, image_path: str, probs, predicted: int, kind: str,
                 proposed_label: int | None, note: str, class_names, created_by: int | None = None) -> int:
        """Record a flag on a prediction of run ``run_id`` (status "pending"); returns its id.
        ``image_path`` must be "<image_sha256>.png" (the image is stored by its hash, never by a
        file name)."""
        names = _class_names(class_names)
        n = len(names)
        sha = str(image_sha256 or "")
        if not _SHA.match(sha) or image_path != f"{sha}.png":
            raise ValidationError("A flagged image is stored by the sha256 of its pixels: image_sha256 must be 64 "
                                  f"lowercase hex digits and image_path '<sha256>.png'. Got {image_path!r}.")
        p = _probs(probs, n)
        values = dict(
            dataset="", class_names=column_json(names), image_sha256=sha, image_path=image_path,
            probs=column_json(p), predicted=_label(predicted, n, "The predicted label", allow_none=False),
            confidence=max(p), kind=check_one_of("kind", kind, FLAG_KINDS),
            proposed_label=_label(proposed_label, n, "The proposed label"), note=_note(note),
            created_by=None if created_by is None else int(created_by), created_at=utcnow(), status="pending")
        with self._write() as conn:
            run = self._require(conn, run_id)
            values.update(run_id=run.id, dataset=run.dataset or "")
            return int(conn.execute(sa.insert(S.flags).values(**values).returning(S.flags.c.id)).scalar_one())

    def list_flags(self, *, status=None, run_id: int | None = None, dataset: str | None = None,
                   created_by: int | None = None) -> list[FlagRecord]:
        """Flags, the model's least confident first (the review queue's order). ``status`` is one
        status or a list of them."""
        f = S.flags.c
        q = sa.select(S.flags)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                check_one_of("status", s, FLAG_STATUSES)
            q = q.where(f.status.in_(wanted))
        if run_id is not None:
            q = q.where(f.run_id == int(run_id))
        if dataset is not None:
            q = q.where(f.dataset == dataset)
        if created_by is not None:
            q = q.where(f.created_by == int(created_by))
        with self._read() as conn:
            rows = conn.execute(q.order_by(f.confidence.asc(), f.id.asc())).all()
        return [_flag(r) for r in rows]

    def get_flag(self, flag_id: int) -> FlagRecord:
        """One flag; NotFoundError when it does not exist."""
        with self._read() as conn:
            return _flag(self._require_flag(conn, flag_id))

    def _require_flag(self, conn, flag_id: Any) -> sa.Row:
        try:
            fid = int(flag_id)
        except (TypeError, ValueError):
            raise ValidationError(f"A flag id must be an integer. Got {flag_id!r} instead.") from None
        row = conn.execute(sa.select(S.flags).where(S.flags.c.id == fid)).first()
        if row is None:
            raise NotFoundError(f"Flag {fid} does not exist (it may have been deleted).")
        return row

    def decide_flag(self, flag_id: int, decision: str, *, label: int | None = None, note: str = "",
                    decided_by: int | None = None) -> FlagRecord:
        """Review a flag: "accept" (its proposed label, or for an uncertain flag without one the
        model's prediction), "relabel" (``label``) or "reject". The decision is kept (every
        decision, also a later change of mind); the flag takes its status and final label."""
        check_one_of("decision", decision, FLAG_DECISIONS)
        note = _note(note)
        with self._write() as conn:
            row = self._require_flag(conn, flag_id)
            n = len(loads_or(row.class_names, []))
            if decision == "relabel":
                if label is None:
                    raise ValidationError("Relabelling needs the right class (label). Give a class index from 0 "
                                          f"to {n - 1}.")
                final = _label(label, n, "The new label")
            elif decision == "accept":
                final = row.proposed_label if row.proposed_label is not None else row.predicted
                if label is not None and _label(label, n, "The label") != final:
                    raise ValidationError(f"Accepting keeps the proposed label ({final}); to give label {label}, "
                                          "relabel the flag.")
            else:
                final = None
            conn.execute(sa.insert(S.flag_decisions).values(
                flag_id=row.id, decision=decision, label=final, note=note,
                decided_by=None if decided_by is None else int(decided_by), decided_at=utcnow()))
            conn.execute(sa.update(S.flags).where(S.flags.c.id == row.id).values(
                status=DECISION_STATUS[decision], final_label=final))
            return _flag(self._require_flag(conn, row.id))

    def flag_decisions(self, flag_id: int) -> list[FlagDecision]:
        """Every decision on a flag, oldest first."""
        d = S.flag_decisions.c
        with self._read() as conn:
            self._require_flag(conn, flag_id)
            rows = conn.execute(sa.select(S.flag_decisions).where(d.flag_id == int(flag_id))
                                .order_by(d.decided_at.asc(), d.id.asc())).all()
        return [FlagDecision(id=r.id, flag_id=r.flag_id, decision=r.decision, label=r.label, note=r.note or "",
                             decided_by=r.decided_by, decided_at=aware(r.decided_at)) for r in rows]

    def delete_flag(self, flag_id: int) -> FlagRecord:
        """Delete a flag and its decisions; returns what it was (the caller removes its image file
        when no other flag holds the same image: ``flag_image_in_use``)."""
        with self._write() as conn:
            rec = _flag(self._require_flag(conn, flag_id))
            conn.execute(sa.delete(S.flag_decisions).where(S.flag_decisions.c.flag_id == rec.id))
            conn.execute(sa.delete(S.flags).where(S.flags.c.id == rec.id))
        return rec

    def flag_image_in_use(self, image_sha256: str) -> bool:
        """Whether a flag still holds the image with this sha256."""
        with self._read() as conn:
            return conn.execute(sa.select(S.flags.c.id).where(S.flags.c.image_sha256 == str(image_sha256))
                                .limit(1)).first() is not None

    # ------------------------------------------------------------------ dataset versions
    def next_flag_dataset_version(self, dataset: str) -> int:
        """The version number the next export of ``dataset``'s flags gets (1, 2, ...)."""
        with self._read() as conn:
            top = conn.execute(sa.select(sa.func.max(S.flag_datasets.c.version))
                               .where(S.flag_datasets.c.dataset == dataset)).scalar()
        return int(top or 0) + 1

    def add_flag_dataset(self, *, name: str, dataset: str, version: int, path: str, n_images: int,
                         manifest_sha256: str, flag_ids, created_by: int | None = None) -> FlagDatasetRecord:
        """Record an exported flag dataset version (the folder was written first)."""
        values = dict(name=check_text(name, "The dataset version name"), dataset=dataset, version=int(version),
                      path=str(path), n_images=int(n_images), manifest_sha256=str(manifest_sha256),
                      flag_ids=column_json([int(i) for i in flag_ids]),
                      created_by=None if created_by is None else int(created_by), created_at=utcnow())
        try:
            with self._write() as conn:
                rid = conn.execute(sa.insert(S.flag_datasets).values(**values)
                                   .returning(S.flag_datasets.c.id)).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise ValidationError(f"A flag dataset version named {name!r} exists already (another export at the "
                                  f"same moment?). Export again for the next version. ({exc.orig})") from exc
        return FlagDatasetRecord(id=int(rid), **{**values, "flag_ids": [int(i) for i in flag_ids]})

    def list_flag_datasets(self, dataset: str | None = None) -> list[FlagDatasetRecord]:
        """The exported flag dataset versions, newest first."""
        t = S.flag_datasets.c
        q = sa.select(S.flag_datasets).order_by(t.created_at.desc(), t.id.desc())
        if dataset is not None:
            q = q.where(t.dataset == dataset)
        with self._read() as conn:
            rows = conn.execute(q).all()
        return [FlagDatasetRecord(id=r.id, name=r.name, dataset=r.dataset, version=r.version, path=r.path,
                                  n_images=r.n_images, manifest_sha256=r.manifest_sha256,
                                  flag_ids=list(loads_or(r.flag_ids, [])), created_by=r.created_by,
                                  created_at=aware(r.created_at)) for r in rows]
