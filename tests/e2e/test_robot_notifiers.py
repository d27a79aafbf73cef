"""DingTalk, WeCom (企业微信) and Feishu/Lark group robots: opsagent's messages are posted to a local
aiohttp receiver that checks each vendor's documented body shape and signature (computed here
independently of opsagent's code) and answers as the vendor does, error codes included."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from opsagent.alerts.notify.formats import Group, NotifyAlert
from opsagent.alerts.notify.senders import send
from opsagent.alerts.notifyconfig import Receiver
from tests.peers.ports import LOCALHOST, free_port

pytestmark = pytest.mark.peer

TOKEN = "tok-3f9a8e-robot-access-token"
SECRET = "SEC-signing-secret-77"


def _b64_hmac(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def _fresh(ts_ms: int) -> bool:
    return abs(time.time() * 1000 - ts_ms) < 3600 * 1000  # the vendors accept one hour of skew


def dingtalk(request: web.Request, body: Any) -> dict[str, Any]:
    """oapi.dingtalk.com/robot/send?access_token=…&timestamp=…&sign=… (加签)."""
    if request.query.get("access_token") != TOKEN:
        return {"errcode": 300001, "errmsg": "token is not exist"}
    ts, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
    if not ts.isdigit() or not _fresh(int(ts)) or sign != _b64_hmac(SECRET.encode(), f"{ts}\n{SECRET}".encode()):
        return {"errcode": 310000, "errmsg": "sign not match"}
    md = body.get("markdown") if body.get("msgtype") == "markdown" else None
    if not isinstance(md, dict) or not md.get("title") or not md.get("text"):
        return {"errcode": 40035, "errmsg": "缺少参数 markdown"}
    return {"errcode": 0, "errmsg": "ok"}


def wecom(request: web.Request, body: Any) -> dict[str, Any]:
    """qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… (no signing; the key is the secret)."""
    if request.query.get("key") != TOKEN:
        return {"errcode": 93000, "errmsg": "invalid webhook url"}
    md = body.get("markdown") if body.get("msgtype") == "markdown" else None
    if not isinstance(md, dict) or not isinstance(md.get("content"), str):
        return {"errcode": 40008, "errmsg": "invalid message type"}
    if len(md["content"].encode()) > 4096:
        return {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
    return {"errcode": 0, "errmsg": "ok"}


def feishu(request: web.Request, body: Any) -> dict[str, Any]:
    """open.feishu.cn/open-apis/bot/v2/hook/<token> (签名校验 in the body)."""
    if request.match_info["token"] != TOKEN:
        return {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
    ts, sign = str(body.get("timestamp", "")), body.get("sign", "")
    if not ts.isdigit() or not _fresh(int(ts) * 1000) or sign != _b64_hmac(f"{ts}\n{SECRET}".encode(), b""):
        return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}
    content = body.get("content")
    if body.get("msg_type") != "text" or not isinstance(content, dict) or not content.get("text"):
        return {"code": 9499, "msg": "Bad Request"}
    return {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}


class RobotServer:
    """The three vendors' robot endpoints on one local port; keeps what each accepted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10), "robot receiver did not start"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/robot/send", self._handler("dingtalk", dingtalk))
        app.router.add_post("/cgi-bin/webhook/send", self._handler("wecom", wecom))
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self._handler("feishu", feishu))
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, LOCALHOST, self.port).start())
        ready.set()
        self.loop.run_forever()

    def _handler(self, kind: str, check: Any) -> Any:
        async def handle(request: web.Request) -> web.Response:
            if request.content_type != "application/json":
                return web.json_response({"errcode": 40001, "errmsg": "content type must be json"})
            body = json.loads(await request.text())
            answer = check(request, body)
            if answer.get("errcode", answer.get("code")) == 0:
                self.accepted.append((kind, body))
            return web.json_response(answer)  # the vendors answer HTTP 200 with an error code

        return handle

    def url(self, kind: str) -> str:
        base = f"http://{LOCALHOST}:{self.port}"
        return {
            "dingtalk": f"{base}/robot/send?access_token={TOKEN}",
            "wecom": f"{base}/cgi-bin/webhook/send?key={TOKEN}",
            "feishu": f"{base}/open-apis/bot/v2/hook/{TOKEN}",
        }[kind]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def robots() -> Iterator[RobotServer]:
    server = RobotServer()
    try:
        yield server
    finally:
        server.stop()


def group(n_firing: int = 2, n_resolved: int = 1) -> Group:
    now = time.time()
    alerts = [
        NotifyAlert(f"fp{i}", {"alertname": "NodeFilesystemAlmostFull", "asset": f"bj-web{i:02d}",
                    "severity": "warning"}, {"summary": f"bj-web{i:02d}: / is 93% full",
                    "runbook_url": "runbooks/emergency/disk-full.yaml"}, "firing", now - 60, None, 100 + i, 93.0)
        for i in range(n_firing + n_resolved)
    ]  # fmt: skip
    for a in alerts[n_firing:]:
        a.status, a.ends_at = "resolved", now
    g = Group("robot", "0:robot:{}", {"alertname": "NodeFilesystemAlmostFull"})
    g.firing, g.resolved = alerts[:n_firing], alerts[n_firing:]
    return g


