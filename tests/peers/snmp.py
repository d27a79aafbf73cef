"""Real SNMP agents for the session, on 127.0.0.1 and free UDP ports.

Fixtures:
    snmpd_agent (session) -> Snmpd: net-snmp ``snmpd`` with a v2c community and a v3 authPriv user
                             per auth/priv pair (SHA/AES, SHA-256/AES-256 …); ``runbook_snmpd`` is
                             the same agent under the name the runbook tests use.
    snmpsim_agent (session) -> Snmpsim: ``snmpsim`` serving recordings of real devices from the
                             ``snmpsim-data`` package; the community is the recording's name.

Reference client: :func:`bulkwalk` runs net-snmp's ``snmpbulkwalk`` (numeric OIDs, no MIBs).
"""

from __future__ import annotations

import bz2
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers.ports import LOCALHOST
from tests.peers.process import Daemon

REPO = Path(__file__).resolve().parents[2]
SNMPSIM_VENV = REPO / ".venv-snmpsim"
HINT = "install Debian `snmpd snmp` and run scripts/snmpsim-venv.sh (bash scripts/test.sh does both)"
COMMUNITY = "opsagent-ro-7f3a"  # a test agent's throwaway community
SYS_NAME = "opsagent-rb-switch"
# v3 users: name → (auth protocol, auth password, priv protocol, priv password)
V3_USERS = {
    "ops_sha_aes": ("SHA", "auth-Pass-1234", "AES", "priv-Pass-5678"),
    "ops_sha256_aes256": ("SHA-256", "auth-Pass-2561", "AES-256", "priv-Pass-2562"),
    "ops_sha_noauth": ("SHA", "auth-Pass-9999", None, None),
}
# Recordings of real devices served by snmpsim (snmpsim-data/data/network/...).
RECORDINGS = {
    "cisco-c3560": "network/switch/cisco-c3560",
    "cisco-c3750": "network/switch/cisco-c3750",
    "huawei-s5720": "network/router/huawei-s5720",
    "h3c-comware-7-1-075": "network/switch/h3c-comware-7-1-075",
    "juniper-mx960": "network/router/juniper-mx960-16-1r6-7-a",
    # firewalls, storage and Chinese vendors (identification; dotted interface names)
    "topsec-ngfw4000-uf": "network/firewall/topsec-ngfw4000-uf",
    "paloalto-pa-5000": "network/firewall/paloalto-pa-5000",
    "zte-zxr10-5250": "network/switch/zte-zxr10-5250",
    "netapp-ontap-8-2-3": "storage/netapp-ontap-8-2-3",
    "ruijie-s5750-24gt12sfp": "network/switch/ruijie-s5750-24gt12sfp",
    "huawei-s12704": "network/switch/huawei-s12704",
}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"`{name}` not found: {HINT}")
    return path


def snmp_answers(port: int, community: str, timeout: float = 1.0, host: str = LOCALHOST) -> bool:
    cmd = [_tool("snmpget"), "-v2c", "-c", community, "-On", "-t", str(timeout), "-r", "0"]
    done = subprocess.run(
        [*cmd, f"{host}:{port}", "1.3.6.1.2.1.1.2.0"], capture_output=True, text=True, env=_env(), check=False
    )
    return done.returncode == 0 and "1.3.6.1" in done.stdout


def _env() -> dict[str, str]:
    return {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}


def bulkwalk(port: int, oid: str, args: list[str], timeout: float = 5.0) -> dict[str, str]:
    """``snmpbulkwalk -On -Oq`` → {numeric OID: raw value text} (reference for comparisons)."""
    cmd = [_tool("snmpbulkwalk"), *args, "-On", "-Oq", "-Oe", "-Ot", "-t", str(timeout), "-r", "1"]
    done = subprocess.run([*cmd, f"{LOCALHOST}:{port}", oid], capture_output=True, text=True, env=_env(), check=True)
    out: dict[str, str] = {}
    for line in done.stdout.splitlines():
        oid_text, _, value = line.partition(" ")
        if oid_text.startswith(".1."):
            out[oid_text[1:]] = value.strip()
    return out


@dataclass
class Snmpd:
    daemon: Daemon
    port: int
    community: str = COMMUNITY
    users: dict[str, tuple[str, str, str | None, str | None]] = field(default_factory=lambda: dict(V3_USERS))
    host: str = LOCALHOST
    sys_name: str = SYS_NAME


# The runbook tests' name for the same agent (tests/runbooks, tests/peer/test_runbooks_netdev.py).
RbSnmpd = Snmpd


