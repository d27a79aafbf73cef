"""Requester records imported from a real OpenLDAP (slapd on 127.0.0.1): Chinese names and
departments, re-import updates, a bad entry changes nothing, a refused bind names no password."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsagent.desk import records
from opsagent.desk.ldapimport import LdapError, LdapSource, import_ldap
from opsagent.errors import ConfigError
from opsagent.store import Store, sqlite_url
from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon

pytestmark = pytest.mark.peer
ADMIN, PASSWORD = "cn=admin,dc=corp,dc=example", "ldap-Admin-s3cret"
TREE = """\
dn: dc=corp,dc=example
objectClass: dcObject
objectClass: organization
o: Corp
dc: corp

dn: ou=people,dc=corp,dc=example
objectClass: organizationalUnit
ou: people

dn: uid=zhangsan,ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
uid: zhangsan
cn: 张三
sn: 张
mail: zhangsan@corp.example
mobile: 13812341234
departmentNumber: 财务部

dn: uid=lisi,ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
uid: lisi
cn: 李四
sn: 李
mail: lisi@corp.example
telephoneNumber: 010-12345678
departmentNumber: IT运维部

dn: ou=bad,dc=corp,dc=example
objectClass: organizationalUnit
ou: bad

dn: uid=broken,ou=bad,dc=corp,dc=example
objectClass: inetOrgPerson
uid: broken
cn: 坏数据
sn: 坏
mail: not-an-address
"""


@pytest.fixture(scope="module")
def ldap_url() -> Iterator[str]:
    slapd = shutil.which("slapd") or "/usr/sbin/slapd"
    if not Path(slapd).exists():
        pytest.fail("slapd not found: install the Debian packages slapd ldap-utils", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="opsagent-slapd-"))
    (base / "db").mkdir()
    hashed = subprocess.run(["slappasswd", "-s", PASSWORD], capture_output=True, text=True, check=True).stdout.strip()
    schema = "\n".join(f"include /etc/ldap/schema/{s}.schema" for s in ("core", "cosine", "inetorgperson", "nis"))
    (base / "slapd.conf").write_text(
        f"{schema}\npidfile {base}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\ndatabase mdb\n"
        f'maxsize 104857600\nsuffix "dc=corp,dc=example"\nrootdn "{ADMIN}"\nrootpw {hashed}\ndirectory {base}/db\n'
        "access to attrs=userPassword by self write by anonymous auth by * none\naccess to * by * read\n"
    )
    port = free_port()
    url = f"ldap://{LOCALHOST}:{port}"
    daemon = Daemon("slapd", [slapd, "-f", str(base / "slapd.conf"), "-h", f"{url}/", "-d", "0"], base / "slapd.log")
    try:
        daemon.wait_ready(lambda: _loaded(url, base), timeout=30)
        yield url
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


def _loaded(url: str, base: Path) -> bool:
    (base / "tree.ldif").write_text(TREE, encoding="utf-8")
    done = subprocess.run(["ldapadd", "-x", "-H", url, "-D", ADMIN, "-w", PASSWORD, "-f", str(base / "tree.ldif")],
                          capture_output=True, text=True)  # fmt: skip
    return done.returncode == 0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_url(tmp_path / "store.db"))
    yield s
    s.close()


def test_people_come_from_the_directory_and_a_reimport_updates_them(
    ldap_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LDAP_BIND_PW", PASSWORD)
    source = LdapSource(ldap_url, "ou=people,dc=corp,dc=example", ADMIN, "env:LDAP_BIND_PW", organisation="总部")
    result = import_ldap(store, source, "alice")
    assert (result.added, result.updated) == (2, 0)
    people = {p["name"]: p for p in records.list_requesters(store, "alice")}
    assert people["张三"]["department"] == "财务部" and people["张三"]["phone"] == "13812341234"
    assert people["李四"]["phone"] == "01012345678" and people["李四"]["organisation"] == "总部"
    assert {p["type"] for p in people.values()} == {"internal"}
    anonymous = LdapSource(ldap_url, "ou=people,dc=corp,dc=example")  # the tree is readable anonymously
    assert import_ldap(store, anonymous, "alice").updated == 2


def test_a_bad_entry_changes_nothing_and_a_refused_bind_names_no_password(ldap_url: str, store: Store) -> None:
    with pytest.raises(ConfigError) as caught:
        import_ldap(store, LdapSource(ldap_url, "dc=corp,dc=example"), "alice")
    assert [str(i) for i in caught.value.issues] == [
        f"{ldap_url}:uid=broken,ou=bad,dc=corp,dc=example: email: Value error, not an email address"]  # fmt: skip
    assert records.list_requesters(store, "alice") == []
    secret = Path(tempfile.mkdtemp()) / "pw"
    secret.write_text("wrong-Passw0rd")
    with pytest.raises(LdapError) as refused:
        import_ldap(store, LdapSource(ldap_url, "dc=corp,dc=example", ADMIN, f"file:{secret}"), "alice")
    assert "invalidCredentials" in str(refused.value) or "Bind" in str(refused.value)
    assert "wrong-Passw0rd" not in str(refused.value)
    with pytest.raises(LdapError):
        import_ldap(store, LdapSource(f"ldap://{LOCALHOST}:{free_port()}", "dc=corp,dc=example", timeout=2), "alice")


def test_the_cli_imports_from_ldap_with_a_password_reference(
    ldap_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.agent import opsagent

    monkeypatch.setenv("LDAP_BIND_PW", PASSWORD)
    (tmp_path / "opsagent.yaml").write_text("seed_inventory: []\n")
    args = ["desk", "requester", "import-ldap", "--url", ldap_url, "--base", "ou=people,dc=corp,dc=example",
            "--bind-dn", ADMIN]  # fmt: skip
    done = opsagent(*args, "--password", "env:LDAP_BIND_PW", home=tmp_path)
    assert done.returncode == 0 and "2 added" in done.stdout, done.stderr
    plain = opsagent(*args, "--password", PASSWORD, home=tmp_path)
    assert plain.returncode == 2 and PASSWORD not in plain.stderr + plain.stdout
