"""The bus guarantees, on RabbitMQ and on the embedded transport, with the real review service.

Every test here runs twice: once on a fresh RabbitMQ vhost, once on the embedded SQLite
transport. The review service consumes ``intake.case.opened`` and ``intake.case.accepted``: its
inbox, retries and parking are what is checked.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from sqlalchemy import insert, select

from aidflow_review.orm import Review
from aidflow_review.service import service as review_service
from aidflow_shared.bus.transport import Outgoing
from aidflow_shared.contracts import EVENTS
from aidflow_shared.contracts import registry
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED, CASE_OPENED
from aidflow_shared.envelope import CONTENT_TYPE, new_event
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.storage import utcnow
from support import settings_for, wait_until


@pytest.fixture(params=["rabbitmq", "embedded"])
def review(request, tmp_path):
    """A running review service on the chosen transport, and a way to read its parking queue."""
    amqp_url = request.getfixturevalue("broker").url if request.param == "rabbitmq" else ""
    settings = settings_for(tmp_path, amqp_url=amqp_url)["review"]
    runtime = ServiceRuntime(review_service, settings)
    runtime.migrate()
    runtime.start()
    runtime.parked = lambda: _parked(runtime)
    yield runtime
    runtime.stop()


def _parked(runtime) -> list:
    return runtime.transport.parked(runtime.topology.consumer("review").parking)


def case_opened(n: int = 1):
    return new_event(CASE_OPENED.type, {
        "case_id": f"case-{n}", "case_number": f"JZ-{n}", "source": "ex_officio", "track": "standard",
        "beneficiaries": [{"beneficiary_id": f"b-{n}", "person_ref": f"p-{n}", "is_minor": False}],
        "opened_at": utcnow()}, source="/aidflow/intake", subject=f"case-{n}")


def case_accepted(n: int = 1):
    """The case's acceptance (受理): what opens its review and emits ``review.opened``."""
    now = utcnow()
    return new_event(CASE_ACCEPTED.type, {
        "case_id": f"case-{n}", "case_number": f"JZ-{n}", "source": "ex_officio", "track": "standard",
        "victim_deceased": False, "documents_complete": True, "received_at": now, "accepted_at": now,
        "migrated": False,
        "beneficiaries": [{"beneficiary_id": f"b-{n}", "person_ref": f"p-{n}", "is_minor": False,
                           "relationship": "victim", "poverty_markers": [], "urgent_medical_need": False}]},
        source="/aidflow/intake", subject=f"case-{n}")


def publish(runtime, envelope=None, *, body=None, content_type=CONTENT_TYPE, type=None, message_id=None):
    routed = registry.get(envelope.type) if envelope else CASE_OPENED
    runtime.transport.publish([Outgoing(
        exchange=EVENTS, routing_key=routed.routing_key(),
        body=body if body is not None else envelope.to_json(),
        message_id=message_id or (envelope.id if envelope else "m-" + str(time.monotonic_ns())),
        type=type or (envelope.type if envelope else CASE_OPENED.type), content_type=content_type)])


def reviews(runtime) -> list[Review]:
    with runtime.db.sessions() as session:
        return session.query(Review).all()


def consumed(runtime, outcome: str) -> float:
    return runtime.metrics.registry.get_sample_value(
        "aidflow_bus_consumed_total", {"service": "review", "outcome": outcome}) or 0


def outbox_types(runtime) -> list[str]:
    outbox = runtime.db.metadata.tables["outbox"]
    with runtime.db.engine.connect() as conn:
        return [row.type for row in conn.execute(outbox.select())]


def test_same_message_twice_has_one_effect(review):
    event = case_opened()
    publish(review, event)
    publish(review, event)
    wait_until(lambda: consumed(review, "duplicate") == 1, what="the duplicate to be dropped")
    assert [(r.case_id, r.status) for r in reviews(review)] == [("case-1", "awaiting_acceptance")]
    assert outbox_types(review) == []  # registered, not accepted: no review clock yet
    accepted = case_accepted()
    publish(review, accepted)
    publish(review, accepted)
    wait_until(lambda: consumed(review, "duplicate") == 2, what="the second duplicate to be dropped")
    assert [(r.case_id, r.status) for r in reviews(review)] == [("case-1", "open")]
    assert outbox_types(review) == ["org.aidflow.review.review.opened.v1"]



def test_the_same_message_re_serialised_and_stamped_again_is_a_duplicate(review):
    """A partner's honest resend: same id, type and data; other key order, white space, escapes, time."""
    event = case_opened(14)
    publish(review, event)
    wait_until(lambda: reviews(review), what="the first message")
    document = json.loads(event.to_json())
    resent = dict(reversed(list(dict(document, time="2026-12-01T09:30:00+08:00").items())))
    resent["data"] = dict(reversed(list(document["data"].items())))
    publish(review, body=json.dumps(resent, indent=2, ensure_ascii=True), message_id=event.id, type=event.type)
    wait_until(lambda: consumed(review, "duplicate") == 1, what="the resend to be dropped as a duplicate")
    assert [r.case_id for r in reviews(review)] == ["case-14"] and review.parked() == []


