"""Report wording in Chinese (the terms of the service norms) and English."""

from __future__ import annotations

LANGS = ("zh", "en")

T: dict[str, dict[str, str]] = {
    "repair_title": {"zh": "维修服务报告", "en": "Repair Service Report"},
    "basic": {"zh": "基本信息", "en": "Incident"},
    "no": {"zh": "报告编号", "en": "Report no."},
    "title": {"zh": "问题标题", "en": "Title"},
    "project": {"zh": "项目", "en": "Project"},
    "asset": {"zh": "设备/系统", "en": "Asset"},
    "asset_kind": {"zh": "设备类型", "en": "Asset kind"},
    "category": {"zh": "故障类型", "en": "Fault type"},
    "priority": {"zh": "优先级", "en": "Priority"},
    "requester": {"zh": "用户类型", "en": "Requester"},
    "source": {"zh": "来源", "en": "Source"},
    "status": {"zh": "状态", "en": "Status"},
    "assignee": {"zh": "责任维修人", "en": "Engineer in charge"},
    "opened": {"zh": "故障发生时间", "en": "Opened"},
    "acknowledged": {"zh": "响应时间", "en": "Acknowledged"},
    "resolved": {"zh": "解决时间", "en": "Resolved"},
    "closed": {"zh": "关闭时间", "en": "Closed"},
    "symptom": {"zh": "故障现象", "en": "Symptom"},
    "cause": {"zh": "故障原因", "en": "Cause"},
    "steps": {"zh": "处理步骤", "en": "Steps taken"},
    "result": {"zh": "处理结果", "en": "Result"},
    "sla": {"zh": "服务级别", "en": "Service level"},
    "target": {"zh": "指标", "en": "Target"},
    "budget": {"zh": "时限", "en": "Allowed"},
    "used": {"zh": "实际用时", "en": "Used"},
    "due": {"zh": "到期时间", "en": "Due"},
    "outcome": {"zh": "结果", "en": "Outcome"},
    "paused": {"zh": "挂起时长", "en": "Paused"},
    "timeline": {"zh": "处理过程记录", "en": "Timeline"},
    "at": {"zh": "时间", "en": "Time"},
    "event": {"zh": "事件", "en": "Event"},
    "by": {"zh": "操作人", "en": "By"},
    "message": {"zh": "说明", "en": "Details"},
    "followup": {"zh": "维修结果复查", "en": "Follow-up"},
    "followup_due": {"zh": "复查日期", "en": "Follow-up due"},
    "followed_up": {"zh": "复查时间", "en": "Called back"},
    "followed_up_by": {"zh": "复查人", "en": "Called back by"},
    "satisfaction": {"zh": "用户满意度", "en": "Satisfaction"},
    "feedback": {"zh": "用户意见", "en": "Comment"},
    "signoff": {"zh": "用户签字确认", "en": "Sign-off"},
    "signed_by": {"zh": "确认人", "en": "Confirmed by"},
    "signed_at": {"zh": "确认时间", "en": "Confirmed at"},
    "engineer_sign": {"zh": "责任维修人签字", "en": "Engineer's signature"},
    "archived": {"zh": "归档时间", "en": "Archived"},
    "not_yet": {"zh": "(待填写)", "en": "(pending)"},
    "response": {"zh": "响应", "en": "Response"},
    "assessment": {"zh": "问题评估", "en": "Assessment"},
    "resolution": {"zh": "解决", "en": "Resolution"},
    "handover": {"zh": "移交责任团队", "en": "Handover to team"},
    "onsite": {"zh": "上门服务", "en": "On site"},
    "type": {"zh": "工单类型", "en": "Ticket type"},
    "source_type": {"zh": "来源/类型", "en": "Source / type"},
    "by_type": {"zh": "按工单类型统计", "en": "By ticket type"},
    "by_source_type": {"zh": "按来源和类型统计", "en": "By source and type"},
    "team": {"zh": "责任团队", "en": "Responsible team"},
    "contract": {"zh": "服务协议", "en": "Service contract"},
    "contact": {"zh": "联系人", "en": "Requester"},
    "met": {"zh": "达标", "en": "met"},
    "breached": {"zh": "超时", "en": "BREACHED"},
    "running": {"zh": "计时中", "en": "running"},
    "paused_state": {"zh": "挂起中", "en": "paused"},
    "internal": {"zh": "内部员工", "en": "internal"},
    "external": {"zh": "外部客户", "en": "external"},
    # period report
    "period": {"zh": "统计周期", "en": "Period"},
    "generated": {"zh": "生成时间", "en": "Generated"},
    "summary": {"zh": "概况", "en": "Summary"},
    "total": {"zh": "问题总数", "en": "Incidents"},
    "open_now": {"zh": "未解决", "en": "Still open"},
    "mtta": {"zh": "平均响应时间", "en": "Mean time to acknowledge"},
    "mtta_median": {"zh": "响应时间中位数", "en": "Median time to acknowledge"},
    "mttr": {"zh": "平均解决时间", "en": "Mean time to resolve"},
    "mttr_median": {"zh": "解决时间中位数", "en": "Median time to resolve"},
    "by_project": {"zh": "按项目统计", "en": "By project"},
    "by_category": {"zh": "按故障类型统计", "en": "By fault type"},
    "by_kind": {"zh": "按设备类型统计", "en": "By asset kind"},
    "by_asset": {"zh": "按设备统计", "en": "By asset"},
    "by_priority": {"zh": "按优先级统计", "en": "By priority"},
    "by_source": {"zh": "按来源统计", "en": "By source"},
    "count": {"zh": "数量", "en": "Count"},
    "share": {"zh": "占比", "en": "Share"},
    "compliance": {"zh": "服务级别达成率", "en": "SLA compliance"},
    "rate": {"zh": "达成率", "en": "Compliance"},
    "top_faults": {"zh": "高发故障", "en": "Top recurring faults"},
    "fault": {"zh": "故障", "en": "Fault"},
    "incidents": {"zh": "问题数", "en": "Incidents"},
    "firings": {"zh": "告警次数", "en": "Firings"},
    "satisfaction_stats": {"zh": "用户满意度", "en": "Satisfaction"},
    "responses": {"zh": "回访数", "en": "Responses"},
    "average": {"zh": "平均分", "en": "Average"},
    "score": {"zh": "评分", "en": "Score"},
    "followups_open": {"zh": "待复查", "en": "Follow-ups outstanding"},
    "carried": {"zh": "上期遗留问题跟踪", "en": "Carried over from earlier periods"},
    "hours": {"zh": "小时", "en": "h"},
    "timezone": {"zh": "时区", "en": "Time zone"},
}

