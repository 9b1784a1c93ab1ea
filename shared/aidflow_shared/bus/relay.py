"""The outbox relay: publishes committed outbox rows and marks them sent once confirmed.

A row is marked sent only after the broker confirmed it, so a crash between the two makes the
relay publish it again; consumers drop the duplicate through their inbox. Unroutable rows stay
unsent, counted and retried with back-off, never dropped. On PostgreSQL several instances of a
service relay side by side: ``FOR UPDATE SKIP LOCKED`` gives each its own rows.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import bindparam, select, update

from aidflow_shared.bus.transport import Outgoing, Transport, TransportError
from aidflow_shared.metrics import BusMetrics
from aidflow_shared.storage import Database, utcnow

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, db: Database, transport: Transport, metrics: BusMetrics, *, batch_size: int = 200,
                 interval: float = 0.5, max_backoff: float = 300.0):
        self.db = db
        self.transport = transport
        self.metrics = metrics
        self.batch_size = batch_size
        self.interval = interval
        self.max_backoff = max_backoff
        self.outbox = outbox = db.metadata.tables["outbox"]
        # Built once: the relay runs after every commit that emitted, and building the statements
        # and their cache keys again each time cost more than executing them.
        due = (select(outbox).where(outbox.c.sent_at.is_(None), outbox.c.next_attempt_at <= bindparam("now"))
               .order_by(outbox.c.id).limit(batch_size))
        self._due = due.with_for_update(skip_locked=True) if db.dialect == "postgresql" else due
        self._mark_sent = (update(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True)))
                           .values(sent_at=bindparam("marked_at")))
        self._wake = threading.Event()
        # Fault injection for tests of the guarantee: called after the broker confirmed a batch
        # and before the rows are marked sent.
        self.after_confirm = None

    def notify(self) -> None:
        """Wake the relay: a transaction just committed outbox rows."""
        self._wake.set()

    def run_once(self) -> int:
        """Publish one batch; returns how many rows it settled (sent)."""
        outbox = self.outbox
        # A connection, not an ORM session: the relay reads and writes rows, never objects.
        with self.db.writer.begin() as conn:
            rows = conn.execute(self._due, {"now": utcnow()}).all()
            if not rows:
                return 0
            messages = [Outgoing(exchange=r.exchange, routing_key=r.routing_key, body=r.body, message_id=r.message_id,
                                 type=r.type, correlation_id=r.correlation_id, headers=r.headers or {}) for r in rows]
            unroutable = set(self.transport.publish(messages))  # raises TransportError: rows stay unsent
            if self.after_confirm:
                self.after_confirm(messages)
            sent = [r.id for r in rows if r.message_id not in unroutable]
            if sent:
                conn.execute(self._mark_sent, {"ids": sent, "marked_at": utcnow()})
            for row in rows:
                if row.message_id in unroutable:
                    delay = min(self.max_backoff, 2 ** min(row.attempts, 16))
                    conn.execute(update(outbox).where(outbox.c.id == row.id).values(
                        attempts=row.attempts + 1, last_error="unroutable: no queue bound for the routing key",
                        next_attempt_at=utcnow() + timedelta(seconds=delay)))
                    self.metrics.unroutable.labels(self.metrics.service, row.exchange).inc()
                    log.error("unroutable message kept in the outbox",
                              extra={"type": row.type, "exchange": row.exchange, "retry_in": delay})
                else:
                    self.metrics.published.labels(self.metrics.service, row.exchange).inc()
        return len(sent)

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set, backing off while the broker or database is away."""
        backoff = self.interval
        while not stop.is_set():
            self._wake.clear()
            try:
                settled = self.run_once()
                backoff = self.interval
            except TransportError as exc:
                self.metrics.publish_failures.labels(self.metrics.service).inc()
                log.warning("outbox relay could not publish; will retry", extra={"error": str(exc)[:200]})
                stop.wait(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            except Exception as exc:  # database away: the rows are safe, try again later
                log.warning("outbox relay failed; will retry",
                            extra={"error": f"{exc.__class__.__name__}: {str(exc)[:200]}"})
                stop.wait(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            if settled < self.batch_size:
                self._wake.wait(self.interval)
