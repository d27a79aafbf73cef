"""Imports from different sources do not clobber each other silently (issue 20, item 32).

Two real Ansible inventories on disk: production as INI with ``[all:vars]``, staging as YAML with
``group_vars/`` beside it. Both set ``env`` for ``all`` and both have a ``web`` group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opsagent.cli import cli
from opsagent.inventory.export import to_ansible_yaml, to_native_yaml
from opsagent.inventory.importers.native import load_native
from opsagent.inventory.merge import plan_import
from opsagent.inventory.model import Asset, Group, Inventory
from opsagent.inventory.resolve import GroupIndex

PROD_INI = """\
[web]
web01 ansible_host=10.0.0.1
web02 ansible_host=10.0.0.2

[db]
db01 ansible_host=10.0.1.1

[web:vars]
http_port=80

[all:vars]
env=production
ntp=ntp.prod.example
"""

STAGING_YML = """\
all:
  children:
    web:
      hosts:
        stg-web01: {ansible_host: 10.9.0.1}
    cache:
      hosts:
        stg-redis01: {ansible_host: 10.9.2.1}
"""


@pytest.fixture
def inventories(tmp_path: Path) -> tuple[Path, Path]:
    prod = tmp_path / "prod" / "hosts"
    prod.parent.mkdir()
    prod.write_text(PROD_INI)
    staging = tmp_path / "staging" / "hosts.yml"
    (staging.parent / "group_vars").mkdir(parents=True)
    staging.write_text(STAGING_YML)
    (staging.parent / "group_vars" / "all.yml").write_text("env: staging\nntp: ntp.stg.example\n")
    return prod, staging


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def effective(run, name: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    result = run("inventory", "show", name, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["effective_vars"]  # type: ignore[no-any-return]


def test_each_inventory_keeps_its_own_all_vars(run, inventories: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    prod, staging = inventories
    assert run("inventory", "import", "--format", "ansible", str(prod)).exit_code == 0
    result = run("inventory", "import", "--format", "ansible", str(staging))
    assert result.exit_code == 0, result.output
    assert effective(run, "web01") == {"env": "production", "ntp": "ntp.prod.example", "http_port": 80}
    assert effective(run, "db01") == {"env": "production", "ntp": "ntp.prod.example"}
    # stg-web01 names the production 'web' group without a body of its own: it joins it.
    assert effective(run, "stg-web01") == {"env": "staging", "ntp": "ntp.stg.example", "http_port": 80}
    assert effective(run, "stg-redis01") == {"env": "staging", "ntp": "ntp.stg.example"}
    # Re-importing production changes nothing, the other way round too.
    again = json.loads(run("inventory", "import", "--format", "ansible", str(prod), "-o", "json").output)
    assert again["added"] == again["updated"] == again["others_affected"] == 0 and again["unchanged"] == 3


def test_changing_a_group_of_another_source_is_refused_then_forced(  # type: ignore[no-untyped-def]
    run, inventories: tuple[Path, Path]
) -> None:
    prod, staging = inventories
    (staging.parent / "group_vars" / "web.yml").write_text("http_port: 8080\n")
    assert run("inventory", "import", "--format", "ansible", str(prod)).exit_code == 0

    refused = run("inventory", "import", "--format", "ansible", str(staging))
    assert refused.exit_code == 2
    assert f"group 'web' belongs to {prod.resolve()}; this import would change its vars.http_port" in refused.output
    assert "use --force" in refused.output
    assert run("inventory", "show", "stg-web01").exit_code == 1  # nothing stored
    assert effective(run, "web01")["http_port"] == 80

    dry = run("inventory", "import", "--format", "ansible", str(staging), "--dry-run")
    assert dry.exit_code == 2
    lines = dry.output.splitlines()
    assert "+ stg-redis01 (added)" in lines and "+ stg-web01 (added)" in lines
    assert "~ web01 (changed): effective vars.http_port" in lines
    assert "~ web02 (changed): effective vars.http_port" in lines
    assert not any("db01" in line for line in lines)
    assert run("inventory", "show", "stg-web01").exit_code == 1  # a dry run stores nothing

    forced = run("inventory", "import", "--format", "ansible", str(staging), "--force")
    assert forced.exit_code == 0, forced.output
    assert effective(run, "web01") == {"env": "production", "ntp": "ntp.prod.example", "http_port": 8080}
    assert effective(run, "stg-web01")["env"] == "staging"


def test_a_host_of_another_source_is_not_taken_over_silently(  # type: ignore[no-untyped-def]
    run, inventories: tuple[Path, Path], tmp_path: Path
) -> None:
    prod, _ = inventories
    assert run("inventory", "import", "--format", "ansible", str(prod)).exit_code == 0
    other = tmp_path / "other.yaml"
    other.write_text("assets:\n  - {name: web01, address: 10.7.7.7}\n")
    refused = run("inventory", "import", str(other))
    assert refused.exit_code == 2 and f"asset 'web01' belongs to {prod.resolve()}" in refused.output
    dry = run("inventory", "import", str(other), "--dry-run", "-o", "json")
    change = next(h for h in json.loads(dry.output)["hosts"] if h["name"] == "web01")
    assert change["action"] == "changed"
    assert "address" in change["fields"] and f"source ({prod.resolve()} -> {other.resolve()})" in change["fields"]
    assert "effective vars.env" in change["fields"]  # it would lose production's all vars


def test_a_yaml_naming_an_existing_group_does_not_replace_its_members(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "a.yaml"
    first.write_text(
        "groups:\n  prod: {children: [web, db]}\n  web: {}\n  db: {}\nassets:\n  - {name: w1, groups: [web]}\n"
    )
    second = tmp_path / "b.yaml"
    second.write_text("groups:\n  prod: {children: [app]}\n  app: {}\nassets:\n  - {name: a1, groups: [app]}\n")
    assert run("inventory", "import", str(first)).exit_code == 0
    refused = run("inventory", "import", str(second))
    assert refused.exit_code == 2 and "group 'prod' belongs to" in refused.output and "children" in refused.output
    # Naming the group on a host, without a body, only joins it.
    third = tmp_path / "c.yaml"
    third.write_text("assets:\n  - {name: c1, groups: [prod]}\n")
    assert run("inventory", "import", str(third)).exit_code == 0
    listed = json.loads(run("inventory", "list", "prod", "-o", "json").output)
    assert sorted(a["name"] for a in listed) == ["c1", "w1"]
    # The owner may change its own group.
    first.write_text("groups:\n  prod: {children: [web]}\n  web: {}\nassets:\n  - {name: w1, groups: [web]}\n")
    assert run("inventory", "import", str(first)).exit_code == 0


def test_dry_run_shows_added_changed_and_removed(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "inv.yaml"
    path.write_text("assets:\n  - {name: h1, address: 10.0.0.1}\n  - {name: h2, vars: {role: a}}\n")
    assert run("inventory", "import", str(path)).exit_code == 0
    path.write_text("assets:\n  - {name: h2, vars: {role: b, rack: r1}}\n  - {name: h3}\n")
    dry = run("inventory", "import", str(path), "--dry-run", "--prune")
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert lines[:3] == ["- h1 (removed)", "~ h2 (changed): vars.rack, vars.role", "+ h3 (added)"]
    assert "stored: False" in lines[-1]


def test_exports_keep_the_source_vars() -> None:
    inv = Inventory(
        groups={"web": Group(name="web", vars={"ntp": "group"})},
        assets={
            "a": Asset(name="a", groups=["web"], source="/p"),
            "b": Asset(name="b", source="/s", vars={"env": "own"}),
        },
        source_vars={"/p": {"env": "production", "ntp": "p"}, "/s": {"env": "staging", "x": 1}},
    )
    index = GroupIndex(inv)
    assert index.effective_vars(inv.assets["a"]) == {"env": "production", "ntp": "group"}
    assert index.effective_vars(inv.assets["b"]) == {"env": "own", "x": 1}
    native = to_native_yaml(inv)
    assert "env: production" in native and "ntp: p" not in native
    assert "env: production" in to_ansible_yaml(inv)


def test_reimport_of_an_exported_native_file_keeps_effective_vars(tmp_path: Path) -> None:
    inv = Inventory(assets={"a": Asset(name="a", source="/p")}, source_vars={"/p": {"env": "production"}})
    path = tmp_path / "out.yaml"
    path.write_text(to_native_yaml(inv))
    back = load_native(path)
    assert GroupIndex(back).effective_vars(back.assets["a"]) == {"env": "production"}


def test_a_group_cycle_across_two_imports_is_a_usage_error() -> None:
    from opsagent.errors import UsageError

    current = Inventory(groups={"x": Group(name="x", children=["y"], source="/a"), "y": Group(name="y", source="/a")})
    incoming = Inventory(groups={"y": Group(name="y", children=["x"]), "x": Group(name="x")})
    with pytest.raises(UsageError, match="group cycle"):
        plan_import(current, incoming, "/b")


def test_the_seeded_host_is_taken_over_by_the_first_import_naming_it(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mine.yaml"
    path.write_text("assets:\n  - {name: localhost, address: 127.0.0.1, groups: [agent], vars: {site: hq}}\n")
    result = run("inventory", "import", str(path))
    assert result.exit_code == 0, result.output
    assert effective(run, "localhost") == {"site": "hq"}
    shown = json.loads(run("inventory", "show", "localhost", "-o", "json").output)
    assert shown["source"] == str(path.resolve())
    # The seeded 'agent' group, only named here, keeps its description.
    exported = run("inventory", "export", "agent").output
    assert "The machine running opsagent itself" in exported
