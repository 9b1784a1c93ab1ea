"""The closed loop of a hand-off, on RabbitMQ and PostgreSQL, with a pika client as the agency.

A plan opens on payout with needs assessed from intake's acceptance; staff record contact
details and consent and hand the person over; the agency, under its own broker user, reads only
its own queue, fetches the contact details it was consented to see through the API, and
answers accepted, in-service and completed; every answer is answered. An unanswered hand-off is
escalated after its working-day deadline (time is moved, not waited for). Wrong answers are
refused with the reason, to the agency that sent them. Nothing on the bus carries a resident ID
number or a mobile number in clear.
"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pika.exceptions
import pytest

from aidflow_followup.orm import HandoffAnswer
from aidflow_shared.calendar import beijing_today
from aidflow_shared.contracts.followup import HANDOFF_ACCEPTED
from aidflow_shared.storage import utcnow
from support import wait_until
from test_followup_support import (GUARDIAN_PHONE, PHONE, answer_data, partner_users, partners,  # noqa: F401
                                   ready_plan, start_followup, tap)

COUNSELLING = {"psych-center": ["contact", "health", "minor"]}


@pytest.fixture
def followup(broker, pg_database, start_followup):  # noqa: F811 - stopped before the vhost goes
    return start_followup(pg_database("followup"), amqp_url=broker.url)


def hand_off(followup, plan: dict, service: str, agency: str) -> dict:
    return followup.post(f"/plans/{plan['plan_id']}/handoffs", {"service": service, "agency": agency})


def test_the_full_loop_with_a_partner_agency_on_the_broker(followup, partners, tap):  # noqa: F811
    center = partners("psych-center")
    plan = ready_plan(followup, minor=True, markers=["impoverished_by_case"], consents=COUNSELLING)
    needs = {n["service"]: n for n in plan["needs"]}
    assert needs["psych_counselling"]["reason"] == "minor"  # always assessed for a minor
    assert {"minimum_living_guarantee", "civil_affairs_aid", "education_support"} <= set(needs)
    assert "employment_support" not in needs and plan["is_minor"] is True
    assert [v["months_after"] for v in plan["visits"]] == [1, 3, 6, 12]

    handoff = hand_off(followup, plan, "psych_counselling", "psych-center")
    assert handoff["status"] == "requested" and handoff["channel"] == "broker"
    properties, envelope, routing_key = center.receive()
    assert routing_key == "psych-center.handoff.requested.v1"
    sent = envelope["data"]
    assert sent["handoff_id"] == handoff["handoff_id"] and sent["service"] == "psych_counselling"
    assert sent["shared_categories"] == ["contact", "health", "minor"]
    assert sent["minor"] == {"is_minor": True, "relationship": "victim"} and sent["household"] is None
    assert sent["contact_path"] == f"/api/v1/handoffs/{handoff['handoff_id']}/contact"
    assert sent["acknowledge_by"] and not sent["means_test_waived"]

    # The agency fetches what it was consented to see, with its own token: the guardian's phone too.
    contact = followup.get(sent["contact_path"].removeprefix("/api/v1"), "partner_agency", agency="psych-center")
    assert (contact["phone"], contact["guardian_phone"]) == (PHONE, GUARDIAN_PHONE)
    reads = followup.get(f"/contact-reads?handoff_id={handoff['handoff_id']}", "auditor")["items"]
    assert [(r["agency"], r["role"], r["granted"]) for r in reads] == [("psych-center", "partner_agency", True)]

    for status in ("accepted", "in-service"):
        message_id = center.answer(status, answer_data(handoff["handoff_id"]))
        properties, envelope, routing_key = center.receive()
        assert properties.correlation_id == message_id and routing_key == "psych-center.handoff.recorded.v1"
        assert envelope["data"] == {**envelope["data"], "status": status, "already_recorded": False}
    outcome = {"received_on": beijing_today().isoformat(), "summary": "完成8次心理疏导，情绪稳定。", "sessions": 8}
    center.answer("completed", answer_data(handoff["handoff_id"], outcome=outcome))
    assert center.receive()[1]["data"]["status"] == "completed"
    center.answer("completed", answer_data(handoff["handoff_id"], outcome=outcome))  # the agency's retry
    assert center.receive()[1]["data"]["already_recorded"] is True

    plan = followup.plan(plan["plan_id"])
    [done] = plan["handoffs"]
    assert done["status"] == "completed" and done["outcome"]["sessions"] == 8 and done["deadline_band"] is None
    assert [(a["status"], a["result"]) for a in done["answers"]] == [
        ("accepted", "recorded"), ("in-service", "recorded"), ("completed", "recorded"), ("completed", "repeated")]
    assert {n["service"]: n["status"] for n in plan["needs"]}["psych_counselling"] == "met"
    # A completed hand-off is over: no more contact details.
    closed = followup.call("GET", f"/handoffs/{handoff['handoff_id']}/contact", "partner_agency",
                           agency="psych-center")
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "handoff_closed"

    # The agency can neither read another agency's queue nor answer in another agency's name.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        center.channel.basic_get("aidflow.partner.civil-affairs", auto_ack=True)
    assert refused.value.reply_code == 403
    assert tap.personal_numbers() == []
    keys = {key for key, _ in tap.seen}
    assert {"followup.plan.opened.v1", "psych-center.handoff.requested.v1",
            "psych-center.handoff.recorded.v1"} <= keys


def test_an_unanswered_handoff_is_escalated_after_its_working_day_deadline(followup, partners):  # noqa: F811
    center = partners("psych-center")
    plan = ready_plan(followup, minor=True, consents=COUNSELLING)
    handoff = hand_off(followup, plan, "psych_counselling", "psych-center")
    center.receive()  # the request
    due = followup.get(f"/handoffs/{handoff['handoff_id']}")["acknowledge_by"]
    assert due > handoff["requested_at"]

    assert followup.sweep(utcnow())["escalated"] == 0  # in time: nothing happens
    later = utcnow() + timedelta(days=10)  # five working days are over by then, whatever the holidays
    assert followup.sweep(later)["escalated"] == 1
    assert followup.sweep(later + timedelta(hours=1))["escalated"] == 0  # escalated once

    _, envelope, routing_key = center.receive()
    assert routing_key == "psych-center.handoff.overdue.v1"
    assert envelope["data"]["handoff_id"] == handoff["handoff_id"] and envelope["data"]["acknowledge_by"]
    [escalation] = followup.get("/escalations?open=true", "department_head")["items"]
    assert (escalation["stage"], escalation["subject_id"], escalation["agency"]) == (
        "handoff", handoff["handoff_id"], "psych-center")
    shown = followup.get(f"/handoffs/{handoff['handoff_id']}", "department_head")
    assert shown["escalated_at"] and shown["deadline_band"] == "breached"

    # The acknowledgement, late, resolves the escalation.
    center.answer("accepted", answer_data(handoff["handoff_id"]))
    center.receive()
    assert followup.get("/escalations?open=true", "department_head")["items"] == []
    assert followup.get("/escalations", "department_head")["items"][0]["resolved_at"]
    metrics = followup.client.get("/metrics").get_data(as_text=True)
    assert 'aidflow_followup_escalations_total{stage="handoff"} 1.0' in metrics


def test_a_visit_not_made_is_escalated_until_it_is_made(followup):
    plan = ready_plan(followup)
    first = plan["visits"][0]
    assert followup.sweep(utcnow()) == {"visits_due": 0, "escalated": 0}
    due = utcnow() + timedelta(days=45)  # the 1-month visit fell due, and its grace days passed
    assert followup.sweep(due) == {"visits_due": 1, "escalated": 1}
    assert followup.sweep(due) == {"visits_due": 0, "escalated": 0}
    [escalation] = followup.get("/escalations?stage=visit&open=true", "department_head")["items"]
    assert escalation["subject_id"] == first["visit_id"]
    followup.post(f"/visits/{first['visit_id']}/outcome", {
        "visited_at": utcnow().isoformat(), "method": "home", "living_situation": "stable",
        "psychological_state": "improving", "satisfaction": 5, "aware_of_aid": True})
    assert followup.get("/escalations?open=true", "department_head")["items"] == []


def test_wrong_answers_are_refused_and_the_agency_is_told_why(followup, partners, broker):  # noqa: F811
    center, civil = partners("psych-center"), partners("civil-affairs")
    plan = ready_plan(followup, minor=True, consents=COUNSELLING)
    handoff = hand_off(followup, plan, "psych_counselling", "psych-center")
    center.receive()
    handoff_id = handoff["handoff_id"]

    def refusal(client, status, data, **kw):
        message_id = client.answer(status, data, **kw)
        properties, envelope, routing_key = client.receive()
        assert properties.correlation_id == message_id and routing_key.endswith(".handoff.refused.v1")
        return envelope["data"]

    # Not its own hand-off, and a hand-off that does not exist.
    assert refusal(civil, "accepted", answer_data(handoff_id))["reason"] == "not_your_handoff"
    unknown = refusal(civil, "accepted", answer_data(str(uuid.uuid4())))
    assert (unknown["reason"], unknown["errors"][0]["field"]) == ("unknown_handoff", "handoff_id")
    # In another agency's name (the routing key), and a payload that is not an answer.
    assert refusal(center, "accepted", answer_data(handoff_id), routing_agency="civil-affairs")["reason"] == \
        "handoff_agency_mismatch"
    bad = refusal(center, "accepted", {"handoff_id": handoff_id, "at": "yesterday"})
    assert bad["reason"] == "validation_failed" and bad["errors"][0]["field"] == "at"
    # A decline needs its reason; a note must not carry a phone number.
    declined = refusal(center, "declined", answer_data(handoff_id))
    assert {(e["field"], e["code"]) for e in declined["errors"]} == {("reason", "reason_required")}
    noted = refusal(center, "accepted", answer_data(handoff_id, note=f"请联系{PHONE}"))
    assert noted["errors"][0]["code"] == "personal_data_in_text" and PHONE not in str(noted)
    # Completed, then accepted: a status never goes back.
    center.answer("completed", answer_data(handoff_id, outcome={"received_on": beijing_today().isoformat(),
                                                                 "summary": "已完成"}))
    center.receive()
    backwards = refusal(center, "accepted", answer_data(handoff_id))
    assert (backwards["reason"], backwards["current_status"]) == ("status_backwards", "completed")
    assert refusal(center, "declined", answer_data(handoff_id, reason="other"))["reason"] == "handoff_closed"

    assert followup.count(HandoffAnswer, result="refused") == 8
    assert followup.get(f"/handoffs/{handoff_id}")["status"] == "completed"

    # A publisher that is no agency cannot be answered: parked with the reason.
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = connection.channel()
        body = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/x", "type": HANDOFF_ACCEPTED.type,
                "time": utcnow().isoformat(), "data": answer_data(handoff_id)}
        channel.basic_publish("aidflow.inbound", "psych-center.handoff.accepted.v1", json.dumps(body).encode(),
                              pika.BasicProperties(content_type="application/cloudevents+json", message_id=body["id"],
                                                   type=HANDOFF_ACCEPTED.type, user_id="guest"))
    finally:
        connection.close()
    parking = followup.runtime.topology.consumer("followup").parking
    parked = wait_until(lambda: followup.runtime.transport.parked(parking), what="the unknown publisher parked")
    assert [p.reason for p in parked] == ["unauthorized-publisher"]


def test_an_advance_opens_the_plan_and_the_payout_is_noted_on_it(followup):
    case_id, beneficiary = str(uuid.uuid4()), "b-advance"
    followup.approved_advance(case_id, beneficiary)
    plan = followup.plan_of(case_id, assessed=False)
    assert plan["opened_on"] == "advance" and plan["payout_id"] is None and plan["facts_known"] is False
    followup.accepted(case_id, [{"beneficiary_id": beneficiary, "is_minor": True}])
    followup.paid(case_id, beneficiary, payout_id="payout-1")
    plan = wait_until(lambda: (p := followup.plan(plan["plan_id"]))["payout_id"] and p["assessed_at"] and p,
                      what="the payout and the facts on the plan")
    assert {n["service"] for n in plan["needs"]} == {"psych_counselling", "legal_aid"}  # a minor, seriously hurt
    assert len(followup.get(f"/plans?case_id={case_id}")["items"]) == 1
    assert len(followup.outbox("plan.opened.v1")) == 1