def test_another_message_under_a_used_id_is_parked_with_no_effect_and_the_next_is_handled(review):
    first = case_opened(15)
    publish(review, first)
    wait_until(lambda: reviews(review), what="the first message")
    reused = replace(case_opened(16), id=first.id)  # a partner's bug: the same id, another case
    publish(review, reused)
    publish(review, case_opened(17))
    wait_until(lambda: len(reviews(review)) == 2, what="the message after the reused id")
    parked = wait_until(lambda: review.parked(), what="the reused id to be parked")
    assert [(p.message_id, p.reason) for p in parked] == [(first.id, "id-reused")]
    assert "aidflow.review" in parked[0].detail and first.id in parked[0].detail
    assert not any(value in parked[0].detail for value in ("case-16", "JZ-16", "b-16", "p-16"))  # no payload
    assert sorted(r.case_id for r in reviews(review)) == ["case-15", "case-17"]  # case-16: no effect
    inbox = review.db.metadata.tables["inbox"]
    with review.db.engine.connect() as conn:
        assert conn.execute(select(inbox.c.digest).where(inbox.c.message_id == first.id)).scalar_one() == first.digest
    assert consumed(review, "parked") == 1 and consumed(review, "duplicate") == 0
    assert review.metrics.registry.get_sample_value(
        "aidflow_bus_parked_total", {"service": "review", "reason": "id-reused"}) == 1


def test_a_message_whose_inbox_row_has_no_digest_is_a_plain_duplicate(review):
    """Rows written before digests were kept: a message under their id cannot be told apart, as before."""
    event = case_opened(18)
    with review.db.writer.begin() as conn:
        conn.execute(insert(review.db.metadata.tables["inbox"]).values(
            consumer=review.queue, message_id=event.id, type=event.type, received_at=utcnow(), digest=None))
    publish(review, event)
    publish(review, case_opened(19))
    wait_until(lambda: [r.case_id for r in reviews(review)] == ["case-19"], what="the message after it")
    wait_until(lambda: consumed(review, "duplicate") == 1, what="the message to be dropped as a duplicate")
    assert review.parked() == []


def test_an_acceptance_before_its_registration_opens_the_review_once(review):
    publish(review, case_accepted(12))
    wait_until(lambda: [r.status for r in reviews(review)] == ["open"], what="the review from the acceptance")
    publish(review, case_opened(12))
    wait_until(lambda: consumed(review, "handled") == 2, what="the late registration")
    assert [(r.case_id, r.status) for r in reviews(review)] == [("case-12", "open")]
    assert outbox_types(review) == ["org.aidflow.review.review.opened.v1"]


def test_relay_crash_after_confirm_republishes_and_inbox_drops_duplicate(review):
    """The relay dies after the broker confirmed but before the rows were marked sent."""
    from aidflow_intake.cases import open_case
    from aidflow_intake.service import service as intake_service
    from support import referral

    intake = ServiceRuntime(intake_service, review.settings.replace(
        service="intake", database_url=review.settings.database_url.replace("review", "intake")),
        transport=review.transport if review.settings.embedded else None)
    intake.migrate()
    intake.transport.declare(intake.topology)

    class Crash(Exception):
        pass

    def crash(_messages):
        raise Crash()

    with intake.unit_of_work() as uow:
        from aidflow_intake.schemas import ReferralIn
        open_case(uow, ReferralIn().load(referral(7)), source_agency=None)
        uow.commit()
    intake.relay.after_confirm = crash
    with pytest.raises(Crash):
        intake.relay.run_once()
    assert _unsent(intake) == 1  # published, but not marked: the crash window
    intake.relay.after_confirm = None
    assert intake.relay.run_once() == 1  # published again, now marked
    assert _unsent(intake) == 0
    wait_until(lambda: consumed(review, "duplicate") == 1, what="the republished copy to be dropped")
    assert len(reviews(review)) == 1
    intake.stop()


def _unsent(runtime) -> int:
    outbox = runtime.db.metadata.tables["outbox"]
    with runtime.db.engine.connect() as conn:
        return len(conn.execute(outbox.select().where(outbox.c.sent_at.is_(None))).all())


