"""The embedded transport: a small durable broker in one SQLite file, for servers-free mode.

It keeps RabbitMQ's semantics where the services depend on them: topic routing through
bindings, durable queues, at-least-once delivery with a lease (an unacknowledged message is
delivered again after a crash), a delivery limit that parks poison messages, retry with delay,
parking queues, and "unroutable" when no binding matches. A publish is confirmed when its
SQLite transaction commits. Consumers in the same process are woken at once; other processes
sharing the file poll.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from aidflow_shared.bus.topology import Topology, topic_matches
from aidflow_shared.bus.transport import (LAST_ERROR, RETRIES, Delivery, Handler, Outgoing, Parked, Transport,
                                          park_headers, replay_headers)

SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_queue (
    name TEXT PRIMARY KEY, delivery_limit INTEGER, parking TEXT
);
CREATE TABLE IF NOT EXISTS bus_binding (
    exchange TEXT NOT NULL, pattern TEXT NOT NULL, queue TEXT NOT NULL,
    PRIMARY KEY (exchange, pattern, queue)
);
CREATE TABLE IF NOT EXISTS bus_message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL, exchange TEXT NOT NULL, routing_key TEXT NOT NULL,
    content_type TEXT, message_id TEXT, type TEXT, correlation_id TEXT, user_id TEXT,
    headers TEXT NOT NULL DEFAULT '{}', body BLOB NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL, leased_until REAL
);
CREATE INDEX IF NOT EXISTS bus_message_ready ON bus_message (queue, visible_at, id);
"""


