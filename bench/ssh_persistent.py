"""A bare persistent-session SSH client, the floor under serve's SSH figure (bench_ssh_serve.py runs it).

It does what serve's SSH collector does on the wire and nothing else: one connection and one long-lived
``sh`` per host, the same poll program (the ``linux`` profile's checks), one ``poll N`` line per poll and
the output read up to its ``done N`` line, each host once per interval at the slot serve gives it (same
host names, same phases and waves: ``opsagent.scheduler.phase``), on a pool of worker threads. It never
parses, records, alerts or serves a scrape. Its CPU per poll (idle included) is the cost of the SSH
exchange itself with that library: whatever serve spends above it is opsagent's own.

    python bench/ssh_persistent.py --lib paramiko|libssh2 --interval 60 --intervals 1 [--wave 15] SERVERS_JSON N

SERVERS_JSON: a list of {host, port, user, key, known_hosts}. Prints one JSON line:
{"polls", "failed", "wall", "cpu"} (cpu in seconds per poll). libssh2 is ssh2-python (the bench extra).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opsagent.collectors import options_models
from opsagent.collectors.profiles import load_profiles
from opsagent.collectors.ssh.batch import MARK, READY
from opsagent.collectors.ssh.options import SshOptions
from opsagent.collectors.ssh.session import Plan
from opsagent.config import DEFAULT_POLL_WAVE
from opsagent.scheduler import phase

ROOT = Path(__file__).resolve().parents[1]
AEAD = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")  # serve offers these first too


def program() -> str:
    options = SshOptions.model_validate(dict(load_profiles([ROOT], options_models())[("ssh", "linux")].options))
    return Plan(tuple(options.checks), False, False).program


class _Host:
    """The exchange, the same with either library: a request line out, the output read up to its marker."""

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _recv(self) -> bytes:
        raise NotImplementedError

    def _ready(self, text: str) -> None:
        """The poll program to the shell just started; back when it says it is ready."""
        self._send(text.encode())
        self._until(READY.encode())

    def _until(self, marker: bytes) -> bytes:
        out = bytearray()
        while not out.endswith(marker):
            out += self._recv()
        return bytes(out)

    def poll(self, seq: int) -> bytes:
        self._send(f"poll {seq} 29\n".encode())
        return self._until(f"{MARK} done {seq}\n".encode())


class ParamikoHost(_Host):
    """paramiko, the library serve uses, with serve's settings (AES-GCM, a reader thread that sleeps
    until data arrives), host key checked against the server's known_hosts."""

    def __init__(self, server: dict[str, Any], text: str) -> None:
        import paramiko

        self.client = paramiko.SSHClient()
        self.client.load_host_keys(server["known_hosts"])
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        others = [c for c in paramiko.Transport._preferred_ciphers if c not in AEAD]
        self.client.connect(server["host"], server["port"], server["user"], key_filename=server["key"],
                            look_for_keys=False, allow_agent=False, timeout=30,
                            disabled_algorithms={"ciphers": others})  # fmt: skip
        transport = self.client.get_transport()
        assert transport is not None
        transport.sock.settimeout(60.0)
        self.chan = transport.open_session()
        self.chan.settimeout(30.0)
        self.chan.exec_command("sh")
        self._ready(text)

    def _send(self, data: bytes) -> None:
        self.chan.sendall(data)

    def _recv(self) -> bytes:
        data: bytes = self.chan.recv(65536)
        if not data:
            raise EOFError("the shell ended")
        return data

    def close(self) -> None:
        self.client.close()


class Libssh2Host(_Host):
    """libssh2 (C) through ssh2-python, blocking calls on the same worker threads; host key checked
    against the server's known_hosts."""

    def __init__(self, server: dict[str, Any], text: str) -> None:
        from ssh2.knownhost import LIBSSH2_KNOWNHOST_KEYENC_RAW, LIBSSH2_KNOWNHOST_TYPE_PLAIN
        from ssh2.session import Session

        self.sock = socket.create_connection((server["host"], server["port"]), timeout=30)
        self.session = Session()
        self.session.set_timeout(30_000)
        self.session.handshake(self.sock)
        known = self.session.knownhost_init()
        known.readfile(server["known_hosts"])
        key, _kind = self.session.hostkey()
        kind = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW
        known.checkp(server["host"].encode(), server["port"], key, kind)  # raises unless it is the known key
        self.session.userauth_publickey_fromfile(server["user"], server["key"])
        self.chan = self.session.open_session()
        self.chan.execute("sh")
        self._ready(text)

    def _send(self, data: bytes) -> None:
        self.chan.write(data)

    def _recv(self) -> bytes:
        size, data = self.chan.read(65536)
        if size < 0:
            raise OSError(f"libssh2 error {size}")
        if size == 0 and self.chan.eof():
            raise EOFError("the shell ended")
        return bytes(data)

    def close(self) -> None:
        self.session.disconnect()
        self.sock.close()


def own_cpu() -> float:
    return time.process_time()  # every thread of this process, in ns (os.times() counts 10 ms ticks)


def run(make: Callable[[dict[str, Any]], Any], servers: list[dict[str, Any]], n: int, interval: float,
        intervals: int, wave: float) -> dict[str, float]:  # fmt: skip
    workers = min(64, n)
    # serve's slots for bench_ssh_serve's hosts (host0000…, collector ssh, profile linux)
    offsets = sorted((phase(f"poll:host{i:04d}:ssh:linux", interval, wave), i) for i in range(n))
    with ThreadPoolExecutor(workers) as pool:
        hosts = list(pool.map(lambda i: make(servers[i % len(servers)]), range(n)))
        list(pool.map(lambda h: h.poll(1), hosts))  # warm-up, untimed
        ok = failed = 0
        cpu0, wall0 = own_cpu(), time.monotonic()
        for k in range(intervals):
            start = wall0 + k * interval
            pending: list[Future[bytes]] = []
            for offset, i in offsets:
                time.sleep(max(0.0, start + offset - time.monotonic()))
                pending.append(pool.submit(hosts[i].poll, k + 2))
            for future in pending:
                try:
                    future.result(timeout=60)
                    ok += 1
                except Exception:
                    failed += 1
        time.sleep(max(0.0, wall0 + intervals * interval - time.monotonic()))  # the last interval's idle tail
        cpu, wall = own_cpu() - cpu0, time.monotonic() - wall0
        for host in hosts:
            host.close()
    return {"polls": ok, "failed": failed, "wall": wall, "cpu": cpu / max(ok, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=("paramiko", "libssh2"), default="paramiko")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--intervals", type=int, default=1)
    parser.add_argument("--wave", type=float, default=DEFAULT_POLL_WAVE, help="serve's poll_wave, seconds")
    parser.add_argument("servers", help="JSON list of {host, port, user, key, known_hosts}")
    parser.add_argument("n", type=int)
    args = parser.parse_args()
    text = program()
    cls = ParamikoHost if args.lib == "paramiko" else Libssh2Host
    servers = json.loads(args.servers)
    print(json.dumps(run(lambda s: cls(s, text), servers, args.n, args.interval, args.intervals, args.wave)))


if __name__ == "__main__":
    main()
