"""Reports of runs whose target output is hostile: the Markdown report is inert text."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.inventory.model import Asset, Inventory
from opsagent.runbooks import report as reports
from opsagent.runbooks.approvals import AutoApprover
from opsagent.runbooks.context import RunRequest
from opsagent.runbooks.executor import Executor
from opsagent.store import Store
from opsagent.store import runbook_repo as runs
from tests.unit.test_runbook_executor import book

HOSTILE = "<script>alert(1)</script> [click](javascript:alert(2)) `x` a|b"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'rb.db'}")
    yield s  # type: ignore[misc]
    s.close()


async def test_markdown_report_escapes_target_output(store: Store) -> None:
    rb = book(
        "name: hostile\nkind: inspection\nsteps:\n"
        "  - name: out\n"
        f"    shell: printf '%s' '{HOSTILE}'\n"
        "    check:\n"
        "      - warn: 'true'\n"
        "        message: '{{ result.stdout }}'\n"
    )
    inv = Inventory(assets={"h0": Asset(name="h0")})
    result = await Executor(store, inv, AutoApprover(store, "t")).run(RunRequest(rb, actor="<b>t</b>"))
    assert result.run_id is not None
    run = runs.get_run(store, result.run_id)
    assert run is not None and run["steps"][0]["checks"][0]["value"] == HOSTILE
    text = reports.render_markdown(run)
    assert "<script>" not in text and "<b>" not in text and "[click](" not in text
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" not in text  # parentheses stay readable
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\[click\\](javascript:alert(2)) \\`x\\` a\\|b" in text
    assert "&lt;b&gt;t&lt;/b&gt;" in text
