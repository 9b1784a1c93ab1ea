"""Intake's referral rules as plain functions, its contracts, and its error texts."""
from datetime import datetime, timedelta, timezone

import pytest

from aidflow_intake import messages, referrals
from aidflow_shared.contracts import INBOUND, PARTNERS, registry
from aidflow_shared.contracts.catalogue import (CASE_ACCEPTED, CASE_OPENED, REFERRAL_ACCEPTED, REFERRAL_REJECTED,
                                                REFERRAL_SUBMIT)
from aidflow_shared.envelope import CONTENT_TYPE, MessageRejected, parse
from aidflow_shared.i18n import message

NOW = datetime(2026, 11, 30, 8, tzinfo=timezone.utc)


def person(relationship="victim", number="11010519491231002X", **extra):
    return {"id_type": "resident_id", "id_number": number, "relationship": relationship, **extra}


@pytest.mark.parametrize("referral, errors", [
    ({"source": "ex_officio"}, {"stage": ["required"], "criminal_case_ref": ["required"]}),
    ({"source": "ex_officio", "stage": "arrest_review", "criminal_case_ref": "R", "partner_reference": "P"},
     {"partner_reference": ["not_allowed_for_source"]}),
    ({"source": "partner_transfer"}, {"source_agency": ["required"], "partner_reference": ["required"]}),
    ({"source": "application", "stage": "arrest_review"},
     {"application": ["required"], "stage": ["not_allowed_for_source"]}),
    ({"source": "lead"}, {}),
    ({"source": "unknown"}, {}),  # the schema's one_of says it
])
def test_each_source_has_its_own_required_fields(referral, errors):
    assert referrals.source_problems(referral) == errors


@pytest.mark.parametrize("referral, errors", [
    ({"beneficiaries": [person(), person("witness", "110101199003071234")]},
     {"beneficiaries.1.relationship": ["one_direct_person_per_case"]}),
    ({"victim_deceased": True, "beneficiaries": [person("victim")]},
     {"beneficiaries.0.relationship": ["relative_required"]}),
    ({"victim_deceased": True, "beneficiaries": [person("spouse"), person("child", "110101199003071234")]}, {}),
    ({"beneficiaries": [person("spouse"), person("child", "11010519491231002x")]},
     {"beneficiaries.1.id_number": ["duplicate"]}),
    ({"eligibility_situation": "other"}, {"situation_reason": ["required"]}),
    ({"eligibility_situation": "other", "situation_reason": "x"}, {}),
    ({"documents": [{"kind": "identity"}], "beneficiaries": [person()]}, {"documents.0.beneficiary": ["required"]}),
    ({"documents": [{"kind": "hardship_proof", "beneficiary": 1}], "beneficiaries": [person()]},
     {"documents.0.beneficiary": ["unknown_beneficiary"]}),
    ({"received_at": NOW + timedelta(seconds=1)}, {"received_at": ["in_future"]}),
    ({"received_at": NOW - timedelta(days=3), "accepted_at": NOW - timedelta(days=2)}, {}),
    ({"received_at": NOW - timedelta(days=2), "accepted_at": NOW - timedelta(days=3)},
     {"accepted_at": ["accepted_before_received"]}),
    ({"accepted_at": NOW - timedelta(days=3)}, {"accepted_at": ["accepted_before_received"]}),
    ({"received_at": datetime(1999, 12, 31, tzinfo=timezone.utc)}, {"received_at": ["range"]}),
    ({"override_reason": "x"}, {"override_reason": ["must_be_empty"]}),
    ({"override_reason": "x", "accept": True}, {}),
])
def test_rules_every_referral_meets(referral, errors):
    assert referrals.content_problems(referral, now=NOW) == errors


def test_acceptance_dates():
    received = NOW - timedelta(days=5)
    assert referrals.acceptance_date_problems(NOW - timedelta(days=1), received, NOW) == []
    assert referrals.acceptance_date_problems(NOW + timedelta(days=1), received, NOW) == ["in_future"]
    assert referrals.acceptance_date_problems(received - timedelta(days=1), received, NOW) == [
        "accepted_before_received"]


def test_the_contract_of_the_transfer_command_and_its_answers():
    assert (REFERRAL_SUBMIT.exchange, REFERRAL_SUBMIT.producer, REFERRAL_SUBMIT.consumers) == (
        INBOUND, "partner", ("intake",))
    assert REFERRAL_SUBMIT.answers_invalid and REFERRAL_SUBMIT.binding_key() == "*.referral.submit.v1"
    assert REFERRAL_ACCEPTED.routing_key("poverty-bureau") == "poverty-bureau.referral.accepted.v1"
    assert REFERRAL_REJECTED.routing_key("poverty-bureau") == "poverty-bureau.referral.rejected.v1"
    assert REFERRAL_ACCEPTED.exchange == REFERRAL_REJECTED.exchange == PARTNERS
    assert "review" in CASE_ACCEPTED.consumers and "review" in CASE_OPENED.consumers
    assert registry.get("org.aidflow.intake.case.accepted.v1") is CASE_ACCEPTED
    # No answer can carry a name, an ID number or a phone number: the schemas have no such field.
    for answer in (REFERRAL_ACCEPTED, REFERRAL_REJECTED, CASE_ACCEPTED, CASE_OPENED):
        names = set(answer.schema().fields)
        assert not names & {"name", "id_number", "phone"}, answer.type


def test_a_bad_transfer_passes_the_envelope_check_so_that_it_can_be_answered():
    body = ('{"specversion":"1.0","id":"m1","source":"/partners/x","type":"%s","time":"2026-11-30T08:00:00Z",'
            '"data":{"beneficiaries":"nobody"}}' % REFERRAL_SUBMIT.type)
    envelope = parse(body, content_type=CONTENT_TYPE, message_id="m1", type=REFERRAL_SUBMIT.type, user_id="u",
                     routing_key="poverty-bureau.referral.submit.v1")
    assert envelope.user_id == "u" and envelope.routing_key == "poverty-bureau.referral.submit.v1"
    with pytest.raises(MessageRejected):  # an event with a bad payload is still parked
        parse(body.replace(REFERRAL_SUBMIT.type, CASE_OPENED.type), content_type=CONTENT_TYPE, message_id="m1",
              type=CASE_OPENED.type)


USED_CODES = ("invalid_id_format", "invalid_id_region", "invalid_id_birth_date", "invalid_id_checksum",
              "birth_date_mismatch", "invalid_phone", "in_future", "exclusive", "duplicate", "relative_required",
              "one_direct_person_per_case", "unknown_beneficiary", "not_allowed_for_source", "must_be_empty",
              "accepted_before_received", "unknown_agency", "agency_mismatch", "agency_required", "duplicate_case",
              "already_aided", "already_accepted", "checklist_incomplete", "missing", "lead_already_promoted",
              "lead_dismissed", "already_decided", "review_not_open", "unknown_person", "unknown_case")


@pytest.mark.parametrize("code", USED_CODES)
def test_every_code_intake_and_review_answer_with_has_text_in_both_languages(code):
    import aidflow_review.decisions  # noqa: F401 - registers review's codes
    assert message(code, "zh") != code and message(code, "en") != code
    assert "{" not in message(code, "zh")  # field messages get no parameters


def test_the_registered_codes_are_the_ones_listed():
    assert set(messages.MESSAGES) <= set(USED_CODES)
