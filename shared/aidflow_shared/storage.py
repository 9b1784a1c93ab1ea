"""Storage on SQLAlchemy 2: one database per service, SQLite by default, PostgreSQL in production.

Every service's metadata carries the two bus tables beside its own:

- ``outbox``: events a transaction decided to publish, written in that same transaction and
  published later by the relay (transactional outbox);
- ``inbox``: ids of messages a consumer has handled, written in the same transaction as the
  handler's effect, so a redelivered message is recognised and has no second effect; with each
  id the digest of what the message said, so another message under a used id is told apart.
"""
from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, TypeDecorator, UniqueConstraint, create_engine, delete, event, func, insert,
                        select, text, tuple_)
from sqlalchemy.dialects import postgresql as _postgresql, sqlite as _sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def conflict_insert(dialect: str):
    """``insert`` of ``dialect`` (``postgresql`` or ``sqlite``), the one that can say
    ``ON CONFLICT DO NOTHING / DO UPDATE``: what a claim or an upsert is written with."""
    return _postgresql.insert if dialect == "postgresql" else _sqlite.insert


@functools.cache
def insert_into(table: Table):
    """``INSERT INTO table``, built once per table; the row goes with the execution, as its
    parameters. An insert built with ``.values(...)`` at every call, as the hot paths did, took
    about four times the CPU of the prebuilt one passed its row (220 against 50 µs a row, in
    process on SQLite): the statement and its cache key were made again each time."""
    return insert(table)


@functools.cache
def claim_into(table: Table, dialect: str, returning: str, key: tuple[str, ...] | None = None):
    """``INSERT INTO table … ON CONFLICT (key) DO NOTHING RETURNING returning``, built once:
    a claim, with its row passed as the execution's parameters (see :func:`insert_into`). Without
    ``key``, a conflict on any unique constraint (the primary key) makes it a no-op."""
    statement = conflict_insert(dialect)(table).on_conflict_do_nothing(index_elements=list(key) if key else None)
    return statement.returning(table.c[returning])


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes, stored as UTC on both backends.

    SQLite keeps no offset: values go in converted to UTC and come back marked UTC. A naive
    datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def new_metadata() -> MetaData:
    """A service's metadata, with the bus tables already in it."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Table(
        "outbox", metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("message_id", String(36), nullable=False, unique=True),
        Column("exchange", String(64), nullable=False),
        Column("routing_key", String(255), nullable=False),
        Column("type", String(255), nullable=False),
        Column("body", Text, nullable=False),
        Column("correlation_id", String(64)),
        Column("headers", JSON),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", UTCDateTime()),
        Column("last_error", String(500)),
        Column("sent_at", UTCDateTime()),
    )
    Index("ix_outbox_unsent", metadata.tables["outbox"].c.id,
          postgresql_where=text("sent_at IS NULL"), sqlite_where=text("sent_at IS NULL"))
    _deadline_tables(metadata)
    Table(
        "inbox", metadata,
        Column("consumer", String(64), primary_key=True),
        Column("message_id", String(255), primary_key=True),
        Column("type", String(255), nullable=False),
        Column("received_at", UTCDateTime(), nullable=False),
        Column("digest", String(64)),  # Envelope.digest; NULL on rows written before it was kept
    )
    return metadata


def _deadline_tables(metadata: MetaData) -> None:
    """Deadline clocks (see ``aidflow_shared.deadlines``): every service that times work has them."""
    clock = Table(
        "deadline_clock", metadata,
        Column("id", String(36), primary_key=True),
        Column("stage", String(16), nullable=False),
        Column("subject_id", String(64), nullable=False),
        Column("case_id", String(36)),
        Column("track", String(16), nullable=False),
        Column("unit", String(16), nullable=False),  # working | calendar
        Column("allowance", Integer, nullable=False),
        Column("extension", Integer, nullable=False, server_default="0"),  # working days paused
        Column("started_at", UTCDateTime(), nullable=False),
        Column("due_at", UTCDateTime(), nullable=False),
        Column("warning_at", UTCDateTime(), nullable=False),
        Column("critical_at", UTCDateTime(), nullable=False),
        Column("provisional", Boolean, nullable=False),
        Column("calendar", String(32), nullable=False),
        Column("status", String(16), nullable=False),  # running | paused | stopped
        Column("paused_at", UTCDateTime()),
        Column("stopped_at", UTCDateTime()),
        Column("outcome", String(8)),  # met | missed
        Column("working_days_used", Integer),
        Column("breached_at", UTCDateTime()),
        UniqueConstraint("stage", "subject_id"),
    )
    Index("ix_deadline_clock_open", clock.c.status, clock.c.due_at)
    Index("ix_deadline_clock_case", clock.c.case_id)
    Table(
        "deadline_change", metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("clock_id", String(36), ForeignKey("deadline_clock.id"), nullable=False, index=True),
        Column("kind", String(16), nullable=False),  # started | paused | resumed | stopped | recomputed | breached
        Column("at", UTCDateTime(), nullable=False),
        Column("due_at", UTCDateTime()),
        Column("provisional", Boolean),
        Column("reason", String(255)),
    )


class Database:
    """An engine and session factory for one service's database."""

    def __init__(self, url: str, metadata: MetaData, *, echo: bool = False):
        self.metadata = metadata
        self.url = make_url(url)
        if self.url.get_backend_name() == "postgresql" and self.url.drivername == "postgresql":
            self.url = self.url.set(drivername="postgresql+psycopg")
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(self.url, echo=echo, poolclass=NullPool,
                                                connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            # No pre-ping: it costs a round trip on every checkout. A connection that died with the
            # server fails its first statement instead, the pool drops every connection older than
            # that failure, and the callers already treat the error as "database away": the
            # consumer holds the message and tries again, the relay retries, and one API request per
            # process answers 500 (nothing was accepted; the client sends it again).
            self.engine = create_engine(self.url, echo=echo, pool_size=10, max_overflow=10, pool_recycle=1800)
        # Reads share the database; a transaction that writes says so up front, so that on SQLite
        # it takes the write lock at BEGIN and concurrent writers queue instead of failing.
        self.writer = self.engine.execution_options(aidflow_writes=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(self.writer, expire_on_commit=False)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record):
    # Python's sqlite3 opens transactions lazily and implicitly; we take over the BEGIN (see
    # _sqlite_begin) so that writing transactions can take the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn):
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("aidflow_writes") else "BEGIN")


