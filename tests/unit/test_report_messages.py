"""System sentences of the incident timeline in Chinese; a person's own text is left as written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsagent.reports.messages import event_text, system_sentence


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("response at 50% of its time: notify oncall:ops", "响应已用时限的 50%：通知 oncall:ops"),
        ("runbook disk-full: run #7 started", "应急预案 disk-full：执行 #7 已开始"),
        (
            "runbook disk-full: run #7 failed (failed: web1, web2)",
            "应急预案 disk-full：执行 #7 失败（失败：web1, web2）",
        ),
        ("runbook disk-full: run #7 succeeded", "应急预案 disk-full：执行 #7 成功"),
        (
            "runbook run #7 waits for approval #3: restart nginx? (POST /api/v1/runbooks/approvals/3 or `x`)",
            "预案执行 #7 等待审批 #3：restart nginx?（opsagent runbook approve 3）",
        ),
        ("suppressed dependents: web1, web2", "抑制关联资产的告警：web1, web2"),
        ("用户反馈问题再次出现", "用户反馈问题再次出现"),
        ("disk replaced", "disk replaced"),  # a person's note stays as written
    ],
)
def test_known_sentences_translate(english: str, chinese: str) -> None:
    assert system_sentence(english, "zh") == chinese
    assert system_sentence(english, "en") == english


def test_details_are_labelled_not_raw() -> None:
    event = {"message": "", "detail": {"by": "李主任", "satisfaction": 4, "labels": {"x": "y"}}}
    assert event_text(event, "zh") == "确认人：李主任，满意度：4 / 5"
    assert event_text(event, "en") == "signed by: 李主任, satisfaction: 4 / 5"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=200))
def test_any_message_renders(text: str) -> None:
    assert isinstance(system_sentence(text, "zh"), str)
