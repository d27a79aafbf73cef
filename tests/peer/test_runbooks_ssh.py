"""Runbooks against the real sshd: inspection matrix, emergency with approval and on_failure,
injection through a parameter, --check, and a run killed midway."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from opsagent.store import Store
from opsagent.store import runbook_repo as runs
from tests.peer.rbhelpers import Home, import_inventory, make_home, ssh_asset
from tests.peers.ports import free_port
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer

DISK_CHECK = """\
name: disk-check
kind: inspection
targets: linux
parameters:
  warn_at: {type: int, default: 80}
  fail_at: {type: int, default: 90}
steps:
  - name: root filesystem used
    ssh: df -P / | awk 'NR==2 {gsub("%","",$5); print $5}'
    register: used
    value: "{{ used.stdout }}%"
    check:
      - fail: "used.stdout | int >= fail_at"
        message: "/ is {{ used.stdout }}% used"
        threshold: "{{ fail_at }}%"
      - warn: "{{ used.stdout | int >= warn_at }}"
        message: "/ is {{ used.stdout }}% used"
        threshold: "{{ warn_at }}%"
  - name: kernel
    ssh: uname -s
    register: kernel
    check:
      - fail: "kernel.stdout != 'Linux'"
        message: "not Linux: {{ kernel.stdout }}"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return make_home(tmp_path, monkeypatch)


def test_inspection_matrix_pass_warn_fail_and_unreachable(sshd_server: SshServer, home: Home, tmp_path: Path) -> None:
    import_inventory(
        home,
        [
            ssh_asset(sshd_server, "h-pass", warn_at=101, fail_at=102),  # asset vars override defaults
            ssh_asset(sshd_server, "h-warn", warn_at=0, fail_at=101),
            ssh_asset(sshd_server, "h-fail", fail_at=0),
            ssh_asset(sshd_server, "h-down", port=free_port()),
        ],
    )
    home.runbook("inspection/disk-check.yaml", DISK_CHECK)
    md, html, js = tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.json"
    result = home.cli("runbook", "run", "disk-check", "--report", str(md))
    assert result.exit_code == 1, result.output  # h-fail's check and h-down's connection failed
    assert "h-down" in result.output and "refused" in result.output
    run_id = int(result.output.split("run #")[1].split()[0].rstrip(":"))
    report = json.loads(
        (home.cli("runbook", "show", str(run_id), "--report", str(js)).exit_code == 0) and js.read_text()
    )
    cells = report["matrix"]["root filesystem used"]
    assert (cells["h-pass"]["status"], cells["h-warn"]["status"], cells["h-fail"]["status"]) == ("pass", "warn", "fail")
    assert cells["h-down"] is None
    assert (cells["h-fail"]["threshold"], cells["h-warn"]["threshold"], cells["h-pass"]["threshold"]) == (
        "0%",
        "0%",
        "102%",
    )
    assert cells["h-pass"]["value"].endswith("%") and cells["h-pass"]["value"][:-1].isdigit()
    assert report["matrix"]["kernel"]["h-fail"]["status"] == "pass"  # a failed check does not stop an inspection
    assert [t["asset"] for t in report["not_inspected"]] == ["h-down"]
    text = md.read_text()
    assert "| root filesystem used |" in text and "❌" in text and "⚠️" in text
    assert home.cli("runbook", "show", str(run_id), "--report", str(html), "--lang", "zh").exit_code == 0
    assert "巡检报告" in html.read_text() and 'class="fail"' in html.read_text()
    stored = home.json("runbook", "show", str(run_id))
    targets = {t["asset"]: t["status"] for t in stored["targets"]}
    assert targets == {"h-pass": "ok", "h-warn": "ok", "h-fail": "failed", "h-down": "unreachable"}
    assert stored["status"] == "failed" and stored["trigger"] == "cli"


def test_shipped_linux_inspection_runs_on_a_real_host(sshd_server: SshServer, home: Home) -> None:
    import_inventory(home, [ssh_asset(sshd_server, "web1"), ssh_asset(sshd_server, "web2")])
    result = home.cli("runbook", "run", "linux-host-inspection", "-l", "linux")
    run = home.json("runbook", "runs")[0]
    detail = home.json("runbook", "show", str(run["id"]))
    checks = [c for s in detail["steps"] for c in s["checks"]]
    assert {s["asset"] for s in detail["steps"]} == {"web1", "web2"}
    assert len(checks) >= 2 * 10, result.output
    errors = [(s["path"], c) for s in detail["steps"] for c in s["checks"] if c["status"] == "error"]
    assert not errors, errors
    failed_steps = [(s["path"], s["message"]) for s in detail["steps"] if s["status"] not in ("ok", "skipped")]
    assert not failed_steps, failed_steps


