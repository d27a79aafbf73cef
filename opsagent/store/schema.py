"""Table definitions (SQLAlchemy Core). DDL changes go through a new migration in ``migrations/``;
``tests/store`` checks these definitions against the migrated schema so the two never drift."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeEngine

metadata = MetaData()


class Json(TypeDecorator[object]):
    """JSON, stored as JSONB on PostgreSQL (what the migrations create). A decorator rather than
    ``JSON().with_variant(JSONB())`` so the PostgreSQL dialect (and asyncio, which it imports) loads only
    when a PostgreSQL store is opened: every CLI command imports this module."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[object]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


OPEN_INCIDENT = "status IN ('open', 'acknowledged')"


class _UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC. SQLite's DateTime writes the wall-clock digits and drops the zone, so a
    time in another zone (10:00+08:00) would be stored, and compared, as 10:00Z: every value bound to such
    a column (insert, update, where) is turned into UTC here, the one place all writes pass. A naive value
    is UTC already (the house rule; SQLite hands them back naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = _UtcDateTime()

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("address", String(255)),
    Column("port", Integer),
    Column("description", Text, nullable=False, server_default=""),
    Column("groups", Json, nullable=False),
    Column("tags", Json, nullable=False),
    Column("vars", Json, nullable=False),
    Column("credentials", Json, nullable=False),  # references only (env:/file:), never values
    Column("collectors", Json, nullable=False),
    Column("source", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("children", Json, nullable=False),
    Column("vars", Json, nullable=False),
    Column("collectors", Json, nullable=False),
    Column("source", Text),  # the import that defined it (its owner); NULL: before sources were kept
)

# Each import's own ``all`` vars: they apply to the assets of that source only.
inventory_sources = Table(
    "inventory_sources",
    metadata,
    Column("source", Text, primary_key=True),
    Column("vars", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

facts = Table(
    "facts",
    metadata,
    Column("asset_id", Integer, ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Json),
    Column("collector", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

fact_history = Table(
    "fact_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("asset_id", Integer, ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("old_value", Json),
    Column("new_value", Json),
    Column("collector", String(64), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_fact_history_asset_time", "asset_id", "changed_at"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False, server_default=""),
    Column("detail", Json, nullable=False),
    Column("origin", String(255), nullable=False, server_default=""),  # cli user@host | http ADDRESS (migration 0010)
    Index("ix_audit_at", "at"),
    Index("ix_audit_actor_at", "actor", "at"),
)

# -- alerts and incidents (migration 0003) ------------------------------------------------------
alert_states = Table(
    "alert_states",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("rule", String(255), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("value", Float),
    Column("state", String(16), nullable=False),
    Column("active_at", Float, nullable=False),
    Column("fired_at", Float),
    Column("last_seen", Float, nullable=False),
    Column("flapping", Boolean, nullable=False),
    Column("history", Json, nullable=False),
    Column("incident_id", Integer),
    Column("notified", Boolean, nullable=False),
    Column("agent", String(255)),  # the cluster member that saved it (migration 0012_cluster); None: alone
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("alertname", String(255), nullable=False),
    Column("source", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("severity", String(32), nullable=False, server_default=""),
    Column("priority", String(8), nullable=False),
    Column("category", String(16), nullable=False),
    Column("requester_type", String(16), nullable=False),
    Column("asset", String(255)),
    Column("assignee", String(255)),
    Column("cause", Text),
    Column("resolution_steps", Text),
    Column("resolve_policy", String(16), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("value", Float),
    Column("count", Integer, nullable=False),
    Column("flapping", Boolean, nullable=False),
    Column("suppressed", Json, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_fired_at", UtcDateTime, nullable=False),
    Column("acknowledged_at", UtcDateTime),
    Column("resolved_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # service desk (migration 0009_desk): incident | service_request, the responsible team, the contract
    Column("type", String(24), nullable=False, server_default="incident"),
    Column("team", String(255)),
    Column("contract", String(128)),
    Index("ix_incidents_fingerprint_status", "fingerprint", "status"),
    Index("ix_incidents_status_opened", "status", "opened_at"),
    # one open incident per fingerprint, whichever agent fires first (migration 0012_cluster)
    Index(
        "ux_incidents_open_fingerprint",
        "fingerprint",
        unique=True,
        sqlite_where=text(OPEN_INCIDENT),
        postgresql_where=text(OPEN_INCIDENT),
    ),
    # the console's queue pages, newest first (migration 0012_cbench)
    Index("ix_incidents_status_id", "status", "id"),
    Index("ix_incidents_asset_id", "asset", "id"),
    Index("ix_incidents_assignee_status_id", "assignee", "status", "id"),
    # the newest active incidents: the queue's default page, the API's list (migration 0015_active)
    Index("ix_incidents_active_id", "id", sqlite_where=text(OPEN_INCIDENT), postgresql_where=text(OPEN_INCIDENT)),
)


def active_incident() -> ColumnElement[bool]:
    """``status IN ('open', 'acknowledged')`` with the statuses written into the statement, not bound: a
    bound list hides from a generic PostgreSQL plan that the partial index on :data:`OPEN_INCIDENT`
    (``ix_incidents_active_id``) applies. (SQLite's planner keeps ``ix_incidents_status_id`` and sorts the
    active ids, 0.6 ms at 5,000 active.)"""
    wanted: BindParameter[list[str]] = bindparam(
        "active_statuses", ["open", "acknowledged"], expanding=True, literal_execute=True
    )
    return incidents.c.status.in_(wanted)


incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("detail", Json, nullable=False),
    Index("ix_incident_events_incident", "incident_id", "id"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # silence | maintenance
    Column("matchers", Json, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expired_at", UtcDateTime),
)

notification_log = Table(
    "notification_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("receiver", String(255), nullable=False),
    Column("group_key", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("firing", Json, nullable=False),
    Column("resolved", Json, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Index("ix_notification_log_group", "receiver", "group_key", "id"),
)

# what each notification group last sent, shared by the agents: a send is claimed here first (0012_cluster)
notification_groups = Table(
    "notification_groups",
    metadata,
    Column("group_key", String(1024), primary_key=True),
    Column("last_sent", Float),
    Column("sent_firing", Json, nullable=False),
    Column("agent", String(255), nullable=False, server_default=""),
)

# -- cluster: agents sharing one store (migration 0012_cluster) -------------------------------------
cluster_members = Table(
    "cluster_members",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(64), nullable=False),
    Column("listen", String(255), nullable=False, server_default=""),
    Column("labels", Json, nullable=False),
    Column("groups", Json, nullable=False),
    Column("joined_at", Float, nullable=False),  # Unix seconds, as the members' clocks read them
    Column("heartbeat_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("targets", Integer, nullable=False, server_default="0"),
)

# each member's latest samples of the series cluster-wide rules read (opsagent_scope: cluster)
cluster_series = Table(
    "cluster_series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("agent", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("labels", Json, nullable=False),
    Column("value", Float, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_cluster_series_agent", "agent"),
)

cluster_leases = Table(
    "cluster_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False),
)

# Service levels (migration 0004): the queryable projection of an incident's service record; the
# event log stays the truth and SLA clocks are recomputed from it.
incident_service = Table(
    "incident_service",
    metadata,
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("impact", String(16)),
    Column("urgency", String(16)),
    Column("symptom", Text),
    Column("result", Text),
    Column("signed_off_by", String(255)),
    Column("signed_off_at", UtcDateTime),
    Column("followup_due_at", UtcDateTime),
    Column("followed_up_at", UtcDateTime),
    Column("followed_up_by", String(255)),
    Column("satisfaction", Integer),
    Column("feedback", Text),
    Column("archived_at", UtcDateTime),
    Column("sla", Json, nullable=False),
    Column("breached", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # SLA tick state (migration 0007): a restart recomputes only what changed while it was down
    Column("seen_event_id", Integer),
    Column("next_check_at", UtcDateTime),
    Column("policy_digest", String(32)),
    # once every clock has stopped (migration 0008): a letter per target, m met / b breached / - neither
    Column("outcome", String(8)),
    Index("ix_incident_service_followup", "followed_up_at", "followup_due_at"),
)

# -- runbook runs (migration 0005) ----------------------------------------------------------------
runbook_runs = Table(
    "runbook_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("runbook", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(24), nullable=False),  # running | succeeded | failed | interrupted | rejected
    Column("actor", String(255), nullable=False),
    Column("trigger", String(16), nullable=False),  # cli | schedule | incident | api
    Column("incident_id", Integer),
    Column("parameters", Json, nullable=False),  # redacted
    Column("selector", Text, nullable=False),
    Column("check_mode", Boolean, nullable=False),
    Column("retry_of", Integer),
    Column("pid", Integer),
    Column("hostname", String(255)),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("summary", Json, nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("lease_until", UtcDateTime),  # renewed while the run goes on; expired = interrupted (migration 0009)
    Index("ix_runbook_runs_runbook", "runbook", "id"),
    Index("ix_runbook_runs_status", "status"),
)

runbook_targets = Table(
    "runbook_targets",
    metadata,
    Column("run_id", Integer, ForeignKey("runbook_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("asset", String(255), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("checks", Json, nullable=False),  # {pass: n, warn: n, fail: n}
    Column("duration", Float),
    Column("finished_at", UtcDateTime),
)

runbook_steps = Table(
    "runbook_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runbook_runs.id", ondelete="CASCADE"), nullable=False),
    Column("asset", String(255), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("path", Text, nullable=False),  # step name, with block/handler nesting
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("command", Text),  # rendered, redacted
    Column("stdout", Text, nullable=False, server_default=""),  # bounded, redacted
    Column("stderr", Text, nullable=False, server_default=""),
    Column("rc", Integer),
    Column("attempts", Integer, nullable=False),
    Column("duration", Float, nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("checks", Json, nullable=False),  # [{status, message, value, threshold}]
    Column("started_at", UtcDateTime, nullable=False),
    Index("ix_runbook_steps_run", "run_id", "asset", "seq"),
)

runbook_approvals = Table(
    "runbook_approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runbook_runs.id", ondelete="CASCADE"), nullable=False),
    Column("asset", String(255), nullable=False, server_default=""),
    Column("step", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("approvers", Json, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected | expired
    Column("requested_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime),
    Column("decided_by", String(255)),
    Column("comment", Text, nullable=False, server_default=""),
    Column("channel", String(16), nullable=False),  # terminal | api
    Index("ix_runbook_approvals_status", "status"),
)

# Received events (SNMP traps and informs): migration 0006.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("kind", String(32), nullable=False),  # snmp_trap | snmp_inform
    Column("source", String(255), nullable=False),  # sender address
    Column("asset", String(255)),  # the inventory asset with that address, if any
    Column("name", String(255), nullable=False),  # trap name where MIBs resolve it, else the OID
    Column("oid", String(255), nullable=False),
    Column("detail", Json, nullable=False),  # varbinds, security name (never the secret)
    Index("ix_events_received", "received_at"),
    Index("ix_events_asset_received", "asset", "received_at"),
)

# Device configurations fetched over netmiko: one row per changed version (migration 0006).
config_versions = Table(
    "config_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("asset", String(255), nullable=False),
    Column("rev", Integer, nullable=False),
    Column("fetched_at", UtcDateTime, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("text", Text, nullable=False),  # volatile lines removed, secrets masked (sha256 is of the raw text)
    UniqueConstraint("asset", "rev", name="uq_config_versions_asset_rev"),
)

# -- service desk (migration 0009_desk) -----------------------------------------------------------
# Requester records (用户档案): organisations (internal departments, external customers) and people.
organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # internal | external
    Column("notes", Text, nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("address", Text, nullable=False, server_default=""),  # the site of on-site visits (migration 0011)
)

requesters = Table(
    "requesters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("organisation_id", Integer, ForeignKey("organisations.id", ondelete="SET NULL")),
    Column("department", String(255), nullable=False, server_default=""),
    Column("phone", String(64)),
    Column("email", String(320)),
    Column("type", String(16), nullable=False),  # internal | external: picks the 1 h / 2 h targets
    Column("language", String(8), nullable=False, server_default="zh"),
    Column("preferred_channel", String(16), nullable=False, server_default="phone"),
    Column("notes", Text, nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("timezone", String(64)),  # IANA zone of requester-facing times (migration 0011); None: the agent's
    Index("ix_requesters_email", "email", unique=True),
    Index("ix_requesters_phone", "phone"),
    Index("ix_requesters_name", "name"),
)

requester_assets = Table(
    "requester_assets",
    metadata,
    Column("requester_id", Integer, ForeignKey("requesters.id", ondelete="CASCADE"), primary_key=True),
    Column("asset", String(255), primary_key=True),
    Column("relation", String(8), primary_key=True),  # uses | owns
)

# What the desk recorded when a person raised the ticket (the incident row holds the rest).
ticket_details = Table(
    "ticket_details",
    metadata,
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("requester_id", Integer, ForeignKey("requesters.id", ondelete="SET NULL")),
    Column("channel", String(16), nullable=False),
    Column("subcategory", String(64), nullable=False, server_default=""),
    Column("request", Text, nullable=False, server_default=""),
    Column("promises", Text, nullable=False, server_default=""),
    Column("assets", Json, nullable=False),
    Column("flags", Json, nullable=False),  # out_of_scope, contract_expired, …
    Column("purged_at", UtcDateTime),  # personal data purged after the retention period (migration 0012_fix_desk2)
    Index("ix_ticket_details_requester", "requester_id"),
)

# Expiry warnings sent (migration 0012_fix_desk2): one per contract / warranty period and threshold.
desk_expiry_notices = Table(
    "desk_expiry_notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # contract | warranty | maintenance
    Column("subject", String(512), nullable=False),  # the contract's name; contract/asset for a period
    Column("until", Date, nullable=False),
    Column("threshold", Integer, nullable=False),  # days before ``until``
    Column("sent_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "subject", "until", "threshold", name="uq_desk_expiry_notices"),
)

# -- users, API tokens, console sessions (migration 0010) ---------------------------------------
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(255), nullable=False, unique=True),
    Column("display_name", String(255), nullable=False, server_default=""),
    Column("email", String(255), nullable=False, server_default=""),
    Column("language", String(8), nullable=False, server_default="zh"),
    Column("timezone", String(64), nullable=False, server_default=""),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("source", String(16), nullable=False, server_default="local"),  # local | ldap
    Column("password_hash", Text),  # argon2id; NULL for directory (LDAP) accounts
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("last_login_at", UtcDateTime),
)

user_tokens = Table(
    "user_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(255), nullable=False, server_default=""),
    Column("token_sha256", String(64), nullable=False, unique=True),  # the token itself is shown once, never kept
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the cookie's value: a copy of the table logs no one in
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("address", String(64), nullable=False, server_default=""),
    Index("ix_sessions_user", "user_id"),
)


# -- knowledge base (migration 0010_kb) --------------------------------------------------------------
kb_articles = Table(
    "kb_articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(128), nullable=False, unique=True),  # stable name across stores (file name on export)
    Column("status", String(16), nullable=False),  # draft | published | retired
    Column("visibility", String(16), nullable=False),  # internal | requesters
    Column("category", String(255), nullable=False, server_default=""),
    Column("tags", Json, nullable=False),
    Column("version", Integer, nullable=False),  # the newest version number
    Column("source_incident", Integer),  # written from this incident ("publish as knowledge")
    Column("views", Integer, nullable=False, server_default="0"),
    Column("helpful", Integer, nullable=False, server_default="0"),
    Column("not_helpful", Integer, nullable=False, server_default="0"),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_kb_articles_status", "status"),
)

kb_translations = Table(
    "kb_translations",
    metadata,
    Column("article_id", Integer, ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
    Column("lang", String(8), primary_key=True),  # zh | en
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),  # Markdown
    Column("updated_at", UtcDateTime, nullable=False),
)

# Links of an article: alert names, asset kinds and groups, runbooks, incidents (one row per value).
kb_links = Table(
    "kb_links",
    metadata,
    Column("article_id", Integer, ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # alert | asset_kind | asset_group | runbook | incident
    Column("value", String(255), primary_key=True),
    Index("ix_kb_links_kind_value", "kind", "value"),
)

# Every edit, kept: the whole article as it was after the edit (one row per changed translation).
kb_versions = Table(
    "kb_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", Integer, ForeignKey("kb_articles.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("lang", String(8), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("meta", Json, nullable=False),  # status, visibility, category, tags, links after the edit
    Column("author", String(255), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Index("ix_kb_versions_article", "article_id", "version"),
)

# The search documents: one per article translation and per resolved incident. ``seg_*`` hold the text
# cut into words (rjieba cut_for_search), which SQLite indexes with FTS5 (table ``kb_fts``, kept in step
# by triggers) and PostgreSQL with a stored tsvector column ``tsv`` + GIN; both made by migration 0010_kb.
kb_search = Table(
    "kb_search",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # article | incident
    Column("ref", Integer, nullable=False),  # article id or incident id
    Column("lang", String(8), nullable=False, server_default=""),
    Column("status", String(16), nullable=False),  # article status; an incident's status
    Column("visibility", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),  # plain text shown in snippets
    Column("flat", Text, nullable=False),  # normalised, whitespace removed: phrase bonus, substring fallback
    Column("seg_title", Text, nullable=False),
    Column("seg_body", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "ref", "lang", name="uq_kb_search_doc"),
)

# Who voted an article helpful or not: one vote per user, a second replaces the first (migration 0016_loose).
kb_votes = Table(
    "kb_votes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", Integer, ForeignKey("kb_articles.id", ondelete="CASCADE"), nullable=False),
    Column("voter", String(255), nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("article_id", "voter", name="uq_kb_votes_article_voter"),
)

# Articles suggested to an incident when it opened, and whether the engineer used one.
kb_suggestions = Table(
    "kb_suggestions",
    metadata,
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("article_id", Integer, ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
    Column("score", Float, nullable=False),
    Column("reasons", Json, nullable=False),
    Column("suggested_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Column("used_by", String(255)),
)

# Small counters of the knowledge base (the incident-event watermark of the search index).
kb_state = Table(
    "kb_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)

# -- problem records and field-service visits (migration 0011_problems) -----------------------------------
# A problem (问题管理): recurring tickets grouped, with a root cause, a workaround article and a fix status.
problems = Table(
    "problems",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | known_error | fixed | closed
    Column("alertname", String(255)),  # the grouping it came from: an alert on an asset group …
    Column("asset_group", String(255)),
    Column("category", String(64)),  # … or a category (+ similar symptom)
    Column("root_cause", Text, nullable=False, server_default=""),
    Column("workaround_article", Integer, ForeignKey("kb_articles.id", ondelete="SET NULL")),
    Column("fix", Text, nullable=False, server_default=""),  # the permanent fix, as planned or done
    Column("found_at", UtcDateTime, nullable=False),  # its first ticket opened (the period that found it)
    Column("closed_at", UtcDateTime),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_problems_status", "status"),
    Index("ix_problems_found", "found_at"),
)

problem_incidents = Table(
    "problem_incidents",
    metadata,
    Column("problem_id", Integer, ForeignKey("problems.id", ondelete="CASCADE"), primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("linked_by", String(255), nullable=False),
    Column("linked_at", UtcDateTime, nullable=False),
    Index("ix_problem_incidents_incident", "incident_id"),
)

# An on-site visit (现场服务) planned from a ticket: the plan (维修计划书), its approval, notes, what was left.
visits = Table(
    "visits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),  # planned | approved | on_site | signed_off
    Column("engineers", Json, nullable=False),
    Column("planned_for", UtcDateTime, nullable=False),
    Column("site", Text, nullable=False, server_default=""),
    Column("organisation", String(255)),
    Column("contact", String(255)),  # the customer's contact who approves the plan and signs off
    Column("asset", String(255)),
    Column("checklist", Json, nullable=False),  # {tools, spare_parts, software, backup_media}
    Column("coverage", Json, nullable=False),  # the contract/warranty status when planned
    Column("purpose", Text, nullable=False, server_default=""),
    Column("approved_by", String(255)),
    Column("approved_at", UtcDateTime),
    Column("approval_comment", Text, nullable=False, server_default=""),
    Column("software_left", Json, nullable=False),  # {component: version} left on site
    Column("created_by", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_visits_incident", "incident_id"),
)

visit_notes = Table(
    "visit_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("visit_id", Integer, ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # planned | approved | note | signed_off | software
    Column("message", Text, nullable=False, server_default=""),
    Index("ix_visit_notes_visit", "visit_id", "id"),
)

# Objects only one dialect has (the full-text indexes above): schema comparisons leave them out.
SEARCH_INDEX_TABLES = frozenset({"kb_fts", "kb_fts_data", "kb_fts_idx", "kb_fts_docsize", "kb_fts_config"})
SEARCH_INDEX_NAMES = frozenset(
    {"tsv", "ix_kb_search_tsv"}
    | {f"ix_kb_search_{what}_{kind}" for what in ("tsv", "title") for kind in ("article", "incident")}
)  # the PostgreSQL GIN indexes of migrations 0010_kb and 0013_kbpg


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """For Alembic comparisons: skip the dialect-specific full-text objects of the knowledge base."""
    if type_ == "table":
        return name not in SEARCH_INDEX_TABLES
    return not (reflected and compare_to is None and name in SEARCH_INDEX_NAMES)


# -- desk email channel (migration 0011) ----------------------------------------------------------
mail_messages = Table(
    "mail_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("direction", String(3), nullable=False),  # in | out
    Column("message_id", String(998), nullable=False),
    Column("folder", String(255)),
    Column("uidvalidity", BigInteger),
    Column("uid", BigInteger),
    Column("sender", String(320), nullable=False, server_default=""),
    Column("outcome", String(16), nullable=False),  # ticket | note | confirm | skipped | sent
    Column("reason", String(64), nullable=False, server_default=""),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="SET NULL")),
    Column("todo", Json),  # a follow-up still to apply after the mail was recorded
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("folder", "uidvalidity", "uid", name="uq_mail_messages_uid"),
    Index("ix_mail_messages_message_id", "message_id"),
    Index("ix_mail_messages_sender", "sender", "at"),
)

mail_attachments = Table(
    "mail_attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("mail_id", Integer, ForeignKey("mail_messages.id", ondelete="CASCADE"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("path", String(1024)),  # None: over the size cap, not stored
    Index("ix_mail_attachments_incident", "incident_id"),
)

mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # ack | pending | resolved
    Column("event_id", Integer, nullable=False),  # the event it tells the requester about
    Column("recipient", String(320), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", String(255), nullable=False, server_default=""),
    UniqueConstraint("kind", "event_id", name="uq_mail_outbox_event"),
    Index("ix_mail_outbox_unsent", "sent_at"),
)
