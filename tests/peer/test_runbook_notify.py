"""Runbook ``notify`` steps through the receivers of alerts/notifications.yaml: a real webhook
receiver, a real SMTP server (aiosmtpd) and a DingTalk-format robot on the webhook receiver; a dead
receiver fails the step with a reason; an unknown receiver name is a load-time error with
file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peer.rbhelpers import Home, import_inventory, make_home, ssh_asset
from tests.peers.ports import free_port
from tests.peers.receivers import SmtpServer, WebhookServer
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer

NOTIFY = """\
name: disk-notice
kind: emergency
targets: linux
steps:
  - name: measure
    ssh: "echo 97"
    register: used
  - name: tell ops
    notify:
      receiver: [ops-hook, ops-mail, ops-ding]
      message: "/ on {{ asset.name }} is {{ used.stdout }}% used ({{ reason }})"
"""


@pytest.fixture
def home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sshd_server: SshServer,
    webhook_server: WebhookServer,
    smtp_server: SmtpServer,
) -> Home:
    h = make_home(tmp_path, monkeypatch)
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    monkeypatch.setenv("RB_DING_URL", webhook_server.url("/ding?access_token=tok-secret-123"))
    (h.content / "alerts").mkdir()
    (h.content / "alerts" / "notifications.yaml").write_text(
        "receivers:\n"
        f"  - name: ops-hook\n    webhook: {{url: '{webhook_server.url('/runbook')}'}}\n"
        f"  - name: ops-mail\n    email: {{to: [ops@example.test], from: opsagent@example.test,"
        f" smarthost: '127.0.0.1:{smtp_server.port}', starttls: never}}\n"
        "  - name: ops-ding\n    dingtalk: {url_ref: 'env:RB_DING_URL'}\n"
        f"  - name: dead-hook\n    webhook: {{url: '{dead}', timeout: 5s}}\n"
    )
    import_inventory(h, [ssh_asset(sshd_server, "web1")])
    webhook_server.clear()
    smtp_server.clear()
    return h


def test_notify_reaches_webhook_email_and_robot_receivers(
    home: Home, webhook_server: WebhookServer, smtp_server: SmtpServer
) -> None:
    home.runbook("emergency/disk-notice.yaml", NOTIFY.replace("{{ reason }}", "{{ reason | default('check') }}"))
    result = home.cli("runbook", "run", "disk-notice", "-e", "reason=logs; rm -rf /")
    assert result.exit_code == 0, result.output
    text = "/ on web1 is 97% used (logs; rm -rf /)"

    hooks = {path: body for path, body in webhook_server.received}
    payload = hooks["/runbook"]
    [alert] = payload["alerts"]
    assert alert["annotations"]["summary"] == text
    assert alert["labels"]["runbook"] == "disk-notice" and alert["labels"]["asset"] == "web1"
    assert payload["receiver"] == "ops-hook" and payload["status"] == "firing"

    ding = next(body for path, body in webhook_server.received if path.startswith("/ding"))
    assert ding["msgtype"] == "markdown" and text in ding["markdown"]["text"]

    [mail] = smtp_server.messages
    assert mail["To"] == "ops@example.test" and "disk-notice" in mail["Subject"]
    assert text in mail.get_payload()

    run = home.json("runbook", "runs")[0]
    detail = home.json("runbook", "show", str(run["id"]))
    step = next(s for s in detail["steps"] if s["path"] == "tell ops")
    assert step["status"] == "ok" and step["stdout"] == text
    assert step["message"] == "sent to ops-hook, ops-mail, ops-ding"
    assert step["command"] == "notify ops-hook, ops-mail, ops-ding"
    assert "tok-secret-123" not in str(detail)  # the robot URL's token is a reference, never stored


def test_a_dead_receiver_fails_the_step_with_the_reason(home: Home, webhook_server: WebhookServer) -> None:
    home.runbook(
        "emergency/tell.yaml",
        "name: tell\ntargets: linux\nsteps:\n  - name: tell\n    notify:\n"
        "      receiver: [ops-hook, dead-hook]\n      message: hello from {{ asset.name }}\n",
    )
    result = home.cli("runbook", "run", "tell")
    assert result.exit_code == 1, result.output
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    [step] = detail["steps"]
    assert step["status"] == "failed"
    assert step["message"].startswith("not delivered to dead-hook: ") and "ops-hook" not in step["message"]
    assert [b["alerts"][0]["annotations"]["summary"] for _, b in webhook_server.received] == ["hello from web1"]


def test_unknown_receiver_is_a_load_error_with_file_and_line(home: Home) -> None:
    path = home.runbook(
        "emergency/typo.yaml",
        "name: typo\ntargets: linux\nsteps:\n  - name: ok\n    shell: 'true'\n  - name: tell\n    notify:\n"
        "      message: hi\n      receiver: [ops-hook, ops-hok]\n",
    )
    result = home.cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}:9: steps.1.notify.receiver.1: unknown receiver 'ops-hok'" in result.output
    assert "ops-hook, ops-mail" in result.output  # the names that do exist
    # The whole content check (default paths) reports it too, and a run refuses to start.
    assert "unknown receiver 'ops-hok'" in home.cli("check").output
    run = home.cli("runbook", "run", "typo")
    assert run.exit_code == 2 and "unknown receiver 'ops-hok'" in run.output
