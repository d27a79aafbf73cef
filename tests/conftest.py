"""Shared fixtures: real peers (tests/peers/) are registered here for every test."""

pytest_plugins = [
    "tests.peers.postgres",
    "tests.peers.prometheus",
    "tests.peers.sshd",
    "tests.peers.netns",
]
