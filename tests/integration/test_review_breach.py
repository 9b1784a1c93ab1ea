"""A review whose deadline passes before its decision is announced once, whoever scans.

Two review instances share one PostgreSQL database and one RabbitMQ vhost, as two replicas of a
deployment do; both scan for breaches, often at the same moment. The breach is claimed by one
conditional update: one ``review.deadline.breached.v1`` in the outbox, one on the broker, one
``breached`` entry in the clock's history. Intake, its consumer, writes it into the case's history.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import amqp
from sqlalchemy import func, select

from aidflow_intake.service import service as intake_service
from aidflow_review.service import service as review_service
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED
from aidflow_shared.contracts.review import REVIEW_DEADLINE_BREACHED
from aidflow_shared.envelope import new_event
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.storage import utcnow
from support import IntakeApp, referral, settings_for, wait_until

BREACHED = REVIEW_DEADLINE_BREACHED.type


def accepted_long_ago(case_id: str) -> dict:
    """A case taken over from a paper ledger, accepted a month ago: its review is overdue at once."""
    then = utcnow() - timedelta(days=30)
    return {"case_id": case_id, "case_number": f"R{case_id[:8]}", "source": "ex_officio", "track": "standard",
            "victim_deceased": False, "documents_complete": True, "received_at": then, "accepted_at": then,
            "migrated": True, "beneficiaries": [{"beneficiary_id": "b1", "person_ref": "p1", "is_minor": False,
                                                 "relationship": "victim", "poverty_markers": [],
                                                 "urgent_medical_need": False}]}


def test_a_breach_is_announced_once_by_two_review_instances(tmp_path, broker, pg_database):
    url = pg_database("review")
    settings = settings_for(tmp_path, amqp_url=broker.url, db_urls={"intake": "", "review": url, "payout": "",
                                                                    "followup": ""})["review"]
    settings = settings.replace(deadline_scan_interval=0.05)
    replicas = [ServiceRuntime(review_service, settings) for _ in range(2)]
    replicas[0].migrate()
    for replica in replicas:
        replica.start()  # each one consumes, relays and scans every 50 ms
    try:
        case_ids = [str(uuid.uuid4()) for _ in range(5)]
        for case_id in case_ids:
            event = new_event(CASE_ACCEPTED.type, accepted_long_ago(case_id), source="/aidflow/test")
            with replicas[0].unit_of_work(correlation_id=event.id) as uow:
                review_service.handlers[CASE_ACCEPTED.type](event, uow)
                uow.commit()
        # And both scanning in the same instant, over and over, beside their scanner threads.
        for _ in range(5):
            barrier = threading.Barrier(2)

            def scan(replica):
                barrier.wait()
                replica.clocks.scan(replica.unit_of_work)
            threads = [threading.Thread(target=scan, args=(r,)) for r in replicas]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        db = replicas[0].db
        outbox, changes = db.metadata.tables["outbox"], db.metadata.tables["deadline_change"]

        def announced():
            with db.engine.connect() as conn:
                return conn.execute(select(outbox.c.body).where(outbox.c.type == BREACHED)).scalars().all()
        wait_until(lambda: len(announced()) >= len(case_ids), 10, "the breaches")
        bodies = [json.loads(b)["data"] for b in announced()]
        assert sorted(b["case_id"] for b in bodies) == sorted(case_ids)  # one each, never two
        assert all(b["stage"] == "review" and b["track"] == "standard" for b in bodies)
        assert set(bodies[0]) == {"clock_id", "stage", "track", "subject_id", "case_id", "started_at", "due_at",
                                  "breached_at", "provisional"}  # ids and times, no person
        with db.engine.connect() as conn:
            kinds = conn.execute(select(func.count()).select_from(changes).where(changes.c.kind == "breached")).scalar()
        assert kinds == len(case_ids)

        # On the broker too: intake's queue holds one breach per case.
        wait_until(lambda: _unsent(db) == 0, 10, "the relay to publish")
        on_broker = _drain(broker.url, "aidflow.intake", BREACHED.removeprefix("org.aidflow."))
        assert sorted(json.loads(m)["data"]["case_id"] for m in on_broker) == sorted(case_ids)

        queue = replicas[1].create_app().test_client()
        from aidflow_shared.auth import mint_token
        token = mint_token(settings, "test-reviewer", ["reviewer"], "procuratorate", ttl=timedelta(minutes=5))
        items = queue.get("/api/v1/reviews", headers={"Authorization": f"Bearer {token}"}).get_json()["items"]
        assert {r["deadline"]["band"] for r in items} == {"breached"}
    finally:
        for replica in replicas:
            replica.stop()


def test_intake_writes_an_overdue_review_into_the_case_history(tmp_path):
    intake = IntakeApp(settings_for(tmp_path)["intake"])
    try:
        case = intake.refer(referral(61))
        now = utcnow()
        event = new_event(BREACHED, {"clock_id": "c1", "stage": "review", "track": "standard", "subject_id": "r1",
                                     "case_id": case["case_id"], "started_at": now - timedelta(days=9),
                                     "due_at": now - timedelta(hours=1), "breached_at": now, "provisional": False},
                          source="/aidflow/review")
        with intake.runtime.unit_of_work(correlation_id=event.id) as uow:
            intake_service.handlers[BREACHED](event, uow)
            uow.commit()
        seen = intake.get(f"/cases/{case['case_id']}")
        assert seen["status"] == case["status"]  # the case stays where it was
        assert [h for h in seen["history"] if h["status"] == "review_overdue"][0]["event_type"] == BREACHED
    finally:
        intake.close()


def _unsent(db) -> int:
    outbox = db.metadata.tables["outbox"]
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))).scalar()


def _drain(url: str, queue: str, routing_key: str) -> list[str]:
    """Take every message off ``queue`` and return the bodies of those routed by ``routing_key``."""
    from urllib.parse import unquote, urlsplit
    parts = urlsplit(url)
    conn = amqp.Connection(host=f"{parts.hostname}:{parts.port or 5672}", userid=parts.username or "guest",
                           password=parts.password or "guest", virtual_host=unquote(parts.path[1:]) or "/")
    conn.connect()
    try:
        channel = conn.channel()
        bodies = []
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            if message.delivery_info["routing_key"] == routing_key:
                bodies.append(message.body.decode() if isinstance(message.body, bytes) else message.body)
        return bodies
    finally:
        conn.close()
