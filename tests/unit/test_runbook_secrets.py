"""Secrets in runbook runs: every credential a run may touch is registered before its first step and
redacted from everything stored (commands, outputs, messages, check values/messages/thresholds);
``shell`` steps get an allow-listed environment; sensitive ``-e`` values never reach a rendered command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from opsagent.inventory.model import Asset, Inventory
from opsagent.runbooks import report as reports
from opsagent.runbooks.approvals import AutoApprover
from opsagent.runbooks.context import RunRequest
from opsagent.runbooks.executor import Executor
from opsagent.runbooks.steps import shell_environment
from opsagent.store import Store
from opsagent.store import runbook_repo as runs
from tests.unit.test_runbook_executor import book

PASSWORD = "Pg-s3cr3t-4711"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'rb.db'}")
    yield s  # type: ignore[misc]
    s.close()


def _stored_text(store: Store, run_id: int) -> str:
    run = runs.get_run(store, run_id)
    assert run is not None
    everything = json.dumps(run, default=str)
    for fmt in ("json", "html", "markdown"):
        everything += reports.render(run, fmt)
    return everything


async def _run(store: Store, text: str, asset: Asset, **kw: object) -> int:
    executor = Executor(store, Inventory(assets={asset.name: asset}), AutoApprover(store, "tester"))
    result = await executor.run(RunRequest(book(text), actor="tester", **kw))  # type: ignore[arg-type]
    assert result.run_id is not None
    return result.run_id


async def test_a_credential_printed_before_any_step_used_it_is_redacted_everywhere(
    store: Store, tmp_path: Path
) -> None:
    secret_file = tmp_path / "pgpw"
    secret_file.write_text(PASSWORD + "\n")
    secret_file.chmod(0o600)
    conf = tmp_path / "app.conf"
    conf.write_text(f"host=db1\npassword={PASSWORD}\n")
    asset = Asset(name="db1", credentials={"postgres": {"user": "mon", "password": f"file:{secret_file}"}})
    text = f"""
name: leak
kind: inspection
steps:
  - name: print the credential
    shell: cat {secret_file}
  - name: config line
    shell: grep password {conf}
    value: "{{{{ result.stdout }}}}"
    check:
      - warn: "'password' in result.stdout"
        message: "found {{{{ result.stdout }}}}"
        threshold: "{{{{ result.stdout }}}}"
"""
    run_id = await _run(store, text, asset)
    stored = _stored_text(store, run_id)
    assert PASSWORD not in stored
    assert "***" in stored
    run = runs.get_run(store, run_id)
    assert run is not None
    check = run["steps"][1]["checks"][0]
    assert check == {"status": "warn", "message": "found password=***", "value": "password=***",
                     "threshold": "password=***"}  # fmt: skip


async def test_shell_steps_get_an_allow_listed_environment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_PW", PASSWORD)
    monkeypatch.setenv("LC_TIME", "C")
    text = """
name: env
steps:
  - name: env
    shell:
      command: env
      env: {MINE: "1"}
"""
    run_id = await _run(store, text, Asset(name="h0"))
    run = runs.get_run(store, run_id)
    assert run is not None
    out = run["steps"][0]["stdout"]
    names = {line.split("=", 1)[0] for line in out.splitlines() if "=" in line}
    assert PASSWORD not in out and "PG_PW" not in names
    assert {"PATH", "MINE", "LC_TIME", "OPSAGENT_ASSET"} <= names
    assert set(shell_environment({"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "x", "LC_ALL": "C"})) == {"PATH", "LC_ALL"}


async def test_a_sensitive_parameter_is_redacted_from_the_rendered_command_and_output(store: Store) -> None:
    text = """
name: param
parameters:
  db_password: {type: str, required: true}
  api_token: {type: str, default: "tok-default-xyz"}
steps:
  - name: use it
    shell: "echo connecting with {{ db_password }} and {{ api_token }}"
"""
    run_id = await _run(store, text, Asset(name="h0"), params={"db_password": "Hunter2-very-secret"})
    stored = _stored_text(store, run_id)
    assert "Hunter2-very-secret" not in stored and "tok-default-xyz" not in stored
    run = runs.get_run(store, run_id)
    assert run is not None
    assert run["parameters"] == {"db_password": "***", "api_token": "***"}
    assert run["steps"][0]["command"] == "echo connecting with *** and ***"


async def test_agent_tokens_and_secret_vars_are_registered_too(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_API_TOKEN_T", "api-tok-998877")
    monkeypatch.setenv("VAULT_DB", "var-secret-665544")
    asset = Asset(name="h0", vars={"db_password": "env:VAULT_DB"})
    executor = Executor(
        store, Inventory(assets={"h0": asset}), AutoApprover(store, "t"), secrets=["env:OPSAGENT_API_TOKEN_T"]
    )
    rb = book("name: t\nsteps:\n  - name: s\n    shell: echo api-tok-998877 var-secret-665544\n")
    result = await executor.run(RunRequest(rb, actor="t"))
    assert result.run_id is not None
    out = _stored_text(store, result.run_id)
    assert "api-tok-998877" not in out and "var-secret-665544" not in out
    assert os.environ["VAULT_DB"] == "var-secret-665544"
