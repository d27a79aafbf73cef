"""A small knowledge base written by hand, in Chinese and English, and resolved incidents beside it:
the material of the ranking cases (a query and the article a person would want first)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from opsagent.incidents import repo as incidents
from opsagent.knowledge import repo
from opsagent.knowledge.model import Meta, Translation
from opsagent.store import Store, schema
from opsagent.store.engine import now

# key → (meta, {lang: (title, body)})
ARTICLES: dict[str, tuple[dict[str, Any], dict[str, tuple[str, str]]]] = {
    "printer-queue": (
        {"category": "打印机", "tags": ["printer"], "alerts": ["PrintQueueStuck"]},
        {
            "zh": (
                "打印机无法打印，任务卡在队列中",
                "现象：点击打印后没有反应，打印任务一直显示“正在打印”。\n\n处理：重启 Print Spooler 服务，"
                "清空 C:\\Windows\\System32\\spool\\PRINTERS 目录后重新提交任务。",
            )
        },
    ),
    "printer-jam": (
        {"category": "打印机", "tags": ["printer"]},
        {"zh": ("打印机卡纸处理", "打开前盖和后盖，顺着走纸方向取出卡住的纸张，检查搓纸轮是否磨损。")},
    ),
    "printer-shared": (
        {"category": "打印机", "tags": ["printer", "smb"]},
        {
            "zh": (
                "共享打印机连接不上",
                "在客户端重新添加共享打印机，检查主机的文件和打印机共享是否开启，防火墙放行 445 端口。",
            )
        },
    ),
    "printer-offline": (
        {"category": "printer", "tags": ["printer", "windows"]},
        {
            "en": (
                "Printer shows offline after a Windows update",
                "Remove the printer, install the vendor's current driver and add it again; "
                "turn off SNMP status in the port settings.",
            )
        },
    ),
    "vpn-809": (
        {"category": "VPN", "tags": ["vpn"], "alerts": ["VpnTunnelDown"], "asset_kinds": ["network"]},
        {
            "zh": (
                "VPN 连接失败（错误 809）",
                "客户端提示错误 809：网络与 VPN 服务器之间的连接无法建立。防火墙或 NAT 设备需放行 UDP 500 和 4500，"
                "Windows 客户端需设置 AssumeUDPEncapsulationContextOnSendRule。",
            ),
            "en": (
                "VPN connection fails with error 809",
                "The client reports error 809: the network connection between the computer and the VPN server "
                "could not be established. Open UDP 500 and 4500 on the firewall or NAT device.",
            ),
        },
    ),
    "vpn-intranet": (
        {"category": "VPN", "tags": ["vpn"]},
        {"zh": ("VPN 已连接但访问不了内网", "检查拨号后的路由表，是否缺少内网网段的路由；确认服务器下发的 DNS 地址。")},
    ),
    "outlook-send": (
        {"category": "邮件", "tags": ["outlook", "mail"]},
        {"zh": ("Outlook 无法发送邮件", "发件箱中的邮件发不出去：检查 SMTP 服务器地址、端口 587 和发送身份验证设置。")},
    ),
    "mailbox-full": (
        {"category": "邮件", "tags": ["mail"]},
        {"zh": ("邮箱空间已满，收不到新邮件", "归档旧邮件或清理已删除邮件文件夹；需要时申请扩容。")},
    ),
    "db-connections": (
        {
            "category": "数据库",
            "tags": ["postgresql"],
            "alerts": ["PostgresTooManyConnections"],
            "asset_kinds": ["database"],
        },
        {
            "zh": (
                "数据库连接数过多",
                "应用报错 too many connections：检查连接池配置，结束空闲连接，必要时调大 max_connections。",
            ),
            "en": (
                "Database connection pool exhausted",
                "The application fails with too many connections: check the pool size, end idle sessions and "
                "raise max_connections if needed.",
            ),
        },
    ),
    "wifi-drops": (
        {"category": "网络", "tags": ["wifi"]},
        {
            "zh": (
                "无线网络频繁掉线",
                "笔记本连接 Wi-Fi 后隔几分钟断开一次：关闭网卡节能，更新无线网卡驱动，检查信道干扰。",
            )
        },
    ),
    "account-locked": (
        {"category": "账号", "tags": ["ad"]},
        {"zh": ("域账号被锁定，无法登录", "多次输错密码导致账号锁定：在域控上解锁账号，清除手机邮箱中保存的旧密码。")},
    ),
    "disk-full": (
        {"category": "服务器", "tags": ["linux"], "alerts": ["NodeFilesystemAlmostFull"], "asset_kinds": ["host"]},
        {
            "zh": ("服务器磁盘空间不足", "用 du 找到占用最大的目录，清理过期日志，配置 logrotate 轮转。"),
            "en": (
                "Disk almost full on a Linux server",
                "Find the biggest directories with du, remove old logs, set up logrotate.",
            ),
        },
    ),
    "scanner-folder": (
        {"category": "打印机", "tags": ["scanner"]},
        {"zh": ("扫描仪扫描到文件夹失败", "复印机扫描到共享文件夹时报错：检查共享文件夹权限和 SMB 版本。")},
    ),
    "draft-printer": (
        {"category": "打印机", "status": "draft"},
        {"zh": ("打印机无法打印（草稿）", "尚未审核的草稿，不应出现在默认搜索中。")},
    ),
}

# Resolved incidents (title, symptom, cause, steps)
INCIDENTS = [
    (
        "财务部打印机无法打印",
        "财务部的网络打印机打印任务全部失败",
        "打印机 IP 地址被 DHCP 改变",
        "为打印机保留固定 IP，重新添加端口",
    ),
    (
        "ERP database slow",
        "Queries on the ERP database take minutes",
        "a missing index after an upgrade",
        "recreated the index on orders.customer_id",
    ),
]


def load(store: Store) -> dict[str, int]:
    """Write the corpus; returns article ids by key (incidents under ``incident:N``)."""
    ids: dict[str, int] = {}
    for key, (meta, texts) in ARTICLES.items():
        values = {"status": "published"} | meta
        translations = [Translation(lang=lang, title=t, body=b) for lang, (t, b) in texts.items()]  # type: ignore[arg-type]
        ids[key] = repo.create(store, Meta(key=key, **values), translations, "tester")
    for n, (title, symptom, cause, steps) in enumerate(INCIDENTS):
        ids[f"incident:{n}"] = resolved_incident(store, title, symptom, cause, steps)
    return ids


def resolved_incident(store: Store, title: str, symptom: str, cause: str, steps: str, alertname: str = "Manual",
                      asset: str | None = None) -> int:  # fmt: skip
    labels = {"alertname": alertname} | ({"asset": asset} if asset else {})
    incident_id, _ = incidents.fire(store, incidents.AlertInput(f"fp-{title}", alertname, labels, {"summary": title}))
    with store.transaction() as conn:
        conn.execute(insert(schema.incident_service).values(incident_id=incident_id, symptom=symptom, sla={},
                                                            breached=False, updated_at=now()))  # fmt: skip
    incidents.act(store, incident_id, "resolve", "engineer", "fixed", cause=cause, resolution_steps=steps)
    return incident_id


def load_one(store: Store) -> int:
    meta, texts = ARTICLES["printer-queue"]
    title, body = texts["zh"]
    return repo.create(
        store, Meta(key="one", status="published", **meta), [Translation(lang="zh", title=title, body=body)], "t"
    )
