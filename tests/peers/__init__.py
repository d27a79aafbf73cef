"""Real peers for tests: servers started on 127.0.0.1 and free ports, stopped at session end.

Fixtures are registered in tests/conftest.py (``pytest_plugins``):

- ``postgres_server`` / ``postgres_url`` / ``pg_empty_url``: tests.peers.postgres
- ``start_prometheus``: tests.peers.prometheus (plus ``promtool_check_metrics``)

A missing server binary fails the test with the install hint; it never skips.
"""
