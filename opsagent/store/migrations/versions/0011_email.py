"""desk email channel: the mail ledger (every message received or sent, by Message-ID and IMAP
UIDVALIDITY/UID: each processed exactly once), stored attachments, the outbox of requester-facing
mails, and a requester's time zone.

Revision ID: 0011_email
Revises: 0011_problems
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011_email"
down_revision = "0011_problems"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("requesters") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64)))
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("direction", sa.String(3), nullable=False),  # in | out
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("folder", sa.String(255)),
        sa.Column("uidvalidity", sa.BigInteger),
        sa.Column("uid", sa.BigInteger),
        sa.Column("sender", sa.String(320), nullable=False, server_default=""),
        sa.Column("outcome", sa.String(16), nullable=False),  # ticket | note | confirm | skipped | sent
        sa.Column("reason", sa.String(64), nullable=False, server_default=""),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="SET NULL")),
        sa.Column("todo", Json),  # a follow-up still to apply after the mail was recorded
        sa.Column("at", Utc, nullable=False),
        sa.UniqueConstraint("folder", "uidvalidity", "uid", name="uq_mail_messages_uid"),
    )
    op.create_index("ix_mail_messages_message_id", "mail_messages", ["message_id"])
    op.create_index("ix_mail_messages_sender", "mail_messages", ["sender", "at"])
    op.create_table(
        "mail_attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("mail_id", sa.Integer, sa.ForeignKey("mail_messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("path", sa.String(1024)),  # None: over the size cap, not stored
    )
    op.create_index("ix_mail_attachments_incident", "mail_attachments", ["incident_id"])
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # ack | pending | resolved
        sa.Column("event_id", sa.Integer, nullable=False),  # the event it tells the requester about
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("sent_at", Utc),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.String(255), nullable=False, server_default=""),
        sa.UniqueConstraint("kind", "event_id", name="uq_mail_outbox_event"),
    )
    op.create_index("ix_mail_outbox_unsent", "mail_outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("mail_attachments")
    op.drop_table("mail_messages")
    with op.batch_alter_table("requesters") as batch:
        batch.drop_column("timezone")
