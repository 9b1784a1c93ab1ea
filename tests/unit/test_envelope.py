"""The CloudEvents envelope: what is accepted, and the reason code for what is not."""
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from aidflow_shared.contracts import EVENTS, registry
from aidflow_shared.contracts.catalogue import CASE_OPENED, PLAN_OPENED
from aidflow_shared.envelope import CONTENT_TYPE, Envelope, MessageRejected, new_event, parse

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


# -- the digest the inbox keeps: what the message says, not its bytes ---------------------------


def _parsed(document: dict, **props):
    body = document if isinstance(document, (bytes, str)) else json.dumps(document).encode()
    values = dict(content_type=CONTENT_TYPE, message_id=json.loads(body)["id"], type=json.loads(body)["type"])
    values.update(props)
    return parse(body, **values)


def _reversed_keys(value):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_the_digest_is_the_sha256_of_type_source_subject_and_data_written_canonically():
    """Pinned: inbox rows keep digests for weeks, so the definition must not drift by accident."""
    import hashlib
    event = Envelope(id="m1", source="/aidflow/followup", type=PLAN_OPENED.type,
                     time=datetime(2026, 11, 29, 8, tzinfo=timezone.utc), subject="c1",
                     data={"plan_id": "p1", "case_id": "c1", "beneficiary_id": "b1", "note": "王秀英",
                           "nested": {"b": [2, 1], "a": None}})
    canonical = ('{"data":{"beneficiary_id":"b1","case_id":"c1","nested":{"a":null,"b":[2,1]},"note":"王秀英",'
                 '"plan_id":"p1"},"source":"/aidflow/followup","subject":"c1","type":"' + PLAN_OPENED.type + '"}')
    assert event.digest == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert len(event.digest) == 64 and int(event.digest, 16) >= 0


def test_a_copy_re_serialised_or_sent_again_later_has_the_same_digest():
    event, body = good()
    original = _parsed(body)
    document = json.loads(body)
    copies = [
        json.dumps(_reversed_keys(document), indent=4).encode(),  # other key order, white space
        json.dumps(document, ensure_ascii=True).encode(),  # \u escapes
        json.dumps(dict(document, time="2026-12-01T09:30:00+08:00")).encode(),  # stamped again
        json.dumps(dict(document, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")).encode(),
    ]
    for copy in copies:
        assert _parsed(copy).digest == original.digest, copy
    # How it travelled is not what it says: other AMQP properties, same digest.
    assert _parsed(body, correlation_id="cause", user_id="someone", routing_key="x.y").digest == original.digest


@pytest.mark.parametrize("change", [
    lambda d: d["data"].update(case_id="c2"),
    lambda d: d["data"].update(beneficiary_id="B1"),
    lambda d: d["data"].update(extra_fact="a field the schema does not know"),
    lambda d: d["data"].update(opened_at="2026-11-30T08:00:00.000Z"),  # a time in the payload is meaning
    lambda d: d.update(subject="c2"),
    lambda d: d.pop("subject"),
    lambda d: d.update(source="/partners/somebody"),
])
def test_another_message_under_the_same_id_has_another_digest(change):
    event, body = good()
    document = json.loads(body)
    change(document)
    assert _parsed(document).digest != _parsed(body).digest


def test_another_type_under_the_same_id_has_another_digest():
    event, _ = good()
    assert replace(event, type=CASE_OPENED.type).digest != event.digest


def test_the_digest_of_any_string_is_defined():
    """A lone surrogate that came through the parser gives a digest, not an error."""
    event, _ = good()
    assert len(replace(event, data=dict(event.data, note="\ud800")).digest) == 64
    assert replace(event, data=dict(event.data, note="\ud800")).digest != event.digest


def test_data_nested_too_deep_for_a_digest_is_rejected_like_json_nested_too_deep():
    event, _ = good()
    nested = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(MessageRejected) as exc:
        replace(event, data=dict(event.data, deep=nested)).digest
    assert exc.value.reason == "invalid-json"