EVENTS: dict[str, dict[str, str]] = {
    "opened": {"zh": "问题受理", "en": "opened"},
    "acknowledged": {"zh": "已响应", "en": "acknowledged"},
    "assigned": {"zh": "指派", "en": "assigned"},
    "note": {"zh": "备注", "en": "note"},
    "escalated": {"zh": "问题上报", "en": "escalated"},
    "resolved": {"zh": "已解决", "en": "resolved"},
    "reopened": {"zh": "重新打开", "en": "reopened"},
    "closed": {"zh": "关闭", "en": "closed"},
    "repeated": {"zh": "再次告警", "en": "fired again"},
    "cleared": {"zh": "告警恢复", "en": "alert cleared"},
    "flapping": {"zh": "告警抖动", "en": "flapping"},
    "suppressed": {"zh": "抑制关联告警", "en": "suppressed dependents"},
    "updated": {"zh": "信息更新", "en": "updated"},
    "trap": {"zh": "SNMP 告警(Trap)", "en": "SNMP trap"},
    "pending": {"zh": "挂起(等待用户)", "en": "waiting on requester"},
    "resumed": {"zh": "恢复处理", "en": "resumed"},
    "assessed": {"zh": "完成问题评估", "en": "assessed"},
    "signed_off": {"zh": "用户签字确认", "en": "signed off"},
    "followed_up": {"zh": "维修结果复查", "en": "followed up"},
    "archived": {"zh": "归档", "en": "archived"},
    "on_site": {"zh": "工程师到场", "en": "engineer on site"},
    "flagged": {"zh": "工单标记", "en": "flagged"},
}

CATEGORY = {
    "software": {"zh": "软件", "en": "software"},
    "hardware": {"zh": "硬件", "en": "hardware"},
    "network": {"zh": "网络", "en": "network"},
    "other": {"zh": "其他", "en": "other"},
}
STATUS = {
    "open": {"zh": "待处理", "en": "open"},
    "acknowledged": {"zh": "处理中", "en": "acknowledged"},
    "resolved": {"zh": "已解决", "en": "resolved"},
    "closed": {"zh": "已关闭", "en": "closed"},
}


def t(key: str, lang: str) -> str:
    return T[key][lang]


def event_name(kind: str, lang: str) -> str:
    return EVENTS.get(kind, {}).get(lang, kind)


def word(table: dict[str, dict[str, str]], key: str | None, lang: str) -> str:
    if key is None:
        return ""
    return table.get(key, {}).get(lang, key)
