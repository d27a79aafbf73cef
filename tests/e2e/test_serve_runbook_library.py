"""`opsagent serve` with a broken runbook file starts and serves every valid runbook; the broken
file is logged with file:line; a reload keeps a runbook's last good version."""

from __future__ import annotations

import json
from pathlib import Path

from opsagent.app import App
from opsagent.config import load_config
from opsagent.runbooks.triggers import RunbookService
from tests.e2e.agent import start_agent, wait_until

GOOD = "name: good\ndescription: ok\ntargets: localhost\nsteps:\n  - {name: hello, shell: 'echo hello'}\n"
BROKEN = "name: broken\nkind: bogus\nsteps:\n  - {name: x, shell: 'true'}\n"


def _content(tmp_path: Path) -> tuple[Path, Path]:
    home, content = tmp_path / "home", tmp_path / "content"
    (content / "runbooks").mkdir(parents=True)
    home.mkdir()
    (home / "opsagent.yaml").write_text(f"content_roots: ['{content}']\n")
    (content / "runbooks" / "good.yaml").write_text(GOOD)
    (content / "runbooks" / "broken.yaml").write_text(BROKEN)
    return home, content


def test_serve_starts_with_a_broken_runbook_and_serves_the_others(tmp_path: Path) -> None:
    home, content = _content(tmp_path)
    agent = start_agent(home)
    try:
        status, _ctype, body = agent.get("/api/v1/runbooks")
        assert status == 200
        names = {r["name"] for r in json.loads(body)}
        assert "good" in names and "linux-host-inspection" in names and "broken" not in names
        broken = content / "runbooks" / "broken.yaml"
        wait_until(lambda: f"{broken}:2:" in agent.log.read_text(), 30, "the broken file in the log", agent.log)
    finally:
        agent.stop()


def test_a_reload_keeps_the_last_good_version(tmp_path: Path) -> None:
    home, content = _content(tmp_path)
    config = load_config(home / "opsagent.yaml", environ={"OPSAGENT_HOME": str(home)})
    with App(config) as app:
        service = RunbookService(app, RunbookService(app, {}).reload())
        good = service.entries["good"]
        (content / "runbooks" / "good.yaml").write_text(GOOD.replace("steps:", "steps: [half-edited"))
        (content / "runbooks" / "new.yaml").write_text(GOOD.replace("name: good", "name: new"))
        fresh = service.reload()
        assert service.entries["good"] is good and "new" in service.entries
        assert any(str(i).startswith(f"{content / 'runbooks' / 'good.yaml'}:") for i in fresh.issues)
