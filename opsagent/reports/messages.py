"""The timeline's system sentences in the reader's language.

Events store what opsagent said in English (old stores hold the same sentences), so reports translate
them when they render: each known sentence is a pattern with a Chinese template. A person's own note is
shown as written. Event details become labelled values (``确认人: 李主任``), never ``by=李主任``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# (pattern over the stored English sentence, Chinese template using the pattern's groups)
_ZH: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(p), zh)
    for p, zh in (
        (r"^the alert fired again$", "告警再次触发"),
        (r"^the alert cleared$", "告警已恢复"),
        (r"^the alert cleared; waiting for a person to resolve$", "告警已恢复，等待人工确认解决"),
        (r"^suppressed dependents: (?P<names>.*)$", "抑制关联资产的告警：{names}"),
        (r"^archived after closure$", "关闭后归档"),
        (r"^archived at closure$", "关闭时归档"),
        (r"^archived$", "归档"),
        (r"^closed after the follow-up call$", "回访确认后关闭"),
        (
            r"^(?P<target>\w+) at (?P<pct>[\d.]+)% of its time: notify (?P<who>.*)$",
            "{target}已用时限的 {pct}%：通知 {who}",
        ),
        (r"^runbook (?P<rb>\S+): run #(?P<run>\d+) started$", "应急预案 {rb}：执行 #{run} 已开始"),
        (r"^runbook (?P<rb>\S+): run #(?P<run>\d+) (?P<status>\w+)(?: \(failed: (?P<failed>.*)\))?$", None),
        (
            r"^runbook run #(?P<run>\d+) waits for approval #(?P<ap>\d+): (?P<msg>.*?)(?: \(POST .*\))?$",
            "预案执行 #{run} 等待审批 #{ap}：{msg}（opsagent runbook approve {ap}）",
        ),
        (r"^runbook (?P<rb>\S+) did not run \(see the agent's log\)$", "应急预案 {rb} 未执行（详见代理日志）"),
        (r"^runbook (?P<rb>\S+) not run: the incident names no asset$", "应急预案 {rb} 未执行：问题未关联资产"),
        (r"^runbook not run: (?P<why>.*)$", "应急预案未执行：{why}"),
    )
]
_RUN_STATUS = {"succeeded": "成功", "failed": "失败", "interrupted": "已中断", "running": "执行中"}
_TARGETS = {"response": "响应", "assessment": "问题评估", "resolution": "解决", "handover": "移交"}

# detail keys worth showing, with their labels
_DETAIL = {
    "priority": {"zh": "优先级", "en": "priority"},
    "assignee": {"zh": "责任人", "en": "assignee"},
    "by": {"zh": "确认人", "en": "signed by"},
    "satisfaction": {"zh": "满意度", "en": "satisfaction"},
    "earlier_satisfaction": {"zh": "此前满意度", "en": "earlier satisfaction"},
    "started_at": {"zh": "告警开始于", "en": "alert began"},
    "target": {"zh": "目标", "en": "target"},
}


def system_sentence(message: str, lang: str) -> str:
    if lang != "zh" or not message:
        return message
    for pattern, template in _ZH:
        m = pattern.match(message)
        if m is None:
            continue
        groups = {k: v or "" for k, v in m.groupdict().items()}
        if template is None:  # a runbook run's outcome
            failed = f"（失败：{groups['failed']}）" if groups["failed"] else ""
            status = _RUN_STATUS.get(groups["status"], groups["status"])
            return f"应急预案 {groups['rb']}：执行 #{groups['run']} {status}{failed}"
        if "target" in groups:
            groups["target"] = _TARGETS.get(groups["target"], groups["target"])
        return template.format(**groups)
    return message


def _value(key: str, value: Any, lang: str) -> str:
    if key in ("satisfaction", "earlier_satisfaction"):
        return f"{value} / 5"
    if key == "target" and lang == "zh":
        return _TARGETS.get(str(value), str(value))
    return str(value)


def event_text(event: Mapping[str, Any], lang: str) -> str:
    """An event's message and its notable details, in ``lang``."""
    sep = "：" if lang == "zh" else ": "
    detail = event.get("detail") or {}
    extras = [
        f"{_DETAIL[k][lang]}{sep}{_value(k, v, lang)}" for k, v in detail.items() if k in _DETAIL and v is not None
    ]
    message = system_sentence(str(event.get("message") or ""), lang)
    return " · ".join(p for p in [message, ("，" if lang == "zh" else ", ").join(extras)] if p)
