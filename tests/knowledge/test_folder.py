"""A knowledge base as a folder of Markdown files with YAML front matter: a round trip through a real store,
hostile files end in ``file:line: field: message`` and exit 2 (never a traceback), fuzzed front matter."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsagent.cli import cli
from opsagent.errors import ConfigError
from opsagent.knowledge import folder, repo
from opsagent.knowledge.model import Change
from opsagent.store import Store
from tests.knowledge import corpus

pytestmark = pytest.mark.peer


def _files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.md"))}


def test_export_import_export_round_trip(kb_store: Store, tmp_path: Path) -> None:
    from opsagent.store import sqlite_url

    corpus.load(kb_store)
    first = tmp_path / "first"
    folder.export_folder(kb_store, first)
    assert "vpn-809.zh.md" in _files(first) and "vpn-809.en.md" in _files(first)
    other = Store(sqlite_url(tmp_path / "other.db"))
    try:
        assert folder.import_folder(other, first, "git")["created"] == len(corpus.ARTICLES)
        assert folder.import_folder(other, first, "git") == {
            "created": 0,
            "updated": 0,
            "unchanged": len(corpus.ARTICLES),
        }
        second = tmp_path / "second"
        folder.export_folder(other, second)
        assert _files(second) == _files(first)
        vpn = repo.get(other, repo.by_key(other, "vpn-809"))  # type: ignore[arg-type]
        assert vpn is not None and set(vpn["translations"]) == {"zh", "en"} and vpn["alerts"] == ["VpnTunnelDown"]
    finally:
        other.close()
    # an edit in git comes back as a new version; the store's edit goes out on the next export
    path = first / "vpn-809.zh.md"
    path.write_text(path.read_text(encoding="utf-8").replace("错误 809", "错误 809/868"), encoding="utf-8")
    assert folder.import_folder(kb_store, first, "git")["updated"] == 1
    article_id = repo.by_key(kb_store, "vpn-809")
    assert article_id is not None and repo.versions(kb_store, article_id)[-1]["author"] == "git"
    repo.edit(kb_store, article_id, Change(lang="en", title="VPN error 809 or 868"), "alice")
    folder.export_folder(kb_store, first)
    assert "title: VPN error 809 or 868" in (first / "vpn-809.en.md").read_text(encoding="utf-8")


GOOD = "---\nkey: k1\nlang: zh\ntitle: 标题\nstatus: published\n---\n正文\n"

HOSTILE = {
    "no-front.zh.md": ("正文\n", 1, "no front matter"),
    "unclosed.zh.md": ("---\ntitle: x\n", 1, "not closed"),
    "syntax.zh.md": ("---\ntitle: [x\nstatus: draft\n---\n", 3, "YAML syntax error"),
    "field.zh.md": ("---\ntitle: x\nstatus: gone\n---\n", 3, "status"),
    "extra.zh.md": ("---\ntitle: x\n\nowner: me\n---\n", 4, "owner"),
    "dup.zh.md": ("---\ntitle: x\ntitle: y\n---\n", 3, "duplicate key"),
    "list.zh.md": ("---\n- a\n---\n", 2, "must be a mapping"),
    "lang.zh.md": ("---\ntitle: x\nlang: en\n---\n", 3, "file name says zh"),
    "nolang.md": ("---\ntitle: x\n---\n", 2, "lang"),
    "tag.zh.md": ("---\ntitle: x\ntags:\n  - ok\n  - !!binary aGk=\n---\n", 5, "not supported"),
    "bomb.zh.md": (
        "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\ntitle: x\n---\n",
        None,
        "excessive aliasing",
    ),
    "key.zh.md": ("---\ntitle: x\nkey: ../../etc/passwd\n---\n", 3, "key"),
    "incident.zh.md": ("---\ntitle: x\nincidents: [-1]\n---\n", 3, "incidents"),
    "control.zh.md": ('---\ntitle: "a\\x01b"\n---\n', 2, "title"),
}


def test_hostile_files_give_every_error_with_its_line_and_exit_2(tmp_path: Path) -> None:
    for name, (text, _, _) in HOSTILE.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "binary.zh.md").write_bytes(b"---\ntitle: \xff\xfe\n---\n")
    (tmp_path / "ok.zh.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "k1.zh.md").write_text(GOOD.replace("正文", "again"), encoding="utf-8")  # same key and language
    with pytest.raises(ConfigError) as caught:
        folder.read_folder(tmp_path)
    messages = [str(i) for i in caught.value.issues]
    for name, (_, line, words) in HOSTILE.items():
        mine = [m for m in messages if m.startswith(str(tmp_path / name) + ":")]
        assert mine, f"{name}: no error in {messages}"
        assert any(words in m for m in mine), mine
        if line is not None:
            assert any(m.startswith(f"{tmp_path / name}:{line}:") for m in mine), mine
    assert any(m.startswith(f"{tmp_path / 'binary.zh.md'}:2: not valid UTF-8") for m in messages)
    assert any("k1.zh.md" in m and "is also in" in m for m in messages)

    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["--store", f"sqlite:///{home}/s.db", "kb", "import", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "field.zh.md:3: status:" in result.output


def test_translations_of_one_article_must_agree(tmp_path: Path) -> None:
    (tmp_path / "a.zh.md").write_text("---\ntitle: 甲\nstatus: published\n---\n", encoding="utf-8")
    (tmp_path / "a.en.md").write_text("---\ntitle: A\nstatus: draft\n---\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        folder.read_folder(tmp_path)
    assert [str(i) for i in caught.value.issues] == [
        f"{tmp_path / 'a.zh.md'}:3: status: differs from {tmp_path / 'a.en.md'} (one article)"
    ]


_YAMLISH = st.text(alphabet=string.printable + "打印机：，、「」—\u3000\ufeff\x00\x1b", max_size=300)
_LINES = st.lists(
    st.sampled_from(
        [
            "title: 打印机",
            "lang: zh",
            "status: published",
            "tags: [a, b]",
            "tags:",
            "  - x",
            "key: a.b",
            "alerts: &a [X]",
            "runbooks: *a",
            "incidents: [1, 2]",
            "---",
            "...",
            "? x",
            "!!python/object:os.system x",
            "title: |",
            "  多行",
            "visibility: requesters",
            "category: 网络",
            "- item",
            "{",
            "]",
            "\t",
            "",
        ]
    ),
    max_size=15,
)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=_LINES, noise=_YAMLISH, body=_YAMLISH)
def test_fuzzed_front_matter_is_parsed_or_located(head: list[str], noise: str, body: str) -> None:
    text = "---\n" + "\n".join(head) + "\n" + noise + "\n---\n" + body
    try:
        parsed = folder.parse_text(text, "fuzz.zh.md")
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.path == "fuzz.zh.md" and (issue.line is None or 1 <= issue.line <= text.count("\n") + 2)
        return
    assert parsed.translation.lang == "zh" and parsed.translation.title
