"""The runbook pages' data (opsagent.web.runbook_views): the step × target matrix of a run in progress,
the alert rules linking a runbook, the run form never echoing a secret, the history filter's bounds."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from opsagent.inventory.model import Asset, Inventory
from opsagent.loader import parse_yaml_text, validate
from opsagent.runbooks.library import Entry
from opsagent.runbooks.model import Runbook
from opsagent.web import runbook_views as views
from opsagent.web.words_runbooks import status_word

BOOK = """
name: web-restart
kind: emergency
parameters:
  service: {type: str, required: true}
  api_password: {type: str, default: ""}
steps:
  - {name: before, shell: "true"}
  - {name: confirm, approve: "go?"}
  - {name: restart, shell: "true"}
"""


def book() -> Runbook:
    return validate(parse_yaml_text(BOOK, "t.yaml"), Runbook)


def step(asset: str, seq: int, path: str, status: str = "ok") -> dict[str, Any]:
    return {"asset": asset, "seq": seq, "path": path, "status": status}


def test_the_matrix_shows_done_running_waiting_and_not_reached_steps() -> None:
    run = {
        "steps": [step("a", 1, "before"), step("b", 1, "before"), step("b", 2, "confirm", "rejected")],
        "targets": [
            {"asset": "a", "status": "running", "message": "running: confirm"},
            {"asset": "b", "status": "failed", "message": ""},
            {"asset": "c", "status": "running", "message": "running: before"},
        ],
        "approvals": [
            {"id": 7, "step": "confirm", "asset": "a", "status": "pending"},
            {"id": 6, "step": "confirm", "asset": "b", "status": "rejected"},
        ],
    }
    m = views.run_matrix(run, book())
    assert m["steps"] == ["before", "confirm", "restart"]  # as they ran, then the runbook's steps not reached
    assert m["cells"]["before"] == {"a": "ok", "b": "ok", "c": "running"}
    assert m["cells"]["confirm"] == {"a": "waiting", "b": "rejected", "c": None}
    assert m["cells"]["restart"] == {"a": None, "b": None, "c": None}
    assert [a["id"] for a in m["pending"]] == [7]
    assert status_word("zh")("waiting") == "等待审批" and status_word("zh")("ok") == "正常"
    assert status_word("en")("waiting") == "waiting for approval" and status_word("en")(None) == ""


def test_a_big_run_shows_one_targets_outputs_at_a_time() -> None:
    run = {"steps": [step(f"h{n}", 1, "before") for n in range(30)], "approvals": [],
           "targets": [{"asset": f"h{n}", "status": "ok", "message": ""} for n in range(30)]}  # fmt: skip
    m = views.run_matrix(run, book())
    views.limit_outputs(m, "h7", 50)
    assert len(m["outputs"]) == 30
    views.limit_outputs(m, "h7", 20)
    assert list(m["outputs"]) == ["h7"] and m["outputs"]["h7"][0]["path"] == "before" and len(m["assets"]) == 30


def test_alert_rules_link_a_runbook_by_name_path_or_file() -> None:
    entries = {"web-restart": Entry(book(), Path("runbooks/emergency/web-restart.yaml"), "emergency/web-restart")}

    def rule(name: str, **annotations: str) -> Any:
        return SimpleNamespace(name=name, annotations={k: SimpleNamespace(text=v) for k, v in annotations.items()})

    rules = [rule("A", runbook_url="runbooks/emergency/web-restart.yaml"), rule("B", opsagent_runbook="web-restart"),
             rule("C", runbook_url="https://wiki.example.com/web"), rule("D", summary="x")]  # fmt: skip
    assert views.linked_alerts(rules, entries) == {"web-restart": ["A", "B"]}


def test_the_form_keeps_what_was_typed_but_never_a_secret() -> None:
    form = views.RunForm.of(book(), {"p.service": " nginx ", "p.api_password": "s3cret", "targets": "", "x": "y"})
    assert form.params == {"service": "nginx", "api_password": "s3cret"} and form.targets == "all"
    assert form.shown()["params"] == {"service": "nginx"}
    assert views.RunForm.of(book(), {"p.service": "", "p.api_password": " "}).params == {}  # the default applies
    inv = Inventory(assets={"web1": Asset(name="web1")})
    assert views.form_errors(book(), views.RunForm({}, "nope", False), inv).keys() == {"p.service", "targets"}
    assert views.form_errors(book(), views.RunForm({"service": "x"}, "web1", False), inv) == {}


def test_the_history_filter_keeps_known_values_only() -> None:
    wanted = views.HistoryFilter.of({"status": "bogus", "kind": "inspection", "runbook": "x" * 999, "asset": " w1 "})
    assert wanted.status == "" and wanted.kind == "inspection" and len(wanted.runbook) == 255 and wanted.asset == "w1"
    assert wanted.as_dict() == {"runbook": "x" * 255, "kind": "inspection", "asset": "w1"}