def test_malformed_messages_are_parked_with_reasons_and_the_next_good_one_is_handled(review):
    good = case_opened(2)
    schema_broken = json.loads(case_opened(3).to_json())
    schema_broken["data"]["beneficiaries"] = "nobody"
    unknown = json.loads(case_opened(4).to_json())
    unknown["type"] = "org.aidflow.intake.case.opened.v9"
    publish(review, body=b"\xff not json at all")
    publish(review, case_opened(5), content_type="text/plain")
    publish(review, body=json.dumps(unknown), type=unknown["type"], message_id=unknown["id"])
    publish(review, body=json.dumps(schema_broken), message_id=schema_broken["id"])
    publish(review, good)
    wait_until(lambda: [r.case_id for r in reviews(review)] == ["case-2"], what="the good message")
    parked = wait_until(lambda: (p := review.parked()) and len(p) == 4 and p, what="four parked messages")
    reasons = sorted(p.reason for p in parked)
    assert reasons == ["invalid-json", "schema-violation", "unknown-type", "wrong-content-type"]
    assert all(p.detail and p.parked_at for p in parked)
    assert consumed(review, "parked") == 4


def test_a_failing_handler_is_retried_with_back_off_then_parked(review, monkeypatch):
    calls = []

    def broken(event, uow):
        calls.append(time.monotonic())
        raise RuntimeError("the eligibility rules service is on fire")

    monkeypatch.setitem(review_service.handlers, CASE_OPENED.type, broken)
    publish(review, case_opened(8))
    parked = wait_until(lambda: review.parked(), timeout=30, what="the failing message to be parked")
    assert len(calls) == 1 + review.settings.max_retries
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    for gap, delay in zip(gaps, review.settings.retry_delays):
        assert gap >= delay * 0.9, (gaps, review.settings.retry_delays)
    assert parked[0].reason == "handler-failed" and parked[0].retries == review.settings.max_retries
    assert "on fire" in parked[0].detail
    assert reviews(review) == []  # nothing half-written

    # Fixed, an operator replays it: it is handled once, and the parking queue is empty.
    monkeypatch.undo()
    queue = review.topology.consumer("review")
    assert review.transport.replay(queue.parking, queue.name) == 1
    wait_until(lambda: reviews(review), what="the replayed message")
    assert review.parked() == [] and len(reviews(review)) == 1


def test_handler_that_succeeds_on_retry_has_one_effect(review, monkeypatch):
    real = review_service.handlers[CASE_ACCEPTED.type]
    calls = []

    def flaky(event, uow):
        calls.append(1)
        real(event, uow)
        if len(calls) == 1:
            raise ConnectionResetError("the first time, after the effect, before the commit")

    monkeypatch.setitem(review_service.handlers, CASE_ACCEPTED.type, flaky)
    publish(review, case_accepted(9))
    wait_until(lambda: reviews(review), what="the retried message")
    assert len(calls) == 2 and len(reviews(review)) == 1 and review.parked() == []
    assert outbox_types(review) == ["org.aidflow.review.review.opened.v1"]


def test_a_message_that_keeps_crashing_its_consumer_is_parked_by_the_broker(broker, tmp_path):
    """A consumer that dies holding a message (no ack, no nack) gets it again, up to the delivery limit."""
    from aidflow_shared.bus.amqp import AmqpTransport
    from aidflow_shared.bus.topology import build_topology

    topology = build_topology(retry_delays=(0.2,), delivery_limit=2)
    transport = AmqpTransport(broker.url)
    transport.declare(topology)
    queue = topology.consumer("review")
    event = case_opened(11)
    transport.publish([Outgoing(exchange=EVENTS, routing_key=CASE_OPENED.routing_key(), body=event.to_json(),
                                message_id=event.id, type=event.type)])
    from kombu import Connection
    deliveries = 0
    for _ in range(5):
        with Connection(broker.url) as conn:
            channel = conn.channel()
            message = channel.basic_get(queue.name, no_ack=False)
            if message is None:
                break
            deliveries += 1
            channel.connection.collect()  # the consumer "crashes": its connection goes, unacked
    assert deliveries == 1 + topology.delivery_limit
    parked = wait_until(lambda: transport.parked(queue.parking), what="the broker to dead-letter it")
    assert parked[0].message_id == event.id and parked[0].reason == "delivery_limit"
    transport.close()


def test_a_concurrent_insert_conflict_is_run_again_at_once_not_retried_later(review, monkeypatch):
    """Two instances inserting the same row: the loser re-runs its handler and finds the row."""
    from sqlalchemy.exc import IntegrityError

    real = review_service.handlers[CASE_OPENED.type]
    calls = []

    def racing(event, uow):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO review", {}, Exception("duplicate key value"))
        real(event, uow)

    monkeypatch.setitem(review_service.handlers, CASE_OPENED.type, racing)
    publish(review, case_opened(12))
    wait_until(lambda: reviews(review), what="the re-run handler")
    assert len(calls) == 2 and consumed(review, "retried") == 0 and review.parked() == []
