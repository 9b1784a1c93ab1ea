"""Storage on SQLite and on PostgreSQL: migrations, the outbox, the inbox, the relay's bookkeeping."""
from __future__ import annotations

import importlib
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, select

from aidflow_shared.bus.embedded import EmbeddedTransport
from aidflow_shared.bus.relay import OutboxRelay
from aidflow_shared.bus.topology import build_topology
from aidflow_shared.contracts.catalogue import PLAN_OPENED
from aidflow_shared.envelope import MessageRejected
from aidflow_shared.metrics import BusMetrics
from aidflow_shared.migrations import downgrade, upgrade
from aidflow_shared.storage import Database, UnitOfWork, outbox_stats

SERVICES = ("intake", "review", "payout", "followup")
PLAN = {"plan_id": "p1", "case_id": "c1", "beneficiary_id": "b1", "opened_at": datetime.now(timezone.utc)}


def service(name):
    return importlib.import_module(f"aidflow_{name}.service").service


@pytest.fixture
def followup_db(database_url):
    db = Database(database_url, service("followup").metadata)
    upgrade(db, service("followup").migrations)
    yield db
    db.dispose()


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_create_the_models_tables_and_go_back_down(database_url, name):
    svc = service(name)
    db = Database(database_url, svc.metadata)
    upgrade(db, svc.migrations)
    upgrade(db, svc.migrations)  # idempotent: a second instance starting finds it done
    tables = set(inspect(db.engine).get_table_names())
    assert set(svc.metadata.tables) <= tables and {"outbox", "inbox"} <= tables
    downgrade(db, svc.migrations, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.dispose()


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_and_models_agree(database_url, name):
    """The schema the migrations build is the one the code maps: no drift either way."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    svc = service(name)
    db = Database(database_url, svc.metadata)
    upgrade(db, svc.migrations)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, svc.metadata) == []
    db.dispose()


def test_outbox_rows_commit_with_the_transaction_or_not_at_all(followup_db):
    with UnitOfWork(followup_db, source="/aidflow/followup") as uow:
        uow.emit(PLAN_OPENED.type, PLAN, subject="c1")
        # no commit: rolled back on exit
    assert outbox_stats(followup_db) == (0, 0.0)
    notified = []
    with UnitOfWork(followup_db, source="/aidflow/followup", on_commit=lambda: notified.append(1)) as uow:
        uow.emit(PLAN_OPENED.type, PLAN, subject="c1")
        uow.commit()
    backlog, age = outbox_stats(followup_db)
    assert backlog == 1 and age >= 0 and notified == [1]


def test_inbox_claims_a_message_once(followup_db):
    with UnitOfWork(followup_db, source="/x") as uow:
        assert uow.claim_inbox("aidflow.followup", "m1", "t") is True
        assert uow.claim_inbox("aidflow.followup", "m1", "t") is False
        assert uow.claim_inbox("aidflow.other", "m1", "t") is True  # another consumer's inbox
        uow.commit()
    with UnitOfWork(followup_db, source="/x") as uow:
        assert uow.claim_inbox("aidflow.followup", "m1", "t") is False


def test_concurrent_claims_of_one_message_let_exactly_one_win(followup_db):
    results, barrier = [], threading.Barrier(4)

    def claim():
        barrier.wait()
        with UnitOfWork(followup_db, source="/x") as uow:
            won = uow.claim_inbox("aidflow.followup", "same", "t")
            uow.commit()
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, False, False, True]


DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


def inbox_digests(db) -> dict:
    inbox = db.metadata.tables["inbox"]
    with db.engine.connect() as conn:
        return {(row.consumer, row.message_id): row.digest for row in conn.execute(select(inbox))}


def test_inbox_tells_a_copy_from_another_message_under_a_used_id(followup_db):
    with UnitOfWork(followup_db, source="/x") as uow:
        assert uow.claim_inbox("aidflow.followup", "m1", "t", DIGEST_A) is True
        uow.commit()
    with UnitOfWork(followup_db, source="/x") as uow:
        assert uow.claim_inbox("aidflow.followup", "m1", "t", DIGEST_A) is False  # a copy: a duplicate
        assert uow.claim_inbox("aidflow.followup", "m1", "t") is False  # no digest given: cannot tell
        with pytest.raises(MessageRejected) as rejected:
            uow.claim_inbox("aidflow.followup", "m1", "t", DIGEST_B)
        assert uow.claim_inbox("aidflow.other", "m1", "t", DIGEST_B) is True  # another consumer's inbox
        # no commit: the caller parks the message and rolls its transaction back
    assert rejected.value.reason == "id-reused"
    assert "aidflow.followup" in rejected.value.detail and "m1" in rejected.value.detail
    assert inbox_digests(followup_db) == {("aidflow.followup", "m1"): DIGEST_A}


def test_concurrent_claims_of_one_id_with_two_contents_let_one_win_and_park_the_other(followup_db):
    """The loser waits on the primary key, then reads the winner's committed digest."""
    results, barrier = [], threading.Barrier(4)

    def claim(digest):
        barrier.wait()
        with UnitOfWork(followup_db, source="/x") as uow:
            try:
                won = uow.claim_inbox("aidflow.followup", "same", "t", digest)
            except MessageRejected as exc:
                results.append((digest, exc.reason))
                return
            uow.commit()
            results.append((digest, won))

    threads = [threading.Thread(target=claim, args=(d,)) for d in (DIGEST_A, DIGEST_A, DIGEST_B, DIGEST_B)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winner = inbox_digests(followup_db)[("aidflow.followup", "same")]
    loser = DIGEST_B if winner == DIGEST_A else DIGEST_A
    assert sorted(results) == sorted([(winner, True), (winner, False), (loser, "id-reused"), (loser, "id-reused")])


@pytest.mark.parametrize("name", SERVICES)
def test_inbox_rows_from_before_the_digest_keep_none_and_stay_plain_duplicates(database_url, name):
    """Every service's digest revision, on rows already there: added as NULL, dropped again."""
    svc = service(name)
    db = Database(database_url, svc.metadata)
    upgrade(db, svc.migrations)
    downgrade(db, svc.migrations, "-1")  # the schema as it was before the digest
    assert "digest" not in {c["name"] for c in inspect(db.engine).get_columns("inbox")}
    with db.writer.begin() as conn:
        conn.exec_driver_sql("INSERT INTO inbox (consumer, message_id, type, received_at) "
                             "VALUES ('aidflow.x', 'old', 't', '2026-11-29 08:00:00')")
    upgrade(db, svc.migrations)
    assert inbox_digests(db) == {("aidflow.x", "old"): None}
    with UnitOfWork(db, source="/x") as uow:
        assert uow.claim_inbox("aidflow.x", "old", "t", DIGEST_B) is False  # no digest known: a duplicate
        assert uow.claim_inbox("aidflow.x", "new", "t", DIGEST_A) is True
        uow.commit()
    assert inbox_digests(db) == {("aidflow.x", "old"): None, ("aidflow.x", "new"): DIGEST_A}
    downgrade(db, svc.migrations, "-1")  # and back down, keeping the rows
    assert "digest" not in {c["name"] for c in inspect(db.engine).get_columns("inbox")}
    with db.engine.connect() as conn:
        assert sorted(conn.exec_driver_sql("SELECT message_id FROM inbox").scalars()) == ["new", "old"]
    db.dispose()


def test_relay_marks_rows_sent_only_after_the_transport_confirmed(followup_db, tmp_path):
    transport = EmbeddedTransport(tmp_path / "bus.sqlite3")
    transport.declare(build_topology(retry_delays=(1,), delivery_limit=5))
    relay = OutboxRelay(followup_db, transport, BusMetrics("followup"))
    with UnitOfWork(followup_db, source="/aidflow/followup") as uow:
        uow.emit(PLAN_OPENED.type, PLAN, subject="c1")
        uow.commit()

    def refuse(_messages):
        raise ConnectionError("broker went away mid-batch")

    relay.after_confirm = refuse
    with pytest.raises(ConnectionError):
        relay.run_once()
    assert outbox_stats(followup_db)[0] == 1
    relay.after_confirm = None
    assert relay.run_once() == 1
    assert outbox_stats(followup_db)[0] == 0
    assert transport.depth("aidflow.intake") == 2  # published twice; the consumer's inbox keeps one


def test_unroutable_rows_stay_in_the_outbox_with_a_reason(followup_db, tmp_path):
    transport = EmbeddedTransport(tmp_path / "bus.sqlite3")  # nothing declared: no queue takes anything
    metrics = BusMetrics("followup")
    relay = OutboxRelay(followup_db, transport, metrics)
    with UnitOfWork(followup_db, source="/aidflow/followup") as uow:
        uow.emit(PLAN_OPENED.type, PLAN, subject="c1")
        uow.commit()
    assert relay.run_once() == 0
    outbox = followup_db.metadata.tables["outbox"]
    with followup_db.engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.sent_at is None and row.attempts == 1 and "unroutable" in row.last_error
    assert metrics.registry.get_sample_value("aidflow_bus_unroutable_total",
                                             {"service": "followup", "exchange": "aidflow.events"}) == 1