EMERGENCY = """\
name: svc-down
kind: emergency
targets: linux
parameters:
  service: {type: str, default: opsagent-demo}
steps:
  - name: diagnose
    ssh: "echo checking {{ service }}; uname -n"
    register: diag
  - name: confirm restart
    approve: "Restart {{ service }} on {{ asset.name }}?"
  - name: restart
    ssh: "echo restarting {{ service }} >&2; exit 3"
    on_failure:
      - name: collect evidence
        ssh: "echo handler saw rc={{ failed_step.rc }}"
        register: evidence
      - name: tell the on-call
        notify: "restart of {{ service }} failed on {{ asset.name }}"
  - name: never reached
    ssh: "echo should not run"
"""


def test_emergency_approval_failing_step_and_handler(sshd_server: SshServer, home: Home) -> None:
    import_inventory(home, [ssh_asset(sshd_server, "db1")])
    home.runbook("emergency/svc-down.yaml", EMERGENCY)
    result = home.cli("runbook", "run", "emergency/svc-down", "--yes", "-e", "service=nginx")
    assert result.exit_code == 1, result.output
    run = home.json("runbook", "runs")[0]
    detail = home.json("runbook", "show", str(run["id"]))
    steps = {s["path"]: s for s in detail["steps"]}
    assert steps["diagnose"]["status"] == "ok" and "checking nginx" in steps["diagnose"]["stdout"]
    assert steps["confirm restart"]["status"] == "ok"
    assert steps["restart"]["status"] == "failed" and steps["restart"]["rc"] == 3
    assert "restarting nginx" in steps["restart"]["stderr"]
    handler = steps["restart ▸ on_failure ▸ collect evidence"]
    assert handler["status"] == "ok" and "handler saw rc=3" in handler["stdout"]
    assert steps["restart ▸ on_failure ▸ tell the on-call"]["stdout"] == "restart of nginx failed on db1"
    assert "never reached" not in steps
    [approval] = detail["approvals"]
    assert approval["status"] == "approved" and approval["comment"] == "--yes" and approval["decided_by"]
    assert detail["parameters"] == {"service": "nginx"}


def test_approval_refused_without_a_terminal_stops_the_target(sshd_server: SshServer, home: Home) -> None:
    import_inventory(home, [ssh_asset(sshd_server, "db1")])
    home.runbook("emergency/svc-down.yaml", EMERGENCY)
    result = home.cli("runbook", "run", "svc-down")  # CliRunner's stdin is no tty: nobody can approve
    assert result.exit_code == 1
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    statuses = [(s["path"], s["status"]) for s in detail["steps"]]
    assert statuses == [("diagnose", "ok"), ("confirm restart", "rejected")]
    assert detail["approvals"][0]["status"] == "rejected"
    assert detail["approvals"][0]["decided_by"] == "opsagent (no terminal)"  # no person decided


INJECTION = """\
name: echo-name
targets: linux
parameters:
  name: {type: str, required: true}
steps:
  - name: remote
    ssh: "printf '%s\\n' {{ name }}"
    register: remote
  - name: local
    shell: "printf '%s\\n' {{ name }} {{ asset.name }}"
    register: local
"""


def test_injection_through_a_parameter_reaches_the_shell_as_a_literal(
    sshd_server: SshServer, home: Home, tmp_path: Path
) -> None:
    import_inventory(home, [ssh_asset(sshd_server, "h1")])
    home.runbook("echo-name.yaml", INJECTION)
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    evil = f"x; rm -rf /; touch {marker} $(touch {marker}) `touch {marker}` && touch {marker}"
    result = home.cli("runbook", "run", "echo-name", "-e", f"name={evil}")
    assert result.exit_code == 0, result.output
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    steps = {s["path"]: s for s in detail["steps"]}
    assert steps["remote"]["stdout"] == evil + "\n"
    assert steps["local"]["stdout"] == evil + "\nh1\n"
    assert not marker.exists()


CHECK_MODE = """\
name: make-marks
targets: linux
parameters:
  dir: {type: str}
steps:
  - name: local mark
    shell: "touch {{ dir }}/local-mark"
    register: first
  - name: remote mark
    ssh: "touch {{ dir }}/remote-mark && echo done"
    when: "first.rc == 0"
  - name: ask
    approve: "go on?"
  - name: block
    block:
      - name: inner
        shell: "touch {{ dir }}/inner-mark"
    always:
      - name: cleanup
        shell: "touch {{ dir }}/always-mark"
"""


