"""sudo against a real sudo (Debian's, through PAM) on the session's sshd: a NOPASSWD account, an
account whose sudo asks for its password (given through a credential reference), and an account
sudo refuses. Checks marked ``sudo: true`` (and whole batches with ``sudo: true``) really run as
root, and the password never shows up in results, facts, logs or /metrics."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors.base import CollectResult, Outcome
from opsagent.collectors.ssh import SshCollector
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller
from tests.peers.sshd import SudoAccounts

pytestmark = pytest.mark.peer

ID_AS_ROOT = {"name": "root_id", "command": "id", "parser": "id", "sudo": True}
ID_AS_USER = {"name": "user_id", "command": "id", "parser": "id"}
# A sudo check that reads its stdin: it must see /dev/null, never the password fed to sudo -S.
STDIN_PROBE = {
    "name": "stdin_probe",
    "command": "sed 's/^/product_serial=/'",
    "parser": "dmi",
    "sudo": True,
    "required": False,
}


def asset(accounts: SudoAccounts, user: str, name: str, sudo_password: Path | str | None = None) -> Asset:
    server = accounts.server
    ssh: dict[str, Any] = {"user": user, "key_file": str(server.client_key)}
    if sudo_password is not None:
        ssh["sudo_password"] = sudo_password if isinstance(sudo_password, str) else f"file:{sudo_password}"
    return Asset(name=name, address=server.host, port=server.port, credentials={"ssh": ssh})


def spec(accounts: SudoAccounts, checks: list[dict[str, Any]], **options: Any) -> CollectorSpec:
    opts = {"checks": checks, "known_hosts": [str(accounts.server.known_hosts)], "command_timeout": 20, **options}
    return CollectorSpec(name="ssh", options=opts, timeout=30)


async def poll(targets: list[tuple[Asset, CollectorSpec]]) -> tuple[dict[str, CollectResult], MetricsRegistry]:
    collector = SshCollector(max_workers=8)
    metrics = MetricsRegistry()
    try:
        results = await Poller({"ssh": collector}, {}, metrics).poll_many([(a, s, {}) for a, s in targets])
    finally:
        collector.close()
    return {r.asset: r for r in results}, metrics


def account_of(result: CollectResult) -> dict[str, Any]:
    facts: dict[str, Any] = result.facts["account"]
    return facts


async def test_sudo_checks_run_as_root_and_the_password_stays_secret(
    sudo_accounts: SudoAccounts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    acc = sudo_accounts
    pw_file = acc.password_files[acc.password]
    password = pw_file.read_text().strip()
    per_check = [ID_AS_USER, {**ID_AS_ROOT, "name": "account"}, STDIN_PROBE]
    targets = [
        (asset(acc, acc.nopasswd, "np-check"), spec(acc, per_check)),
        # A configured password that sudo never asks for (NOPASSWD): still never readable by a check.
        (asset(acc, acc.nopasswd, "np-check-pw", acc.password_files[acc.nopasswd]), spec(acc, per_check)),
        (asset(acc, acc.password, "pw-check", pw_file), spec(acc, per_check)),
        (asset(acc, acc.nopasswd, "np-batch"), spec(acc, [{**ID_AS_USER, "name": "account"}], sudo=True)),
        (asset(acc, acc.password, "pw-batch", pw_file), spec(acc, [{**ID_AS_USER, "name": "account"}], sudo=True)),
    ]
    results, metrics = await poll(targets)
    for name in ("np-check", "np-check-pw", "pw-check"):
        result = results[name]
        assert result.ok, (name, result.reason, result.message)
        assert account_of(result)["uid"] == 0 and account_of(result)["user"] == "root", name
        # The unwrapped check of the same batch runs as the login user.
        assert result.message == "" and result.samples
        user = targets[[t[0].name for t in targets].index(name)][0].credentials["ssh"]["user"]
        assert {s.labels for s in result.samples if s.name == "opsagent_ssh_check_success"} >= {
            (("check", "user_id"),),
            (("check", "account"),),
        }
        success = {s.labels: s.value for s in result.samples if s.name == "opsagent_ssh_check_success"}
        assert success[(("check", "stdin_probe"),)] == 1  # it ran (as root), and read nothing:
        assert result.facts.get("dmi", {}).get("serial") is None, "a sudo check read the password from stdin"
        assert user != "root"
    for name in ("np-batch", "pw-batch"):
        assert results[name].ok, (name, results[name].message)
        assert account_of(results[name])["uid"] == 0, name
    exposed = [repr(r) for r in results.values()] + [caplog.text, metrics.render_collected(False)]
    assert not any(password in text for text in exposed)


async def test_unwrapped_checks_keep_the_login_user(sudo_accounts: SudoAccounts) -> None:
    acc = sudo_accounts
    checks = [{**ID_AS_USER, "name": "account"}, {**ID_AS_ROOT, "name": "root_id"}]
    results, _ = await poll([(asset(acc, acc.nopasswd, "mixed"), spec(acc, checks))])
    result = results["mixed"]
    assert result.ok, result.message
    # Facts of both checks merge under `account`; the login user's came first, root's replaced it,
    # so run the user check alone to see the uid it reports.
    alone, _ = await poll([(asset(acc, acc.nopasswd, "alone"), spec(acc, [{**ID_AS_USER, "name": "account"}]))])
    assert account_of(alone["alone"])["user"] == acc.nopasswd
    assert account_of(alone["alone"])["uid"] != 0


async def test_refused_sudo_is_a_sudo_failure_with_a_clear_message(
    sudo_accounts: SudoAccounts, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    acc = sudo_accounts
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-sudo-password-0815\n")
    real_password = acc.password_files[acc.password].read_text().strip()
    root_check = [{**ID_AS_ROOT, "name": "account"}]
    cases = {
        "refused-check": (asset(acc, acc.refused, "refused-check"), spec(acc, root_check)),
        "refused-batch": (asset(acc, acc.refused, "refused-batch"), spec(acc, [ID_AS_USER], sudo=True)),
        "refused-with-pw": (
            asset(acc, acc.refused, "refused-with-pw", acc.password_files[acc.refused]),
            spec(acc, root_check),
        ),
        "no-password-given": (asset(acc, acc.password, "no-password-given"), spec(acc, root_check)),
        "wrong-pw-check": (asset(acc, acc.password, "wrong-pw-check", wrong), spec(acc, root_check)),
        "wrong-pw-batch": (asset(acc, acc.password, "wrong-pw-batch", wrong), spec(acc, [ID_AS_USER], sudo=True)),
    }
    results, metrics = await poll(list(cases.values()))
    for name in cases:
        result = results[name]
        assert (result.outcome, result.reason) == (Outcome.FAILED, "sudo"), (name, result.reason, result.message)
        assert "sudo" in result.message, name
        assert result.message.count("(") >= 1 or "password" in result.message, (name, result.message)
    errors = {
        s.labels["asset"]: s.labels["reason"]
        for m in metrics.collect_self()
        if m.name == "opsagent_collect_errors"
        for s in m.samples
    }
    assert all(errors[name] == "sudo" for name in cases)
    exposed = [r.message for r in results.values()] + [caplog.text, metrics.render_collected(False)]
    for secret in ("not-the-sudo-password-0815", real_password):
        assert not any(secret in text for text in exposed)


async def test_optional_sudo_check_refused_keeps_the_poll_ok(sudo_accounts: SudoAccounts) -> None:
    acc = sudo_accounts
    checks = [{**ID_AS_USER, "name": "account"}, {**ID_AS_ROOT, "required": False}]
    results, _ = await poll([(asset(acc, acc.refused, "optional"), spec(acc, checks))])
    result = results["optional"]
    assert result.ok, result.message
    assert "root_id: sudo refused" in result.message
    assert account_of(result)["user"] == acc.refused
