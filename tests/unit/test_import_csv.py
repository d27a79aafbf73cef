"""CSV inventories: columns, lists, credentials, BOM, and errors located by line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.errors import ConfigError
from opsagent.inventory.importers.csv_import import load_csv
from opsagent.inventory.model import AssetKind, Inventory

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "inventories" / "assets.csv"


def write(tmp_path: Path, text: str, bom: bool = False) -> Path:
    path = tmp_path / "assets.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_csv(path)
    return [str(issue) for issue in info.value.issues]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_csv(FIXTURE)


def test_fixture_columns_map_onto_assets(inv: Inventory) -> None:
    assert list(inv.assets) == ["web01", "web02", "sw01", "db01"]  # blank and '#' rows skipped
    web01 = inv.assets["web01"]
    assert (web01.kind, web01.address, web01.port) == (AssetKind.HOST, "10.0.0.11", 22)
    assert web01.groups == ["web", "prod"]
    assert web01.tags == {"dc": "bj", "tier": "1"}
    assert web01.description == "front end"
    assert web01.credentials == {"ssh": {"user": "ops"}}
    assert web01.source == str(FIXTURE)


def test_bom_and_non_ascii_headers(inv: Inventory) -> None:
    # Without BOM handling the first header would be '\ufeffname' and 'name' would be missing.
    assert inv.assets["web01"].vars == {"rack": "A-01", "负责人": "张三"}
    assert inv.assets["web02"].vars == {"rack": "A-01"}  # empty cells are skipped


def test_lists_accept_semicolons_and_pipes(inv: Inventory) -> None:
    web02 = inv.assets["web02"]
    assert web02.groups == ["web", "prod"]
    assert web02.tags == {"dc": "bj", "canary": ""}
    assert web02.kind is AssetKind.HOST and web02.port is None
    assert set(inv.groups) == {"web", "prod", "switches", "db"}


def test_quoted_cells_and_references(inv: Inventory) -> None:
    sw01 = inv.assets["sw01"]
    assert sw01.kind is AssetKind.NETWORK
    assert sw01.description == "core switch, hall 2"
    assert sw01.credentials == {"snmp": {"community": "env:SNMP_COMMUNITY"}}
    db01 = inv.assets["db01"]
    assert db01.description == "primary DB\n(multi-line note)"
    assert db01.port == 5432 and db01.kind is AssetKind.DATABASE


def test_file_references_are_made_absolute(tmp_path: Path) -> None:
    path = write(tmp_path, "name,cred.ssh.password,cred.ssh.key_file\nh1,file:secrets/h1,keys/h1\n")
    creds = load_csv(path).assets["h1"].credentials["ssh"]
    assert creds["password"] == f"file:{(tmp_path / 'secrets' / 'h1').resolve()}"
    assert creds["key_file"] == "keys/h1"  # not a secret, not a reference: kept as written


def test_errors_carry_line_and_column_and_never_the_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        (
            "Name,Kind,Port,cred.snmp.community,groups,Description\n"
            "ok1,host,22,env:C,web,\n"
            "bad1,toaster,70000,public-Str1ng,web,\n"
            '"bad 2",host,,,web,"multi\nline"\n'
            ",host,22,,,\n"
            "ok1,host,,,,\n"
            "ok3,host,ssh,,bad group!,\n"
        ),
        bom=True,
    )
    messages = issues_of(path)
    text = "\n".join(messages)
    assert "public-Str1ng" not in text
    assert f"{path}:3: kind: must be one of" in text
    assert f"{path}:3: port: must be a port number" in text
    assert f"{path}:3: cred.snmp.community: plain-text secrets are refused" in text
    assert f"{path}:5: name: " in text and "invalid asset name" in text  # line_num: the record's last line
    assert f"{path}:6: name: name is required" in text
    assert f"{path}:7: name: duplicate asset 'ok1' (first on line 2)" in text
    assert f"{path}:8: port:" in text and f"{path}:8: groups: invalid group name 'bad group!'" in text


def test_header_problems(tmp_path: Path) -> None:
    messages = issues_of(write(tmp_path, "address,cred.ssh,rack,rack\n10.0.0.1,x,a,b\n"))
    text = "\n".join(messages)
    assert ":1: name: the header has no 'name' column" in text
    assert ":1: cred.ssh: credential columns are" in text
    assert ":1: rack: column appears twice" in text
    assert "header row" in issues_of(write(tmp_path, ""))[0]


def test_extra_cells_and_headerless_columns(tmp_path: Path) -> None:
    messages = issues_of(write(tmp_path, "name,,address\nh1,oops,10.0.0.1\nh2,,10.0.0.2,extra\n"))
    assert any(":2: " in m and "no header" in m for m in messages)
    assert any(":3: " in m and "4 cells" in m for m in messages)
    # Excel's trailing empty columns are harmless.
    assert set(load_csv(write(tmp_path, "name,address,,\nh1,10.0.0.1,,\n")).assets) == {"h1"}


def test_semicolon_and_tab_delimited_files(tmp_path: Path) -> None:
    semi = load_csv(write(tmp_path, 'name;address;groups\nh1;10.0.0.1;"web;db"\n'))
    assert semi.assets["h1"].groups == ["web", "db"]
    tabs = load_csv(write(tmp_path, "name\taddress\tgroups\nh1\t10.0.0.1\tweb;db\n"))
    assert tabs.assets["h1"].groups == ["web", "db"] and tabs.assets["h1"].address == "10.0.0.1"


def test_non_utf8_file_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("name,负责人\nh1,张三\n".encode("gbk"))
    assert "CSV UTF-8" in issues_of(path)[0]


def test_non_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("name,owner\nh1,ok\nh2,张三\n".encode("gbk"))
    message = issues_of(path)[0]
    assert message.startswith(f"{path}:3: not valid UTF-8: byte 0xd5 at column 4"), message
    assert "CSV UTF-8" in message
