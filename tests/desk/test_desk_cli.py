"""The desk's CLI as people run it: CSV import (GBK, Chinese headers) and its located errors with exit
2, `opsagent check` on the desk's content with file:line, masked listings, audit rows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.agent import opsagent


def _home(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yaml").write_text("assets: [{name: pc-01, kind: host}]\n")
    (tmp_path / "opsagent.yaml").write_text("seed_inventory: []\n")
    opsagent("inventory", "import", str(tmp_path / "inventory.yaml"), home=tmp_path, check=True)
    return tmp_path


def test_import_a_gbk_file_then_a_bad_one_changes_nothing(tmp_path: Path) -> None:
    home = _home(tmp_path)
    good = home / "用户.csv"
    good.write_bytes("姓名,部门,电话,邮箱,类型,单位,资产\n张三,财务部,13812341234,zhang@corp.example,内部,财务部,pc-01\n"
                     .encode("gbk"))  # fmt: skip
    done = opsagent("desk", "requester", "import", str(good), home=home)
    assert done.returncode == 0 and "1 added" in done.stdout, done.stderr
    bad = home / "bad.csv"
    bad.write_bytes("姓名,电话\n李四,12\n王五,\n".encode("gb18030"))
    done = opsagent("desk", "requester", "import", str(bad), home=home)
    assert done.returncode == 2
    assert done.stderr.strip() == f"{bad}:2: phone: Value error, not a phone number"
    listed = json.loads(opsagent("desk", "requester", "list", "--masked", "-o", "json", home=home, check=True).stdout)
    assert [(p["name"], p["phone"], p["email"]) for p in listed] == [("张三", "138****1234", "z***@corp.example")]
    exported = opsagent("desk", "requester", "export", home=home, check=True).stdout
    assert "138****1234" in exported and "13812341234" not in exported
    shown = opsagent("desk", "requester", "show", "13812341234", home=home, check=True).stdout
    assert "13812341234" in shown and "pc-01 (uses)" in shown  # the record itself, audited
    assert opsagent("desk", "requester", "show", "nobody", home=home).returncode == 1


def test_check_reports_bad_desk_content_with_file_and_line(tmp_path: Path) -> None:
    desk = tmp_path / "desk"
    desk.mkdir()
    (desk / "routing.yaml").write_text("default_team: ops\nrules:\n  - when: {category: network}\n")
    (desk / "categories.yaml").write_text("categories:\n  software: {zh: 软件, en: Software, sub: {Bad: {zh: a}}}\n")
    done = opsagent("check", str(desk), home=_home(tmp_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert f"{desk / 'routing.yaml'}:3: rules.0.team: Field required" in lines
    assert any(line.startswith(f"{desk / 'categories.yaml'}:2: categories.software.sub.Bad") for line in lines)
