"""Shared fixtures: real peers (tests/peers/) are registered here for every test."""

pytest_plugins = [
    "tests.peers.postgres",
    "tests.peers.prometheus",
    "tests.peers.sshd",
    "tests.peers.alertmanager",
    "tests.peers.receivers",
    "tests.peers.pg_replication",
    "tests.peers.mariadb",
    "tests.peers.mariadb_replication",
    "tests.peers.redis",
    "tests.peers.nginx",
    "tests.peers.netns",
    "tests.peers.snmp",
    "tests.peers.netdevice",
    "tests.peers.ldap",
    "tests.peers.dovecot",
]


import os  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _opsagent_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """OPSAGENT_HOME in a temp dir unless a test sets its own: what the code under test records
    there (host keys accepted with accept_unknown_host_key) never reaches the real ~/.opsagent."""
    if "OPSAGENT_HOME" not in os.environ:
        os.environ["OPSAGENT_HOME"] = str(tmp_path_factory.mktemp("opsagent-home"))
