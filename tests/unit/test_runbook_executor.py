"""The executor on local shell steps (no network): blocks with rescue/always and retry, retries
with until, when, register, checks, serial batches, max_fail_percentage, parameters, templating."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsagent.errors import ConfigError
from opsagent.inventory.model import Asset, Inventory
from opsagent.loader import parse_yaml_text, validate
from opsagent.runbooks.approvals import AutoApprover
from opsagent.runbooks.context import Observer, RunbookError, RunRequest, parse_extra_vars
from opsagent.runbooks.executor import Executor, batch_sizes
from opsagent.runbooks.model import Runbook
from opsagent.runbooks.results import RunResult, TargetResult
from opsagent.runbooks.templating import RenderError, Templar
from opsagent.store import Store
from opsagent.store import runbook_repo as runs


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'rb.db'}")
    yield s  # type: ignore[misc]
    s.close()


def inventory(n: int = 1, **variables: Any) -> Inventory:
    assets = {f"h{i}": Asset(name=f"h{i}", vars={"idx": i, **variables}) for i in range(n)}
    return Inventory(assets=assets)


def book(text: str) -> Runbook:
    return validate(parse_yaml_text(text, "test.yaml"), Runbook)


class Order(Observer):
    def __init__(self) -> None:
        self.targets: list[str] = []

    def target_done(self, result: TargetResult) -> None:
        self.targets.append(result.asset)


async def run(store: Store, rb: Runbook, inv: Inventory, observer: Observer | None = None, **kw: Any) -> RunResult:
    executor = Executor(store, inv, AutoApprover(store, "tester"), observer)
    return await executor.run(RunRequest(rb, actor="tester", **kw))


def steps_of(store: Store, result: RunResult, asset: str = "h0") -> dict[str, dict[str, Any]]:
    assert result.run_id is not None
    detail = runs.get_run(store, result.run_id)
    assert detail is not None
    return {s["path"]: s for s in detail["steps"] if s["asset"] == asset}


async def test_block_rescue_always_and_block_retry(store: Store, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    rb = book(f"""
name: b
steps:
  - name: guarded
    retries: 2
    delay: 0
    block:
      - name: flaky
        shell: "echo x >> {counter}; test $(wc -l < {counter}) -ge 3"
    always:
      - name: cleanup
        shell: "echo always"
  - name: after
    shell: "echo after"
""")
    result = await run(store, rb, inventory())
    assert result.status == "succeeded"
    assert counter.read_text().count("x") == 3  # the whole block ran three times
    steps = steps_of(store, result)
    assert steps["guarded"]["attempts"] == 3 and steps["guarded"]["status"] == "ok"
    assert steps["guarded ▸ always ▸ cleanup"]["stdout"] == "always\n"
    assert steps["after"]["status"] == "ok"


async def test_rescue_recovers_and_always_runs_after_failure(store: Store) -> None:
    rb = book("""
name: r
steps:
  - name: b
    block:
      - {name: boom, shell: "exit 4"}
      - {name: skipped by failure, shell: "echo no"}
    rescue:
      - {name: fix, shell: "echo fixed"}
    always:
      - {name: tidy, shell: "echo tidy"}
""")
    result = await run(store, rb, inventory())
    steps = steps_of(store, result)
    assert result.status == "succeeded"
    assert steps["b ▸ boom"]["rc"] == 4 and "b ▸ skipped by failure" not in steps
    assert steps["b ▸ rescue ▸ fix"]["status"] == "ok" and steps["b ▸ always ▸ tidy"]["status"] == "ok"


async def test_retries_until_register_when_and_ignore_errors(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "n"
    rb = book(f"""
name: u
steps:
  - name: count up
    shell: "echo 1 >> {f}; wc -l < {f}"
    retries: 5
    delay: 0
    until: "result.stdout | int >= 3"
    register: counted
  - name: only when three
    shell: "echo three"
    when: "counted.stdout | int == 3"
  - name: never
    shell: "echo never"
    when: "counted.stdout | int == 99"
  - name: tolerated
    shell: "exit 2"
    ignore_errors: true
  - name: reached
    shell: "echo {{{{ counted.attempts }}}}"
