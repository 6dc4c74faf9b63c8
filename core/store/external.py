"""External evaluations of a run: a run scored on a labelled image set it has never seen."""
from __future__ import annotations

from core.store.base import StoreBase


class ExternalStore(StoreBase):
    """Filled in by the external-validation work (table ``external_evaluations``, migration 0009)."""