class EmbeddedTransport(Transport):
    def __init__(self, path: str | Path, *, lease_seconds: float = 60.0, poll_interval: float = 0.25,
                 reclaim_leases: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self._local = threading.local()
        self._wakeup = threading.Condition()
        self._conn().executescript(SCHEMA)
        if reclaim_leases:
            # This process owns the bus: whatever was leased by an earlier run of it is due again.
            with self._transaction() as db:
                db.execute("UPDATE bus_message SET leased_until = NULL WHERE leased_until IS NOT NULL")

    # -- plumbing -------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    class _Tx:
        def __init__(self, conn):
            self.conn = conn

        def __enter__(self):
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb):
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def _transaction(self):
        return self._Tx(self._conn())

    def _notify(self):
        with self._wakeup:
            self._wakeup.notify_all()

    # -- topology -------------------------------------------------------------------------------

    def declare(self, topology: Topology) -> None:
        with self._transaction() as db:
            for consumer in topology.consumers:
                db.execute("INSERT OR IGNORE INTO bus_queue VALUES (?, NULL, NULL)", (consumer.parking,))
                db.execute("INSERT OR REPLACE INTO bus_queue VALUES (?, ?, ?)",
                           (consumer.name, topology.delivery_limit, consumer.parking))
                for exchange, key in consumer.bindings:
                    db.execute("INSERT OR IGNORE INTO bus_binding VALUES (?, ?, ?)", (exchange, key, consumer.name))
            for queue, exchange, key in topology.partner_bindings():
                db.execute("INSERT OR IGNORE INTO bus_queue VALUES (?, NULL, NULL)", (queue,))
                db.execute("INSERT OR IGNORE INTO bus_binding VALUES (?, ?, ?)", (exchange, key, queue))

    def bind(self, queue: str, exchange: str, pattern: str) -> None:
        """Declare a plain queue bound to ``exchange`` (for observers, tests and tools)."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO bus_queue VALUES (?, NULL, NULL)", (queue,))
            db.execute("INSERT OR IGNORE INTO bus_binding VALUES (?, ?, ?)", (exchange, pattern, queue))

    def _route(self, db, exchange: str, routing_key: str) -> list[str]:
        if exchange == "":
            exists = db.execute("SELECT 1 FROM bus_queue WHERE name = ?", (routing_key,)).fetchone()
            return [routing_key] if exists else []
        rows = db.execute("SELECT pattern, queue FROM bus_binding WHERE exchange = ?", (exchange,)).fetchall()
        return sorted({row["queue"] for row in rows if topic_matches(row["pattern"], routing_key)})

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, messages: list[Outgoing]) -> list[str]:
        unroutable = []
        now = time.time()
        with self._transaction() as db:
            for m in messages:
                queues = self._route(db, m.exchange, m.routing_key)
                if not queues:
                    unroutable.append(m.message_id)
                for queue in queues:
                    db.execute(
                        "INSERT INTO bus_message (queue, exchange, routing_key, content_type, message_id, type,"
                        " correlation_id, user_id, headers, body, visible_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (queue, m.exchange, m.routing_key, m.content_type, m.message_id, m.type,
                         m.correlation_id, m.user_id, json.dumps(m.headers or {}),
                         m.body.encode("utf-8") if isinstance(m.body, str) else m.body, now))
        self._notify()
        return unroutable

    # -- consuming ------------------------------------------------------------------------------

    def _claim(self, queue: str, limit: int) -> list[sqlite3.Row]:
        now = time.time()
        with self._transaction() as db:
            rows = db.execute(
                "UPDATE bus_message SET leased_until = ?, delivery_count = delivery_count + 1"
                " WHERE id IN (SELECT id FROM bus_message WHERE queue = ? AND visible_at <= ?"
                " AND (leased_until IS NULL OR leased_until < ?) ORDER BY id LIMIT ?)"
                " RETURNING *", (now + self.lease_seconds, queue, now, now, limit)).fetchall()
            rows = sorted(rows, key=lambda r: r["id"])
            limits = db.execute("SELECT delivery_limit, parking FROM bus_queue WHERE name = ?", (queue,)).fetchone()
            if limits and limits["delivery_limit"]:
                fresh = []
                for row in rows:
                    if row["delivery_count"] > limits["delivery_limit"]:
                        headers = json.loads(row["headers"])
                        headers.update(park_headers("delivery-limit", "delivered more times than the limit", queue))
                        db.execute("UPDATE bus_message SET queue = ?, headers = ?, leased_until = NULL,"
                                   " visible_at = ? WHERE id = ?", (limits["parking"], json.dumps(headers), now, row["id"]))
                    else:
                        fresh.append(row)
                rows = fresh
        return rows

    def consume(self, queue: str, handler: Handler, *, stop: threading.Event, prefetch: int) -> None:
        while not stop.is_set():
            rows = self._claim(queue, prefetch)
            if not rows:
                with self._wakeup:
                    self._wakeup.wait(self.poll_interval)
                continue
            for index, row in enumerate(rows):
                if stop.is_set():
                    self._release([r["id"] for r in rows[index:]])
                    return
                handler(_EmbeddedDelivery(self, row))

    def _release(self, ids: list[int]) -> None:
        with self._transaction() as db:
            db.executemany("UPDATE bus_message SET leased_until = NULL WHERE id = ?", [(i,) for i in ids])

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    # -- inspection (tools and tests) -------------------------------------------------------------

    def messages(self, queue: str) -> list[dict]:
        rows = self._conn().execute("SELECT * FROM bus_message WHERE queue = ? ORDER BY id", (queue,)).fetchall()
        return [dict(row, headers=json.loads(row["headers"])) for row in rows]

    def parked(self, queue: str) -> list[Parked]:
        return [Parked.from_headers(m["message_id"], m["type"], m["headers"], bytes(m["body"]))
                for m in self.messages(queue)]

    def replay(self, parking: str, target: str, message_ids: set[str] | None = None) -> int:
        moved = 0
        with self._transaction() as db:
            for row in db.execute("SELECT id, message_id, headers FROM bus_message WHERE queue = ? ORDER BY id",
                                  (parking,)).fetchall():
                if message_ids is None or row["message_id"] in message_ids:
                    db.execute("UPDATE bus_message SET queue = ?, headers = ?, delivery_count = 0, visible_at = ?,"
                               " leased_until = NULL WHERE id = ?",
                               (target, json.dumps(replay_headers(json.loads(row["headers"]))), time.time(), row["id"]))
                    moved += 1
        self._notify()
        return moved

    def depth(self, queue: str) -> int:
        return self._conn().execute("SELECT count(*) FROM bus_message WHERE queue = ?", (queue,)).fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _EmbeddedDelivery(Delivery):
    def __init__(self, transport: EmbeddedTransport, row: sqlite3.Row):
        self._transport = transport
        self._id = row["id"]
        self._queue = row["queue"]
        self.body = bytes(row["body"])
        self.exchange = row["exchange"]
        self.routing_key = row["routing_key"]
        self.content_type = row["content_type"]
        self.message_id = row["message_id"]
        self.type = row["type"]
        self.correlation_id = row["correlation_id"]
        self.user_id = row["user_id"]
        self.headers = json.loads(row["headers"])
        self.redelivered = row["delivery_count"] > 1

    def ack(self) -> None:
        with self._transport._transaction() as db:
            db.execute("DELETE FROM bus_message WHERE id = ?", (self._id,))

    def retry(self, attempt: int, delay: float, error: str) -> None:
        headers = dict(self.headers, **{RETRIES: attempt, LAST_ERROR: error[:500]})
        with self._transport._transaction() as db:
            db.execute("UPDATE bus_message SET visible_at = ?, leased_until = NULL, delivery_count = 0,"
                       " headers = ? WHERE id = ?", (time.time() + delay, json.dumps(headers), self._id))

    def park(self, reason: str, detail: str, consumer: str) -> None:
        headers = self.moved_headers(**park_headers(reason, detail, consumer))
        with self._transport._transaction() as db:
            db.execute("UPDATE bus_message SET queue = ?, headers = ?, leased_until = NULL, visible_at = ?"
                       " WHERE id = ?", (self._queue + ".parking", json.dumps(headers), time.time(), self._id))