""")
    result = await run(store, rb, inventory())
    steps = steps_of(store, result)
    assert steps["count up"]["attempts"] == 3
    assert steps["only when three"]["status"] == "ok" and steps["never"]["status"] == "skipped"
    assert steps["tolerated"]["status"] == "failed (ignored)"
    assert steps["reached"]["stdout"] == "3\n" and result.status == "succeeded"


async def test_task_check_failure_fails_the_step_and_runs_on_failure(store: Store) -> None:
    rb = book("""
name: t
kind: task
steps:
  - name: measure
    shell: "echo 97"
    register: m
    check:
      - {fail: "m.stdout | int > 95", message: "too high: {{ m.stdout }}"}
    on_failure:
      - {name: handler, shell: "echo handling {{ failed_step.stdout }}"}
  - {name: not reached, shell: "echo"}
""")
    result = await run(store, rb, inventory())
    steps = steps_of(store, result)
    assert result.status == "failed"
    assert steps["measure"]["status"] == "failed" and steps["measure"]["message"] == "too high: 97"
    assert steps["measure ▸ on_failure ▸ handler"]["stdout"] == "handling 97\n"
    assert "not reached" not in steps


async def test_serial_batches_and_max_fail_percentage(store: Store) -> None:
    rb = book("""
name: s
serial: [1, 2]
max_fail_percentage: 40
steps:
  - name: fail on h1 and h2
    shell: "test {{ idx }} -eq 0 -o {{ idx }} -gt 2"
""")
    order = Order()
    result = await run(store, rb, inventory(6), order)
    statuses = {name: t.status for name, t in result.targets.items()}
    # batch 1: h0 ok; batch 2: h1, h2 fail (100 % > 40 %) -> h3..h5 never run
    assert statuses == {"h0": "ok", "h1": "failed", "h2": "failed", "h3": "skipped", "h4": "skipped", "h5": "skipped"}
    assert order.targets[0] == "h0" and set(order.targets) == {"h0", "h1", "h2"}
    assert "max_fail_percentage" in result.targets["h4"].message
    assert batch_sizes(["10%", 3], 25) == [2, 3, 3, 3, 3, 3, 3, 3, 2]
    assert batch_sizes(None, 4) == [4] and batch_sizes(2, 5) == [2, 2, 1]


async def test_every_target_gets_a_result_and_one_failure_does_not_stop_others(store: Store) -> None:
    rb = book("""
name: m
concurrency: 3
steps:
  - {name: maybe, shell: "test $(( {{ idx }} % 2 )) -eq 0"}
  - {name: then, shell: "echo {{ asset.name }}"}
""")
    result = await run(store, rb, inventory(7))
    assert len(result.targets) == 7
    assert sorted(result.failed_targets) == ["h1", "h3", "h5"]
    assert steps_of(store, result, "h6")["then"]["stdout"] == "h6\n"


async def test_parameters_types_precedence_and_retry_failed(store: Store) -> None:
    rb = book("""
name: p
parameters:
  limit: {type: int, default: 5}
  mode: {type: choice, choices: [fast, safe], default: safe}
  names: {type: list, default: []}
steps:
  - {name: show, shell: "echo {{ limit + 1 }} {{ mode }} {{ names | length }}; test {{ idx }} -ne 1"}
