"""The runbook library's list of receiver names is read again only when a notifications file changed
(serve re-reads the library every 30 s), and a change, a new override or a broken file is seen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opsagent.runbooks import notify
from opsagent.runbooks.notify import known_receivers

_CONFIG = "receivers:\n  - name: {name}\n    webhook: {{url: http://127.0.0.1:9/hook}}\n"


def _write(root: Path, text: str) -> Path:
    path = root / "alerts" / "notifications.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_receivers_are_read_again_only_when_a_notifications_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped, site = tmp_path / "shipped", tmp_path / "site"
    _write(shipped, _CONFIG.format(name="ops"))
    site.mkdir()
    loads: list[list[Path]] = []
    real = notify.load_notify_config
    monkeypatch.setattr(notify, "load_notify_config", lambda roots: loads.append(roots) or real(roots))
    roots = [shipped, site]
    assert known_receivers(roots) == frozenset({"ops"})
    assert known_receivers(roots) == frozenset({"ops"}) and len(loads) == 1  # unchanged: not parsed again

    path = _write(shipped, _CONFIG.format(name="oncall"))
    os.utime(path, ns=(1, 1))  # even with an mtime set back, the ctime moved
    assert known_receivers(roots) == frozenset({"oncall"}) and len(loads) == 2

    _write(site, _CONFIG.format(name="site-ops"))  # a site override appears
    assert known_receivers(roots) == frozenset({"site-ops"}) and len(loads) == 3

    _write(site, "receivers: [{name: x, webhook: {url: 5}}, ")  # broken: None, as before the cache
    assert known_receivers(roots) is None
    (site / "alerts" / "notifications.yaml").unlink()  # gone: the shipped file again
    assert known_receivers(roots) == frozenset({"oncall"})
