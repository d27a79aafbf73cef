"""Inspection reports (巡检报告): a pass / warn / fail matrix of checks × assets with the values
measured and the thresholds, in Markdown, HTML or JSON, in English or Chinese.

Pure functions over a stored run (``runbook_repo.get_run``): a report can be rendered again at any
time from the audit trail.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, tzinfo
from typing import Any

from opsagent.i18n import show_time

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Inspection report",
        "runbook": "Runbook",
        "run": "Run",
        "by": "Started by",
        "started": "Started",
        "finished": "Finished",
        "status": "Status",
        "params": "Parameters",
        "summary": "Summary",
        "assets": "Assets",
        "check": "Check",
        "matrix": "Checks × assets",
        "findings": "Findings (warn and fail)",
        "none": "No findings: every check passed.",
        "none_partial": "No findings on the targets inspected; {n} target(s) could not be inspected.",
        "nothing": "Nothing was inspected: no target could be reached.",
        "succeeded": "succeeded",
        "failed": "failed",
        "running": "running",
        "interrupted": "interrupted",
        "ok": "ok",
        "skipped": "skipped",
        "timeout": "timed out",
        "unreachable": "unreachable",
        "changed": "changed",
        "asset": "Asset",
        "value": "Value",
        "threshold": "Threshold",
        "message": "Message",
        "errors": "Targets that could not be inspected",
        "pass": "pass",
        "warn": "warn",
        "fail": "fail",
        "error": "error",
        "n/a": "n/a",
    },
    "zh": {
        "title": "巡检报告",
        "runbook": "巡检项目",
        "run": "执行编号",
        "by": "执行人",
        "started": "开始时间",
        "finished": "结束时间",
        "status": "状态",
        "params": "参数",
        "summary": "汇总",
        "assets": "资产数",
        "check": "检查项",
        "matrix": "检查项 × 资产",
        "findings": "发现的问题（警告与失败）",
        "none": "未发现问题：全部检查项通过。",
        "none_partial": "已巡检的资产未发现问题；{n} 个资产无法巡检。",
        "nothing": "未完成任何巡检：所有资产均无法连接。",
        "succeeded": "成功",
        "failed": "失败",
        "running": "执行中",
        "interrupted": "已中断",
        "ok": "正常",
        "skipped": "已跳过",
        "timeout": "超时",
        "unreachable": "无法连接",
        "changed": "已变更",
        "asset": "资产",
        "value": "实测值",
        "threshold": "阈值",
        "message": "说明",
        "errors": "无法巡检的资产",
        "pass": "正常",
        "warn": "警告",
        "fail": "异常",
        "error": "错误",
        "n/a": "未检查",
    },
}
ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "❗", "n/a": "—"}


def _time(value: Any, zone: tzinfo | None = None) -> str:
    return show_time(value, zone, seconds=True) if isinstance(value, datetime) else str(value or "")


def _word(lb: dict[str, str], value: Any) -> str:
    """A status word in the report's language (a value it has no word for stays as it is)."""
    return lb.get(str(value), str(value))


def _none_text(data: dict[str, Any], lb: dict[str, str]) -> str:
    """What the findings section says when it lists nothing: never "all passed" for targets not inspected."""
    missed = len(data["not_inspected"])
    if not missed:
        return lb["none"]
    if not any(cell for row in data["matrix"].values() for cell in row.values()):
        return lb["nothing"]
    return lb["none_partial"].format(n=missed)


