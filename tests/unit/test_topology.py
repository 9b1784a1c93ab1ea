"""Topic matching as RabbitMQ does it, and the topology derived from the registry."""
import pytest

from aidflow_shared.bus.topology import build_topology, topic_matches


@pytest.mark.parametrize("pattern, key, expected", [
    ("intake.case.opened.v1", "intake.case.opened.v1", True),
    ("*.referral.submit.v1", "poverty-bureau.referral.submit.v1", True),
    ("*.referral.submit.v1", "a.b.referral.submit.v1", False),
    ("civil-affairs.#", "civil-affairs.handoff.requested.v1", True),
    ("civil-affairs.#", "civil-affairs", True),
    ("civil-affairs.#", "legal-aid.handoff.requested.v1", False),
    ("#", "anything.at.all", True),
    ("a.*.c", "a.b.c", True),
    ("a.*.c", "a.c", False),
    ("#.v1", "x.y.v1", True),
])
def test_topic_matches(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


def test_each_consumer_has_retry_and_parking_queues():
    topology = build_topology(retry_delays=(1, 5, 30), delivery_limit=5)
    review = topology.consumer("review")
    assert review.name == "aidflow.review" and review.parking == "aidflow.review.parking"
    assert review.retry_queue(5) == "aidflow.review.retry.5000ms"
    assert ("aidflow.events", "intake.case.opened.v1") in review.bindings
    queues, _, keys = zip(*topology.partner_bindings())
    assert "aidflow.partner.poverty-bureau" in queues and "poverty-bureau.#" in keys
