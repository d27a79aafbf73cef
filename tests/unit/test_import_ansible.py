"""Ansible INI/YAML inventories → Inventory: ranges, nesting, vars files, mapping, located errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsagent.errors import ConfigError
from opsagent.inventory.importers import detect_format, load_inventory_file
from opsagent.inventory.importers.ansible import load_ansible
from opsagent.inventory.importers.ansible_ini import scalar, tokens
from opsagent.inventory.importers.hostrange import expand_hosts, split_port
from opsagent.inventory.model import AssetKind, Inventory
from opsagent.inventory.resolve import GroupIndex

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inventories"
ANSIBLE = FIXTURES / "ansible"


@pytest.fixture(scope="module")
def ini() -> Inventory:
    return load_ansible(ANSIBLE / "hosts")


def load_text(tmp_path: Path, text: str, name: str = "hosts") -> Inventory:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_ansible(path)


def issues_of(tmp_path: Path, text: str, name: str = "hosts") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, name)
    return [str(issue) for issue in info.value.issues]


def normalised(inv: Inventory) -> tuple[dict[str, Any], dict[str, Any]]:
    """Everything but ``source``; membership order depends on file order, so it is sorted."""
    assets = {n: a.model_dump(exclude={"source"}) | {"groups": sorted(a.groups)} for n, a in inv.assets.items()}
    groups = {n: g.model_dump() | {"children": sorted(g.children)} for n, g in inv.groups.items()}
    return assets, groups


# --- host patterns --------------------------------------------------------------------------------


def test_ranges_expand_with_padding_stride_letters_and_products() -> None:
    assert expand_hosts("web[01:03].example.com") == ["web01.example.com", "web02.example.com", "web03.example.com"]
    assert expand_hosts("sw[1:10:3]") == ["sw1", "sw4", "sw7", "sw10"]
    assert expand_hosts("db-[a:c]") == ["db-a", "db-b", "db-c"]
    assert expand_hosts("r[1:2]-n[a:b]") == ["r1-na", "r1-nb", "r2-na", "r2-nb"]
    assert expand_hosts("[:2]x") == ["0x", "1x", "2x"]
    assert expand_hosts("plain.example.com") == ["plain.example.com"]


@pytest.mark.parametrize(
    "pattern",
    ["web[5:1]", "web[01:100]", "web[1]", "web[1:3", "web[a:3]", "web[1:3:0]", "web[1:]", "web[c:a]", "h[1:1000000]"],
)
def test_bad_ranges_are_errors(pattern: str) -> None:
    with pytest.raises(ValueError):
        expand_hosts(pattern)


def test_port_is_split_from_the_pattern_but_not_from_ipv6() -> None:
    assert split_port("web[01:03]:2222") == ("web[01:03]", 2222)
    assert split_port("web01") == ("web01", None)
    assert split_port("fe80::1") == ("fe80::1", None)


# --- INI values -----------------------------------------------------------------------------------


def test_ini_values_are_typed_like_ansible_but_quotes_keep_strings() -> None:
    assert scalar("2222") == 2222
    assert scalar("yes") is True and scalar("False") is False
    assert scalar("1.5") == 1.5
    assert scalar("007") == "007"  # zero-padded ids stay text (Ansible: literal_eval refuses them)
    assert scalar("10.0.0.1") == "10.0.0.1"
    assert scalar("[1, 2]") == [1, 2]
    assert scalar("{'a': 1}") == {"a": 1}
    assert scalar("[oops") == "[oops"


def test_tokens_follow_shlex_comment_and_quote_rules() -> None:
    assert tokens("web01 a=1 # note") == ["web01", "a=1"]
    assert tokens("web01 a=x#y") == ["web01", "a=x#y"]  # '#' inside a token is not a comment
    assert tokens("""web01 foo="a b" bar='c d' # it's fine""") == ["web01", 'foo="a b"', "bar='c d'"]
    with pytest.raises(ValueError):
        tokens('web01 foo="open')