class UnitOfWork:
    """One database transaction: the state change and the messages it causes commit together.

    ``emit`` adds a message to the outbox in the same transaction; ``after_commit`` callbacks
    (the relay's wake-up) run once the transaction is durable.
    """

    def __init__(self, db: Database, *, source: str, correlation_id: str | None = None,
                 on_commit=None, registry=None):
        from aidflow_shared.contracts import registry as default_registry
        self.db = db
        self.source = source
        self.correlation_id = correlation_id
        self.registry = registry or default_registry
        self._on_commit = on_commit
        self.session: Session | None = None
        self.emitted: list = []
        self._after_commit: list = []
        self._before_commit: list = []
        self.clocks = None  # the service's DeadlineClocks, set by the runtime
        self._outbox = db.metadata.tables["outbox"]
        self._inbox = db.metadata.tables["inbox"]

    def __enter__(self) -> "UnitOfWork":
        self.session = self.db.write_sessions()
        self.session.begin()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.session.in_transaction():
                self.session.rollback()
        finally:
            self.session.close()

    def emit(self, type: str, data: dict, *, subject: str | None = None, agency: str | None = None,
             correlation_id: str | None = None):
        """Record a message to publish once this transaction commits."""
        from aidflow_shared.envelope import new_event
        message_type = self.registry.get(type)
        envelope = new_event(type, data, source=self.source, subject=subject,
                             correlation_id=correlation_id or self.correlation_id, registry=self.registry)
        now = utcnow()
        self.session.execute(insert_into(self._outbox), dict(
            message_id=envelope.id, exchange=message_type.exchange,
            routing_key=message_type.routing_key(agency), type=type, body=envelope.to_json(),
            correlation_id=envelope.correlation_id, created_at=now, next_attempt_at=now,
        ))
        self.emitted.append(envelope)
        return envelope

    def claim_inbox(self, consumer: str, message_id: str, type: str, digest: str | None = None) -> bool:
        """Record a message as handled by ``consumer``; False if it already was (a duplicate).

        Done first in the handler's transaction: a concurrent duplicate on another instance
        waits on the primary key and then finds the row, so only one effect ever commits.

        ``digest`` (``Envelope.digest``) is kept with the row. If the id is already there with
        another digest, this is not a copy of the message handled but another message under a
        used id: ``MessageRejected("id-reused")``, for the caller to park it and roll back. A row
        without a digest (written before digests were kept), or a call without one, can only say
        "duplicate". The claim stays one statement; only a conflict reads the stored digest.
        """
        values = dict(consumer=consumer, message_id=message_id, type=type, received_at=utcnow(), digest=digest)
        # RETURNING, not rowcount: drivers disagree on rowcount for INSERT .. ON CONFLICT.
        claimed = self.session.execute(claim_into(self._inbox, self.db.dialect, "message_id"), values).first()
        if claimed is not None:
            return True
        if digest is not None:
            inbox = self._inbox
            stored = self.session.execute(select(inbox.c.digest).where(
                inbox.c.consumer == consumer, inbox.c.message_id == message_id)).scalar_one_or_none()
            if stored is not None and stored != digest:
                from aidflow_shared.envelope import MessageRejected
                # The id and the consumer only: the payload may carry personal data.
                raise MessageRejected("id-reused", f"{consumer} already handled message id {message_id} "
                                                   "with other content; the sender reused the id")
        return False

    def after_commit(self, callback) -> None:
        """Run ``callback`` once this transaction has committed (never if it rolls back)."""
        self._after_commit.append(callback)

    def before_commit(self, callback) -> None:
        """Run ``callback(uow)`` as the last work of this transaction, just before it commits."""
        self._before_commit.append(callback)

    def commit(self) -> None:
        for callback in self._before_commit:
            callback(self)
        self.session.commit()
        if self.emitted and self._on_commit:
            self._on_commit()
        for callback in self._after_commit:
            callback()


