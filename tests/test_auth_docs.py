"""docs/AUTH.md's role x action table is the policy table (core/auth/policy.py), cell for cell."""
from __future__ import annotations

from pathlib import Path

from core.auth.policy import POLICY, ROLES

DOC = Path(__file__).resolve().parents[1] / "docs" / "AUTH.md"


def test_the_documented_table_is_the_policy():
    lines = DOC.read_text().splitlines()
    head = lines.index("| action | " + " | ".join(ROLES) + " |")
    rows = {}
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(ROLES, cells[1:]))
    assert rows == POLICY