""")
    inv = inventory(3)
    inv.assets["h2"].vars["limit"] = 10  # an asset var overrides the default, -e overrides both
    result = await run(store, rb, inv, params={"names": "a,b"})
    assert steps_of(store, result, "h0")["show"]["stdout"] == "6 safe 2\n"
    assert steps_of(store, result, "h2")["show"]["stdout"] == "11 safe 2\n"
    result2 = await run(store, rb, inv, params={"limit": "1"})
    assert steps_of(store, result2, "h2")["show"]["stdout"] == "2 safe 0\n"
    retry = await run(store, rb, inv, retry_failed=True)
    assert list(retry.targets) == ["h1"]
    assert runs.get_run(store, retry.run_id or 0)["retry_of"] == result2.run_id  # type: ignore[index]
    with pytest.raises(RunbookError, match="mode"):
        await run(store, rb, inv, params={"mode": "reckless"})
    with pytest.raises(RunbookError, match="limit"):
        await run(store, rb, inv, params={"limit": "many"})
    assert parse_extra_vars(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}


def test_templating_quotes_sandboxes_and_is_strict() -> None:
    t = Templar()
    evil = "'; rm -rf / #$(reboot)`id`"
    assert t.command("echo {{ v }}", {"v": evil}) == "echo ''\"'\"'; rm -rf / #$(reboot)`id`'"
    assert t.command("ls {{ d | raw }}", {"d": "/tmp /var"}) == "ls /tmp /var"
    assert t.command("rm {{ fs | shell_args }}", {"fs": ["a b", "c"]}) == "rm 'a b' c"
    # SQL values are bound through the driver (no dialect's quoting), beside the step's own %s params.
    assert t.sql_query("WHERE x = {{ v }}", {"v": "o'k"}, []) == ("WHERE x = %s", ["o'k"])
    assert t.sql_query("WHERE p = {{ p }} AND n LIKE 'a%' AND t = {{ t | raw }}", {"p": "C:\\temp", "t": "x"}, []) == (
        "WHERE p = %s AND n LIKE 'a%%' AND t = x",
        ["C:\\temp"],
    )
    assert t.sql_query("a = %s AND b = {{ b }} AND c = %s AND d LIKE 'x%%'", {"b": 2}, [1, 3]) == (
        "a = %s AND b = %s AND c = %s AND d LIKE 'x%%'",
        [1, 2, 3],
    )
    assert t.sql_query("SELECT 'a%' WHERE x = %s", {}, [1]) == ("SELECT 'a%' WHERE x = %s", [1])  # untouched
    with pytest.raises(RenderError, match="undefined"):
        t.command("echo {{ nope }}", {})
    with pytest.raises(RenderError):
        t.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    assert t.truth("{{ a | int > 2 }}", {"a": "3"}) and not t.truth("a | int > 2", {"a": "1"})


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        ("name: x\nsteps:\n  - name: a\n    ssh: ls\n    shell: ls\n", "steps.0", "exactly one type key"),
        ("name: x\nsteps:\n  - name: a\n    sshh: ls\n", "steps.0", "unknown step key"),
        ("name: x\nsteps:\n  - name: a\n    shell: 'echo {{ oops'\n", "steps.0", "template syntax error"),
        ("name: x\nsteps:\n  - name: a\n    shell: ls\n    check: [{fail: 'a ==', message: m}]\n", "steps.0", "check"),
        ("name: x\nschedule: '61 * * * *'\nsteps:\n  - {name: a, shell: ls}\n", "schedule", "cron"),
        ("name: x\nserial: '0%'\nsteps:\n  - {name: a, shell: ls}\n", "serial", "serial"),
        ("name: x\nsteps:\n  - name: a\n    http: {url: x, bogus: 1}\n", "steps.0", "http.bogus"),
        ("name: x\nsteps:\n  - name: a\n    shell: ls\n    rescue: [{name: r, shell: ls}]\n", "steps.0", "block"),
    ],
)
def test_invalid_runbooks_are_reported_with_file_and_line(text: str, field: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(parse_yaml_text(text, "rb.yaml"), Runbook)
    issue = info.value.issues[0]
    assert issue.path == "rb.yaml" and issue.line is not None and issue.line >= 1
    assert issue.field.startswith(field) and needle in issue.message, issue


def test_every_shipped_runbook_is_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "runbooks"
    files = sorted(root.rglob("*.yaml"))
    assert len(files) >= 20
    names = set()
    for path in files:
        rb = validate(parse_yaml_text(path.read_text(), str(path)), Runbook)
        names.add(rb.name)
        assert rb.description and yaml.safe_load(path.read_text())["kind"] in ("inspection", "emergency", "task")
    assert len(names) == len(files)


async def test_a_step_is_committed_before_its_targets_next_step_starts(store: Store, tmp_path: Path) -> None:
    """Group commit never delays durability past the next step: the second step reads the store
    (another process, as a crash-surviving reader would) and finds the first step of its own target."""
    import sys

    db = tmp_path / "rb.db"
    reader = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute(\"select count(*) from runbook_steps where asset=? and path='first'\", (sys.argv[2],))"
        ".fetchone()[0])"
    )
    rb = book(f"""