def outbox_stats(db: Database) -> tuple[int, float]:
    """Unsent rows and the age in seconds of the oldest one (0 when empty)."""
    outbox = db.metadata.tables["outbox"]
    with db.engine.connect() as conn:
        count, oldest = conn.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
        ).one()
    if not count or oldest is None:
        return 0, 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    return int(count), max(0.0, (utcnow() - oldest).total_seconds())


def prune(db: Database, *, outbox_older_than: timedelta, inbox_older_than: timedelta, batch: int = 5000,
          now: datetime | None = None) -> dict[str, int]:
    """Delete the bus tables' rows nobody needs any more; how many went, by table.

    - ``outbox``: rows the broker confirmed (``sent_at`` set) longer than ``outbox_older_than``
      ago. An unsent row is never deleted, however old: it is an event still to publish.
    - ``inbox``: rows received longer than ``inbox_older_than`` ago. The retention must exceed
      any redelivery window, or a late duplicate would find no row and take effect twice.

    Rows go in batches of at most ``batch``, each its own short writing transaction, so neither
    a big backlog nor SQLite's single writer holds up the service's own work for long; a table
    is done when a batch comes back short (another replica pruning at the same moment may make
    one short early; the next run takes the rest). Neither ``sent_at`` nor ``received_at`` is
    indexed (an index would need a migration): each batch's select is a scan of the table, taking
    any matching rows, and the delete goes by primary key; a scan is acceptable at the interval
    this runs at (hourly by default).
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    now = now or utcnow()
    outbox, inbox = db.metadata.tables["outbox"], db.metadata.tables["inbox"]
    sent = select(outbox.c.id).where(outbox.c.sent_at.is_not(None),
                                     outbox.c.sent_at < now - outbox_older_than).limit(batch)
    received = select(inbox.c.consumer, inbox.c.message_id).where(
        inbox.c.received_at < now - inbox_older_than).limit(batch)
    statements = {
        "outbox": delete(outbox).where(outbox.c.id.in_(sent)),
        # Row values: PostgreSQL, and SQLite since 3.15.
        "inbox": delete(inbox).where(tuple_(inbox.c.consumer, inbox.c.message_id).in_(received)),
    }
    deleted = {}
    for table, statement in statements.items():
        deleted[table] = 0
        while True:
            with db.writer.begin() as conn:
                count = conn.execute(statement).rowcount
            deleted[table] += count
            if count < batch:
                break
    return deleted
