"""What the console's browser tests share: users made through the CLI (as an admin makes them), a cheap
argon2 for them, and signing in through the login page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.agent import agent_env

FAST_ARGON2 = "auth:\n  argon2: {time_cost: 1, memory_kib: 8192, parallelism: 1}\n"


def add_user(home: Path, name: str, role: str, password: str, *, lang: str | None = None, email: str | None = None,
             display: str | None = None, zone: str = "Asia/Shanghai") -> None:  # fmt: skip
    argv = [sys.executable, "-m", "opsagent", "user", "add", name, "--role", role, "--timezone", zone]
    argv += ["--language", lang] if lang else []
    argv += ["--email", email] if email else []
    argv += ["--display-name", display] if display else []
    done = subprocess.run([*argv, "--password-ref", "env:NEW_PW"], env=agent_env(home) | {"NEW_PW": password},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def sign_in(page: Any, base: str, user: str, password: str, home: str | None = "/console") -> None:
    """Through the login form; ``home``: where the sign-in lands (None: anywhere but the login page)."""
    page.goto(f"{base}/console/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    if home is None:
        page.wait_for_url(lambda url: "/console/login" not in url)
    else:
        page.wait_for_url(base + home)
