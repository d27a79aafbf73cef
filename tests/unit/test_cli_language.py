"""Every word the CLI writes itself is in the Chinese catalog, and a zh agent speaks Chinese."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from opsagent.cli import cli
from opsagent.i18n.zh import ZH

CLI = Path(__file__).resolve().parents[2] / "opsagent" / "cli"
OUTPUT_CALLS = {"echo", "print", "print_table", "secho", "BadParameter", "UsageError", "ClickException", "confirm"}


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _words(node: ast.expr) -> bool:
    """A literal a person reads: a string (or f-string) with letters in its own text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and any(c.isalpha() for c in str(v.value)) for v in node.values)
    return False


def _calls() -> list[tuple[str, int, ast.Call]]:
    out = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                out.append((path.name, node.lineno, node))
    return out


def _catalog_texts() -> list[tuple[str, int, str]]:
    """Literals the CLI translates: tr()'s text, and print_table's title and column headers."""
    out = []
    for f, line, c in _calls():
        args: list[ast.expr] = []
        if _name(c.func) == "tr":
            args = list(c.args[:1])
        elif _name(c.func) == "print_table" and len(c.args) > 1:
            second = c.args[1]
            args = [c.args[0], *(second.elts if isinstance(second, ast.List | ast.Tuple) else [])]
        out += [(f, line, a.value) for a in args if _words(a) and isinstance(a, ast.Constant)]
    return out


def test_every_tr_text_has_a_chinese_entry() -> None:
    texts = _catalog_texts()
    assert texts
    missing = [(f, line, t) for f, line, t in texts if t not in ZH]
    assert not missing, missing


def test_cli_output_goes_through_the_catalog() -> None:
    """No message, title or column header of the CLI is a bare English literal."""
    bare = []
    for f, line, call in _calls():
        if _name(call.func) not in OUTPUT_CALLS:
            continue
        args = list(call.args[:1])
        if _name(call.func) == "print_table":  # translates literal titles and headers itself
            args = [a for a in args if isinstance(a, ast.JoinedStr)]
        bare += [(f, line) for a in args if _words(a)]
    assert not bare, bare


def test_a_zh_agent_answers_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "opsagent.yaml").write_text("language: zh\n")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "opsagent.yaml"), "check"])
    assert result.exit_code == 0, result.output
    assert "全部有效" in result.output
    (tmp_path / "opsagent.yaml").write_text("language: en\n")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "opsagent.yaml"), "check"])
    assert "all valid" in result.output


def test_table_headers_follow_the_language_but_tsv_keeps_its_keys(tmp_path: Path) -> None:
    (tmp_path / "opsagent.yaml").write_text(f"language: zh\nhome: {tmp_path}\n")
    args = ["--config", str(tmp_path / "opsagent.yaml"), "--store", f"sqlite:///{tmp_path / 'o.db'}"]
    plain = CliRunner().invoke(cli, [*args, "inventory", "list"])
    assert plain.exit_code == 0, plain.output
    assert plain.output.split()[:3] == ["名称", "类型", "地址"]
    tsv = CliRunner().invoke(cli, [*args, "inventory", "list", "-o", "tsv"])
    assert tsv.output.splitlines()[0].split("\t")[:3] == ["name", "kind", "address"]
