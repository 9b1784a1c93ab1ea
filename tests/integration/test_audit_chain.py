"""The audit log's hash chain on SQLite and PostgreSQL: it verifies, and shows any entry changed,
deleted or moved; appends from many threads at once still make one chain."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, update

from aidflow_shared.audit import GENESIS, AuditLog, Entry, audit_table, entry_hash, exported, imported, verify_chain
from aidflow_shared.storage import Database, new_metadata


@pytest.fixture
def audit(database_url):
    metadata = new_metadata()
    audit_table(metadata)
    db = Database(database_url, metadata)
    metadata.tables["audit_log"].create(db.engine)
    yield AuditLog(db)
    db.dispose()


def fill(audit, n=5):
    for i in range(n):
        audit.record(Entry(actor=f"clerk-{i % 2}", actor_roles=("intake_clerk",), action="GET /api/v1/cases/<case_id>",
                           target_type="case", target_id=f"case-{i}", status=200, pii=True, detail={"n": i}))


def tamper(audit, statement):
    with audit.db.writer.connect() as conn, conn.begin():
        conn.execute(statement)


def test_a_fresh_chain_verifies_from_genesis(audit):
    assert audit.verify().as_dict() == {"ok": True, "entries": 0, "head_seq": 0, "head_hash": GENESIS,
                                        "broken_at": None, "reason": None}
    fill(audit)
    rows = audit.entries()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == GENESIS and all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:]))
    assert all(entry_hash(r) == r["hash"] for r in rows)
    result = audit.verify()
    assert result.ok and result.entries == 5 and result.head_seq == 5 and result.head_hash == rows[-1]["hash"]


@pytest.mark.parametrize("change", [{"actor": "someone-else"}, {"target_id": "case-99"}, {"status": 403},
                                    {"pii": False}, {"detail": '{"n":7}'}])
def test_a_changed_entry_is_detected(audit, change):
    fill(audit)
    table = audit.table
    tamper(audit, update(table).where(table.c.seq == 3).values(**change))
    result = audit.verify()
    assert not result.ok and result.broken_at == 3 and "changed" in result.reason


def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(audit):
    fill(audit)
    row = audit.entries(2, 1)[0]
    row["actor"] = "someone-else"
    tamper(audit, update(audit.table).where(audit.table.c.seq == 3).values(actor="someone-else",
                                                                          hash=entry_hash(row)))
    result = audit.verify()
    assert not result.ok and result.broken_at == 4 and "does not link" in result.reason


def test_a_deleted_entry_is_detected(audit):
    fill(audit)
    tamper(audit, delete(audit.table).where(audit.table.c.seq == 2))
    result = audit.verify()
    assert not result.ok and result.broken_at == 3 and "missing or reordered" in result.reason


def test_reordered_entries_are_detected(audit):
    fill(audit)
    table = audit.table
    # Swap entries 2 and 4 whole (seq kept): the content moves, the numbering does not.
    two, four = audit.entries(1, 1)[0], audit.entries(3, 1)[0]
    fields = [c for c in two if c != "seq"]
    tamper(audit, update(table).where(table.c.seq == 2).values(**{f: four[f] for f in fields}))
    tamper(audit, update(table).where(table.c.seq == 4).values(**{f: two[f] for f in fields}))
    result = audit.verify()
    assert not result.ok and result.broken_at == 2


def test_an_export_verifies_on_its_own_and_shows_tampering_too(audit):
    fill(audit)
    export = [exported(r) for r in audit.entries()]
    assert export[0]["detail"] == {"n": 0} and isinstance(export[0]["at"], str)
    assert verify_chain(imported(r) for r in export).ok
    export[1]["detail"] = {"n": 42}
    assert verify_chain(imported(r) for r in export).broken_at == 2


def test_concurrent_appends_make_one_unbroken_chain(audit):
    errors = []

    def append(worker):
        try:
            for i in range(15):
                audit.record(Entry(actor=f"w{worker}", actor_roles=("ops",), action="test", detail={"i": i}))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = audit.verify()
    assert result.ok and result.entries == 90
