"""The runbook pages' Chinese words (merged into :data:`opsagent.web.words.ZH`) and their status words:
those of the inspection report (``opsagent.runbooks.report.LABELS``: 执行中, 成功, 正常, 异常 …) plus the
approvals'. Status words have their own table: "running" is 计时中 for an SLA clock but 执行中 for a run."""

from __future__ import annotations

from collections.abc import Callable

from opsagent.runbooks.report import LABELS

ZH: dict[str, str] = {
    "Runbooks": "运行手册",
    "Runbook catalogue": "运行手册目录",
    "Run history": "执行记录",
    "Approvals": "审批",
    "Approvals inbox": "待审批",
    "Inspection reports": "巡检报告",
    "inspection": "巡检",
    "emergency": "应急",
    "task": "任务",
    "Targets": "目标",
    "Parameters": "参数",
    "Linked alerts": "关联告警",
    "Schedule": "计划",
    "Steps": "步骤",
    "Default": "默认值",
    "required": "必填",
    "Run this runbook": "执行此运行手册",
    "Start the run": "开始执行",
    "Check mode (render the steps, execute nothing)": "检查模式（只渲染步骤，不执行）",
    "an inventory selector, as the CLI's --limit": "资产选择器，同命令行的 --limit",
    "The form has errors; nothing was started.": "表单有误，未开始执行。",
    "Secret: not shown again": "密钥：不会再次显示",
    "Recent runs": "最近执行",
    "No runs yet.": "尚无执行记录。",
    "No runbooks.": "没有运行手册。",
    "Started by": "执行人",
    "Started": "开始时间",
    "Finished": "结束时间",
    "Trigger": "触发方式",
    "Selector": "选择器",
    "Progress": "进度",
    "Outputs": "输出",
    "Command": "命令",
    "Output": "输出",
    "Errors": "错误输出",
    "Exit code": "退出码",
    "Attempts": "尝试次数",
    "Duration": "耗时",
    "This page refreshes itself while the run goes on.": "执行期间本页自动刷新。",
    "Waiting for approval": "等待审批",
    "Approve": "批准",
    "Reject": "拒绝",
    "Comment": "意见",
    "Requested": "申请时间",
    "Decided by": "审批人",
    "Only these may decide:": "仅以下人员可审批：",
    "No approvals are waiting.": "没有待审批的步骤。",
    "Pass / warn / fail by asset and check": "按资产与检查项的正常 / 警告 / 异常",
    "Report (HTML)": "报告（HTML）",
    "Report (PDF)": "报告（PDF）",
    "Actor": "执行人",
    "whole run": "整个运行",
    "not reached": "未执行",
    "console": "控制台",
    "cli": "命令行",
    "schedule": "计划任务",
    "Targets that could not be inspected": "无法巡检的资产",
    "Pass": "正常",
    "Warn": "警告",
    "Fail": "异常",
    "Error": "错误",
}

_STATUS_EN = {"waiting": "waiting for approval"}
_STATUS_ZH = {
    "waiting": "等待审批",
    "pending": "待审批",
    "approved": "已批准",
    "rejected": "已拒绝",
    "expired": "已过期",
    "checked": "已检查",
    "failed": "失败",
}


def status_word(lang: str) -> Callable[[str | None], str]:
    """A run's, target's, step's, check's or approval's status in ``lang``."""
    table = LABELS["zh"] | _STATUS_ZH if lang == "zh" else _STATUS_EN

    def word(status: str | None) -> str:
        return table.get(str(status), str(status)) if status is not None else ""

    return word
