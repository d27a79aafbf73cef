"""The knowledge base through a real ``opsagent serve``: an Alertmanager alert opens an incident, it is
resolved, published as knowledge over the API (the actor is the token's identity), and the next incident
of that alert gets the article suggested; search, reads, votes, links and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.e2e.agent import serving
from tests.e2e.test_sla_api import Api, printer_incident

TOKEN, ALICE = "kb-s3cret-token", "kb-alice-s3cret"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("kb-api")
    (home / "inventory.yaml").write_text("assets: [{name: fin-printer, kind: host, groups: [office]}]\n")
    (home / "alice.token").write_text(ALICE + "\n")
    (home / "opsagent.yaml").write_text(
        f"seed_inventory: [inventory.yaml]\nlanguage: zh\napi_tokens: {{alice: 'file:{home / 'alice.token'}'}}\n"
    )
    with serving(home, {"OPSAGENT_API_TOKEN": TOKEN}) as (_proc, port, log):
        yield Api(port)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and TOKEN not in text and ALICE not in text


def _open(api: Api, fingerprint: str, summary: str) -> int:
    return printer_incident(api, TOKEN, fingerprint, summary)


def test_ticket_to_article_to_suggestion_over_the_api(api: Api) -> None:
    first = _open(api, "kb-one", "财务部打印机无法打印")
    status, body = api.call("POST", f"/api/v1/kb/from-incident/{first}", {"lang": "zh"}, token=ALICE)
    assert status == 400 and "only a resolved or closed" in body["error"]
    fix = {"cause": "Print Spooler 服务停止", "resolution_steps": "重启 Print Spooler 服务"}
    status, body = api.call("POST", f"/api/v1/incidents/{first}/resolve", fix, token=TOKEN)
    assert status == 200, body

    assert api.call("POST", f"/api/v1/kb/from-incident/{first}", {"lang": "zh"})[0] == 401
    status, article = api.call("POST", f"/api/v1/kb/from-incident/{first}", {"lang": "zh"}, token=ALICE)
    assert status == 201, article
    assert article["status"] == "draft" and article["created_by"] == "alice"
    assert "Print Spooler 服务停止" in article["translations"]["zh"]["body"]
    assert article["alerts"] == ["PrintQueueStuck"] and article["asset_groups"] == ["office"]
    assert api.call("POST", f"/api/v1/kb/from-incident/{first}", {}, token=ALICE)[0] == 409
    status, incident = api.call("GET", f"/api/v1/incidents/{first}")
    assert status == 200 and any(e["kind"] == "knowledge" and e["actor"] == "alice" for e in incident["events"])
    aid = article["id"]
    assert api.call("POST", f"/api/v1/kb/articles/{aid}/publish", {}, token=ALICE)[1]["status"] == "published"

    second = _open(api, "kb-two", "打印队列又卡住了")
    status, suggested = api.call("GET", f"/api/v1/kb/suggestions/{second}")
    assert status == 200 and [s["article_id"] for s in suggested] == [aid]
    status, linked = api.call("POST", f"/api/v1/kb/articles/{aid}/link", {"incident": second}, token=ALICE)
    assert status == 200 and linked["suggested"] is True
    assert api.call("GET", f"/api/v1/kb/suggestions/{second}")[1][0]["used_by"] == "alice"

    status, hits = api.call("GET", "/api/v1/kb/search?q=" + quote("无法打印"))
    assert status == 200 and hits[0]["kind"] == "article" and hits[0]["id"] == aid
    status, hits = api.call("GET", "/api/v1/kb/search?q=Spooler&kind=incident")
    assert status == 200 and [h["id"] for h in hits] == [first] and "<mark>Spooler</mark>" in hits[0]["snippet_html"]

    assert api.call("POST", f"/api/v1/kb/articles/{aid}/vote", {"helpful": True}, token=ALICE)[1]["helpful"] == 1
    assert api.call("POST", f"/api/v1/kb/articles/{aid}/vote", {"helpful": True}, token=ALICE)[1]["helpful"] == 1
    status, counts = api.call("POST", f"/api/v1/kb/articles/{aid}/vote", {"helpful": False}, token=ALICE)
    assert status == 200 and (counts["helpful"], counts["not_helpful"]) == (0, 1)  # her vote, replaced
    api.call("GET", f"/api/v1/kb/articles/{aid}")
    assert api.call("GET", f"/api/v1/kb/articles/{aid}")[1]["views"] == 1  # the first read counted
    status, versions = api.call("GET", f"/api/v1/kb/articles/{aid}/versions")
    assert status == 200 and [v["author"] for v in versions] == ["alice", "alice"]


def test_writes_need_a_token_and_bodies_are_validated(api: Api) -> None:
    new = {
        "status": "published",
        "translations": [{"lang": "en", "title": "<b>VPN</b> error 809", "body": "open UDP 500"}],
    }
    assert api.call("POST", "/api/v1/kb/articles", new)[0] == 401
    assert api.call("POST", "/api/v1/kb/articles", new, token="wrong")[0] == 401
    status, created = api.call("POST", "/api/v1/kb/articles", new, token=TOKEN)
    assert status == 201 and created["created_by"] == "api"
    aid = created["id"]
    bad = [
        {},
        {"translations": []},
        {"translations": [{"lang": "fr", "title": "x"}]},
        {"translations": [{"lang": "en", "title": "x" * 301}]},
        {"translations": [{"lang": "en", "title": "x"}], "status": "gone"},
        {"translations": [{"lang": "en", "title": "x"}], "created_by": "mallory"},
        {"translations": [{"lang": "en", "title": "x", "body": "a\u0000b"}]},
        {"translations": [{"lang": "en", "title": "x"}], "incidents": [0]},
    ]
    for body in bad:
        status, answer = api.call("POST", "/api/v1/kb/articles", body, token=TOKEN)
        assert status == 400 and "error" in answer, (body, answer)
    assert api.call("POST", f"/api/v1/kb/articles/{aid}", {"title": "VPN 809"}, token=TOKEN)[1]["version"] == 2
    assert api.call("POST", f"/api/v1/kb/articles/{aid}", {"lang": "zh", "body": "x"}, token=TOKEN)[0] == 409
    assert api.call("POST", "/api/v1/kb/articles/99999", {"title": "x"}, token=TOKEN)[0] == 404
    assert api.call("POST", f"/api/v1/kb/articles/{aid}/vote", {"helpful": "yes"}, token=TOKEN)[0] == 400
    assert api.call("GET", "/api/v1/kb/articles/abc")[0] == 400
    assert api.call("GET", "/api/v1/kb/articles/99999")[0] == 404
    assert api.call("GET", "/api/v1/kb/search?q=")[0] == 400
    assert api.call("GET", "/api/v1/kb/search?q=x&limit=lots")[0] == 400
    assert api.call("GET", "/api/v1/kb/search?q=x&kind=secret")[0] == 400
    status, hits = api.call("GET", "/api/v1/kb/search?q=809&lang=en")
    assert status == 200 and hits[0]["title_html"] == "VPN <mark>809</mark>"
