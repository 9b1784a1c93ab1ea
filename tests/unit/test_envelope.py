"""The CloudEvents envelope: what is accepted, and the reason code for what is not."""
import json
from datetime import datetime, timezone

import pytest

from aidflow_shared.contracts import EVENTS, registry
from aidflow_shared.contracts.catalogue import CASE_OPENED, PLAN_OPENED
from aidflow_shared.envelope import CONTENT_TYPE, MessageRejected, new_event, parse

PLAN = {"plan_id": "p1", "case_id": "c1", "beneficiary_id": "b1",
        "opened_at": datetime(2026, 11, 29, 8, tzinfo=timezone.utc)}


def good():
    event = new_event(PLAN_OPENED.type, PLAN, source="/aidflow/followup", subject="c1")
    return event, event.to_json().encode()


def test_round_trip():
    event, body = good()
    parsed = parse(body, content_type=CONTENT_TYPE, message_id=event.id, type=event.type)
    assert parsed.data == event.data and parsed.subject == "c1"
    document = json.loads(body)
    assert document["specversion"] == "1.0" and document["datacontenttype"] == "application/json"
    assert document["time"].endswith("Z")


def test_outgoing_payload_is_validated():
    with pytest.raises(ValueError):
        new_event(PLAN_OPENED.type, {"plan_id": "p1"}, source="/x")


@pytest.mark.parametrize("mutate, reason", [
    (lambda d, p: (b"not json", p), "invalid-json"),
    (lambda d, p: (d, dict(p, content_type="application/json")), "wrong-content-type"),
    (lambda d, p: (json.dumps([1]).encode(), p), "invalid-envelope"),
    (lambda d, p: (_edit(d, specversion="0.3"), p), "invalid-envelope"),
    (lambda d, p: (_edit(d, time="yesterday"), p), "invalid-envelope"),
    (lambda d, p: (d, dict(p, message_id="other")), "invalid-envelope"),
    (lambda d, p: (_edit(d, type="org.aidflow.followup.plan.opened.v9"), dict(p, type=None)), "unknown-type"),
    (lambda d, p: (_edit(d, data={"plan_id": 5}), p), "schema-violation"),
])
def test_rejections_carry_a_reason(mutate, reason):
    event, body = good()
    props = dict(content_type=CONTENT_TYPE, message_id=event.id, type=event.type)
    body, props = mutate(body, props)
    with pytest.raises(MessageRejected) as exc:
        parse(body, **props)
    assert exc.value.reason == reason


def test_schema_violation_detail_names_fields_not_values():
    event, body = good()
    document = json.loads(body)
    document["data"]["case_id"] = 11010519491231002
    with pytest.raises(MessageRejected) as exc:
        parse(json.dumps(document).encode(), content_type=CONTENT_TYPE, message_id=event.id, type=event.type)
    assert "case_id" in exc.value.detail and "11010519491231002" not in exc.value.detail


def test_routing_keys_follow_the_design():
    assert CASE_OPENED.routing_key() == "intake.case.opened.v1"
    assert CASE_OPENED.exchange == EVENTS
    for message_type in registry:
        assert message_type.type.startswith("org.aidflow.") and message_type.version >= 1


def test_every_event_has_a_consumer():
    """An event nobody subscribes to would be unroutable: a mistake caught here, not in production."""
    for message_type in registry:
        if message_type.exchange == EVENTS:
            assert message_type.consumers, message_type.type


def _edit(body, **changes):
    document = json.loads(body)
    document.update(changes)
    return json.dumps(document).encode()


def test_a_field_added_to_a_published_version_does_not_park_older_readers():
    event, body = good()
    document = json.loads(body)
    document["data"]["new_optional_fact"] = "added later"
    parsed = parse(json.dumps(document).encode(), content_type=CONTENT_TYPE, message_id=event.id, type=event.type)
    assert parsed.data["plan_id"] == "p1"
