"""Follow-up's rules as plain functions: the needs assessment, consent, hand-off statuses, the
visit schedule, text that must not carry personal numbers, and the published contract."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from aidflow_followup import needs
from aidflow_followup.consent import consent_problems, missing_for
from aidflow_followup.errors import Refused
from aidflow_followup.handoffs import answer_problems, carries_personal_numbers, step
from aidflow_followup.needs import PersonFacts, assessment_problems, initial_needs
from aidflow_followup.visits import add_months
from aidflow_shared.contracts import EVENTS, INBOUND, PARTNERS, registry
from aidflow_shared.contracts.followup import (ASSISTANCE_SERVICES, HANDOFF_ANSWERS, HANDOFF_REQUESTED,
                                               REREFERRAL_ANSWERED, REREFERRAL_REQUESTED)

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


# -- the needs assessment ----------------------------------------------------------------------------------


def test_counselling_is_always_assessed_for_a_minor():
    assert initial_needs(PersonFacts(is_minor=True)) == {"psych_counselling": "minor"}
    assert "psych_counselling" not in initial_needs(PersonFacts(is_minor=False, eligibility_situation="property_loss"))
    assert initial_needs(PersonFacts(is_minor=False, victim_deceased=True))["psych_counselling"] == "case_harm"


def test_poverty_markers_and_harm_suggest_the_other_services():
    fell = initial_needs(PersonFacts(is_minor=False, poverty_markers=frozenset({"impoverished_by_case"}),
                                     eligibility_situation="civil_tort"))
    assert set(fell) == {"minimum_living_guarantee", "civil_affairs_aid", "employment_support", "legal_aid"}
    poor_child = initial_needs(PersonFacts(is_minor=True, poverty_markers=frozenset({"registered_poor_household"})))
    assert set(poor_child) == {"psych_counselling", "poverty_alleviation", "education_support"}
    assert initial_needs(PersonFacts(is_minor=False, urgent_medical_need=True)) == {
        "civil_affairs_aid": "urgent_medical_need"}


def test_an_assessment_of_a_minor_weighs_counselling_and_says_why_it_is_set_aside():
    assert assessment_problems([{"service": "legal_aid", "status": "needed"}], is_minor=True) == {
        "needs": ["counselling_assessment_required"]}
    assert assessment_problems([{"service": "psych_counselling", "status": "not_needed"}], is_minor=True) == {
        "needs.0.note": ["reason_required"]}
    assert assessment_problems([{"service": "psych_counselling", "status": "not_needed", "note": "已在校心理辅导"}],
                               is_minor=True) == {}
    assert assessment_problems([{"service": "legal_aid", "status": "needed"}], is_minor=False) == {}
    assert assessment_problems([{"service": "legal_aid", "status": "needed"}] * 2, is_minor=False) == {
        "needs.1.service": ["duplicate_service"]}


def test_every_service_has_providers_and_the_data_it_needs_includes_contact():
    assert set(needs.PROVIDERS) == set(needs.DATA_NEEDED) == set(ASSISTANCE_SERVICES)
    for service in ASSISTANCE_SERVICES:
        assert needs.PROVIDERS[service] and "contact" in needs.DATA_NEEDED[service]
        assert not {"procuratorate", "finance-bureau"} & set(needs.PROVIDERS[service])
    assert needs.provides("legal-aid", "legal_aid") and not needs.provides("legal-aid", "minimum_living_guarantee")


# -- consent -----------------------------------------------------------------------------------------------


def test_a_minors_consent_is_the_guardians_and_names_only_what_the_agency_needs():
    assert consent_problems("psych-center", ["contact", "health", "minor"], "guardian", is_minor=True) == {}
    assert consent_problems("psych-center", ["contact"], "person", is_minor=True) == {
        "given_by": ["guardian_consent_required"]}
    assert consent_problems("legal-aid", ["contact", "household"], "guardian", is_minor=True) == {
        "categories.1": ["category_not_needed"]}
    # An adult may share more than one service needs; what goes out is still only what is needed.
    assert consent_problems("legal-aid", ["contact", "household"], "person", is_minor=False) == {}
    assert consent_problems("finance-bureau", ["contact"], "person", is_minor=False) == {"agency": ["not_a_provider"]}


def test_what_a_handoff_lacks_in_consent_is_named_per_kind_of_data():
    assert missing_for("minimum_living_guarantee", set()) == ["contact", "household"]
    assert missing_for("minimum_living_guarantee", {"contact"}) == ["household"]
    assert missing_for("psych_counselling", {"contact", "health", "minor", "household"}) == []


# -- hand-off statuses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("current, target, changes", [
    ("requested", "accepted", True), ("requested", "completed", True), ("accepted", "in-service", True),
    ("in-service", "declined", True), ("accepted", "accepted", False), ("completed", "completed", False)])
def test_statuses_move_forward(current, target, changes):
    assert step(current, target) is changes


@pytest.mark.parametrize("current, target, code", [
    ("completed", "accepted", "status_backwards"), ("in-service", "accepted", "status_backwards"),
    ("declined", "completed", "handoff_closed"), ("completed", "declined", "handoff_closed"),
    ("withdrawn", "accepted", "handoff_closed"), ("withdrawn", "completed", "handoff_closed")])
def test_statuses_never_go_back_and_closed_stays_closed(current, target, code):
    with pytest.raises(Refused) as refused:
        step(current, target)
    assert (refused.value.status, refused.value.code) == (409, code)


def test_an_answer_is_dated_within_the_handoff_and_says_what_its_status_needs():
    handoff = SimpleNamespace(requested_at=NOW - timedelta(days=2))
    assert answer_problems(handoff, "accepted", {"at": NOW}, NOW) == {}
    assert answer_problems(handoff, "accepted", {"at": NOW + timedelta(hours=1)}, NOW) == {"at": ["date_in_future"]}
    assert answer_problems(handoff, "accepted", {"at": NOW - timedelta(days=3)}, NOW) == {"at": ["before_request"]}
    assert answer_problems(handoff, "declined", {"at": NOW}, NOW) == {"reason": ["reason_required"]}
    assert answer_problems(handoff, "completed", {"at": NOW}, NOW) == {"outcome": ["outcome_required"]}
    early = {"at": NOW, "outcome": {"received_on": date(2026, 11, 1), "summary": "已纳入低保"}}
    assert answer_problems(handoff, "completed", early, NOW) == {"outcome.received_on": ["before_request"]}


def test_text_for_the_bus_may_not_carry_resident_id_or_mobile_numbers():
    assert carries_personal_numbers("身份证 51010419800517001X")
    assert carries_personal_numbers("请联系 139 1234 5678")
    assert not carries_personal_numbers("案号 JZ20261130-3FA2C1，金额 200000 分")
    assert not carries_personal_numbers(None) and not carries_personal_numbers("")


# -- the visit schedule ------------------------------------------------------------------------------------


def test_months_are_added_to_the_same_day_or_the_months_last():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 12) == date(2027, 11, 30)
    assert [add_months(date(2026, 11, 30), m) for m in (1, 3, 6)] == [date(2026, 12, 30), date(2027, 2, 28),
                                                                       date(2027, 5, 30)]


# -- the contract ------------------------------------------------------------------------------------------


def test_the_contract_of_handoffs_and_rereferrals():
    for status, message_type in HANDOFF_ANSWERS.items():
        assert (message_type.exchange, message_type.producer, message_type.consumers) == (
            INBOUND, "partner", ("followup",))
        assert message_type.answers_invalid and message_type.binding_key() == f"*.handoff.{status}.v1"
    assert HANDOFF_REQUESTED.routing_key("psych-center") == "psych-center.handoff.requested.v1"
    assert {t.type.rsplit(".", 2)[-2] for t in registry if t.exchange == PARTNERS and t.producer == "followup"} == {
        "requested", "recorded", "refused", "withdrawn", "overdue"}
    assert (REREFERRAL_REQUESTED.exchange, REREFERRAL_REQUESTED.consumers) == (EVENTS, ("intake",))
    assert (REREFERRAL_ANSWERED.producer, REREFERRAL_ANSWERED.consumers) == ("intake", ("followup",))
    assert "followup" in registry.get("org.aidflow.intake.case.accepted.v1").consumers
    assert "followup" in registry.get("org.aidflow.review.decision.recorded.v1").consumers
    personal = {"name", "id_number", "phone", "address", "guardian_name", "guardian_phone"}
    for message_type in registry:
        if message_type.producer == "followup" or message_type.consumers == ("followup",):
            assert not personal & set(message_type.schema().fields), message_type.type
