"""Options of the ``ssh`` collector: the checks a profile runs and how to connect.

A profile (``collectors/ssh/<profile>.yaml``) lists the checks; an asset overrides any option
in its own ``collectors: [{name: ssh, options: {...}}]``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.collectors.local import DISK_DEVICES_EXCLUDE, FS_TYPES_EXCLUDE, MOUNT_POINTS_EXCLUDE
from opsagent.units import Duration

_CHECK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Check(BaseModel):
    """One command of the per-poll batch and the named parser that reads its output."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="unique within the profile, [a-z0-9_]")
    command: str = Field(min_length=1, description="POSIX sh; runs with stdin from /dev/null")
    parser: str = Field(description="a parser name from opsagent.collectors.ssh.checks.PARSERS")
    required: bool = Field(default=True, description="a failure of this check fails the whole poll")
    sudo: bool = Field(default=False, description="run this command through `sudo -n`")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _CHECK_NAME.match(value):
            raise ValueError(f"invalid check name {value!r} (lower-case letters, digits and _)")
        return value

    @field_validator("parser")
    @classmethod
    def _known_parser(cls, value: str) -> str:
        from opsagent.collectors.ssh.checks import PARSERS  # late: checks imports this module's peers

        if value not in PARSERS:
            raise ValueError(f"unknown parser {value!r} (known: {', '.join(sorted(PARSERS))})")
        return value


class JumpHost(BaseModel):
    """A bastion to go through (OpenSSH ``ProxyJump``); credentials from the asset's
    ``credentials.<credentials>`` section (default: the same ``ssh`` section)."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    credentials: str = "ssh"


class SshOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: list[Check] = Field(default_factory=list)
    # Connection. The port is the asset's ``port`` when set, else this one.
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = Field(default=None, description="when credentials.ssh.user is not set")
    connect_timeout: Duration = Field(default=10.0, gt=0, description="TCP connect, banner and auth, each")
    command_timeout: Duration = Field(default=30.0, gt=0, description="the whole command batch")
    known_hosts: list[str] = Field(
        default_factory=lambda: ["~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts"],
        description="host keys are checked against these files (missing files are skipped)",
    )
    accept_unknown_host_key: bool = Field(
        default=False,
        description="as OpenSSH's StrictHostKeyChecking accept-new: a host whose key is in no known_hosts file is "
        "accepted once and its key recorded in accepted_host_keys_file; a later change is refused",
    )
    accepted_host_keys_file: str | None = Field(
        default=None,
        description="opsagent's own known_hosts file, where accept_unknown_host_key records keys; always read as "
        "well (default: $OPSAGENT_HOME/known_hosts, i.e. ~/.opsagent/known_hosts)",
    )
    jump_host: JumpHost | None = None
    sudo: bool = Field(default=False, description="run the whole batch through sudo")
    max_sessions_per_host: int = Field(default=4, ge=1, description="concurrent polls to one address:port")
    persistent: bool = Field(default=True, description="keep the connection open between polls")
    keepalive: Duration | None = Field(
        default=None,
        ge=0,
        description="seconds of quiet before a keepalive (0: off; unset: from the poll interval, see keepalive_for)",
    )
    idle_close: Duration = Field(default=600.0, gt=0, description="close a connection unused for this long")
    max_output_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Exclusions, as the local collector (node_exporter's defaults).
    fs_types_exclude: str = FS_TYPES_EXCLUDE
    mount_points_exclude: str = MOUNT_POINTS_EXCLUDE
    disk_devices_exclude: str = DISK_DEVICES_EXCLUDE
    netdev_exclude: str = "^$"

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[Check]) -> list[Check]:
        seen: set[str] = set()
        for check in checks:
            if check.name in seen:
                raise ValueError(f"duplicate check name {check.name!r}")
            seen.add(check.name)
        return checks

    @field_validator("fs_types_exclude", "mount_points_exclude", "disk_devices_exclude", "netdev_exclude")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class SshSettings(BaseModel):
    """Agent-wide settings of the ssh collector (``collector_settings: {ssh: {...}}`` in
    opsagent.yaml), as opposed to the per-asset options above."""

    model_config = ConfigDict(extra="forbid")

    max_workers: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="hosts polled at the same moment, agent-wide (each in a worker thread while it "
        "connects, waits for its batch and parses); more hosts wait for a free worker",
    )