def build(run: dict[str, Any], zone: tzinfo | None = None) -> dict[str, Any]:
    """The report's data: checks in runbook order, assets sorted, one cell per (check, asset)."""
    checks: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for step in run["steps"]:
        for check in step["checks"]:
            if step["path"] not in checks:
                checks.append(step["path"])
            cells[(step["path"], step["asset"])] = check
    assets = sorted({t["asset"] for t in run["targets"]} | {a for _c, a in cells})
    inspected = {a for _c, a in cells}
    unreachable = [t for t in run["targets"] if t["status"] != "ok" and t["asset"] not in inspected]
    counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0}
    for cell in cells.values():
        counts[cell["status"]] += 1
    counts["error"] += len(unreachable)  # a target that could not be inspected is an error, not a pass
    return {
        "run": run["id"],
        "runbook": run["runbook"],
        "kind": run["kind"],
        "status": run["status"],
        "actor": run["actor"],
        "started_at": _time(run["started_at"], zone),
        "finished_at": _time(run.get("finished_at"), zone),
        "parameters": run["parameters"],
        "assets": assets,
        "checks": checks,
        "counts": counts,
        "matrix": {c: {a: cells.get((c, a)) for a in assets} for c in checks},
        "not_inspected": [{"asset": t["asset"], "status": t["status"], "message": t["message"]} for t in unreachable],
    }


def render_json(run: dict[str, Any]) -> str:
    return json.dumps(build(run), indent=2, ensure_ascii=False, default=str) + "\n"


def _cell_text(cell: dict[str, Any] | None, labels: dict[str, str]) -> str:
    if cell is None:
        return ICON["n/a"]
    value = f" {cell['value']}" if cell.get("value") not in (None, "") else ""
    return f"{ICON[cell['status']]} {labels[cell['status']]}{value}"


