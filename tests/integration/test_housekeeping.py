"""Housekeeping of the bus tables, on SQLite and on PostgreSQL: sent outbox rows and old inbox rows
are pruned in batches, unsent outbox rows never; a worker's housekeeping thread does it on its own
and survives a failure."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text

from aidflow_review.service import service as review_service
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.settings import Settings
from aidflow_shared.storage import new_id, prune
from support import settings_for, wait_until

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
WEEK, MONTH = timedelta(days=7), timedelta(days=30)


@pytest.fixture
def worker(tmp_path, database_url):
    """The review service migrated, not started; as a worker it prunes every 0.2 s."""
    settings = settings_for(tmp_path)["review"].replace(database_url=database_url, housekeeping_interval=0.2)
    runtime = ServiceRuntime(review_service, settings)
    runtime.migrate()
    yield runtime
    runtime.stop()


@pytest.fixture
def db(worker):
    return worker.db


def add_outbox(db, created_at, sent_at=None) -> str:
    message_id = new_id()
    with db.writer.begin() as conn:
        conn.execute(insert(db.metadata.tables["outbox"]).values(
            message_id=message_id, exchange="aidflow.events", routing_key="test", type="org.aidflow.test.v1",
            body="{}", created_at=created_at, next_attempt_at=created_at, sent_at=sent_at))
    return message_id


def add_inbox(db, received_at, consumer: str = "aidflow.review") -> str:
    message_id = new_id()
    with db.writer.begin() as conn:
        conn.execute(insert(db.metadata.tables["inbox"]).values(
            consumer=consumer, message_id=message_id, type="org.aidflow.test.v1", received_at=received_at))
    return message_id


def message_ids(db, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.execute(select(db.metadata.tables[table].c.message_id)).scalars())


def test_sent_outbox_rows_past_the_retention_go_recent_and_unsent_rows_stay(db):
    old_sent = {add_outbox(db, NOW - timedelta(days=40), NOW - timedelta(days=40 - d / 10)) for d in range(3)}
    just_past = add_outbox(db, NOW - WEEK - timedelta(hours=2), NOW - WEEK - timedelta(minutes=1))
    recent_sent = {add_outbox(db, NOW - timedelta(days=2), NOW - timedelta(days=2)),
                   add_outbox(db, NOW - WEEK + timedelta(minutes=1), NOW - WEEK + timedelta(minutes=1))}
    # Unsent rows are events still to publish: kept whatever their age.
    unsent = {add_outbox(db, NOW - timedelta(days=400)), add_outbox(db, NOW - timedelta(days=10)),
              add_outbox(db, NOW - timedelta(minutes=5))}

    deleted = prune(db, outbox_older_than=WEEK, inbox_older_than=MONTH, now=NOW)

    assert deleted == {"outbox": 4, "inbox": 0}
    assert message_ids(db, "outbox") == recent_sent | unsent
    assert not (old_sent | {just_past}) & message_ids(db, "outbox")
    assert prune(db, outbox_older_than=WEEK, inbox_older_than=MONTH, now=NOW) == {"outbox": 0, "inbox": 0}


def test_inbox_rows_past_the_retention_go_recent_ones_stay(db):
    old = {add_inbox(db, NOW - MONTH - timedelta(days=d), consumer) for d in range(1, 4)
           for consumer in ("aidflow.review", "aidflow.other")}
    recent = {add_inbox(db, NOW - timedelta(days=1)), add_inbox(db, NOW - MONTH + timedelta(minutes=1)),
              add_inbox(db, NOW - timedelta(seconds=5), "aidflow.other")}

    deleted = prune(db, outbox_older_than=WEEK, inbox_older_than=MONTH, now=NOW)

    assert deleted == {"outbox": 0, "inbox": 6}
    assert message_ids(db, "inbox") == recent
    assert not old & message_ids(db, "inbox")


def test_batches_smaller_than_the_backlog_still_delete_all_of_it(db):
    for n in range(10):
        add_outbox(db, NOW - timedelta(days=60), NOW - timedelta(days=60, minutes=-n))
        add_inbox(db, NOW - timedelta(days=60, minutes=n))
    kept_outbox = {add_outbox(db, NOW - timedelta(days=60))}  # unsent
    kept_inbox = {add_inbox(db, NOW - timedelta(days=1))}

    assert prune(db, outbox_older_than=WEEK, inbox_older_than=MONTH, batch=3, now=NOW) == {"outbox": 10, "inbox": 10}
    assert message_ids(db, "outbox") == kept_outbox and message_ids(db, "inbox") == kept_inbox
    # A backlog that is an exact multiple of the batch ends with one empty batch.
    for n in range(6):
        add_inbox(db, NOW - timedelta(days=60, minutes=n))
    assert prune(db, outbox_older_than=WEEK, inbox_older_than=MONTH, batch=3, now=NOW) == {"outbox": 0, "inbox": 6}
    assert message_ids(db, "inbox") == kept_inbox


def test_now_defaults_to_the_present(db):
    old = add_outbox(db, datetime.now(timezone.utc) - timedelta(days=9), datetime.now(timezone.utc) - timedelta(days=8))
    recent = add_inbox(db, datetime.now(timezone.utc) - timedelta(days=29))
    assert prune(db, outbox_older_than=WEEK, inbox_older_than=MONTH) == {"outbox": 1, "inbox": 0}
    assert old not in message_ids(db, "outbox") and message_ids(db, "inbox") == {recent}
    with pytest.raises(ValueError, match="batch"):
        prune(db, outbox_older_than=WEEK, inbox_older_than=MONTH, batch=0)


def test_housekeeping_settings_come_from_the_environment_and_are_checked():
    defaults = Settings.from_env("review", {})
    assert (defaults.outbox_retention_days, defaults.inbox_retention_days, defaults.housekeeping_interval) == \
        (7, 30, 3600.0)
    s = Settings.from_env("review", {"AIDFLOW_OUTBOX_RETENTION_DAYS": "3", "AIDFLOW_INBOX_RETENTION_DAYS": "60",
                                     "AIDFLOW_REVIEW_INBOX_RETENTION_DAYS": "90",
                                     "AIDFLOW_HOUSEKEEPING_INTERVAL": "600"})
    assert (s.outbox_retention_days, s.inbox_retention_days, s.housekeeping_interval) == (3, 90, 600.0)
    with pytest.raises(ValueError, match="AIDFLOW_OUTBOX_RETENTION_DAYS must be at least 1 day"):
        Settings.from_env("review", {"AIDFLOW_OUTBOX_RETENTION_DAYS": "0"})
    with pytest.raises(ValueError, match="AIDFLOW_INBOX_RETENTION_DAYS must be at least 1 day"):
        Settings(service="payout", inbox_retention_days=-1)
    with pytest.raises(ValueError, match="AIDFLOW_HOUSEKEEPING_INTERVAL"):
        Settings(service="payout", housekeeping_interval=0)


def deleted_total(runtime, table: str) -> float:
    return runtime.metrics.registry.get_sample_value("aidflow_housekeeping_deleted_total",
                                                     {"service": "review", "table": table}) or 0.0


def test_a_workers_housekeeping_thread_prunes_and_stays_healthy(worker):
    now = datetime.now(timezone.utc)
    add_outbox(worker.db, now - timedelta(days=20), now - timedelta(days=20))
    add_outbox(worker.db, now - timedelta(days=19), now - timedelta(days=19))
    unsent = add_outbox(worker.db, now - timedelta(days=20))
    recent = add_outbox(worker.db, now - timedelta(days=1), now - timedelta(days=1))
    add_inbox(worker.db, now - timedelta(days=45))
    kept = add_inbox(worker.db, now - timedelta(days=2))

    worker.start(relay=False)
    assert "review-housekeeping" in {t.name for t in worker._threads}
    wait_until(lambda: deleted_total(worker, "outbox") == 2 and deleted_total(worker, "inbox") == 1,
               what="the housekeeping thread to prune")
    assert message_ids(worker.db, "outbox") == {unsent, recent} and message_ids(worker.db, "inbox") == {kept}
    # It keeps running: rows that age past the retention later go at a later run.
    add_inbox(worker.db, now - timedelta(days=31))
    wait_until(lambda: deleted_total(worker, "inbox") == 2, what="a second run")
    worker.check_background()


def test_a_failing_prune_is_logged_and_the_thread_carries_on(worker, caplog):
    caplog.set_level(logging.WARNING, logger="aidflow_shared.runtime")
    with worker.db.writer.begin() as conn:
        conn.execute(text("ALTER TABLE inbox RENAME TO inbox_away"))
    worker.start(relay=False)
    wait_until(lambda: sum("housekeeping failed" in r.getMessage() for r in caplog.records) >= 2,
               what="two failed runs")
    worker.check_background()
    with worker.db.writer.begin() as conn:
        conn.execute(text("ALTER TABLE inbox_away RENAME TO inbox"))
    add_inbox(worker.db, datetime.now(timezone.utc) - timedelta(days=40))
    wait_until(lambda: deleted_total(worker, "inbox") == 1, what="the run after the table came back")
    worker.check_background()
