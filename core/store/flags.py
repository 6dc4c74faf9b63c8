"""Flagged predictions and their review decisions."""
from __future__ import annotations

from core.store.base import StoreBase


class FlagStore(StoreBase):
    """Filled in by the flagging work (tables ``flags`` and ``flag_decisions``, migration 0010)."""
