"""The ``cluster:`` section of the agent config: how agents sharing one PostgreSQL store find each other."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opsagent.units import Duration


class ClusterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(
        default=None,
        description="share the store with other agents: membership, one leader, a shard of the targets each "
        "(default: on with a PostgreSQL store, off with SQLite, which takes one agent)",
    )
    id: str | None = Field(
        default=None, max_length=200, description="this agent's member id (default: HOST:PORT of its listen address)"
    )
    heartbeat: Duration = Field(default=2.0, gt=0, le=3600, description="how often the agent renews its lease")
    lease: Duration = Field(
        default=6.0,
        gt=0,
        le=86400,
        description="an agent is live while its last renewal is younger than this; a dead agent's targets "
        "move after it (failover ≤ lease + heartbeat + one poll interval: under two intervals for intervals "
        "above lease + heartbeat; the store unreachable for longer than this pauses polling)",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="labels of this agent, e.g. {site: shanghai, zone: a}"
    )
    groups: list[str] = Field(
        default_factory=list,
        description="pinning: assets of these inventory groups are polled only by agents naming the group",
    )
    pin_label: str | None = Field(
        default="site",
        description="pinning: an asset whose tag of this name equals an agent's label of this name is polled only "
        "by such agents (while one is live)",
    )

    @model_validator(mode="after")
    def _lease_outlives_heartbeat(self) -> ClusterConfig:
        if self.lease < 2 * self.heartbeat:
            raise ValueError("lease must be at least twice the heartbeat")
        return self