def _findings(data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (check, asset, cell)
        for check, row in data["matrix"].items()
        for asset, cell in row.items()
        if cell is not None and cell["status"] != "pass"
    ]


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`[]|"})


def _md(text: Any) -> str:
    """Target output and names as inert Markdown text: no raw HTML (``<script>``), no links, no table breaks."""
    plain = str(text if text is not None else "").replace("\r", " ").replace("\n", " ")
    return html.escape(plain, quote=False).translate(_MD_SPECIAL)


def render_markdown(run: dict[str, Any], lang: str = "en", zone: tzinfo | None = None) -> str:
    data, lb = build(run, zone), LABELS[lang]
    c = data["counts"]
    lines = [
        f"# {lb['title']}: {_md(data['runbook'])}",
        "",
        f"- {lb['run']}: #{data['run']} · {lb['status']}: {_md(_word(lb, data['status']))}",
        f"- {lb['by']}: {_md(data['actor'])} · {lb['started']}: {data['started_at']} · "
        f"{lb['finished']}: {data['finished_at']}",
        f"- {lb['params']}: " + (", ".join(_md(f"{k}={v}") for k, v in data["parameters"].items()) or "—"),
        f"- {lb['summary']}: {lb['assets']} {len(data['assets'])} · {ICON['pass']} {c['pass']} · {ICON['warn']} "
        f"{c['warn']} · {ICON['fail']} {c['fail']}" + (f" · {ICON['error']} {c['error']}" if c["error"] else ""),
        "",
        f"## {lb['matrix']}",
        "",
        "| " + " | ".join([lb["check"], *map(_md, data["assets"])]) + " |",
        "|" + "---|" * (len(data["assets"]) + 1),
    ]
    for check in data["checks"]:
        row = data["matrix"][check]
        lines.append("| " + " | ".join([_md(check), *(_md(_cell_text(row[a], lb)) for a in data["assets"])]) + " |")
    lines += ["", f"## {lb['findings']}", ""]
    findings = _findings(data)
    if findings:
        lines.append(
            f"| {lb['asset']} | {lb['check']} | {lb['status']} | {lb['value']} | {lb['threshold']} | {lb['message']} |"
        )
        lines.append("|---|---|---|---|---|---|")
        for check, asset, cell in findings:
            lines.append(
                f"| {_md(asset)} | {_md(check)} | {ICON[cell['status']]} {lb[cell['status']]} "
                f"| {_md(cell.get('value'))} | {_md(cell.get('threshold'))} | {_md(cell.get('message'))} |"
            )
    else:
        lines.append(_none_text(data, lb))
    if data["not_inspected"]:
        lines += ["", f"## {lb['errors']}", ""]
        lines += [
            f"- {_md(t['asset'])}: {_md(_word(lb, t['status']))} — {_md(t['message'])}" for t in data["not_inspected"]
        ]
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}
th{background:#f3f3f3}.pass{background:#e6f4ea}.warn{background:#fff4d6}.fail{background:#fde2e1}.error{background:#f3d1f4}
.na{color:#999}"""


def render_html(run: dict[str, Any], lang: str = "en", zone: tzinfo | None = None) -> str:
    data, lb = build(run, zone), LABELS[lang]
    e = html.escape
    c = data["counts"]
    out = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{e(lb['title'])}: {e(data['runbook'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(lb['title'])}: {e(data['runbook'])}</h1><ul>",
        f"<li>{e(lb['run'])}: #{data['run']} · {e(lb['status'])}: {e(_word(lb, data['status']))}</li>",
        f"<li>{e(lb['by'])}: {e(data['actor'])} · {e(lb['started'])}: {e(data['started_at'])} · "
        f"{e(lb['finished'])}: {e(data['finished_at'])}</li>",
        f"<li>{e(lb['params'])}: " + e(", ".join(f"{k}={v}" for k, v in data["parameters"].items()) or "—") + "</li>",
        f"<li>{e(lb['summary'])}: {e(lb['assets'])} {len(data['assets'])} · {e(lb['pass'])} {c['pass']} · "
        f"{e(lb['warn'])} {c['warn']} · {e(lb['fail'])} {c['fail']} · {e(lb['error'])} {c['error']}</li></ul>",
        f"<h2>{e(lb['matrix'])}</h2><table><tr><th>{e(lb['check'])}</th>",
        *(f"<th>{e(a)}</th>" for a in data["assets"]),
        "</tr>",
    ]
    for check in data["checks"]:
        out.append(f"<tr><th>{e(check)}</th>")
        for asset in data["assets"]:
            cell = data["matrix"][check][asset]
            if cell is None:
                out.append(f'<td class="na">{e(lb["n/a"])}</td>')
                continue
            title = " · ".join(str(x) for x in (cell.get("message"), cell.get("threshold")) if x)
            value = e(str(cell.get("value") or ""))
            out.append(f'<td class="{cell["status"]}" title="{e(title)}">{e(lb[cell["status"]])} {value}</td>')
        out.append("</tr>")
    out.append(f"</table><h2>{e(lb['findings'])}</h2>")
    findings = _findings(data)
    if findings:
        out.append(
            f"<table><tr><th>{e(lb['asset'])}</th><th>{e(lb['check'])}</th><th>{e(lb['status'])}</th>"
            f"<th>{e(lb['value'])}</th><th>{e(lb['threshold'])}</th><th>{e(lb['message'])}</th></tr>"
        )
        for check, asset, cell in findings:
            out.append(
                f'<tr class="{cell["status"]}"><td>{e(asset)}</td><td>{e(check)}</td><td>{e(lb[cell["status"]])}</td>'
                f"<td>{e(str(cell.get('value') or ''))}</td><td>{e(str(cell.get('threshold') or ''))}</td>"
                f"<td>{e(str(cell.get('message') or ''))}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append(f"<p>{e(_none_text(data, lb))}</p>")
    if data["not_inspected"]:
        out.append(f"<h2>{e(lb['errors'])}</h2><ul>")
        out += [
            f"<li>{e(t['asset'])}: {e(_word(lb, t['status']))} — {e(t['message'])}</li>" for t in data["not_inspected"]
        ]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(run: dict[str, Any], fmt: str, lang: str = "en", zone: tzinfo | None = None) -> str:
    if fmt == "json":
        return render_json(run)
    if fmt == "html":
        return render_html(run, lang, zone)
    return render_markdown(run, lang, zone)


def format_for(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".html", ".htm")):
        return "html"
    return "markdown"
