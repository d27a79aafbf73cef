"""netmiko sessions under opsagent's one SSH host-key policy (opsagent.collectors.ssh.hostkeys).

netmiko builds its own paramiko SSHClient and puts AutoAddPolicy (``ssh_strict`` off: any key
accepted) or RejectPolicy on it, over paramiko's known_hosts reader, which fails on
``@cert-authority`` lines. Here its two hooks for that client (``_get_ssh_client_instance`` and
``key_policy``) are ours instead: known_hosts as OpenSSH reads it, host certificates, ``@revoked``
and accept-new pinning, exactly as for the SSH collector. A refused key raises
:class:`opsagent.collectors.ssh.errors.SshFailure` (reason ``hostkey_*``) out of :func:`connect`.
"""

from __future__ import annotations

from typing import Any

from opsagent.collectors.ssh.hostkeys import HostKeyPolicy, MissingKeyCheck, PolicyClient


def connect(params: dict[str, Any], policy: HostKeyPolicy) -> Any:
    """A logged-in netmiko connection for ``params`` (ConnectHandler's keyword arguments); the
    caller calls ``disconnect()``. Failures are netmiko's exceptions or SshFailure."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(**{**params, "auto_connect": False, "ssh_strict": True})
    conn._get_ssh_client_instance = lambda: PolicyClient(policy)  # type: ignore[method-assign]
    conn.key_policy = MissingKeyCheck(policy)
    try:
        conn._open()
    except BaseException:
        conn.disconnect()  # releases netmiko's log filter after a failed login
        raise
    return conn