def start_snmpd(base: Path, host: str = LOCALHOST, port: int | None = None) -> Snmpd:
    binary = _tool("snmpd")
    port = port or free_udp_port()
    conf = [f"agentAddress udp:{host}:{port}", f"rocommunity {COMMUNITY} 127.0.0.0/8"]
    conf.append(f"sysName {SYS_NAME}")
    conf.append("sysLocation opsagent-test-lab")
    conf.append("sysContact ops@example.invalid")
    for user, (auth, apw, priv, ppw) in V3_USERS.items():
        line = f'createUser {user} {auth} "{apw}"' + (f' {priv} "{ppw}"' if priv else "")
        conf += [line, f"rouser {user} {'priv' if priv else 'auth'}"]
    (base / "snmpd.conf").write_text("\n".join(conf) + "\n")
    # -C: only our conf; -I -smux…: no TCP 199 listener; persistent dir of its own (v3 engine boots)
    argv = [binary, "-f", "-C", "-c", str(base / "snmpd.conf"), "-I", "-smux,mteTrigger,mteTriggerConf"]
    argv += ["-Lf", str(base / "snmpd.log"), "-p", str(base / "snmpd.pid")]
    env = {**_env(), "SNMP_PERSISTENT_DIR": str(base / "persist")}
    daemon = Daemon("snmpd", argv, base / "snmpd.stdout", env=env)
    daemon.wait_ready(lambda: snmp_answers(port, COMMUNITY, host=host), timeout=30)
    return Snmpd(daemon, port, host=host)


def prepare_recordings(data_dir: Path, names: dict[str, str]) -> None:
    """Decompressed copies (never symlinks: snmpsim mangles the community) named by community."""
    src = SNMPSIM_VENV / "lib"
    found = list(src.glob("python3*/site-packages/snmpsim_data/data"))
    if not found:
        raise RuntimeError(f"snmpsim-data not installed in {SNMPSIM_VENV}: {HINT}")
    data_dir.mkdir(parents=True, exist_ok=True)
    for community, rel in names.items():
        plain, packed = found[0] / f"{rel}.snmprec", found[0] / f"{rel}.snmprec.bz2"
        target = data_dir / f"{community}.snmprec"
        if target.exists():  # unchanged file: snmpsim reuses its index (building one takes a minute)
            continue
        if plain.exists():
            shutil.copyfile(plain, target)
        else:
            target.write_bytes(bz2.decompress(packed.read_bytes()))


@dataclass
class Snmpsim:
    daemon: Daemon
    ports: list[int]
    communities: list[str]
    host: str = LOCALHOST

    @property
    def port(self) -> int:
        return self.ports[0]


def start_snmpsim(
    base: Path, recordings: dict[str, str], endpoints: int = 1, hosts: list[str] | None = None, port: int = 0
) -> Snmpsim:
    """snmpsim on ``endpoints`` UDP ports; recordings and their index persist in .venv-snmpsim/work."""
    binary = SNMPSIM_VENV / "bin" / "snmpsim-command-responder"
    if not binary.exists():
        raise RuntimeError(f"{binary} missing: {HINT}")
    work = SNMPSIM_VENV / "work"
    prepare_recordings(work / "data", recordings)
    # several ports on 127.0.0.1, or one port on several loopback addresses (discovery tests)
    bind = [(h, port) for h in hosts] if hosts else [(LOCALHOST, free_udp_port()) for _ in range(endpoints)]
    ports = [p for _, p in bind]
    argv = [str(binary), f"--data-dir={work / 'data'}", f"--cache-dir={work / 'cache'}"]
    argv += [f"--agent-udpv4-endpoint={h}:{p}" for h, p in bind]
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    daemon = Daemon("snmpsim", argv, base / "snmpsim.log", env=env)
    first = next(iter(recordings))
    daemon.wait_ready(lambda: all(snmp_answers(p, first, 2.0, h) for h, p in bind), timeout=300)
    return Snmpsim(daemon, ports, list(recordings))


@pytest.fixture(scope="session")
def snmpd_agent() -> Iterator[Snmpd]:
    base = Path(tempfile.mkdtemp(prefix="opsagent-snmpd-"))
    agent = start_snmpd(base)
    try:
        yield agent
    finally:
        agent.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def runbook_snmpd(snmpd_agent: Snmpd) -> Snmpd:
    return snmpd_agent


@pytest.fixture(scope="session")
def snmpsim_agent() -> Iterator[Snmpsim]:
    base = Path(tempfile.mkdtemp(prefix="opsagent-snmpsim-"))
    agent = start_snmpsim(base, RECORDINGS)
    try:
        yield agent
    finally:
        agent.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
