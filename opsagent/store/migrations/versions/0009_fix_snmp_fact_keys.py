"""Fact keys escape a dot inside a name (``interfaces.ge-0/0/0\\.0.index``): before, interface names
such as ``Gi0/1.100``, ``ge-0/0/0.0`` or ``vlan.0004`` were split into levels when facts were read
back (a firewall with 108 interfaces showed 24) and history keys were ambiguous.

Stored keys (current facts and history) are rewritten where their shape is known — the item name
lies between a collection and a fixed number of leaf segments: snmp ``interfaces.<name>.<attr>``,
snmp ``serials.<name>``, probe ``probes.<module target>.<attr>``. Keys without dots in names are
unchanged by the new format.

Revision ID: 0009_fix_snmp
Revises: 0009_fix_runbooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_fix_snmp"
down_revision = "0009_fix_runbooks"
branch_labels = None
depends_on = None

# collector → {collection segment: number of leaf segments after the item's name}
_SHAPES = {"snmp": {"interfaces": 1, "serials": 0}, "probe": {"probes": 1}}


def _escape(segment: str) -> str:
    return segment.replace("\\", "\\\\").replace(".", "\\.")


def rekey(collector: str, key: str) -> str:
    """The escaped form of a key stored before escaping (unchanged when its shape is unknown)."""
    if "\\" in key:
        return key  # already escaped
    parts = key.split(".")
    for head, leaves in _SHAPES.get(collector, {}).items():
        if head not in parts:
            continue
        start = parts.index(head) + 1
        end = len(parts) - leaves
        if end - start > 1:  # a dotted name: join it back into one segment
            name = ".".join(parts[start:end])
            return ".".join([*map(_escape, parts[:start]), _escape(name), *map(_escape, parts[end:])])
    return key


def upgrade() -> None:
    conn = op.get_bind()
    facts = sa.table("facts", sa.column("asset_id"), sa.column("key"), sa.column("collector"))
    history = sa.table("fact_history", sa.column("id"), sa.column("key"), sa.column("collector"))
    for row in conn.execute(sa.select(facts.c.asset_id, facts.c.key, facts.c.collector)).fetchall():
        new = rekey(row.collector, row.key)
        if new != row.key:
            where = sa.and_(facts.c.asset_id == row.asset_id, facts.c.key == row.key)
            conn.execute(facts.update().where(where).values(key=new))
    for row in conn.execute(sa.select(history.c.id, history.c.key, history.c.collector)).fetchall():
        new = rekey(row.collector, row.key)
        if new != row.key:
            conn.execute(history.update().where(history.c.id == row.id).values(key=new))


def downgrade() -> None:
    """Escaped keys stay: older code reads them as names with a backslash, losing nothing stored."""
