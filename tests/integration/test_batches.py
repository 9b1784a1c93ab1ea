"""Deliveries that arrive together are handled in one transaction, on RabbitMQ, with the real
review service: each keeps its inbox row and is acknowledged only after the commit; a bad one
sends the batch back to one-by-one handling, where it is parked alone."""
from __future__ import annotations

import pytest

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
    sizes = []
    handle_batch = runtime.handle_batch

    def recording(deliveries):
        sizes.append(len(deliveries))
        handle_batch(deliveries)

    runtime.handle_batch = recording
    runtime.batch_sizes = sizes
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
    assert max(review.batch_sizes) > 1
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
