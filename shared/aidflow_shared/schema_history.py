"""The migration history of the tables every service shares, written once.

Each service's own Alembic revisions call these steps (``bus_tables_v1`` in its first revision,
``deadline_tables_v1`` in its second, …), so the shared tables have one definition and one
history. A step is never edited once released: a change to a shared table is a new step,
called from a new revision of every service.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aidflow_shared.storage import UTCDateTime


def create_bus_tables_v1() -> None:
    """The outbox (events to publish) and the inbox (messages handled)."""
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id", name=op.f("pk_inbox")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("exchange", sa.String(length=64), nullable=False),
        sa.Column("routing_key", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["id"], unique=False,
                    postgresql_where=sa.text("sent_at IS NULL"), sqlite_where=sa.text("sent_at IS NULL"))


def drop_bus_tables_v1() -> None:
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("inbox")


def create_deadline_tables_v1() -> None:
    """Deadline clocks and the record of every change to them."""
    op.create_table(
        "deadline_clock",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("track", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("allowance", sa.Integer(), nullable=False),
        sa.Column("extension", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("warning_at", UTCDateTime(), nullable=False),
        sa.Column("critical_at", UTCDateTime(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=True),
        sa.Column("working_days_used", sa.Integer(), nullable=True),
        sa.Column("breached_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_clock")),
        sa.UniqueConstraint("stage", "subject_id", name=op.f("uq_deadline_clock_stage")),
    )
    op.create_index("ix_deadline_clock_case", "deadline_clock", ["case_id"], unique=False)
    op.create_index("ix_deadline_clock_open", "deadline_clock", ["status", "due_at"], unique=False)
    op.create_table(
        "deadline_change",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("clock_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["clock_id"], ["deadline_clock.id"],
                                name=op.f("fk_deadline_change_clock_id_deadline_clock")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_change")),
    )
    op.create_index(op.f("ix_deadline_change_clock_id"), "deadline_change", ["clock_id"], unique=False)


def drop_deadline_tables_v1() -> None:
    op.drop_index(op.f("ix_deadline_change_clock_id"), table_name="deadline_change")
    op.drop_table("deadline_change")
    op.drop_index("ix_deadline_clock_open", table_name="deadline_clock")
    op.drop_index("ix_deadline_clock_case", table_name="deadline_clock")
    op.drop_table("deadline_clock")


# Refuses UPDATE and DELETE on the audit log: it is appended to, never changed.
_AUDIT_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$
"""


def create_audit_log_v1() -> None:
    """The service's append-only, hash-chained audit log (see ``aidflow_shared.audit``)."""
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_roles", sa.String(length=255), nullable=False),
        sa.Column("actor_agency", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=255), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("pii", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_AUDIT_PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END")


def drop_audit_log_v1() -> None:
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_table("audit_log")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def add_inbox_digest_v1() -> None:
    """The digest of each handled message beside its id (``Envelope.digest``), so another message
    under a used id is parked instead of dropped. Rows already there keep NULL: no digest known,
    a copy of them is a plain duplicate, as before."""
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("digest", sa.String(length=64), nullable=True))


def drop_inbox_digest_v1() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("digest")