name: durable
concurrency: 20
steps:
  - name: first
    shell: "echo one"
  - name: second
    shell: "{sys.executable} -c {{{{ code }}}} {db} {{{{ asset.name }}}}"
    register: seen
    check:
      - fail: "seen.stdout != '1'"
        message: "first step not in the store yet ({{{{ seen.stdout }}}})"
""")
    result = await run(store, rb, inventory(20), params={"code": reader})
    assert result.status == "succeeded", {t.asset: t.message for t in result.targets.values()}
    assert all(steps_of(store, result, f"h{i}")["second"]["stdout"].strip() == "1" for i in range(20))


async def test_an_interrupted_run_shows_the_running_step_and_every_target_and_is_retried(
    store: Store, tmp_path: Path
) -> None:
    rb = book("""
name: r
steps:
  - {name: first, shell: 'true'}
  - {name: slow, shell: "test {{ idx }} -eq 0 || test -e {{ go }} || sleep 60"}
""")
    inv = inventory(3, go=str(tmp_path / "go"))
    seen: list[int] = []
    task = asyncio.create_task(run(store, rb, inv, on_started=seen.append))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until h0 is done and h1, h2 are inside "slow"
        await asyncio.sleep(0.1)
        detail = runs.get_run(store, seen[0]) if seen else None
        ok = detail is not None and sum(1 for t in detail["targets"] if t["status"] == "ok") == 1
        if ok and detail is not None and len([s for s in detail["steps"] if s["path"] == "first"]) == 3:
            break
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    detail = runs.get_run(store, seen[0])
    assert detail is not None and detail["status"] == "interrupted"
    targets = {t["asset"]: (t["status"], t["message"]) for t in detail["targets"]}
    assert targets == {
        "h0": ("ok", ""),
        "h1": ("interrupted", "interrupted during step 'slow'"),
        "h2": ("interrupted", "interrupted during step 'slow'"),
    }
    interrupted = [(s["asset"], s["path"]) for s in detail["steps"] if s["status"] == "interrupted"]
    assert sorted(interrupted) == [("h1", "slow"), ("h2", "slow")]
    (tmp_path / "go").touch()
    retry = await run(store, rb, inv, retry_failed=True)
    assert sorted(retry.targets) == ["h1", "h2"] and retry.status == "succeeded"
    again = await run(store, rb, inv, retry_failed=True)
    assert (
        list(again.targets) == []
        and again.message == f"nothing to retry: run #{retry.run_id} left no failed or unfinished target"
    )


async def test_a_refused_cli_command_is_kept_in_the_audit(store: Store) -> None:
    rb = book("""
name: c
parameters:
  iface: {type: str}
steps:
  - name: shut
    cli: {config: ["interface {{ iface }}", "shutdown"]}
""")
    result = await run(store, rb, inventory(1), params={"iface": "Gi0/1\nreload"})
    step = steps_of(store, result)["shut"]
    assert step["status"] == "failed" and "line break" in step["message"]
    assert step["command"] == "(config) interface Gi0/1\\nreload\n(config) shutdown"  # what was refused, never sent
