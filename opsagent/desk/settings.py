"""The ``desk`` section of the agent config: how long requesters' personal data is kept, and how early
contract and warranty expiries are announced.

```yaml
desk:
  retention_months: 24        # purge personal data of tickets closed more than 24 months ago (unset: keep)
  purge_interval: 1d          # how often `opsagent serve` runs the purge
  expiry_warnings: [30, 7]    # warn this many days before a contract / warranty / maintenance period ends
  expiry_receivers: [ops-mail]  # receivers of alerts/notifications.yaml told (default: every receiver)
  expiry_interval: 1d         # how often `opsagent serve` looks for expiries
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.units import Duration


class DeskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_months: int | None = Field(
        default=None,
        ge=1,
        le=1200,
        description="purge attachments and requesters' personal data of tickets closed more than this many "
        "months ago (unset: kept)",
    )
    purge_interval: Duration = Field(default=86400.0, ge=60)
    expiry_warnings: list[int] = Field(
        default_factory=lambda: [30],
        description="days before a contract's validity or an asset's warranty/maintenance ends to warn",
    )
    expiry_receivers: list[str] | None = Field(
        default=None, description="notification receivers the warnings go to (default: every receiver)"
    )
    expiry_interval: Duration = Field(default=86400.0, ge=60)

    @field_validator("expiry_warnings")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if any(not 0 <= v <= 3650 for v in value):
            raise ValueError("each threshold is 0–3650 days")
        return sorted(set(value), reverse=True)
