"""A real OpenLDAP directory (slapd, back_mdb) for the session, on 127.0.0.1 and a free port.

Fixture:
    ldap_directory (session) -> Directory: .url, .port, .base, .admin_dn / .admin_password,
    .service_dn / .service_password (a read-only search account), .users (uid → password)

The tree: ou=people with inetOrgPerson users (Chinese cn, mail), ou=groups with groupOfNames
(ops, managers, helpdesk), ou=services with the search account. Passwords are throwaway test values.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers.ports import LOCALHOST, free_port, port_open
from tests.peers.process import Daemon

INSTALL_HINT = "install the Debian packages `slapd ldap-utils` (bash scripts/test.sh does it)"
BASE = "dc=corp,dc=example"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "ldap-Admin-5f1c"
SERVICE_DN = f"cn=opsagent-svc,ou=services,{BASE}"
SERVICE_PASSWORD = "ldap-Svc-93ab"
USERS = {  # uid → (cn, mail, password, groups)
    "zhangwei": ("张伟", "zhangwei@corp.example", "Zw-ldap-pass1", ["ops"]),
    "lina": ("李娜", "lina@corp.example", "Ln-ldap-pass2", ["ops", "managers"]),
    "wangfang": ("王芳", "wangfang@corp.example", "Wf-ldap-pass3", ["helpdesk"]),
    "liuyang": ("刘洋", "liuyang@corp.example", "Ly-ldap-pass4", []),
}


@dataclass(frozen=True)
class Directory:
    port: int
    base: str = BASE
    admin_dn: str = ADMIN_DN
    admin_password: str = ADMIN_PASSWORD
    service_dn: str = SERVICE_DN
    service_password: str = SERVICE_PASSWORD
    users: dict[str, str] = field(default_factory=lambda: {uid: u[2] for uid, u in USERS.items()})

    @property
    def url(self) -> str:
        return f"ldap://{LOCALHOST}:{self.port}"


def _conf(work: Path, rootpw: str) -> str:
    return "\n".join([
        *(f"include /etc/ldap/schema/{s}.schema" for s in ("core", "cosine", "inetorgperson", "nis")),
        f"pidfile {work / 'slapd.pid'}",
        f"argsfile {work / 'slapd.args'}",
        "modulepath /usr/lib/ldap",
        "moduleload back_mdb",
        "database mdb",
        "maxsize 104857600",
        f"suffix \"{BASE}\"",
        f"rootdn \"{ADMIN_DN}\"",
        f"rootpw {rootpw}",
        f"directory {work / 'db'}",
        "access to attrs=userPassword by self write by anonymous auth by * none",
        "access to * by users read by anonymous auth",
        "",
    ])  # fmt: skip


OUS = ("people", "groups", "services")


def _ldif() -> str:
    people = []
    for uid, (cn, mail, password, _groups) in USERS.items():
        people.append(
            f"dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {cn[0]}\n"
            f"mail: {mail}\nuserPassword: {password}\n"
        )
    groups = []
    for group in ("ops", "managers", "helpdesk"):
        members = [f"member: uid={uid},ou=people,{BASE}" for uid, u in USERS.items() if group in u[3]]
        groups.append(
            f"dn: cn={group},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {group}\n" + "\n".join(members) + "\n"
        )
    return "\n".join([
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Corp\ndc: corp\n",
        *(f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n" for ou in OUS),
        f"dn: {SERVICE_DN}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: opsagent-svc\n"
        f"userPassword: {SERVICE_PASSWORD}\n",
        *people,
        *groups,
    ])  # fmt: skip


@pytest.fixture(scope="session")
def ldap_directory() -> Iterator[Directory]:
    slapd = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
    if slapd is None or shutil.which("ldapadd") is None:
        pytest.fail(f"`slapd`/`ldapadd` not found: {INSTALL_HINT}", pytrace=False)
    work = Path(tempfile.mkdtemp(prefix="opsagent-ldap-"))
    (work / "db").mkdir()
    rootpw = subprocess.run(["slappasswd", "-s", ADMIN_PASSWORD], capture_output=True, text=True, check=True)
    (work / "slapd.conf").write_text(_conf(work, rootpw.stdout.strip()))
    port = free_port()
    # -d 0: stay in the foreground (so the fixture owns the process), logging nothing extra
    daemon = Daemon("slapd", [slapd, "-d", "0", "-f", str(work / "slapd.conf"), "-h", f"ldap://{LOCALHOST}:{port}/"],
                    work / "slapd.log")  # fmt: skip
    try:
        daemon.wait_ready(lambda: port_open(port), timeout=30)
        (work / "tree.ldif").write_text(_ldif(), encoding="utf-8")
        subprocess.run(
            ["ldapadd", "-x", "-H", f"ldap://{LOCALHOST}:{port}", "-D", ADMIN_DN, "-w", ADMIN_PASSWORD,
             "-f", str(work / "tree.ldif")],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        yield Directory(port)
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
