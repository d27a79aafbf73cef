"""The wheel ships the content folders, and an installed opsagent finds them (not the checkout's)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("opsagent-*.whl")
    return built


def test_wheel_contains_content_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (
        "opsagent/_content/inventory/local.yaml",
        "opsagent/_content/collectors/local/default.yaml",
        "opsagent/_content/alerts/node.rules.yaml",
        "opsagent/_content/runbooks/inspection/linux-host.yaml",
        "opsagent/_content/dashboards/node.json",
        "opsagent/store/migrations/versions/0001_inventory.py",
        "opsagent/store/migrations/env.py",
        "opsagent/web/templates/base.html",
        "opsagent/web/templates/ticket.html",
        "opsagent/web/static/console.css",
        "opsagent/web/static/vendor/htmx-2.0.4.min.js",
    ):
        assert path in names, path
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_installed_package_finds_its_shipped_content(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = os.environ | {"PYTHONPATH": str(target), "OPSAGENT_HOME": str(tmp_path / "home")}
    probe = subprocess.run(
        [sys.executable, "-c", "from opsagent.config import shipped_content_root as r; print(r())"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == str(target / "opsagent" / "_content")
    check = subprocess.run(
        [sys.executable, "-m", "opsagent", "check"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "all valid" in check.stdout
