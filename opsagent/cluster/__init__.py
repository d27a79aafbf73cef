"""Many ``opsagent serve`` on one store: membership, leader lease, target sharding (PostgreSQL);
on SQLite, one agent per file (``single``)."""
