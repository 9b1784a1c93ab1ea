"""The partner client (``aidflow_partner``, pika only) against the running services on RabbitMQ.

Each agency is a broker user set up as ``aidflow partner add`` sets it up. The client submits
referrals and gets intake's answer by correlation id; receives a hand-off from follow-up,
acknowledges it only after its callback succeeded, answers it and follow-up records the answer.
The broker refuses what an agency may not do; intake refuses what the broker cannot see. A cut
connection costs neither a message nor a duplicate.
"""
from __future__ import annotations

import time
from collections import Counter

import pytest

from aidflow_partner import PartnerClient, PublishRefused, ReadRefused, build_command
from support import resident_id, wait_until
from test_followup_support import ready_plan
from test_intake_partners import transfer
from test_partner_client_support import (agencies, broker_admin, intake, partner_clients,  # noqa: F401
                                         start_followup)

COUNSELLING = {"womens-federation": ["contact", "health", "minor"]}


def test_a_referral_is_accepted_and_a_bad_one_rejected_field_by_field(intake, agencies):  # noqa: F811
    client = agencies()
    data = transfer(101)
    message_id = client.submit_referral(data)
    answer = client.wait_for_answer(message_id, timeout=30)
    assert answer.kind == "referral.accepted" and answer.correlation_id == message_id
    assert answer.routing_key == f"{client.agency}.referral.accepted.v1"
    assert answer.data["partner_reference"] == data["partner_reference"] and not answer.data["already_received"]
    [case] = intake.get("/cases")["items"]
    assert case["case_number"] == answer.data["case_number"] and case["source_agency"] == client.agency

    bad = transfer(102)
    good = bad["beneficiaries"][0]["id_number"]
    bad["beneficiaries"][0]["id_number"] = good[:17] + ("0" if good[17] != "0" else "1")
    bad["beneficiaries"].append({"name": "同案", "id_number": resident_id(103), "relationship": "nobody"})
    rejected = client.wait_for_answer(client.submit_referral(bad), timeout=30)
    assert rejected.kind == "referral.rejected" and rejected.data["reason"] == "validation_failed"
    assert {(e["field"], e["code"]) for e in rejected.data["errors"]} >= {
        ("beneficiaries.0.id_number", "invalid_id_checksum"), ("beneficiaries.1.relationship", "one_of")}
    assert good not in str(rejected.document)  # an answer never repeats personal data
    assert intake.count("aid_case") == 1


def test_a_handoff_is_received_acknowledged_after_the_callback_and_answered(broker, start_followup,  # noqa: F811
                                                                             partner_clients):
    followup = start_followup(amqp_url=broker.url)
    client = partner_clients("womens-federation")  # follow-up knows the design's agencies by their code
    assert followup.call("PUT", "/agencies/womens-federation", "ops",
                         json={"channel": "broker", "active": True}).status_code == 200
    plan = ready_plan(followup, minor=True, consents=COUNSELLING)
    handoff = followup.post(f"/plans/{plan['plan_id']}/handoffs",
                            {"service": "psych_counselling", "agency": "womens-federation"})

    calls = []

    def callback(message):
        calls.append(message)
        if len(calls) == 1:
            raise RuntimeError("the agency's system is down")  # not acknowledged: comes again

    assert client.handoffs(callback, timeout=30, max_messages=1) == 1
    first, again = calls
    assert first.message_id == again.message_id and not first.redelivered and again.redelivered
    request = again.data
    assert request["handoff_id"] == handoff["handoff_id"] and request["service"] == "psych_counselling"
    assert again.routing_key == "womens-federation.handoff.requested.v1"
    assert client.receive(calls.append, idle_timeout=0.5) == 0  # acknowledged: gone from the queue

    answer_id = client.answer_handoff(request["handoff_id"], "accepted", note="已联系监护人",
                                      correlation_id=again.message_id)
    recorded = client.wait_for_answer(answer_id, timeout=30)
    assert recorded.kind == "handoff.recorded" and recorded.data["status"] == "accepted"
    [stored] = followup.plan(plan["plan_id"])["handoffs"]
    assert stored["status"] == "accepted" and [a["status"] for a in stored["answers"]] == ["accepted"]

    refused = client.wait_for_answer(client.answer_handoff(request["handoff_id"], "declined"), timeout=30)
    assert refused.kind == "handoff.refused"  # declining needs a reason: refused with the field
    assert {e["field"] for e in refused.data["errors"]} == {"reason"}


def test_an_agency_cannot_publish_or_read_for_another(intake, agencies, broker_admin):  # noqa: F811
    mine, other = agencies(), agencies()
    posing = PartnerClient(mine.url, other.agency)  # my credentials, the other agency's code
    try:
        # The broker refuses another agency's routing key (topic permission) ...
        with pytest.raises(PublishRefused) as routing:
            posing.submit_referral(transfer(111))
        assert routing.value.reply_code == 403
        # ... a user_id that is not the connection's user ...
        with pytest.raises(PublishRefused) as forged:
            mine.publish(build_command(mine.agency, other.user, "referral.submit", transfer(112)))
        assert forged.value.reply_code == 406
        # ... and reading another agency's queue.
        with pytest.raises(ReadRefused) as reading:
            posing.receive(lambda m: None, timeout=2)
        assert reading.value.reply_code == 403

        # Where the broker cannot tell (no topic permission), intake refuses the mismatch itself.
        broker_admin.ctl("clear_topic_permissions", "-p", broker_admin.vhost, mine.agency)
        message_id = posing.submit_referral(transfer(113))
        answer = mine.wait_for_answer(message_id, timeout=30)
        assert answer.kind == "referral.rejected" and answer.data["reason"] == "agency_mismatch"
    finally:
        posing.close()
    assert other.receive(lambda m: None, idle_timeout=0.5) == 0
    assert intake.count("aid_case") == 0


def test_a_cut_connection_loses_nothing_and_duplicates_nothing(intake, agencies, broker_admin):  # noqa: F811
    client = agencies()
    sent = [client.submit_referral(transfer(121))]
    broker_admin.ctl("close_all_user_connections", client.user, "test: a network cut")
    time.sleep(0.5)
    sent += [client.submit_referral(transfer(122)), client.submit_referral(transfer(123))]
    assert client.reconnections == 1

    answers = []

    def cut_once(message):
        answers.append(message)
        if len(answers) == 1:  # the connection goes while the callback works: no acknowledgement
            broker_admin.ctl("close_all_user_connections", client.user, "test: a network cut")
            time.sleep(0.5)

    wait_until(lambda: client.receive(cut_once, timeout=1) is not None and
               len({a.message_id for a in answers}) == 3, timeout=40, what="three answers")
    # One answer per referral; the one whose callback was cut came again, flagged redelivered.
    assert {a.correlation_id for a in answers} == set(sent) and {a.kind for a in answers} == {"referral.accepted"}
    seen = Counter(a.message_id for a in answers)
    assert seen.pop(answers[0].message_id) == 2 and set(seen.values()) == {1} and answers[1].redelivered
    assert client.reconnections == 2 and intake.count("aid_case") == 3
