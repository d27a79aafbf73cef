"""Under ``web.read_auth`` the knowledge-base JSON API (which serves internal articles too) is for roles that
read incidents; requesters read the articles visible to them in the console (``/console/kb``)."""

from __future__ import annotations

from opsagent.auth.roles import permissions_of, read_permission


def test_the_kb_api_reads_are_for_engineers_under_read_auth() -> None:
    assert read_permission("/api/v1/kb/articles/2") == "incident.read"
    assert read_permission("/api/v1/kb/search") == "incident.read"
    assert "incident.read" not in permissions_of("requester") and "incident.read" in permissions_of("engineer")
