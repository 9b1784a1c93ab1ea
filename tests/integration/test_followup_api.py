"""Follow-up's API on the embedded defaults: consent before every hand-off, contact details sealed,
masked and read only through a consented hand-off, staff-operated hand-offs, return visits,
rolling management, closure and reopening, re-referral, the published figures, and every bad
input refused with its reason and nothing written."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from aidflow_followup.orm import Consent, ContactAccess, Handoff, Visit
from aidflow_shared.calendar import beijing_today
from aidflow_shared.storage import utcnow
from support import resident_id
from test_followup_support import PHONE, ready_plan, start_followup  # noqa: F401

DIBAO = "minimum_living_guarantee"


@pytest.fixture
def followup(start_followup):  # noqa: F811
    return start_followup()


def fields_of(response) -> dict[str, list[str]]:
    error = response.get_json()["error"]
    return {path: [e["code"] for e in errors] for path, errors in error.get("fields", {}).items()}


def hand_off(followup, plan, service, agency, **extra):
    return followup.call("POST", f"/plans/{plan['plan_id']}/handoffs", json={"service": service, "agency": agency,
                                                                             **extra})


# -- consent and hand-offs -----------------------------------------------------------------------------


def test_consent_is_checked_before_every_handoff(followup):
    plan = ready_plan(followup, markers=["impoverished_by_case"])
    nothing = hand_off(followup, plan, DIBAO, "civil-affairs")
    assert nothing.status_code == 409 and nothing.get_json()["error"]["code"] == "consent_missing"
    assert fields_of(nothing) == {"consent.contact": ["not_consented"], "consent.household": ["not_consented"]}

    followup.post(f"/plans/{plan['plan_id']}/consents",
                  {"agency": "civil-affairs", "categories": ["contact"], "given_by": "person"})
    partly = hand_off(followup, plan, DIBAO, "civil-affairs")
    assert fields_of(partly) == {"consent.household": ["not_consented"]}
    followup.post(f"/plans/{plan['plan_id']}/consents",  # replaces the first consent
                  {"agency": "civil-affairs", "categories": ["contact", "household"], "given_by": "person"})
    made = hand_off(followup, plan, DIBAO, "civil-affairs")
    assert made.status_code == 201, made.get_json()
    handoff = made.get_json()
    assert handoff["shared"]["shared_categories"] == ["contact", "household"]
    assert handoff["shared"]["household"] == {"poverty_markers": ["impoverished_by_case"]}
    assert handoff["shared"]["minor"] is None and handoff["shared"]["harm"] is None
    consents = followup.plan(plan["plan_id"])["consents"]
    assert [(c["categories"], c["active"], c["withdrawal_reason"]) for c in consents] == [
        (["contact"], False, "superseded"), (["contact", "household"], True, None)]

    again = hand_off(followup, plan, DIBAO, "civil-affairs")
    assert again.status_code == 409 and fields_of(again) == {"service": ["handoff_already_open"]}
    wrong = hand_off(followup, plan, DIBAO, "legal-aid")
    assert wrong.status_code == 422 and fields_of(wrong) == {"agency": ["not_a_provider"]}
    not_needed = hand_off(followup, plan, "education_support", "youth-league")
    assert not_needed.status_code == 409 and fields_of(not_needed) == {"service": ["not_a_need"]}
    noted = hand_off(followup, plan, "civil_affairs_aid", "civil-affairs", note=f"身份证{resident_id(4)}")
    assert noted.status_code == 422 and fields_of(noted) == {"note": ["personal_data_in_text"]}
    assert followup.count(Handoff) == 1
    [sent] = followup.outbox("handoff.requested.v1")
    assert sent["routing_key"] == "civil-affairs.handoff.requested.v1"
    assert PHONE not in json.dumps(sent) and "李小华" not in json.dumps(sent, ensure_ascii=False)


def test_a_minors_data_go_only_where_needed_and_with_the_guardians_consent(followup):
    plan = ready_plan(followup, minor=True)
    path = f"/plans/{plan['plan_id']}/consents"
    by_self = followup.post(path, {"agency": "psych-center", "categories": ["contact"], "given_by": "person"},
                            expect=422)
    assert by_self["error"]["fields"]["given_by"][0]["code"] == "guardian_consent_required"
    beyond = followup.post(path, {"agency": "poverty-bureau", "categories": ["contact", "household", "minor"],
                                  "given_by": "guardian"}, expect=422)
    assert list(beyond["error"]["fields"]) == ["categories.2"]
    assert beyond["error"]["fields"]["categories.2"][0]["code"] == "category_not_needed"
    nobody = followup.post(path, {"agency": "finance-bureau", "categories": ["contact"], "given_by": "guardian"},
                           expect=422)
    assert nobody["error"]["fields"]["agency"][0]["code"] == "not_a_provider"
    assert followup.count(Consent) == 0
    # A minor's contact details name the guardian.
    missing = followup.call("PUT", f"/plans/{plan['plan_id']}/contact", json={"name": "李小华"})
    assert missing.status_code == 422 and fields_of(missing) == {"guardian_name": ["required"],
                                                                 "guardian_phone": ["required"]}


def test_contact_details_are_sealed_masked_and_read_only_through_a_consented_handoff(followup):
    plan = ready_plan(followup, consents={"civil-affairs": ["contact", "household"]})
    with followup.runtime.db.engine.connect() as conn:
        stored = json.dumps([list(r) for r in conn.exec_driver_sql("SELECT * FROM contact")], default=str)
    assert PHONE not in stored and "李小华" not in stored
    assert followup.plan(plan["plan_id"])["contact"]["phone"] == PHONE
    masked = followup.get(f"/plans/{plan['plan_id']}", "department_head")["contact"]
    assert masked["phone"] == "139****5678" and set(masked["masked_fields"]) == {"name", "phone", "address"}

    handoff = hand_off(followup, plan, DIBAO, "civil-affairs").get_json()
    path = f"/handoffs/{handoff['handoff_id']}/contact"
    assert followup.get(path, "partner_agency", agency="civil-affairs")["phone"] == PHONE
    other = followup.call("GET", path, "partner_agency", agency="legal-aid")
    assert other.status_code == 403 and other.get_json()["error"]["code"] == "not_your_handoff"
    consent = followup.plan(plan["plan_id"])["consents"][0]
    followup.post(f"/consents/{consent['consent_id']}/withdrawal", {"reason": "本人撤回同意"})
    withdrawn = followup.call("GET", path, "partner_agency", agency="civil-affairs")
    assert withdrawn.status_code == 403 and withdrawn.get_json()["error"]["code"] == "consent_missing"
    # A partner reads no plans and no audit; the audit names every read, refused ones too.
    assert followup.call("GET", f"/plans/{plan['plan_id']}", "partner_agency", agency="civil-affairs").status_code \
        == 403
    reads = followup.get("/contact-reads", "auditor")["items"]
    assert [(r["agency"], r["granted"], r["reason"]) for r in reversed(reads)] == [
        ("civil-affairs", True, None), ("civil-affairs", False, "not_your_handoff"),
        ("civil-affairs", False, "consent_missing")]
    assert followup.count(ContactAccess) == 3


def test_without_a_key_no_contact_details_are_kept_and_the_rest_runs(start_followup, pg_database):  # noqa: F811
    followup = start_followup(pg_database("followup"), contact_key=None)
    followup.accepted("c-nokey", [{"beneficiary_id": "b-nokey"}])
    followup.paid("c-nokey", "b-nokey")
    plan = followup.plan_of("c-nokey")
    refused = followup.call("PUT", f"/plans/{plan['plan_id']}/contact", json={"name": "李小华", "phone": PHONE})
    assert refused.status_code == 503 and refused.get_json()["error"]["code"] == "contact_key_missing"
    assert followup.plan(plan["plan_id"])["contact"] is None


def test_a_handoff_to_an_agency_without_a_broker_connection_is_operated_by_staff(followup):
    plan = ready_plan(followup, markers=["registered_poor_household"],
                      consents={"village-committee": ["contact", "household"]})
    handoff = hand_off(followup, plan, "poverty_alleviation", "village-committee").get_json()
    assert handoff["channel"] == "staff" and followup.outbox("handoff.requested.v1") == []
    path = f"/handoffs/{handoff['handoff_id']}/answers"
    phoned_at = (utcnow() - timedelta(minutes=2)).isoformat()
    accepted = followup.post(path, {"status": "accepted", "at": phoned_at})
    assert accepted["acknowledged_at"] == accepted["answers"][0]["stated_at"]  # when the agency said it
    assert accepted["answers"][0]["channel"] == "staff"
    repeated = followup.call("POST", path, json={"status": "accepted", "at": phoned_at})
    assert repeated.status_code == 200 and repeated.get_json()["answers"][-1]["result"] == "repeated"
    backwards = followup.call("POST", path, json={"status": "requested", "at": phoned_at})
    assert backwards.status_code == 422  # not an answer at all
    # The agency itself may answer over HTTP, with its own token, for its own hand-offs only.
    own = followup.post(path, {"status": "in-service", "at": utcnow().isoformat()}, "partner_agency",
                        agency="village-committee")
    assert own["status"] == "in-service" and own["answers"][-1]["channel"] == "http"
    other = followup.call("POST", path, "partner_agency", agency="poverty-bureau",
                          json={"status": "completed", "at": utcnow().isoformat()})
    assert other.status_code == 403 and other.get_json()["error"]["code"] == "not_your_handoff"
    listed = followup.get("/handoffs", "partner_agency", agency="poverty-bureau")
    assert listed["total"] == 0
    assert followup.get("/handoffs", "partner_agency", agency="village-committee")["total"] == 1
    future = followup.call("POST", path, json={"status": "completed", "at": (utcnow() + timedelta(days=1)).isoformat(),
                                               "outcome": {"received_on": beijing_today().isoformat(),
                                                           "summary": "纳入帮扶"}})
    assert future.status_code == 422 and fields_of(future) == {"at": ["date_in_future"]}
    no_outcome = followup.call("POST", path, json={"status": "completed", "at": utcnow().isoformat()})
    assert fields_of(no_outcome) == {"outcome": ["outcome_required"]}


# -- return visits ----------------------------------------------------------------------------------------


def visit_body(**changes) -> dict:
    return {"visited_at": utcnow().isoformat(), "method": "home", "living_situation": "stable",
            "psychological_state": "stable", "services_received": [DIBAO], "satisfaction": 5,
            "aware_of_aid": True, **changes}


def test_visits_are_scheduled_from_policy_and_bad_ones_refused(followup):
    plan = ready_plan(followup)
    visits = plan["visits"]
    assert [v["months_after"] for v in visits] == [1, 3, 6, 12] and {v["status"] for v in visits} == {"scheduled"}
    path = f"/visits/{visits[0]['visit_id']}/outcome"
    before = followup.call("POST", path, json=visit_body(visited_at=(utcnow() - timedelta(days=3)).isoformat()))
    assert before.status_code == 422 and fields_of(before) == {"visited_at": ["before_plan"]}
    future = followup.call("POST", path, json=visit_body(visited_at=(utcnow() + timedelta(days=1)).isoformat()))
    assert fields_of(future) == {"visited_at": ["date_in_future"]}
    score = followup.call("POST", path, json=visit_body(satisfaction=6))
    assert fields_of(score) == {"satisfaction": ["range"]}
    assert followup.count(Visit, status="done") == 0

    followup.post(path, visit_body())
    twice = followup.call("POST", path, json=visit_body())
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "visit_closed"
    cancelled = followup.post(f"/visits/{visits[1]['visit_id']}/cancellation", {"reason": "已迁居外省"})
    assert cancelled["status"] == "cancelled"


def test_a_family_back_in_hardship_is_reassessed_handed_over_again_and_may_be_rereferred(followup):
    plan = ready_plan(followup, markers=[], consents={"civil-affairs": ["contact", "household", "harm"]})
    plan_id = plan["plan_id"]
    assert {n["service"] for n in plan["needs"]} == {"psych_counselling", "legal_aid"}
    no_relapse = followup.call("POST", f"/plans/{plan_id}/rereferrals", json={"criminal_case_ref": "川检刑诉〔2027〕2号"})
    assert no_relapse.status_code == 409 and no_relapse.get_json()["error"]["code"] == "no_relapse_recorded"

    followup.post(f"/plans/{plan_id}/visits", visit_body(living_situation="in_crisis", returned_to_hardship=True,
                                                        satisfaction=3, aware_of_aid=False))
    relapsed = followup.plan(plan_id)
    assert relapsed["relapsed_at"] and relapsed["reassessment_due"] is True
    assert [p["plan_id"] for p in followup.get("/plans?due=reassessment")["items"]] == [plan_id]

    result = followup.post(f"/plans/{plan_id}/assessments", {
        "returned_to_hardship": True, "psychological_state": "distressed",
        "needs": [{"service": DIBAO, "status": "needed"}, {"service": "civil_affairs_aid", "status": "needed"},
                  {"service": "legal_aid", "status": "not_needed", "note": "已获民事赔偿判决"}]})
    assert result["assessment"]["kind"] == "relapse"
    assert sorted(h["service"] for h in result["handoffs"]) == ["civil_affairs_aid", DIBAO]  # consent covers both
    assert result["awaiting_handoff"] == [{"service": "psych_counselling", "reason": "consent_missing"}]
    assert result["plan"]["reassessment_due"] is False

    same = followup.call("POST", f"/plans/{plan_id}/rereferrals", json={"criminal_case_ref": "川检刑诉〔2026〕1号"})
    assert same.status_code == 409 and fields_of(same) == {"criminal_case_ref": ["same_criminal_case"]}
    made = followup.post(f"/plans/{plan_id}/rereferrals", {"criminal_case_ref": "川检刑诉〔2027〕2号",
                                                           "summary": "家中再遭变故"})
    assert made["status"] == "requested"
    [request] = followup.outbox("rereferral.requested.v1")
    assert request["data"]["person_ref"] == f"p-{plan['beneficiary_id']}"
    assert request["data"]["poverty_markers"] == ["returned_to_poverty_by_case"]
    busy = followup.call("POST", f"/plans/{plan_id}/rereferrals", json={"criminal_case_ref": "川检刑诉〔2027〕3号"})
    assert busy.status_code == 409 and busy.get_json()["error"]["code"] == "rereferral_open"


def test_a_minors_assessment_must_weigh_counselling(followup):
    plan = ready_plan(followup, minor=True)
    path = f"/plans/{plan['plan_id']}/assessments"
    without = followup.call("POST", path, json={"needs": [{"service": DIBAO, "status": "needed"}]})
    assert without.status_code == 422 and fields_of(without) == {"needs": ["counselling_assessment_required"]}
    unexplained = followup.call("POST", path,
                                json={"needs": [{"service": "psych_counselling", "status": "not_needed"}]})
    assert fields_of(unexplained) == {"needs.0.note": ["reason_required"]}
    twice = followup.call("POST", path, json={"needs": [{"service": "psych_counselling", "status": "needed"},
                                                        {"service": "psych_counselling", "status": "needed"}]})
    assert fields_of(twice) == {"needs.1.service": ["duplicate_service"]}


# -- closure ---------------------------------------------------------------------------------------------


def test_closure_is_refused_while_anything_is_open_and_reopening_needs_a_reason(followup):
    plan = ready_plan(followup, markers=[], consents={"legal-aid": ["contact", "harm"]})
    plan_id, case_id = plan["plan_id"], plan["case_id"]
    handoff = hand_off(followup, plan, "legal_aid", "legal-aid").get_json()
    assert handoff["shared"]["means_test_waived"] is True  # judicial-aid recipients skip the means test

    refused = followup.call("POST", f"/cases/{case_id}/closure", "department_head", json={})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "closure_refused"
    items = fields_of(refused)
    assert items[f"plans.{plan_id}.handoffs.{handoff['handoff_id']}"] == ["handoff_open"]
    assert items[f"plans.{plan_id}.needs.legal_aid"] == ["need_open"]
    assert sum(code == ["visit_open"] for code in items.values()) == 4
    assert followup.outbox("case.closed.v1") == []

    followup.post(f"/handoffs/{handoff['handoff_id']}/answers", {
        "status": "completed", "at": utcnow().isoformat(),
        "outcome": {"received_on": beijing_today().isoformat(), "summary": "代理民事诉讼，已获判决"}})
    followup.post(f"/plans/{plan_id}/assessments", {"needs": [
        {"service": "psych_counselling", "status": "declined_by_person", "note": "本人拒绝"}]})
    for position, visit in enumerate(plan["visits"]):
        if position < 2:
            followup.post(f"/visits/{visit['visit_id']}/outcome", visit_body(satisfaction=4 + position % 2))
        else:
            followup.post(f"/visits/{visit['visit_id']}/cancellation", {"reason": "帮扶目标已达成"})
    assert followup.get(f"/cases/{case_id}")["open_items"] == {}
    closed = followup.post(f"/cases/{case_id}/closure", {"reason": "plan_complete"}, "department_head")
    assert closed["status"] == "closed" and [p["status"] for p in closed["plans"]] == ["closed"]
    [event] = followup.outbox("case.closed.v1")
    assert event["data"]["plans"] == 1 and event["subject"] == case_id
    again = followup.call("POST", f"/cases/{case_id}/closure", "department_head", json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "followup_closed"
    after = followup.call("POST", f"/plans/{plan_id}/visits", json=visit_body())
    assert after.status_code == 409 and after.get_json()["error"]["code"] == "plan_closed"

    reasonless = followup.call("POST", f"/cases/{case_id}/reopening", "department_head", json={"reason": "other"})
    assert fields_of(reasonless) == {"note": ["reason_required"]}
    reopened = followup.post(f"/cases/{case_id}/reopening", {"reason": "returned_to_hardship"}, "department_head")
    assert reopened["status"] == "open" and reopened["plans"][0]["reassessment_due"] is True
    assert [(c["kind"], c["reason"]) for c in reopened["closures"]] == [("closed", "plan_complete"),
                                                                        ("reopened", "returned_to_hardship")]
    assert followup.outbox("case.reopened.v1")[0]["data"]["reason"] == "returned_to_hardship"
    not_closed = followup.call("POST", f"/cases/{case_id}/reopening", "department_head", json={"reason": "other",
                                                                                               "note": "x"})
    assert not_closed.status_code == 409 and not_closed.get_json()["error"]["code"] == "followup_not_closed"
    # An auditor reads, and writes nothing.
    assert followup.call("POST", f"/cases/{case_id}/closure", "auditor", json={}).status_code == 403

    figures = followup.get("/statistics", "auditor")
    assert figures["satisfaction"] == {"answered": 2, "mean": 4.5, "satisfied": 2, "satisfied_share": 1.0,
                                       "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}}
    assert figures["awareness"] == {"asked": 2, "aware": 2, "aware_share": 1.0}
    assert figures["handoffs"]["by_service"] == {"legal_aid": {"completed": 1}}
    assert case_id not in json.dumps(figures) and plan_id not in json.dumps(figures)
    bad = followup.call("GET", "/statistics?from=2026-13-01", "auditor")
    assert bad.status_code == 400 and fields_of(bad) == {"from": ["invalid_date"]}


# -- the API document ------------------------------------------------------------------------------------


def test_every_route_is_documented_and_demands_a_role(followup):
    document = followup.client.get("/openapi.json").get_json()
    served = {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in followup.client.application.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    listed = {(method, path) for path, operations in document["paths"].items() for method in operations
              if path.startswith("/api/") and method != "parameters"}
    assert listed == served and len(served) == 27  # with the audit export and its verification
    for method, path in served:
        operation = document["paths"][path][method]
        assert operation["summary"] and operation["x-roles"], (method, path)
        assert operation["security"] == [{"bearerAuth": []}]
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert len(success) == 1 and operation["responses"][success[0]]["content"], (method, path)
        if method in ("post", "put"):
            assert operation["requestBody"]["content"]["application/json"]["schema"], (method, path)
    assert followup.client.get("/api/v1/plans").status_code == 401