def test_host_line_values(tmp_path: Path) -> None:
    inv = load_text(
        tmp_path,
        """
[app]
app01 port_s="22" port_i=22 flag=no spaced="a b" single='x y' esc=a\\ b list=[1,2] path=/x#y
[app:vars]
quoted = "keep 42"   # trailing comment
plain = 10.0.0.1  # primary
args = -o StrictHostKeyChecking=no
""",
    )
    assert inv.assets["app01"].vars == {
        "port_s": "22",
        "port_i": 22,
        "flag": False,
        "spaced": "a b",
        "single": "x y",
        "esc": "a b",
        "list": [1, 2],
        "path": "/x#y",
    }
    assert inv.groups["app"].vars == {"quoted": "keep 42", "plain": "10.0.0.1", "args": "-o StrictHostKeyChecking=no"}


# --- the realistic fixture ------------------------------------------------------------------------


def test_ranges_in_the_fixture(ini: Inventory) -> None:
    web_bj = sorted(n for n, a in ini.assets.items() if "web_bj" in a.groups)
    assert web_bj == [f"web{i:02d}.bj.example.com" for i in range(1, 21)]
    assert {"db-bj-a", "db-bj-b", "db-bj-c", "web-sh-c.example.com"} <= ini.assets.keys()
    switches = sorted(n for n, a in ini.assets.items() if "switches_bj" in a.groups)
    assert switches == ["sw-bj-acc01", "sw-bj-acc04", "sw-bj-acc07", "sw-bj-acc10", "sw-bj-core1", "sw-bj-core2"]
    assert len(ini.assets) == 38


def test_nested_groups(ini: Inventory) -> None:
    index = GroupIndex(ini)
    assert ini.groups["prod"].children == ["datacenters"]
    assert ini.groups["datacenters"].children == ["bj", "sh"]
    assert ini.groups["bj"].children == ["web_bj", "db_bj", "switches_bj", "firewalls"]
    prod = {a.name for a in index.members("prod")}
    assert {"web07.bj.example.com", "db-sh-02", "fw-bj", "sw-bj-acc10"} <= prod
    assert "jump01" not in prod and "localhost" not in prod
    assert {a.name for a in index.members("sh")} == {
        "web-sh-a.example.com",
        "web-sh-b.example.com",
        "web-sh-c.example.com",
        "db-sh-01",
        "db-sh-02",
    }
    assert index.groups_of(ini.assets["web-sh-b.example.com"]) == {"all", "web_sh", "web", "sh", "datacenters", "prod"}


def test_ungrouped_host_and_implicit_groups(ini: Inventory) -> None:
    jump = ini.assets["jump01"]
    assert jump.groups == []
    assert (jump.address, jump.port) == ("192.0.2.10", 2202)
    assert "ungrouped" not in ini.groups
    assert GroupIndex(ini).groups_of(jump) == {"all", "ungrouped"}


def test_inherited_vars_follow_ansible_precedence(ini: Inventory) -> None:
    index = GroupIndex(ini)
    web01 = index.effective_vars(ini.assets["web01.bj.example.com"])
    assert web01["http_port"] == 8080  # host_vars/ beats group_vars/web.yml
    assert web01["nginx_workers"] == 4
    assert web01["dc"] == "bj"  # group_vars/bj: a file without extension
    assert web01["ntp_server"] == "ntp.corp.example.com"  # [all:vars]
    assert web01["timezone"] == "Asia/Shanghai"  # group_vars/all.yml
    assert web01["monitoring"] is True
    assert index.effective_vars(ini.assets["web02.bj.example.com"])["http_port"] == 80
    assert index.effective_vars(ini.assets["web-sh-a.example.com"])["ntp_server"] == "ntp.sh.example.com"
    db = index.effective_vars(ini.assets["db-sh-01"])
    assert db["pg_version"] == 16  # group_vars/db/20-tuning.yaml loaded after 10-main.yml
    assert db["backup_window"] == "01:00-03:00" and db["shared_buffers"] == "4GB"
    assert "README.md" not in str(db)
    sw = index.effective_vars(ini.assets["sw-bj-core1"])
    assert sw["snmp_version"] == "v2c"  # group_vars/switches_bj.json


