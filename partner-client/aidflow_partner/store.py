"""The command line's local store: every message taken off the agency's queue, and what it sent.

Why a store and not a peek at the queue: the agency's queue is a quorum queue with a delivery
limit, so reading a message and putting it back (get + requeue) counts as a failed delivery;
listing the same hand-offs twenty times would dead-letter them. Instead each message is written
here (SQLite, committed) and only then acknowledged, so ``handoffs list`` reads the store and
can be run as often as wanted; a message is never lost between the queue and the file, and one
delivered twice (after a lost acknowledgement) is stored once, by its message id.
"""
from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from aidflow_partner.envelope import Incoming

FINAL = ("completed", "declined", "withdrawn")

SCHEMA = """
create table if not exists message (
    message_id text primary key, type text not null, kind text not null, routing_key text not null,
    correlation_id text, handoff_id text, received_at text not null, document text not null);
create index if not exists message_handoff on message (handoff_id);
create index if not exists message_correlation on message (correlation_id);
create table if not exists sent (
    message_id text primary key, command text not null, handoff_id text, partner_reference text,
    sent_at text not null);
"""


def default_path(agency: str) -> Path:
    base = os.environ.get("AIDFLOW_PARTNER_STATE") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "aidflow-partner")
    return Path(base) / f"{agency}.sqlite3"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    def add(self, message: Incoming) -> None:
        """Keep a message (committed before the caller acknowledges it); a repeat is ignored."""
        with self.db:
            self.db.execute("insert or ignore into message values (?, ?, ?, ?, ?, ?, ?, ?)",
                            (message.message_id, message.type, message.kind, message.routing_key,
                             message.correlation_id, message.data.get("handoff_id"), _now(),
                             json.dumps(message.document, ensure_ascii=False)))

    def sent(self, message_id: str, command: str, *, handoff_id: str | None = None,
             partner_reference: str | None = None) -> None:
        with self.db:
            self.db.execute("insert or ignore into sent values (?, ?, ?, ?, ?)",
                            (message_id, command, handoff_id, partner_reference, _now()))

    def answer_to(self, message_id: str) -> dict | None:
        row = self.db.execute("select document from message where correlation_id = ? order by received_at",
                              (message_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def handoff_request(self, handoff_id: str) -> tuple[str, dict] | None:
        row = self.db.execute("select message_id, document from message where kind = 'handoff.requested' "
                              "and handoff_id = ?", (handoff_id,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def handoffs(self) -> list[dict]:
        """Every hand-off requested of the agency, with its status as the messages tell it."""
        rows = self.db.execute("select kind, document from message where handoff_id is not null "
                               "order by received_at, rowid").fetchall()
        handoffs: dict[str, dict] = {}
        for kind, text in rows:
            data = json.loads(text)["data"]
            if kind == "handoff.requested":
                handoffs[data["handoff_id"]] = {
                    "handoff_id": data["handoff_id"], "service": data["service"], "status": "requested",
                    "case_number": data.get("case_number"), "requested_at": data["requested_at"],
                    "acknowledge_by": data["acknowledge_by"], "overdue": False, "contact_path": data.get("contact_path")}
                continue
            handoff = handoffs.get(data["handoff_id"])
            if handoff is None:
                continue
            if kind == "handoff.recorded":
                handoff["status"] = data["status"]
            elif kind == "handoff.withdrawn":
                handoff["status"] = "withdrawn"
            elif kind == "handoff.overdue":
                handoff["overdue"] = True
        return list(handoffs.values())

    def waiting(self) -> list[dict]:
        return [h for h in self.handoffs() if h["status"] not in FINAL]
