"""Malformed messages of every kind on the real broker: each is parked with its reason, the
consumer keeps going, and nothing is half-written.

The review service consumes ``aidflow.events`` on a fresh RabbitMQ vhost; the messages are
published with a bare AMQP client, so every property can be wrong or missing. Intake consumes
``aidflow.inbound`` for the commands of partner agencies, where the publisher the broker
validated decides who sent it.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pika
import pytest

from aidflow_intake.service import service as intake_service
from aidflow_review.orm import Review
from aidflow_review.service import service as review_service
from aidflow_shared.bus.transport import ORIGINAL_ROUTING_KEY, ORIGINAL_USER, RETRIES
from aidflow_shared.contracts import EVENTS, INBOUND
from aidflow_shared.contracts.catalogue import CASE_OPENED, PLAN_OPENED, REFERRAL_SUBMIT
from aidflow_shared.envelope import CONTENT_TYPE, MAX_BODY_BYTES, new_event
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.storage import utcnow
from support import resident_id, settings_for, wait_until

pytestmark = pytest.mark.rabbitmq
ROUTE = CASE_OPENED.routing_key()


def case_opened(n: int):
    return new_event(CASE_OPENED.type, {
        "case_id": f"case-{n}", "case_number": f"JZ-{n}", "source": "ex_officio", "track": "standard",
        "beneficiaries": [{"beneficiary_id": f"b-{n}", "person_ref": f"p-{n}", "is_minor": False}],
        "opened_at": utcnow()}, source="/aidflow/intake", subject=f"case-{n}")


def document(n: int, **changes) -> dict:
    body = json.loads(case_opened(n).to_json())
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def properties(body: dict | None = None, **changes) -> dict:
    values = {"content_type": CONTENT_TYPE, "message_id": (body or {}).get("id") or str(uuid.uuid4()),
              "type": (body or {}).get("type") if isinstance((body or {}).get("type"), str) else None,
              "delivery_mode": 2}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def encoded(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def malformed() -> list[tuple[str, str, bytes, dict, str]]:
    """(kind, routing key, body, AMQP properties, the reason it must be parked with)."""
    kinds = []

    def add(kind, body, props, reason, route=ROUTE):
        kinds.append((kind, route, body, props, reason))

    add("body is not JSON", b"\xff\xfe not json " + uuid.uuid4().bytes, properties(), "invalid-json")
    add("JSON but not an object", b'["a", "list", "%d"]' % 1, properties(), "invalid-envelope")
    body = document(10)
    add("content_type application/json", encoded(body), properties(body, content_type="application/json"),
        "wrong-content-type")
    body = document(11)
    add("no content_type", encoded(body), properties(body, content_type=None), "wrong-content-type")
    body = document(12)
    add("no message_id", encoded(body), {k: v for k, v in properties(body).items() if k != "message_id"},
        "invalid-envelope")
    body = document(13)
    add("message_id differs from id", encoded(body), properties(body, message_id=str(uuid.uuid4())),
        "invalid-envelope")
    body = document(14)
    add("type property differs from type", encoded(body), properties(body, type=PLAN_OPENED.type),
        "invalid-envelope")
    body = document(15, type="org.aidflow.intake.case.opened.v9")
    add("unknown version", encoded(body), properties(body), "unknown-type")
    body = document(16, type="org.aidflow.nobody.nothing.v1")
    add("unknown type", encoded(body), properties(body), "unknown-type")
    body = document(17)
    body["data"]["beneficiaries"] = "nobody"
    add("valid envelope, invalid data", encoded(body), properties(body), "schema-violation")
    body = document(18)
    body["data"]["beneficiaries"][0]["is_minor"] = "perhaps"
    del body["data"]["case_number"]
    add("valid envelope, two bad fields", encoded(body), properties(body), "schema-violation")
    body = document(19, data=[1, 2])
    add("data is not an object", encoded(body), properties(body), "schema-violation")
    body = document(20)
    body["padding"] = "x" * (MAX_BODY_BYTES + 1)
    add("oversize body", encoded(body), properties(body), "too-large")
    body = document(21)
    body["data"]["case_number"] = "川检刑诉〔2026〕21号"
    add("wrong encoding (GB18030)", json.dumps(body, ensure_ascii=False).encode("gb18030"), properties(body),
        "invalid-json")
    body = document(22)
    add("wrong encoding (UTF-16)", json.dumps(body).encode("utf-16"), properties(body), "invalid-json")
    for n, attribute in enumerate(("specversion", "id", "source", "type", "time", "data"), start=23):
        body = document(n, **{attribute: None})
        add(f"no CloudEvents {attribute}", encoded(body), properties(body), "invalid-envelope")
    body = document(29, specversion="0.3")
    add("specversion 0.3", encoded(body), properties(body), "invalid-envelope")
    body = document(30, time="yesterday")
    add("time is not RFC 3339", encoded(body), properties(body), "invalid-envelope")
    body = document(31, time="2026-11-29T08:00:00")
    add("time without offset", encoded(body), properties(body), "invalid-envelope")
    body = document(32, id="x" * 300)
    add("id longer than the inbox keeps", encoded(body), properties(body, message_id="x" * 255),  # a shortstr
        "invalid-envelope")
    body = document(33, subject={"case": 33})
    add("subject is not a string", encoded(body), properties(body), "invalid-envelope")
    body = document(34, datacontenttype="application/xml")
    add("datacontenttype not JSON", encoded(body), properties(body), "invalid-envelope")
    body = document(35)
    body["data"]["case_id"] = 35
    add("an id given as a number", encoded(body), properties(body), "schema-violation")
    plan = json.loads(new_event(PLAN_OPENED.type, {"plan_id": "p", "case_id": "c", "beneficiary_id": "b",
                                                   "opened_at": utcnow()}, source="/aidflow/followup").to_json())
    add("a type the consumer does not handle", encoded(plan), properties(plan), "no-handler", route="")
    return kinds


@pytest.fixture
def review(broker, tmp_path):
    settings = settings_for(tmp_path, amqp_url=broker.url)["review"]
    runtime = ServiceRuntime(review_service, settings)
    runtime.migrate()
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture
def channel(broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    connection.close()


def send(channel, exchange: str, routing_key: str, body: bytes, props: dict) -> None:
    channel.basic_publish(exchange, routing_key, body, pika.BasicProperties(**props), mandatory=True)


def reviewed_cases(runtime) -> list[str]:
    with runtime.db.sessions() as session:
        return sorted(r.case_id for r in session.query(Review).all())


def table_rows(runtime, table: str) -> list:
    with runtime.db.engine.connect() as conn:
        return list(conn.execute(runtime.db.metadata.tables[table].select()))


def test_every_kind_of_malformed_message_is_parked_with_its_reason(review, channel):
    kinds = malformed()
    first = json.loads(case_opened(1).to_json())
    send(channel, EVENTS, ROUTE, encoded(first), properties(first))
    for kind, route, body, props, _ in kinds:
        if route:
            send(channel, EVENTS, route, body, props)
        else:  # straight into the consumer's queue, as a misrouted message would arrive
            send(channel, "", review.queue, body, props)
    good = case_opened(2)
    send(channel, EVENTS, ROUTE, good.to_json().encode(), properties(json.loads(good.to_json())))

    # The consumer kept going: the good message after all of them is handled.
    wait_until(lambda: reviewed_cases(review) == ["case-1", "case-2"], timeout=60, what="the good messages")
    parking = review.topology.consumer("review").parking
    parked = wait_until(lambda: (p := review.transport.parked(parking)) and len(p) >= len(kinds) and p,
                        timeout=60, what=f"{len(kinds)} parked messages")
    by_body = {p.body: p for p in parked}
    wrong = {kind: (by_body[body].reason if body in by_body else "not parked")
             for kind, _, body, _, reason in kinds if by_body.get(body) is None or by_body[body].reason != reason}
    assert not wrong, wrong
    assert len(parked) == len(kinds)
    assert all(p.detail and p.parked_at for p in parked)
    # Nothing half-written: only the two good messages reached the inbox and the tables.
    assert {row.message_id for row in table_rows(review, "inbox")} == {first["id"], good.id}
    assert review.metrics.registry.get_sample_value(
        "aidflow_bus_consumed_total", {"service": "review", "outcome": "parked"}) == len(kinds)


def test_a_second_message_with_a_used_id_is_parked_and_a_copy_is_dropped(review, channel):
    def consumed(outcome):
        return review.metrics.registry.get_sample_value(
            "aidflow_bus_consumed_total", {"service": "review", "outcome": outcome})

    first = json.loads(case_opened(40).to_json())
    send(channel, EVENTS, ROUTE, encoded(first), properties(first))
    wait_until(lambda: reviewed_cases(review) == ["case-40"], what="the first message")
    impostor = json.loads(case_opened(41).to_json())
    impostor["id"] = first["id"]  # the same id, another case
    send(channel, EVENTS, ROUTE, encoded(impostor), properties(impostor))
    copy = dict(first, time=datetime.now(timezone.utc).isoformat())  # sent again, stamped anew
    send(channel, EVENTS, ROUTE, json.dumps(copy, indent=1).encode(), properties(copy))
    after = json.loads(case_opened(42).to_json())
    send(channel, EVENTS, ROUTE, encoded(after), properties(after))
    wait_until(lambda: consumed("handled") == 2, what="the message after it")
    parking = review.topology.consumer("review").parking
    parked = wait_until(lambda: review.transport.parked(parking), what="the impostor to be parked")
    assert [(p.body, p.reason) for p in parked] == [(encoded(impostor), "id-reused")]
    assert "case-41" not in parked[0].detail and "p-41" not in parked[0].detail
    assert reviewed_cases(review) == ["case-40", "case-42"]
    assert len(table_rows(review, "inbox")) == 2
    assert consumed("duplicate") == 1 and consumed("parked") == 1


# -- partner commands on aidflow.inbound -----------------------------------------------------------


@pytest.fixture
def intake(broker, tmp_path):
    settings = settings_for(tmp_path, amqp_url=broker.url)["intake"]
    runtime = ServiceRuntime(intake_service, settings)
    runtime.migrate()
    runtime.start()
    yield runtime
    runtime.stop()


def submit(n: int, **changes) -> dict:
    data = {"partner_reference": f"P-{n}", "criminal_case_ref": f"川公刑〔2026〕{n}号",
            "beneficiaries": [{"name": f"测试{n}", "id_number": resident_id(n)}]}
    body = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/partners/somebody",
            "type": REFERRAL_SUBMIT.type, "time": datetime.now(timezone.utc).isoformat(), "data": data}
    body.update(changes)
    return body


def test_partner_commands_from_no_known_agency_are_parked(intake, channel):
    """guest is a broker user but no partner agency; a message may also name no user at all, or
    carry the headers a retry queue's copy has, naming an agency."""
    kinds = []
    for n, (route, user_id) in enumerate([("legal-aid.referral.submit.v1", None),
                                          ("legal-aid.referral.submit.v1", "guest"),
                                          ("guest.referral.submit.v1", "guest"),
                                          ("no-such-agency.referral.submit.v1", None)], start=50):
        body = submit(n)
        kinds.append(encoded(body))
        send(channel, INBOUND, route, kinds[-1], properties(body, user_id=user_id))
    # Headers only a retry queue's copy is trusted with, forged on a first delivery.
    forged = submit(59)
    kinds.append(encoded(forged))
    send(channel, INBOUND, "legal-aid.referral.submit.v1", kinds[-1], properties(forged, headers={
        ORIGINAL_USER: "legal-aid", ORIGINAL_ROUTING_KEY: "legal-aid.referral.submit.v1", RETRIES: 1}))
    broken = submit(60, data="not an object")
    kinds.append(encoded(broken))
    send(channel, INBOUND, "legal-aid.referral.submit.v1", kinds[-1], properties(broken, user_id="guest"))
    parking = intake.topology.consumer("intake").parking
    parked = wait_until(lambda: (p := intake.transport.parked(parking)) and len(p) == len(kinds) and p,
                        timeout=60, what="the partner commands to be parked")
    reasons = {p.body: p.reason for p in parked}
    assert [reasons.get(body) for body in kinds] == ["unauthorized-publisher"] * 5 + ["schema-violation"]
    assert table_rows(intake, "aid_case") == [] and table_rows(intake, "outbox") == []
