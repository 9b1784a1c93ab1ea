"""Every way a case reaches intake over HTTP, its documents, and its acceptance (受理).

The intake service runs alone on a real database; what a request emits is read from its outbox,
written in the same transaction as the case.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from support import IntakeApp, referral, resident_id, settings_for


@pytest.fixture
def intake(tmp_path):
    app = IntakeApp(settings_for(tmp_path)["intake"])
    yield app
    app.close()


def types(app) -> list[str]:
    return [e["type"].split(".")[-2] for e in app.events()]


def person(n: int, relationship: str = "victim", **extra) -> dict:
    return {"name": f"人员{n}", "id_number": resident_id(n), "relationship": relationship, **extra}


# -- ex officio --------------------------------------------------------------------------------------


def test_ex_officio_keeps_its_stage_and_waits_for_documents_then_acceptance(intake):
    body = referral(1, accept=False, documents=[{"kind": "identity", "beneficiary": 0}],
                    stage="arrest_review", beneficiaries=[person(1, poverty_markers=["registered_poor_household",
                                                                                     "impoverished_by_case"])])
    case = intake.refer(body)
    assert (case["source"], case["stage"], case["criminal_case_ref"]) == ("ex_officio", "arrest_review",
                                                                          body["criminal_case_ref"])
    assert case["status"] == "registered" and case["registered_by"] == "test-intake_clerk"
    assert case["accepted_at"] is None and case["migrated"] is False
    assert case["beneficiaries"][0]["poverty_markers"] == ["registered_poor_household", "impoverished_by_case"]
    checklist = case["checklist"]
    assert not checklist["complete"]
    assert set(checklist["missing"]) == {"checklist.hardship_proof", "checklist.compensation_statement",
                                         "checklist.proof_of_harm"}
    assert types(intake) == ["opened"]  # registered: no acceptance, so no review clock

    # Acceptance is refused while documents are missing, each one named.
    refused = intake.post(f"/cases/{case['case_id']}/acceptance", {})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "checklist_incomplete"
    assert set(error["fields"]) == set(checklist["missing"])
    assert types(intake) == ["opened"]

    for kind in ("hardship_proof", "compensation_statement", "injury_appraisal"):
        added = intake.post(f"/cases/{case['case_id']}/documents", {"kind": kind, "reference": f"{kind}-1"})
        assert added.status_code == 201
    documents = intake.get(f"/cases/{case['case_id']}/documents")
    assert documents["complete"] and documents["missing"] == []
    assert {d["kind"] for d in documents["documents"]} == {"identity", "hardship_proof", "compensation_statement",
                                                           "injury_appraisal"}

    accepted = intake.post(f"/cases/{case['case_id']}/acceptance", {})
    assert accepted.status_code == 201
    assert accepted.get_json()["status"] == "accepted" and accepted.get_json()["accepted_at"]
    event = intake.events("case.accepted.v1")[0]
    data = event["data"]
    assert event["subject"] == case["case_id"] and data["documents_complete"] is True
    assert data["beneficiaries"][0]["poverty_markers"] == ["registered_poor_household", "impoverished_by_case"]
    assert datetime.fromisoformat(data["accepted_at"]) == datetime.fromisoformat(accepted.get_json()["accepted_at"])
    assert data["received_at"] and data["migrated"] is False

    again = intake.post(f"/cases/{case['case_id']}/acceptance", {})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_accepted"
    assert types(intake) == ["opened", "accepted"]


def test_staff_may_accept_with_documents_missing_only_saying_why(intake):
    case = intake.refer(referral(2, accept=False, documents=[], urgent_medical=True))
    assert case["track"] == "urgent_medical"
    accepted = intake.post(f"/cases/{case['case_id']}/acceptance",
                           {"override_reason": "急需手术，先行救助，后补手续"}, role="department_head")
    assert accepted.status_code == 201
    body = accepted.get_json()
    assert body["acceptance_override_reason"] == "急需手术，先行救助，后补手续" and not body["checklist"]["complete"]
    assert intake.events("case.accepted.v1")[0]["data"]["documents_complete"] is False
    history = [(h["status"], h["note"]) for h in body["history"]]
    assert ("accepted", "accepted with documents missing") in history
    # The paperwork can follow after acceptance.
    later = intake.post(f"/cases/{case['case_id']}/documents", {"kind": "hardship_proof"})
    assert later.status_code == 201 and "checklist.hardship_proof" not in later.get_json()["missing"]


def test_only_intake_staff_accept(intake):
    case = intake.refer(referral(3, accept=False))
    for role in ("reviewer", "auditor", "followup_worker"):
        assert intake.post(f"/cases/{case['case_id']}/acceptance", {}, role=role).status_code == 403
    assert intake.post("/cases/nope/acceptance", {}).status_code == 404


def test_a_referral_accepted_as_it_arrives_needs_a_complete_checklist(intake):
    refused = intake.post("/referrals", referral(4, documents=[]))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "checklist_incomplete"
    assert intake.count("aid_case") == 0 and intake.events() == []  # nothing half-written
    case = intake.refer(referral(4))
    assert case["status"] == "accepted" and types(intake) == ["opened", "accepted"]


# -- applications ------------------------------------------------------------------------------------


def test_a_written_application_by_the_person(intake):
    body = referral(5, source="application", stage=None, accept=False, documents=[],
                    application={"applicant": "self", "form": "written"})
    case = intake.refer(body)
    assert case["application"] == {"applicant": "self", "form": "written", "recorded_by": None, "agent": None}
    assert "checklist.application" in case["checklist"]["missing"]


def test_an_oral_application_by_an_agent_is_recorded_as_such_with_who_recorded_it(intake):
    agent = {"kind": "entrusted", "name": "代理人甲", "id_number": resident_id(905, region="510703"),
             "phone": "13900001111"}
    body = referral(6, source="application", stage=None, accept=False, documents=[],
                    application={"applicant": "agent", "form": "oral", "agent": agent})
    response = intake.post("/referrals", body, subject="clerk-wang")
    assert response.status_code == 201
    case = response.get_json()
    application = case["application"]
    assert (application["form"], application["recorded_by"]) == ("oral", "clerk-wang")
    assert application["agent"]["kind"] == "entrusted" and application["agent"]["name"] == "代理人甲"
    missing = case["checklist"]["missing"]
    assert "checklist.oral_application_record" in missing and "checklist.power_of_attorney" in missing
    assert "checklist.application" not in missing
    # A reviewer sees the agent masked like everyone else's identity.
    seen = intake.get(f"/cases/{case['case_id']}", role="reviewer")["application"]["agent"]
    assert seen["id_number"] != agent["id_number"] and "id_number" in seen["masked_fields"]


def test_an_agent_application_needs_the_agent(intake):
    body = referral(7, source="application", stage=None, application={"applicant": "agent", "form": "written"})
    response = intake.post("/referrals", body)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["application.agent"][0]["code"] == "required"


# -- partner transfers entered by staff (on paper) ---------------------------------------------------


def test_a_transfer_received_on_paper_names_the_agency_and_its_reference(intake):
    body = referral(8, source="partner_transfer", stage=None, source_agency="poverty-bureau",
                    partner_reference="扶移〔2026〕8号")
    case = intake.refer(body)
    assert (case["source_agency"], case["partner_reference"]) == ("poverty-bureau", "扶移〔2026〕8号")
    assert {i["requirement"] for i in case["checklist"]["items"]} >= {"transfer_letter"}
    unknown = intake.post("/referrals", referral(9, source="partner_transfer", stage=None,
                                                 source_agency="tax-office", partner_reference="x"))
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["fields"]["source_agency"][0]["code"] == "unknown_agency"


# -- leads ---------------------------------------------------------------------------------------------


def test_a_lead_is_not_a_case_until_verified_and_becomes_one_once(intake):
    lead = intake.post("/leads", {"channel": "household_visit", "summary": "驻村走访发现：村民张某遭伤害后无力就医。",
                                  "location": "某县某村", "criminal_case_ref": "川检刑捕〔2026〕31号"})
    assert lead.status_code == 201
    lead = lead.get_json()
    assert lead["status"] == "unverified" and lead["case_id"] is None
    assert intake.events() == [] and intake.count("aid_case") == 0  # an unverified lead starts nothing
    assert intake.get("/leads?status=unverified")["total"] == 1

    verified = referral(31, verification_note="检察官入户核实，情况属实。")
    for key in ("source", "stage", "criminal_case_ref"):
        verified.pop(key)
    verified["documents"] = verified["documents"] + [{"kind": "verification_record"}]
    promoted = intake.post(f"/leads/{lead['lead_id']}/promotion", verified)
    assert promoted.status_code == 201, promoted.get_json()
    case = promoted.get_json()
    assert case["source"] == "lead" and case["lead_id"] == lead["lead_id"]
    assert case["criminal_case_ref"] == "川检刑捕〔2026〕31号"  # from the lead
    assert case["status"] == "accepted" and types(intake) == ["opened", "accepted"]

    twice = intake.post(f"/leads/{lead['lead_id']}/promotion", verified)
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "lead_already_promoted"
    assert intake.count("aid_case") == 1 and types(intake) == ["opened", "accepted"]
    shown = intake.get(f"/leads/{lead['lead_id']}")
    assert (shown["status"], shown["case_number"]) == ("promoted", case["case_number"])
    dismiss = intake.post(f"/leads/{lead['lead_id']}/dismissal", {"reason": "重复"})
    assert dismiss.status_code == 409 and dismiss.get_json()["error"]["code"] == "lead_already_promoted"


def test_a_dismissed_lead_says_why_and_cannot_be_promoted(intake):
    lead = intake.post("/leads", {"channel": "weibo", "summary": "网络求助帖"}).get_json()
    dismissed = intake.post(f"/leads/{lead['lead_id']}/dismissal", {"reason": "经核实，非刑事案件被害人。"})
    assert dismissed.status_code == 201 and dismissed.get_json()["dismissal_reason"] == "经核实，非刑事案件被害人。"
    verified = {"beneficiaries": [person(32)], "verification_note": "x"}
    refused = intake.post(f"/leads/{lead['lead_id']}/promotion", verified)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "lead_dismissed"
    assert intake.events() == []
    assert intake.post("/leads/nope/promotion", verified).status_code == 404


# -- joint and linked cases ----------------------------------------------------------------------------


def test_close_relatives_of_a_deceased_victim_are_one_joint_case(intake):
    relatives = [person(40, "spouse"), person(41, "child"), person(42, "parent")]
    case = intake.refer(referral(40, victim_deceased=True, eligibility_situation="death_or_incapacity",
                                 beneficiaries=relatives, accept=False, documents=[]))
    assert len(case["beneficiaries"]) == 3 and case["victim_deceased"]
    requirements = [(i["requirement"], i["beneficiary_id"]) for i in case["checklist"]["items"]]
    ids = [b["beneficiary_id"] for b in case["beneficiaries"]]
    assert all(("relationship_proof", b) in requirements and ("identity", b) in requirements for b in ids)
    assert ("death_certificate", None) in requirements
    refused = intake.post("/referrals", referral(43, victim_deceased=True,
                                                  beneficiaries=[person(43), person(44, "spouse")]))
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["beneficiaries.0.relationship"][0]["code"] == "relative_required"


def test_several_direct_victims_are_separate_cases_linked_by_the_criminal_case(intake):
    ref = "川检刑诉〔2026〕50号"
    together = intake.post("/referrals", referral(50, criminal_case_ref=ref,
                                                  beneficiaries=[person(50), person(51)]))
    assert together.status_code == 422
    assert together.get_json()["error"]["fields"]["beneficiaries.1.relationship"][0]["code"] == \
        "one_direct_person_per_case"
    first = intake.refer(referral(50, criminal_case_ref=ref))
    second = intake.refer(referral(51, criminal_case_ref=ref))
    other = intake.refer(referral(52))
    linked = intake.get(f"/cases/{first['case_id']}")["linked_cases"]
    assert [c["case_number"] for c in linked] == [second["case_number"]]
    assert other["case_number"] not in [c["case_number"] for c in linked]
    listed = intake.get(f"/cases?criminal_case_ref={ref}")
    assert listed["total"] == 2


# -- eligibility situation -----------------------------------------------------------------------------


def test_the_eligible_situation_decides_the_proof_of_harm(intake):
    case = intake.refer(referral(60, accept=False, documents=[]))
    assert "proof_of_harm" in {i["requirement"] for i in case["checklist"]["items"]}
    response = intake.call("PUT", f"/cases/{case['case_id']}/eligibility",
                           json={"eligibility_situation": "civil_tort"})
    assert response.status_code == 200
    requirements = {i["requirement"]: i["any_of"] for i in response.get_json()["checklist"]["items"]}
    assert requirements["no_compensation_proof"] == ["no_compensation_proof"]
    assert requirements["proof_of_harm"] == ["injury_appraisal", "medical_bills"]
    other = intake.call("PUT", f"/cases/{case['case_id']}/eligibility", json={"eligibility_situation": "other"})
    assert other.status_code == 422 and other.get_json()["error"]["fields"]["situation_reason"][0]["code"] == "required"
    urgent = intake.call("PUT", f"/cases/{case['case_id']}/eligibility",
                         json={"eligibility_situation": "urgent_treatment"})
    assert urgent.get_json()["track"] == "urgent_medical"


# -- records migrated from paper ledgers ---------------------------------------------------------------


@pytest.fixture
def intake_on(tmp_path, database_url):
    app = IntakeApp(settings_for(tmp_path, db_urls={n: database_url for n in ("intake", "review", "payout",
                                                                             "followup")})["intake"])
    yield app
    app.close()


def test_migrated_records_keep_their_past_dates_and_say_so(intake_on):
    received = datetime(2023, 3, 6, 1, 30, tzinfo=timezone.utc)
    accepted = datetime(2023, 3, 8, 2, 0, tzinfo=timezone.utc)
    case = intake_on.refer(referral(70, received_at=received.isoformat(), accepted_at=accepted.isoformat()))
    assert case["migrated"] is True and case["status"] == "accepted"
    assert datetime.fromisoformat(case["received_at"]) == received
    assert datetime.fromisoformat(case["accepted_at"]) == accepted
    assert case["case_number"].startswith("JZ20230306-")
    event = intake_on.events("case.accepted.v1")[0]["data"]
    assert datetime.fromisoformat(event["received_at"]) == received
    assert datetime.fromisoformat(event["accepted_at"]) == accepted and event["migrated"] is True

    # Registered from the ledger now, accepted later with the ledger's date.
    waiting = intake_on.refer(referral(71, accept=False, received_at=received.isoformat()))
    early = intake_on.post(f"/cases/{waiting['case_id']}/acceptance",
                           {"accepted_at": (received - timedelta(days=1)).isoformat()})
    assert early.status_code == 422
    assert early.get_json()["error"]["fields"]["accepted_at"][0]["code"] == "accepted_before_received"
    done = intake_on.post(f"/cases/{waiting['case_id']}/acceptance", {"accepted_at": accepted.isoformat()})
    assert done.status_code == 201 and datetime.fromisoformat(done.get_json()["accepted_at"]) == accepted


@pytest.mark.parametrize("changes, field, code", [
    ({"received_at": "2999-01-01T00:00:00+08:00"}, "received_at", "in_future"),
    ({"received_at": "2023-03-06T09:00:00+08:00", "accepted_at": "2999-01-01T00:00:00+08:00"}, "accepted_at",
     "in_future"),
    ({"received_at": "2023-03-06T09:00:00+08:00", "accepted_at": "2023-03-01T09:00:00+08:00"}, "accepted_at",
     "accepted_before_received"),
    ({"accepted_at": "2023-03-01T09:00:00+08:00"}, "accepted_at", "accepted_before_received"),
    ({"received_at": "2023-03-06T09:00:00"}, "received_at", "invalid_date"),  # no offset: which day was it?
    ({"received_at": "1023-03-06T09:00:00+08:00"}, "received_at", "range"),
])
def test_impossible_ledger_dates_are_refused(intake, changes, field, code):
    response = intake.post("/referrals", referral(72, **changes))
    assert response.status_code == 422
    assert code in [f["code"] for f in response.get_json()["error"]["fields"][field]]
    assert intake.count("aid_case") == 0 and intake.events() == []
