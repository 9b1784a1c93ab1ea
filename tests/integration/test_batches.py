"""Deliveries that arrive together are handled in one transaction, on RabbitMQ, with the real
review service: each keeps its inbox row and is acknowledged only after the commit; a bad one
(another message under an id the batch already claimed, too) sends the batch back to one-by-one
handling, where it is parked alone."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from aidflow_review.service import service as review_service
from aidflow_shared.bus.transport import Outgoing
from aidflow_shared.contracts import EVENTS
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED
from aidflow_shared.envelope import CONTENT_TYPE
from aidflow_shared.runtime import ServiceRuntime
from support import settings_for, wait_until
from test_bus import case_accepted, consumed, outbox_types, reviews


@pytest.fixture
def review(broker, tmp_path, database_url):
    """The review service with its queue filled before it starts consuming."""
    settings = settings_for(tmp_path, amqp_url=broker.url)["review"].replace(database_url=database_url)
    runtime = ServiceRuntime(review_service, settings)
    runtime.migrate()
    runtime.declare()
    batches = []
    handle_batch = runtime.handle_batch

    def recording(deliveries):
        batches.append([d.message_id for d in deliveries])
        handle_batch(deliveries)

    runtime.handle_batch = recording
    runtime.batches = batches
    yield runtime
    runtime.stop()


def outgoing(envelope, *, body=None, message_id=None) -> Outgoing:
    return Outgoing(exchange=EVENTS, routing_key=CASE_ACCEPTED.routing_key(),
                    body=body if body is not None else envelope.to_json(), message_id=message_id or envelope.id,
                    type=envelope.type, content_type=CONTENT_TYPE)


def parked(runtime) -> list:
    return runtime.transport.parked(runtime.topology.consumer("review").parking)


def test_a_backlog_is_handled_in_batches_with_one_effect_per_message(review):
    events = [case_accepted(n) for n in range(40)]
    review.transport.publish([outgoing(e) for e in events] + [outgoing(events[3])])  # and one duplicate
    review.start()
    wait_until(lambda: consumed(review, "handled") + consumed(review, "duplicate") == 41, timeout=60,
               what="the backlog to drain")
    assert max(len(batch) for batch in review.batches) > 1
    assert consumed(review, "handled") == 40 and consumed(review, "duplicate") == 1
    assert sorted(r.case_id for r in reviews(review)) == sorted(f"case-{n}" for n in range(40))
    assert outbox_types(review).count("org.aidflow.review.review.opened.v1") == 40
    with review.db.engine.connect() as conn:
        inbox = review.db.metadata.tables["inbox"]
        assert conn.execute(inbox.select()).all().__len__() == 40


def test_a_bad_message_in_a_batch_is_parked_alone_and_the_others_commit(review):
    events = [case_accepted(100 + n) for n in range(12)]
    bad = case_accepted(999)
    batch = [outgoing(e) for e in events[:6]]
    batch.append(outgoing(bad, body='{"specversion": "1.0", "not": "an event"}', message_id="bad-1"))
    batch += [outgoing(e) for e in events[6:]]
    review.transport.publish(batch)
    review.start()
    wait_until(lambda: consumed(review, "handled") == 12 and consumed(review, "parked") == 1, timeout=60,
               what="the good ones handled and the bad one parked")
    assert sorted(r.case_id for r in reviews(review)) == sorted(f"case-{100 + n}" for n in range(12))
    assert [p.message_id for p in parked(review)] == ["bad-1"]


def test_another_message_under_an_id_used_in_the_same_batch_is_parked_alone(review):
    """The reused id's claim fails inside the batch's transaction: everything rolls back, and one
    by one the first message under the id commits, the other is parked, the rest commit."""
    events = [case_accepted(200 + n) for n in range(12)]
    reused = replace(case_accepted(299), id=events[4].id)  # a partner's bug: the same id, another case
    review.transport.publish([outgoing(e) for e in events[:8]] + [outgoing(reused)]
                             + [outgoing(e) for e in events[8:]])
    review.start()
    wait_until(lambda: consumed(review, "handled") == 12 and consumed(review, "parked") == 1, timeout=60,
               what="the others handled and the reused id parked")
    assert any(batch.count(events[4].id) == 2 for batch in review.batches)  # both came in one batch
    assert [(p.message_id, p.reason) for p in parked(review)] == [(events[4].id, "id-reused")]
    assert sorted(r.case_id for r in reviews(review)) == sorted(f"case-{200 + n}" for n in range(12))
    assert outbox_types(review).count("org.aidflow.review.review.opened.v1") == 12  # nothing for case-299
    inbox = review.db.metadata.tables["inbox"]
    with review.db.engine.connect() as conn:
        digests = dict(conn.execute(select(inbox.c.message_id, inbox.c.digest)).all())
    assert digests == {e.id: e.digest for e in events}
    assert consumed(review, "duplicate") == 0 and review.metrics.registry.get_sample_value(
        "aidflow_bus_parked_total", {"service": "review", "reason": "id-reused"}) == 1
