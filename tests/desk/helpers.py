"""A content root for desk tests: the shipped policy, and a contract with 4 h on-site response on its
own calendar (Mon–Sat 08:00–12:00 + 13:00–20:00, 1 May a holiday)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CONTRACTS = """\
calendars:
  acme-hours:
    timezone: Asia/Shanghai
    weekdays: [mon, tue, wed, thu, fri, sat]
    hours: ["08:00-12:00", "13:00-20:00"]
    holidays: [2026-05-01]
contracts:
  ACME-2026:
    organisation: ACME 有限公司
    valid_from: 2026-01-01
    valid_until: 2026-12-31
    calendar: acme-hours
    scope: {categories: [hardware, network]}
    targets: {response: 30m, resolution: 2wd, onsite: 4h}
  OLD-2024:
    organisation: 旧客户
    valid_from: 2024-01-01
    valid_until: 2024-12-31
    targets: {response: 10m, resolution: 1h}
"""


def content_root(base: Path) -> Path:
    """A content root holding the shipped service-level policy, categories and routing, and the
    test contracts."""
    (base / "alerts").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "alerts" / "service-levels.yaml", base / "alerts" / "service-levels.yaml")
    (base / "desk").mkdir(exist_ok=True)
    for name in ("categories.yaml", "routing.yaml"):
        shutil.copy(REPO / "desk" / name, base / "desk" / name)
    (base / "desk" / "contracts.yaml").write_text(CONTRACTS, encoding="utf-8")
    return base
