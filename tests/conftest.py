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
]
