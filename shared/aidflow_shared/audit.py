"""The audit log (审计日志) of one service: who did what to which case, when, and how it ended.

Every authenticated ``/api/`` request leaves one entry, reads included; a read of a route that
returns personal data is marked ``pii``. A view that wants finer detail calls :func:`annotate`
(the case it acted on, a count, an outcome) and its entry carries it. Entries never hold personal
data themselves: the actor is a staff or agency subject, the target an id, the detail what the
view chose to say.

An API call that changes something writes its entry in the transaction of the change itself,
as that transaction's last statement: the change and its entry commit together or not at all,
and the call costs no second transaction. Such an entry records the route's documented success
status (the answer a committed change gets); should the answer turn out otherwise after the
commit (the response could not be produced), the call gets a second entry with the status it
really answered. Calls that change nothing (reads, refusals) get their entry after the answer,
in a transaction of their own.

The log is append-only and tamper-evident. Each entry carries the SHA-256 hash of its canonical
encoding, which includes the previous entry's hash, so the entries form a chain from a fixed
genesis value: changing an entry breaks its own hash, deleting or reordering one breaks the link
of the next. Appends are serialised per database (an advisory lock on PostgreSQL, the write
transaction on SQLite), so the chain has no forks. On both backends a trigger refuses UPDATE and
DELETE; the chain is what still shows tampering by someone who can drop the trigger. Deleting
the newest entries shortens the chain without breaking it: oversight keeps the head (sequence
number and hash) of each export and checks the next export continues it.

Oversight reads the log through ``GET /api/v1/audit`` (auditors) or
``aidflow-<service> audit export``, and checks it with ``aidflow-<service> audit verify``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

from flask import Blueprint, Response, current_app, g, has_request_context, jsonify, request
from marshmallow import Schema, fields
from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, select, text

from aidflow_shared.storage import UTCDateTime, insert_into, utcnow

log = logging.getLogger(__name__)

TABLE = "audit_log"
GENESIS = "0" * 64
PAGE_SIZE = 200
MAX_PAGE_SIZE = 1000
# The fields the hash covers, in order. ``hash`` itself is the one field left out.
HASHED = ("seq", "at", "actor", "actor_roles", "actor_agency", "action", "target_type", "target_id",
          "outcome", "status", "pii", "detail", "prev_hash")


def audit_table(metadata: MetaData) -> Table:
    """The audit log table in ``metadata`` (added once; every service's metadata has it)."""
    if TABLE in metadata.tables:
        return metadata.tables[TABLE]
    table = Table(
        TABLE, metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
        Column("at", UTCDateTime(), nullable=False),
        Column("actor", String(128), nullable=False),
        Column("actor_roles", String(255), nullable=False),  # comma-separated, sorted
        Column("actor_agency", String(64)),
        Column("action", String(255), nullable=False),  # "GET /api/v1/cases/<case_id>", or a view's own verb
        Column("target_type", String(32)),
        Column("target_id", String(64)),
        Column("outcome", String(16), nullable=False),  # ok | refused | failed
        Column("status", Integer),
        Column("pii", Boolean, nullable=False),
        Column("detail", Text, nullable=False),  # canonical JSON
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )
    Index("ix_audit_log_target", table.c.target_id)
    return table


@dataclass(frozen=True)
class Entry:
    """One thing done: by whom (subject, roles, agency), what, to which case, when, with what result."""

    actor: str
    actor_roles: tuple[str, ...]
    action: str
    actor_agency: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str = "ok"
    status: int | None = None
    pii: bool = False
    detail: dict = field(default_factory=dict)


def canonical(row: dict) -> bytes:
    """The bytes an entry's hash is taken over: its hashed fields as sorted, compact JSON (UTF-8)."""
    values = {name: row[name] for name in HASHED}
    values["at"] = _timestamp(values["at"])
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(row: dict) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


class AuditLog:
    """The append-only, hash-chained log of one service's database."""

    def __init__(self, db):
        self.db = db
        self.table = audit_table(db.metadata)
        self._lock_key = zlib.crc32(f"aidflow audit {db.url.database}".encode())
        # Built once: every API call appends, and building them again cost more than running them.
        self._lock = text("SELECT pg_advisory_xact_lock(:key)")
        self._head = select(self.table.c.seq, self.table.c.hash).order_by(self.table.c.seq.desc()).limit(1)

    def record(self, entry: Entry) -> dict:
        """Append ``entry`` in a transaction of its own; returns the stored row."""
        with self.db.writer.connect() as conn, conn.begin():
            return self.append(conn, entry)

    def append(self, conn, entry: Entry) -> dict:
        """Append ``entry`` inside the caller's (writing) transaction on ``conn``.

        The head is read under a lock that every appender takes, so two appends cannot both
        chain onto the same entry. On SQLite the writing transaction already holds the lock.
        """
        if self.db.dialect == "postgresql":
            conn.execute(self._lock, {"key": self._lock_key})
        head = conn.execute(self._head).first()
        row = dict(
            seq=(head.seq + 1) if head else 1, at=utcnow().replace(microsecond=0), actor=entry.actor,
            actor_roles=",".join(sorted(entry.actor_roles)), actor_agency=entry.actor_agency, action=entry.action,
            target_type=entry.target_type, target_id=entry.target_id, outcome=entry.outcome, status=entry.status,
            pii=entry.pii, detail=json.dumps(entry.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            prev_hash=head.hash if head else GENESIS,
        )
        row["hash"] = entry_hash(row)
        conn.execute(insert_into(self.table), row)
        return row

    def entries(self, after: int = 0, limit: int | None = None, target_id: str | None = None) -> list[dict]:
        """Entries with ``seq`` greater than ``after``, oldest first."""
        query = select(self.table).where(self.table.c.seq > after).order_by(self.table.c.seq)
        if target_id is not None:
            query = query.where(self.table.c.target_id == target_id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def iterate(self, batch: int = 1000, after: int = 0) -> Iterator[dict]:
        """Every entry after ``after``, oldest first, read in batches."""
        while True:
            rows = self.entries(after, batch)
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1]["seq"]

    def verify(self) -> "Verification":
        """Walk the whole chain; the first broken link is reported, with why."""
        return verify_chain(self.iterate())


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "broken_at": self.broken_at, "reason": self.reason}


def verify_chain(rows) -> Verification:
    """Check a sequence of entries, oldest first: numbering, links and each entry's own hash."""
    expected_seq, prev, count = 1, GENESIS, 0
    for row in rows:
        count += 1
        if row["seq"] != expected_seq:
            return Verification(False, count, expected_seq - 1, prev, row["seq"],
                                f"entry {row['seq']} follows entry {expected_seq - 1}: entries missing or reordered")
        if row["prev_hash"] != prev:
            return Verification(False, count, expected_seq - 1, prev, row["seq"],
                                f"entry {row['seq']} does not link to the entry before it")
        if entry_hash(row) != row["hash"]:
            return Verification(False, count, expected_seq - 1, prev, row["seq"],
                                f"entry {row['seq']} was changed after it was written")
        prev, expected_seq = row["hash"], expected_seq + 1
    return Verification(True, count, expected_seq - 1, prev)


def exported(row: dict) -> dict:
    """An entry as oversight receives it: JSON values, detail decoded, the hash inputs intact."""
    out = dict(row)
    out["at"] = _timestamp(row["at"])
    out["detail"] = json.loads(row["detail"])
    return out


def imported(row: dict) -> dict:
    """An exported entry back in the stored form, so an export can be verified on its own."""
    back = dict(row)
    back["detail"] = json.dumps(row["detail"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return back


def _timestamp(value) -> str:
    # In UTC whatever the database session's time zone, so a hash does not depend on who reads it.
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if isinstance(value, datetime) else value


# -- the HTTP side: one entry per authenticated API request, and the export ---------------------------

class AuditEntryOut(Schema):
    seq = fields.Integer()
    at = fields.String()
    actor = fields.String()
    actor_roles = fields.String(metadata={"description": "comma-separated, sorted"})
    actor_agency = fields.String(allow_none=True)
    action = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    outcome = fields.String(metadata={"enum": ["ok", "refused", "failed"]})
    status = fields.Integer(allow_none=True)
    pii = fields.Boolean(metadata={"description": "a read or write of personal data"})
    detail = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String(metadata={"description": "SHA-256 of the canonical encoding, prev_hash included"})


class AuditPageOut(Schema):
    items = fields.List(fields.Nested(AuditEntryOut))
    next_after = fields.Integer(allow_none=True, metadata={"description": "pass as after for the next page"})


class AuditVerificationOut(Schema):
    ok = fields.Boolean()
    entries = fields.Integer()
    head_seq = fields.Integer()
    head_hash = fields.String()
    broken_at = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


def annotate(*, target_type: str | None = None, target_id: str | None = None, action: str | None = None,
             **detail) -> None:
    """Add to this request's audit entry: the case it acted on, a finer action name, details.

    Details must not be personal data: ids, counts and outcomes, never names or numbers of people.
    """
    notes = g.setdefault("audit", {})
    if target_type is not None:
        notes["target_type"] = target_type
    if target_id is not None:
        notes["target_id"] = str(target_id)
    if action is not None:
        notes["action"] = action
    notes.setdefault("detail", {}).update(detail)


def audit_blueprint(runtime, *, is_pii_route=lambda method, rule: False) -> Blueprint:
    """The audit hook of every API request of ``runtime``'s app, and ``GET /api/v1/audit``.

    ``is_pii_route(method, rule)`` says whether a route returns personal data (its reads are
    marked so in the log).
    """
    from aidflow_shared.http.auth import API_PREFIX, require
    from aidflow_shared.http.openapi import doc
    from aidflow_shared.http.params import int_arg

    audit = AuditLog(runtime.db)
    blueprint = Blueprint("audit", __name__, url_prefix="/api/v1/audit")

    @blueprint.get("")
    @require("auditor")
    @doc(response=AuditPageOut, tags=["audit"])
    def export_entries():
        """The audit log, oldest first, a page at a time: ``after`` (the last seq seen) and ``limit``."""
        after = int_arg("after", 0, 0, 2**62)
        limit = int_arg("limit", PAGE_SIZE, 1, MAX_PAGE_SIZE)
        items = [exported(row) for row in audit.entries(after, limit, request.args.get("target_id"))]
        following = items[-1]["seq"] if len(items) == limit else None
        return jsonify(items=items, next_after=following)

    @blueprint.get("/verification")
    @require("auditor")
    @doc(response=AuditVerificationOut, tags=["audit"])
    def verification():
        """The whole chain checked now: its head, and the first broken entry if any."""
        return jsonify(audit.verify().as_dict())

    def entry(principal, status: int) -> Entry:
        """This request's entry, as answered with ``status``."""
        rule = request.url_rule.rule
        notes = g.get("audit", {})
        target_type, target_id = _target(request.view_args or {})
        return Entry(
            actor=principal.subject, actor_roles=tuple(principal.roles), actor_agency=principal.agency,
            action=notes.get("action") or f"{request.method} {rule}",
            target_type=notes.get("target_type", target_type), target_id=notes.get("target_id", target_id),
            outcome="ok" if status < 400 else "refused" if status in (401, 403) else "failed", status=status,
            pii=is_pii_route(request.method, rule) and status < 400, detail=notes.get("detail", {}),
        )

    def attributable():
        """The principal of this API request, or None (refused before anyone was known, not an API call)."""
        principal = g.get("principal")
        if principal is None or request.url_rule is None or not request.url_rule.rule.startswith(API_PREFIX):
            return None
        return principal

    def in_the_change(uow) -> None:
        """Before a request's transaction commits: its entry, in the same transaction, unless an
        earlier transaction of the request already committed one (one that rolled back took its
        entry with it, so the next one writes it)."""
        principal = attributable()
        if principal is None or "audit_written" in g:
            return
        view = current_app.view_functions.get(request.endpoint)
        operation = getattr(view, "openapi_operation", None)
        status = operation.status if operation is not None else 200
        audit.append(uow.session.connection(), entry(principal, status))

        def written():
            g.audit_written = status
        uow.after_commit(written)

    def join(uow) -> None:
        if has_request_context():
            uow.before_commit(in_the_change)

    if not getattr(runtime, "_audit_joins_requests", False):
        runtime.uow_hooks.append(join)
        runtime._audit_joins_requests = True

    @blueprint.after_app_request
    def record(response: Response) -> Response:
        principal = attributable()
        if principal is None:
            return response
        if g.get("audit_written") == response.status_code:
            return response  # written with the change it records
        audit.record(entry(principal, response.status_code))
        return response

    return blueprint


def _target(view_args: dict) -> tuple[str | None, str | None]:
    """The case-like thing a route names: its first ``<..._id>`` (or ``<code>``) argument."""
    for name, value in view_args.items():
        if name.endswith("_id"):
            return name[:-3], str(value)
    for name, value in view_args.items():
        return name, str(value)
    return None, None
