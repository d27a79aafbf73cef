"""A step's ``approve: {approvers: […]}`` reaches the approval on record, so the API, the CLI and the
console refuse a decision by anyone else (it was dropped: any engineer could approve); the console's
per-field parameter errors come from the same checks a run makes when it starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from opsagent.inventory.model import Asset, Inventory
from opsagent.loader import parse_yaml_text, validate
from opsagent.runbooks.approvals import StoreApprover
from opsagent.runbooks.context import ParameterError, RunRequest, parameter_errors, resolve_params
from opsagent.runbooks.executor import Executor
from opsagent.runbooks.model import Runbook
from opsagent.store import Store
from opsagent.store import runbook_repo as runs

BOOK = """
name: guarded
kind: emergency
parameters:
  count: {type: int, required: true}
  level: {type: choice, choices: [low, high], default: low}
  note: {type: str, default: x}
steps:
  - name: confirm
    approve: {message: "go?", approvers: [alice]}
  - name: act
    shell: echo done
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'rb.db'}")
    yield s  # type: ignore[misc]
    s.close()


def book(text: str = BOOK) -> Runbook:
    return validate(parse_yaml_text(text, "test.yaml"), Runbook)


async def test_only_a_named_approver_may_decide_a_step(store: Store) -> None:
    executor = Executor(store, Inventory(assets={"h0": Asset(name="h0")}), StoreApprover(store))
    task = asyncio.create_task(executor.run(RunRequest(book(), params={"count": "2"}, actor="bob")))
    for _ in range(200):
        pending = runs.list_approvals(store)
        if pending:
            break
        await asyncio.sleep(0.05)
    assert pending and pending[0]["approvers"] == ["alice"]
    with pytest.raises(PermissionError, match="bob is not among the approvers"):
        runs.decide(store, pending[0]["id"], True, "bob", "mine")
    assert runs.decide(store, pending[0]["id"], True, "alice", "ok") is not None
    result = await asyncio.wait_for(task, 60)
    assert result.status == "succeeded"


def test_parameter_errors_name_every_bad_field_as_a_run_would() -> None:
    rb = book()
    errors = parameter_errors(rb, {"level": "medium"})
    assert set(errors) == {"count", "level"}
    assert "required" in errors["count"] and "one of low, high" in errors["level"]
    for name in errors:  # the very message resolve_params raises when the run starts
        with pytest.raises(ParameterError) as raised:
            resolve_params(rb, {"level": "medium"} if name == "count" else {"count": "2", "level": "medium"})
        assert str(raised.value) in errors.values()
    assert parameter_errors(rb, {"count": "3", "level": "high"}) == {}
    assert parameter_errors(rb, {"count": "three"})["count"].startswith("parameter count: 'three' is not a valid int")
