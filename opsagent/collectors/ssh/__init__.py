"""Agentless Linux hosts over SSH (fabric/paramiko): profiles of command + named parser checks."""

from __future__ import annotations

from opsagent.collectors.ssh.collector import SshCollector
from opsagent.collectors.ssh.options import Check, SshOptions

__all__ = ["Check", "SshCollector", "SshOptions"]
