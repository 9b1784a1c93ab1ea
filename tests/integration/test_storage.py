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
