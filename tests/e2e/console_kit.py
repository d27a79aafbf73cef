"""What the console's browser tests share: users made through the CLI (as an admin makes them), a cheap
argon2 for them, signing in through the login page, and signed-in pages for a test."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.agent import Agent, agent_env

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


def signed_in_pages(
    browser: Any,
    base: str,
    users: Mapping[str, Sequence[Any]],
    *,
    height: int = 800,
    home: str | None = "/console",
    on_page: Callable[[Any], None] | None = None,
) -> Iterator[Callable[..., Any]]:
    """The body of a ``page_of`` fixture (``yield from`` it): yields ``make(user=None, locale="en-US",
    home=…, password=None, script=True)``, a page in a browser context of its own (its own cookies), signed
    in as ``user`` through the login form with ``password`` or ``users[user][1]`` (no user: not signed in;
    ``home`` as :func:`sign_in`'s); ``on_page`` sees each page first. Every context closes after the test."""
    contexts: list[Any] = []
    landing = home

    def make(user: str | None = None, locale: str = "en-US", home: str | None = landing, password: str | None = None,
             script: bool = True) -> Any:  # fmt: skip
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": height},
                                      java_script_enabled=script)  # fmt: skip
        contexts.append(context)
        page = context.new_page()
        if on_page is not None:
            on_page(page)
        if user is not None:
            sign_in(page, base, user, password or users[user][1], home)
        return page

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


CHROMIUM = "/usr/bin/chromium"  # Debian's: `playwright install` cannot download here
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium driven by Playwright. Hold it in a module-scoped fixture: a session-scoped sync
    Playwright leaves an event loop behind and breaks later asyncio tests."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


def call_api(port: int, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One JSON API call with a bearer token: (status, decoded body or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})  # fmt: skip
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(data) if data else None


def stop_checked(handle: Agent, *secrets: str) -> None:
    """Stop the agent; its log holds no traceback and none of ``secrets``."""
    handle.stop()
    text = handle.log.read_text(errors="replace")
    assert "Traceback" not in text and not any(s in text for s in secrets)