def test_connection_vars_become_asset_fields(ini: Inventory) -> None:
    dbvip = ini.assets["dbvip.bj.example.com"]
    assert (dbvip.address, dbvip.port) == ("10.1.2.100", 5432)
    assert dbvip.vars == {"role": "primary vip", "weight": 3}
    assert ini.assets["web-sh-b.example.com"].port == 2222
    assert ini.assets["web01.bj.example.com"].address == "10.1.1.1"  # from host_vars/
    assert ini.assets["sw-bj-acc01"].address == "10.1.0.11"  # host_vars/ file without extension
    for asset in ini.assets.values():  # [all:vars] ansible_user reaches every host
        assert asset.credentials["ssh"]["user"] == "ops"
        assert asset.credentials["ssh"]["key_file"] == "/etc/opsagent/keys/ops_ed25519"
    assert ini.assets["db-bj-b"].credentials["become"] == {"password": "env:DB_BECOME_PW"}
    assert ini.assets["sw-bj-core2"].credentials["ssh"]["password"] == "env:NET_PASSWORD"
    assert "ansible_user" not in ini.groups["all"].vars  # mapped vars leave the group's vars
    assert "ansible_password" not in ini.groups["switches_bj"].vars
    assert ini.assets["db-sh-01"].vars == {"backup": True}
    assert ini.assets["db-sh-02"].vars == {"backup": False}


def test_kind(ini: Inventory) -> None:
    assert ini.assets["sw-bj-acc07"].kind is AssetKind.NETWORK  # ansible_network_os on the group
    assert ini.groups["switches_bj"].vars["ansible_network_os"] == "cisco.ios.ios"  # kept for collectors
    fw = ini.assets["fw-bj"]
    assert fw.kind is AssetKind.NETWORK and "opsagent_kind" not in fw.vars
    assert ini.assets["localhost"].kind is AssetKind.HOST
    assert ini.assets["localhost"].vars == {"ansible_connection": "local"}
    assert ini.assets["web01.bj.example.com"].kind is AssetKind.HOST


def test_explicit_opsagent_kind_wins_over_network_hints(tmp_path: Path) -> None:
    inv = load_text(tmp_path, "[dbs]\npg01 opsagent_kind=database ansible_connection=network_cli\n")
    assert inv.assets["pg01"].kind is AssetKind.DATABASE


def test_source_is_the_inventory_path(ini: Inventory) -> None:
    assert {a.source for a in ini.assets.values()} == {str(ANSIBLE / "hosts")}


def test_yaml_form_gives_the_same_inventory(ini: Inventory) -> None:
    assert normalised(load_ansible(ANSIBLE / "hosts.yml")) == normalised(ini)


# --- merging, creation, secrets -------------------------------------------------------------------


def test_host_in_several_groups_is_merged(tmp_path: Path) -> None:
    inv = load_text(
        tmp_path,
        """
[web]
app01 a=1 b=1
[batch]
app01 b=2 ansible_port=2200
""",
    )
    app = inv.assets["app01"]
    assert app.groups == ["web", "batch"]
    assert app.vars == {"a": 1, "b": 2}
    assert app.port == 2200


def test_all_and_ungrouped_sections(tmp_path: Path) -> None:
    inv = load_text(
        tmp_path,
        """
[all]
a1
[ungrouped]
u1 ansible_host=10.0.0.9 x=own
[ungrouped:vars]
x=group
y=group
ansible_port=2022
[web]
w1
""",
    )
    assert inv.assets["a1"].groups == [] and inv.assets["u1"].groups == []
    assert inv.assets["u1"].vars == {"x": "own", "y": "group"}  # host vars win over ungrouped's
    assert inv.assets["u1"].port == 2022 and inv.assets["w1"].port is None
    assert set(inv.groups) == {"web"}


def test_children_naming_an_undefined_group_creates_it(tmp_path: Path) -> None:
    inv = load_text(tmp_path, "[prod:children]\nweb\nlater\n[later]\nh1\n")
    assert inv.groups["prod"].children == ["web", "later"]
    assert "web" in inv.groups
    assert inv.assets["h1"].groups == ["later"]


