"""Seeded fuzzing of every loader (issue 20): whatever a user writes ends in a ConfigError whose every
issue names its file and line — never another exception.

Each loader gets a few hundred inputs in all, from three sources: a shipped (valid) file of its kind
with random nodes replaced, documents built from the loader's own vocabulary, and raw text. The runs
are derandomized (the same inputs every time) and bounded so the whole module takes seconds.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsagent.collectors import options_models
from opsagent.config import load_config, shipped_content_root
from opsagent.content import check_file
from opsagent.errors import ConfigError
from opsagent.inventory.importers import load_inventory_file
from opsagent.inventory.importers.ansible import load_ansible

ROOT = shipped_content_root()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inventories"
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
MODELS = options_models()

# --- values and documents ----------------------------------------------------------------------------

_WORDS = [
    "name",
    "kind",
    "address",
    "groups",
    "vars",
    "collectors",
    "options",
    "interval",
    "timeout",
    "steps",
    "targets",
    "expr",
    "for",
    "labels",
    "annotations",
    "rules",
    "alert",
    "record",
    "match",
    "severity",
    "checks",
    "command",
    "parser",
    "when",
    "register",
    "check",
    "fail",
    "warn",
    "ssh",
    "sql",
    "shell",
    "query",
    "params",
    "holidays",
    "calendar",
    "receivers",
    "url",
    "tables",
    "oid",
    "metrics",
    "children",
    "credentials",
    "password",
    "community",
    "listen",
    "store",
    "content_roots",
    "traps",
    "users",
    "all",
    "hosts",
    "ansible_host",
    "ansible_port",
    "ansible_connection",
    "ansible_user",
    "profile",
    "snmp",
]
_TEXT = st.one_of(
    st.sampled_from(_WORDS),
    st.sampled_from(
        [
            "",
            " ",
            "1s",
            "500ms",
            "-5m",
            "2hours",
            "1e999",
            "nan",
            "{{ x }}",
            "{{",
            "{% if %}",
            "env:X",
            "file:/nonexistent",
            "env:",
            "0x10",
            "a..b",
            "*",
            "[",
            "]",
            "}",
            "~",
            "null",
            "yes",
            "no",
            "2023-02-29",
            "127.0.0.1:99999",
            "10.0.0.1",
            "::1",
            "up == 0",
            "rate(x[5m])",
            "1.3.6.1.2.1.1",
            "a" * 300,
            "中文",
            "\u202e",
            "\x85",
            "\t",
        ]
    ),
    st.text(max_size=12),
)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
)
VALUES = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)


_CONFUSION = st.sampled_from(
    [{}, [], None, True, 0, -1, 2**64, 1e308, "", "x", [1], {"a": 1}, [{}], "2023-02-28", "1s", "env:X", "{{ x }}"]
)
_REPLACEMENT = st.one_of(_CONFUSION, VALUES)


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {str(k) for k in node} | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*here, index))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: _replace(v, rest, value) if k == head else v for k, v in node.items()}
    return [_replace(v, rest, value) if i == head else v for i, v in enumerate(node)]


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> str:
    """The base document with one to three nodes replaced, or keys of its own vocabulary added to its
    mappings with values of the wrong type."""
    doc = base
    vocabulary = sorted(_keys(base) | set(_WORDS))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        value = draw(_REPLACEMENT)
        target = doc
        for part in path:
            target = target[part]
        if isinstance(target, dict) and draw(st.booleans()):
            value = {**target, draw(st.sampled_from(vocabulary)): value}
        doc = _replace(doc, path, value)
    return _dump(doc)


_YAML_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            [
                "a: 1",
                "- x",
                "  b: &x [1, 2]",
                "c: *x",
                "d: *missing",
                "e: !!binary AAAA",
                "f: !!python/name:os.system",
                "g: 2026-02-29",
                "h: {",
                "i: '",
                "  - 1",
                "? [1]",
                ": 2",
                "---",
                "...",
                "%YAML 1.1",
                "j: |",
                "k: >-",
                "l: !!int 0x",
                "m: &a [*a]",
                "<<: *x",
                "n: \t1",
                "o: \x07",
                "steps: []",
                "name: ''",
            ]
        ),
        max_size=8,
    ).map("\n".join),
)


def documents(base: Any) -> st.SearchStrategy[str]:
    return st.one_of(mutated(base), VALUES.map(_dump), _YAML_TEXT)


# --- the harness -------------------------------------------------------------------------------------


def _assert_clean(load: Callable[[], object]) -> None:
    try:
        load()
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.line is not None and issue.line >= 1, str(issue)
            assert "Traceback" not in issue.message


def _yaml_base(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _check_content(tmp_path: Path, folder: str, text: str, name: str = "fuzz.yaml") -> None:
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    _assert_clean(lambda: check_file(path, MODELS, receivers={"ops", "dba"}))


CONTENT = {
    "inventory": ("inventory", ROOT / "inventory" / "example.yaml"),
    "rule file": ("alerts", ROOT / "alerts" / "node.rules.yaml"),
    "service-level policy": ("alerts", ROOT / "alerts" / "service-levels.yaml"),
    "notifications": ("alerts", ROOT / "alerts" / "notifications.yaml"),
    "trap rules": ("alerts", ROOT / "alerts" / "traps.yaml"),
    "runbook": ("runbooks", ROOT / "runbooks" / "emergency" / "disk-full.yaml"),
    "ssh profile": ("collectors/ssh", ROOT / "collectors" / "ssh" / "linux.yaml"),
    "snmp profile": ("collectors/snmp", ROOT / "collectors" / "snmp" / "if_mib.yaml"),
    "postgres profile": ("collectors/postgres", ROOT / "collectors" / "postgres" / "default.yaml"),
}


@pytest.mark.parametrize("kind", sorted(CONTENT))
def test_content_loaders(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder, base_path = CONTENT[kind]
    base = _yaml_base(base_path)
    tmp = tmp_path_factory.mktemp("fuzz")

    @FUZZ
    @given(text=documents(base))
    def run(text: str) -> None:
        _check_content(tmp, folder, text, base_path.name)

    run()


def test_agent_config(tmp_path: Path) -> None:
    base = {
        "listen": "127.0.0.1:9810",
        "content_roots": ["extra"],
        "max_concurrent_polls": 8,
        "collector_settings": {"ssh": {"max_workers": 4}},
        "api_token_ref": "env:TOKEN",
        "traps": {"listen": "127.0.0.1:1162", "communities": ["env:C"]},
    }
    path = tmp_path / "opsagent.yaml"

    @FUZZ
    @given(text=documents(base))
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        _assert_clean(lambda: load_config(path, environ={}))

    run()


def test_native_inventory_import(tmp_path: Path) -> None:
    base = _yaml_base(ROOT / "inventory" / "example.yaml")
    path = tmp_path / "inv.yaml"

    @FUZZ
    @given(text=documents(base))
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        _assert_clean(lambda: load_inventory_file(path, "yaml"))

    run()


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


@st.composite
def csv_documents(draw: st.DrawFn, base: list[list[str]]) -> str:
    rows = [list(r) for r in base]
    for _ in range(draw(st.integers(1, 4))):
        row = draw(st.integers(0, len(rows) - 1))
        col = draw(st.integers(0, max(len(rows[row]) - 1, 0)))
        value = draw(_TEXT)
        if rows[row]:
            rows[row][col] = value
        if draw(st.integers(0, 5)) == 0:
            rows[row].append(value)
    return _csv_text(rows)


def test_csv_import(tmp_path: Path) -> None:
    text = (FIXTURES / "assets.csv").read_text(encoding="utf-8-sig")
    base = list(csv.reader(io.StringIO(text)))
    path = tmp_path / "assets.csv"

    @FUZZ
    @given(text=st.one_of(csv_documents(base), st.text(max_size=60)))
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        _assert_clean(lambda: load_inventory_file(path, "csv"))

    run()


_INI_LINES = [
    "[web]",
    "[web:vars]",
    "[web:children]",
    "[all:vars]",
    "[bad",
    "web[01:03].example.com",
    "web[a:c]",
    "web[1:]",
    "host ansible_host=10.0.0.1 ansible_port=22",
    "host ansible_port=99999",
    "h ansible_port=x",
    "h ansible_password=secret",
    "h ansible_connection=network_cli",
    "x=1",
    "x='unterminated",
    'y="a b"',
    "h opsagent_kind=router",
    "db",
    "=",
    "a=b=c",
    "h ansible_host=",
    "[web:children]\nweb",
    "#comment",
    ";c",
]


def test_ansible_ini_import(tmp_path: Path) -> None:
    base = (FIXTURES / "ansible" / "hosts").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "hosts"

    @st.composite
    def ini(draw: st.DrawFn) -> str:
        lines = list(base)
        for _ in range(draw(st.integers(1, 4))):
            index = draw(st.integers(0, len(lines)))
            lines.insert(index, draw(st.one_of(st.sampled_from(_INI_LINES), _TEXT)))
        return "\n".join(lines) + "\n"

    @FUZZ
    @given(text=st.one_of(ini(), st.text(max_size=60)))
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        _assert_clean(lambda: load_ansible(path))

    run()


def test_ansible_yaml_import(tmp_path: Path) -> None:
    base = _yaml_base(FIXTURES / "ansible" / "hosts.yml")
    path = tmp_path / "hosts.yml"

    @FUZZ
    @given(text=documents(base))
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        _assert_clean(lambda: load_ansible(path))

    run()


def test_ansible_json_import(tmp_path: Path) -> None:
    """``ansible-inventory --list`` output, which YAML may reject (tabs) and JSON then reads."""
    base = _yaml_base(FIXTURES / "ansible" / "hosts.yml")
    path = tmp_path / "inventory.json"

    @st.composite
    def as_json(draw: st.DrawFn) -> str:
        data = yaml.safe_load(draw(mutated(base)))
        text = json.dumps(data, default=str, indent="\t" if draw(st.booleans()) else None)
        return text if draw(st.booleans()) else "[" * draw(st.integers(0, 5000)) + text

    @FUZZ
    @given(text=as_json())
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        _assert_clean(lambda: load_ansible(path))

    run()


def test_the_harness_finds_a_traceback() -> None:
    """The assertion above is the whole test: make sure it would fail on a crash."""
    with pytest.raises(ZeroDivisionError):
        _assert_clean(lambda: 1 / 0)
    with pytest.raises(AssertionError):
        _assert_clean(lambda: (_ for _ in ()).throw(ConfigError([])))
    assert math.isfinite(1.0)
