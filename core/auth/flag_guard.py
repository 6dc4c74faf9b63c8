"""The flag methods of ``core.auth.guard.GuardedStore``: who may flag, see, review and delete flags.

- ``add_flag``: the right "flag" on the run (its viewers who may predict with it); the flag is the
  actor's own (``created_by`` given by a caller is ignored);
- ``list_flags`` / ``get_flag`` / ``flag_decisions``: reviewers ("review_flags") see every flag,
  everyone else only the flags they made (another's flag reads as a missing one);
- ``decide_flag`` and ``add_flag_dataset`` (an export): "review_flags";
- ``delete_flag``: "delete_flag" (scope "own" = the flags the actor made).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from core.auth.policy import decide
from core.validation import NotFoundError


def _missing_flag(flag_id: Any) -> NotFoundError:
    """Exactly the store's error for a flag that does not exist."""
    return NotFoundError(f"Flag {flag_id} does not exist (it may have been deleted).")


class FlagGuard:
    """Mixed into ``GuardedStore`` (uses its ``_store``, ``actor``, ``_check``, ``_record``, ``_deny``)."""

    def _reviewer(self) -> bool:
        return bool(decide(self.actor, "review_flags"))

    def _uid(self) -> int:
        return -1 if self.actor.user_id is None else int(self.actor.user_id)

    def add_flag(self, run_id: Any, **kwargs: Any) -> int:
        access = self._check("flag", run_id)
        kwargs["created_by"] = self.actor.user_id
        fid = self._store.add_flag(access.id, **kwargs)
        self._record("flag", f"flag:{fid}", True, f"run {access.id}")
        return fid

    def list_flags(self, **filters: Any):
        if not self._reviewer():
            filters["created_by"] = self._uid()
        return self._store.list_flags(**filters)

    def get_flag(self, flag_id: Any):
        rec = self._store.get_flag(flag_id)
        if not self._reviewer() and rec.created_by != self._uid():
            self._record("view", f"flag:{rec.id}", False, "only reviewers see the flags of others")
            raise _missing_flag(rec.id)
        return rec

    def flag_decisions(self, flag_id: Any):
        return self._store.flag_decisions(self.get_flag(flag_id).id)

    def decide_flag(self, flag_id: Any, decision: str, **kwargs: Any):
        self._check("review_flags", target=f"flag:{flag_id}")
        before = self._store.get_flag(flag_id)
        kwargs["decided_by"] = self.actor.user_id
        after = self._store.decide_flag(before.id, decision, **kwargs)
        self._record("review_flags", f"flag:{after.id}", True, decision,
                     before={"status": before.status, "final_label": before.final_label},
                     after={"status": after.status, "final_label": after.final_label})
        return after

    def delete_flag(self, flag_id: Any):
        rec = self._store.get_flag(flag_id)
        if not decide(self.actor, "delete_flag", SimpleNamespace(owner_id=rec.created_by, shared=False)):
            role = self.actor.role
            raise self._deny("delete_flag", f"flag:{rec.id}", (
                f"Only the person who made a flag or an instructor can delete it (you are signed in as "
                f"{'an' if role[0] in 'aeiou' else 'a'} {role}). If it must be done, ask an instructor of the lab."))
        out = self._store.delete_flag(rec.id)
        self._record("delete_flag", f"flag:{rec.id}", True,
                     before={"run_id": rec.run_id, "status": rec.status, "created_by": rec.created_by})
        return out

    def flag_image_in_use(self, image_sha256: str) -> bool:
        return self._store.flag_image_in_use(image_sha256)

    def next_flag_dataset_version(self, dataset: str) -> int:
        return self._store.next_flag_dataset_version(dataset)

    def add_flag_dataset(self, **kwargs: Any):
        self._check("review_flags", target=f"dataset:{kwargs.get('dataset')}")
        kwargs["created_by"] = self.actor.user_id
        rec = self._store.add_flag_dataset(**kwargs)
        self._record("review_flags", f"dataset:{rec.name}", True, "export",
                     after={"n_images": rec.n_images, "flag_ids": rec.flag_ids})
        return rec

    def list_flag_datasets(self, dataset: str | None = None):
        return self._store.list_flag_datasets(dataset)