def test_check_mode_renders_every_command_and_executes_nothing(
    sshd_server: SshServer, home: Home, request: pytest.FixtureRequest
) -> None:
    import_inventory(home, [ssh_asset(sshd_server, "h1")])
    home.runbook("make-marks.yaml", CHECK_MODE)
    target = Path(tempfile.mkdtemp(prefix="opsagent-rb-marks-"))  # outside pytest's 0700 tmp: the ssh user writes here
    target.chmod(0o777)
    request.addfinalizer(lambda: shutil.rmtree(target, ignore_errors=True))
    result = home.cli("runbook", "run", "make-marks", "--check", "-e", f"dir={target}")
    assert result.exit_code == 0, result.output
    assert list(target.iterdir()) == []
    assert "local-mark" in result.output  # --check prints the rendered commands
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    assert detail["check_mode"] is True and detail["approvals"] == []
    commands = {s["path"]: (s["status"], s["command"]) for s in detail["steps"]}
    assert commands["local mark"] == ("checked", f"touch {target}/local-mark")
    assert commands["remote mark"] == ("checked", f"touch {target}/remote-mark && echo done")
    assert commands["block ▸ inner"] == ("checked", f"touch {target}/inner-mark")
    assert commands["block ▸ always ▸ cleanup"] == ("checked", f"touch {target}/always-mark")
    # the same runbook for real does create them (the test above would pass vacuously otherwise)
    assert home.cli("runbook", "run", "make-marks", "--yes", "-e", f"dir={target}").exit_code == 0
    assert {p.name for p in target.iterdir()} == {"local-mark", "remote-mark", "inner-mark", "always-mark"}


SLOW = """\
name: slow
targets: linux
steps:
  - name: first
    ssh: "echo started"
  - name: long
    shell: "sleep 60"
  - name: after
    shell: "echo never"
"""


def _wait_for_step(store: Store, name: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = runs.list_runs(store, name)
        if rows:
            run = runs.get_run(store, rows[0]["id"])
            assert run is not None
            long = any(t["message"] == "running: long" for t in run["targets"])  # the next step is noted
            if any(s["path"] == "first" for s in run["steps"]) and long:
                return int(rows[0]["id"])
        time.sleep(0.2)
    raise AssertionError("the run never recorded its first step")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_run_is_recorded_as_interrupted(sshd_server: SshServer, home: Home, sig: signal.Signals) -> None:
    import_inventory(home, [ssh_asset(sshd_server, "h1")])
    home.runbook("slow.yaml", SLOW)
    proc = home.spawn("runbook", "run", "slow")
    store = Store(f"sqlite:///{home.path / 'opsagent.db'}")
    try:
        run_id = _wait_for_step(store, "slow")
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode != 0
    rows = {r["id"]: r for r in home.json("runbook", "runs")}
    assert rows[run_id]["status"] == "interrupted"
    detail = home.json("runbook", "show", str(run_id))
    assert [(s["path"], s["status"]) for s in detail["steps"]] == [("first", "ok"), ("long", "interrupted")]
    assert [(t["asset"], t["status"], t["message"]) for t in detail["targets"]] == [
        ("h1", "interrupted", "interrupted during step 'long'")
    ]
    assert detail["finished_at"] is not None
    store.close()


def test_a_target_printing_its_own_credential_over_ssh_stores_it_redacted(sshd_server: SshServer, home: Home) -> None:
    """The asset's postgres password was never used by a step: it is registered before the first one."""
    secret = f"Pg-{uuid.uuid4().hex[:12]}"
    shared = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        shared.chmod(0o755)
        pw_file = shared / "pgpw"
        pw_file.write_text(secret + "\n")
        pw_file.chmod(0o644)  # the sshd's user reads it as the target would its own config
        item = ssh_asset(sshd_server, "db9").replace(
            "credentials: {ssh: {", f"credentials: {{postgres: {{user: mon, password: 'file:{pw_file}'}}, ssh: {{"
        )
        import_inventory(home, [item])
        home.runbook(
            "leak.yaml",
            f"name: leak\nkind: inspection\ntargets: linux\nsteps:\n"
            f"  - name: print it\n    ssh: cat {pw_file}\n    register: out\n    value: '{{{{ out.stdout }}}}'\n"
            f"    check: [{{warn: 'out.stdout != \"\"', message: 'saw {{{{ out.stdout }}}}'}}]\n",
        )
        result = home.cli("runbook", "run", "leak", "-v")
        assert secret not in result.output
        run_id = home.json("runbook", "runs")[0]["id"]
        detail = home.json("runbook", "show", str(run_id))
        step = detail["steps"][0]
        assert step["status"] == "ok" and step["stdout"] == "***\n"
        assert step["checks"][0] == {"status": "warn", "message": "saw ***", "value": "***", "threshold": None}
        report = home.path / "leak.html"
        assert home.cli("runbook", "show", str(run_id), "--report", str(report)).exit_code == 0
        assert secret not in json.dumps(detail) and secret not in report.read_text()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