def test_secret_forms(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x")
    inv = load_text(
        tmp_path,
        """
[s]
a ansible_password='{{lookup("env","A_PW")}}'
b ansible_password="{{ lookup( 'env' , 'B_PW' ) }}"
c ansible_ssh_pass=env:C_PW
d ansible_password=file:pw
e ansible_password="{{ lookup('file', '/run/secrets/e') }}"
""",
    )
    passwords = {n: a.credentials["ssh"]["password"] for n, a in inv.assets.items()}
    assert passwords == {
        "a": "env:A_PW",
        "b": "env:B_PW",
        "c": "env:C_PW",
        "d": f"file:{(tmp_path / 'pw').resolve()}",
        "e": "file:/run/secrets/e",
    }


def test_plain_text_secrets_are_refused_with_line_and_host_never_the_value(tmp_path: Path) -> None:
    messages = issues_of(
        tmp_path,
        """# line 1
[web]
web01 ansible_password=Sup3rS3cret!
web02
[web:vars]
ansible_become_password = hunter2-Pass
[db]
db01 ansible_ssh_pass="{{ vault_db_password }}"
""",
    )
    text = "\n".join(messages)
    assert "Sup3rS3cret" not in text and "hunter2" not in text and "vault_db_password" not in text
    path = tmp_path / "hosts"
    assert any(m.startswith(f"{path}:3: ansible_password: host 'web01'") for m in messages)
    assert any(m.startswith(f"{path}:6: ansible_become_password: group 'web'") for m in messages)
    assert any(m.startswith(f"{path}:8: ansible_ssh_pass: host 'db01'") and "template" in m for m in messages)
    assert len(messages) == 3  # the group's secret is reported once, not once per member


def test_every_problem_of_a_file_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    messages = issues_of(
        tmp_path,
        """[web]
web01 ansible_port=99999
web[5:1]
web03 garbage
[web:vars]
this is not a var
[typo:vars]
x=1
[bad section]
foo
[y:foo]
[loop1:children]
loop2
[loop2:children]
loop1
[web]
web04 opsagent_kind=toaster
web05 "unterminated
web06 ansible_host=10.0.0.6 ansible_password = leaked-Value
""",
    )
    lines = [int(m.split(":")[1]) for m in messages]
    assert lines == sorted(lines)
    assert set(lines) == {2, 3, 4, 6, 7, 9, 11, 15, 17, 18, 19}
    text = "\n".join(messages)
    assert "out of range" in text and "starts after it ends" in text and "typo" in text
    assert "group cycle: loop1 -> loop2 -> loop1" in text
    assert "leaked-Value" not in text


def test_yaml_errors_point_at_yaml_lines(tmp_path: Path) -> None:
    messages = issues_of(
        tmp_path,
        """all:
  children:
    web:
      hosts:
        web01:
          ansible_password: TopSecret-1
        web[9:2]:
      vars:
        ansible_port: nope
      extra: 1
""",
        name="hosts.yml",
    )
    text = "\n".join(messages)
    assert "TopSecret" not in text
    path = tmp_path / "hosts.yml"
    assert f"{path}:6: ansible_password: host 'web01'" in text
    assert f"{path}:7:" in text and "starts after it ends" in text
    assert f"{path}:9: ansible_port: group 'web': must be a port number" in text
    assert f"{path}:10: all.children.web.extra: unexpected key" in text


def test_vars_files_are_checked_too(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("# web\nhttp_port: 80\nansible_password: NotARef-9\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web01.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n3631343236\n")
    messages = issues_of(tmp_path, "[web]\nweb01\n")
    assert f"{tmp_path / 'group_vars' / 'web.yml'}:3: ansible_password: group 'web'" in "\n".join(messages)
    assert any("host_vars/web01.yml:1: ansible-vault" in m for m in messages)
    assert "NotARef" not in "\n".join(messages)


def test_vars_for_unknown_groups_and_hosts_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "elsewhere.yml").write_text("x: 1\n")
    (tmp_path / "group_vars" / "web.yml~").write_text("x: [broken\n")  # editor backup: skipped
    inv = load_text(tmp_path, "[web]\nweb01\n")
    assert "elsewhere" not in inv.groups and inv.groups["web"].vars == {}


def test_a_directory_inventory_merges_its_files(tmp_path: Path) -> None:
    (tmp_path / "01-hosts").write_text("[web]\nweb01\n")
    (tmp_path / "02-more.yml").write_text("all:\n  children:\n    web:\n      hosts:\n        web02:\n")
    (tmp_path / "notes.md").write_text("not an inventory\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web").write_text("tier: front\n")
    inv = load_ansible(tmp_path)
    assert set(inv.assets) == {"web01", "web02"}
    assert inv.groups["web"].vars == {"tier": "front"}
    assert inv.assets["web02"].source == str(tmp_path / "02-more.yml")
    (tmp_path / "ec2.py").write_text("#!/usr/bin/env python\n")
    with pytest.raises(ConfigError, match="ansible-inventory"):
        load_ansible(tmp_path)


def test_ansible_inventory_list_json_is_read(tmp_path: Path) -> None:
    listing = {
        "_meta": {"hostvars": {"web01": {"ansible_host": "10.0.0.1", "role": "web"}}},
        "all": {"children": ["ungrouped", "web"]},
        "web": {"hosts": ["web01", "web02"], "vars": {"http_port": 80}},
        "ungrouped": {"hosts": ["jump"]},
    }
    inv = load_text(tmp_path, json.dumps(listing, indent=4), name="inventory.json")
    assert inv.assets["web01"].address == "10.0.0.1" and inv.assets["web01"].vars == {"role": "web"}
    assert inv.assets["web02"].groups == ["web"] and inv.assets["jump"].groups == []
    assert inv.groups["web"].vars == {"http_port": 80}


# --- dispatch -------------------------------------------------------------------------------------


def test_format_detection(tmp_path: Path) -> None:
    native = tmp_path / "native.yaml"
    native.write_text("assets:\n  - {name: a}\n")
    ansible_yaml = tmp_path / "inv.yml"
    ansible_yaml.write_text("---\nall:\n  hosts:\n    a:\n")
    top_groups = tmp_path / "groups.yml"
    top_groups.write_text("web:\n  hosts:\n    a:\n")
    assert detect_format(ANSIBLE / "hosts") == "ansible"
    assert detect_format(ANSIBLE / "hosts.yml") == "ansible"
    assert detect_format(ANSIBLE) == "ansible"
    assert detect_format(FIXTURES / "assets.csv") == "csv"
    assert detect_format(native) == "yaml"
    assert detect_format(ansible_yaml) == "ansible"
    assert detect_format(top_groups) == "ansible"
    assert list(load_inventory_file(native).assets) == ["a"]
    assert list(load_inventory_file(ansible_yaml).assets) == ["a"]
    assert list(load_inventory_file(top_groups, "ansible").assets) == ["a"]
    with pytest.raises(ValueError, match="unknown inventory format"):
        load_inventory_file(native, "toml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such inventory"):
        load_ansible(tmp_path / "nope")


@pytest.mark.parametrize("value", ["{}", "[local]", "{a: 1}"])
def test_a_connection_or_network_os_that_is_not_a_string_is_a_located_error(tmp_path: Path, value: str) -> None:
    text = f"all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n      ansible_connection: {value}\n"
    path = tmp_path / "hosts.yml"
    assert issues_of(tmp_path, text, "hosts.yml") == [f"{path}:5: ansible_connection: host 'h1': must be a string"]
    text = f"all:\n  vars:\n    ansible_network_os: {value}\n  hosts:\n    h1: {{}}\n"
    assert issues_of(tmp_path, text, "hosts.yml") == [f"{path}:3: ansible_network_os: group 'all': must be a string"]


def test_an_inventory_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes("[web]\nweb01 owner=Jos\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_ansible(path)
    assert [str(i) for i in info.value.issues] == [
        f"{path}:2: not valid UTF-8: byte 0xe9 at column 16 (invalid continuation byte); save the file as UTF-8"
    ]


def test_json_nested_too_deep_for_yaml_and_json_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError) as info:
        load_ansible(path)
    assert [str(i) for i in info.value.issues] == [f"{path}:1: nested deeper than 200 levels"]
    path.write_text('{"all": {"vars": {"x": ' + "[" * 300 + "]" * 300 + "}}}")
    with pytest.raises(ConfigError, match="nested deeper than 200 levels"):
        load_ansible(path)