def receiver(kind: str, monkeypatch: pytest.MonkeyPatch, url: str, secret: str | None, **extra: Any) -> Receiver:
    monkeypatch.setenv("ROBOT_URL", url)
    conf: dict[str, Any] = {"url_ref": "env:ROBOT_URL", **extra}
    if secret is not None:
        monkeypatch.setenv("ROBOT_SECRET", secret)
        conf["secret_ref"] = "env:ROBOT_SECRET"
    return Receiver.model_validate({"name": "robot", kind: conf})


async def test_dingtalk_signed_markdown(robots: RobotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    recv = receiver("dingtalk", monkeypatch, robots.url("dingtalk"), SECRET, mentions=["13800000000"])
    ok, error = await send(recv, group(), "http://opsagent")
    assert ok, error
    kind, body = robots.accepted[-1]
    assert kind == "dingtalk" and body["at"]["atMobiles"] == ["13800000000"]
    text = body["markdown"]["text"]
    assert body["markdown"]["title"] == "[FIRING:2, 1 resolved] NodeFilesystemAlmostFull"
    assert "bj-web00: / is 93% full" in text and "incident #100" in text and "@13800000000" in text
    assert "runbooks/emergency/disk-full.yaml" in text and "**Resolved**" in text


async def test_dingtalk_wrong_secret_is_a_result_without_secrets(
    robots: RobotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recv = receiver("dingtalk", monkeypatch, robots.url("dingtalk"), "not-the-secret")
    ok, error = await send(recv, group(), "http://opsagent")
    assert not ok and "310000" in error
    assert TOKEN not in error and "not-the-secret" not in error
    unsigned = receiver("dingtalk", monkeypatch, robots.url("dingtalk"), None)
    ok, error = await send(unsigned, group(), "http://opsagent")
    assert not ok and "310000" in error


async def test_wecom_markdown_within_4096_bytes(robots: RobotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    recv = receiver("wecom", monkeypatch, robots.url("wecom"), None, mentions=["zhangsan"])
    ok, error = await send(recv, group(), "http://opsagent")
    assert ok, error
    kind, body = robots.accepted[-1]
    assert kind == "wecom" and "NodeFilesystemAlmostFull" in body["markdown"]["content"]
    assert "<@zhangsan>" in body["markdown"]["content"]
    ok, error = await send(recv, group(n_firing=300, n_resolved=0), "http://opsagent")  # a storm in one group
    assert ok, error  # truncated to WeCom's limit instead of rejected with 40058
    assert len(robots.accepted[-1][1]["markdown"]["content"].encode()) <= 4096


async def test_feishu_signed_text(robots: RobotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    recv = receiver("feishu", monkeypatch, robots.url("feishu"), SECRET)
    ok, error = await send(recv, group(n_firing=0, n_resolved=2), "http://opsagent")
    assert ok, error
    kind, body = robots.accepted[-1]
    assert kind == "feishu" and body["content"]["text"].startswith("[RESOLVED:2] NodeFilesystemAlmostFull")
    assert isinstance(body["timestamp"], str)  # Feishu documents the timestamp as a string of seconds
    bad = receiver("feishu", monkeypatch, robots.url("feishu"), "wrong")
    ok, error = await send(bad, group(), "http://opsagent")
    assert not ok and "19021" in error and "wrong" not in error


async def test_dead_robot_is_a_prompt_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    recv = receiver("feishu", monkeypatch, f"http://{LOCALHOST}:{free_port()}/open-apis/bot/v2/hook/{TOKEN}", None,
                    timeout="3s")  # fmt: skip
    started = time.monotonic()
    ok, error = await send(recv, group(), "http://opsagent")
    assert not ok and error and TOKEN not in error
    assert time.monotonic() - started < 30


async def test_messages_in_the_agents_language_and_zone(
    robots: RobotServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from zoneinfo import ZoneInfo

    from opsagent.alerts.notify.formats import Style
    from opsagent.alerts.setup import build_engine
    from opsagent.app import App
    from opsagent.config import load_config

    (tmp_path / "opsagent.yaml").write_text("language: zh\ntimezone: Asia/Shanghai\n")
    app = App(load_config(None, environ={"OPSAGENT_HOME": str(tmp_path)}))
    try:
        engine, _ = build_engine(app, app.inventory())
        assert engine.dispatcher.style == Style("zh", ZoneInfo("Asia/Shanghai"))  # serve's notifications
    finally:
        app.close()
    recv = receiver("dingtalk", monkeypatch, robots.url("dingtalk"), SECRET)
    ok, error = await send(recv, group(), "http://opsagent", Style("zh", ZoneInfo("Asia/Shanghai")))
    assert ok, error
    body = robots.accepted[-1][1]
    assert body["markdown"]["title"] == "[告警:2，已恢复 1] NodeFilesystemAlmostFull"
    text = body["markdown"]["text"]
    assert "**告警中**" in text and "**已恢复**" in text and "问题 #100" in text
    assert "开始于" in text and "UTC+08:00" in text and "Z" not in text.split("开始于")[1][:30]
