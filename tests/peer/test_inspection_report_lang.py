"""An inspection whose only target could not be reached: the zh report says so (never "all checks
passed", never "错误 0"), its status words are Chinese, and the agent's language and zone apply."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.peer.rbhelpers import Home, import_inventory, make_home, ssh_asset
from tests.peer.test_runbooks_ssh import DISK_CHECK
from tests.peers.ports import free_port
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer


def test_zh_report_of_an_unreachable_only_run(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home: Home = make_home(tmp_path, monkeypatch)
    config = home.path / "opsagent.yaml"
    config.write_text(config.read_text() + "language: zh\ntimezone: Asia/Shanghai\n")
    import_inventory(home, [ssh_asset(sshd_server, "h-down", port=free_port())])
    home.runbook("inspection/disk-check.yaml", DISK_CHECK)
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    result = home.cli("runbook", "run", "disk-check", "--report", str(md))  # no --lang: the agent's language
    assert result.exit_code == 1, result.output
    text = md.read_text()
    assert "巡检报告" in text
    assert "全部检查项通过" not in text and "未完成任何巡检" in text
    assert "状态: 失败" in text and "failed" not in text
    assert "h-down: 无法连接" in text
    assert "❗ 1" in text  # the unreachable target counts as an error
    assert "UTC+08:00" in text  # times in the agent's zone, labelled
    run_id = int(re.search(r"执行 #(\d+)", result.output).group(1))  # type: ignore[union-attr]  # the CLI speaks zh
    assert home.cli("runbook", "show", str(run_id), "--report", str(html)).exit_code == 0
    page = html.read_text()
    assert "错误 1" in page and "错误 0" not in page and "未完成任何巡检" in page
    assert home.cli("runbook", "show", str(run_id), "--report", str(md), "--lang", "en").exit_code == 0
    assert "Nothing was inspected" in md.read_text() and "Status: failed" in md.read_text()
