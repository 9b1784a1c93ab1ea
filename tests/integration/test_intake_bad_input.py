"""Bad input gets a precise answer, and nothing is half-written: no case, no person, no event."""
from __future__ import annotations

from datetime import timedelta

import pytest

from aidflow_intake.identity import check_character
from aidflow_shared.calendar import beijing_today
from support import IntakeApp, referral, resident_id, settings_for


@pytest.fixture
def intake(tmp_path):
    app = IntakeApp(settings_for(tmp_path)["intake"])
    yield app
    app.close()


def nothing_written(app) -> bool:
    return (app.count("aid_case"), app.count("person"), app.count("lead"), app.events()) == (0, 0, 0, [])


def future_resident_id() -> str:
    first17 = f"510104{beijing_today() + timedelta(days=30):%Y%m%d}001"
    return first17 + check_character(first17)


def wrong_check_character(n: int) -> str:
    good = resident_id(n)
    return good[:17] + ("0" if good[17] != "0" else "1")


def with_person(n: int, **person) -> dict:
    return referral(n, beneficiaries=[{"name": "测试", "relationship": "victim", **person}])


@pytest.mark.parametrize("body, field, code", [
    (with_person(1, id_number=wrong_check_character(1)), "beneficiaries.0.id_number", "invalid_id_checksum"),
    (with_person(1, id_number="51010419800517001"), "beneficiaries.0.id_number", "invalid_id_format"),
    (with_person(1, id_number="990104198005170014"), "beneficiaries.0.id_number", "invalid_id_region"),
    (with_person(1, id_number=future_resident_id()), "beneficiaries.0.id_number", "invalid_id_birth_date"),
    (with_person(1, id_type="passport", id_number="E12345678", birth_date=str(beijing_today() + timedelta(days=1))),
     "beneficiaries.0.birth_date", "in_future"),
    (with_person(1, id_number=resident_id(1), birth_date="1990-01-01"), "beneficiaries.0.birth_date",
     "birth_date_mismatch"),
    (with_person(1, id_number=resident_id(1), phone="call me"), "beneficiaries.0.phone", "invalid_phone"),
    (with_person(1, id_number=resident_id(1), poverty_markers=["impoverished_by_case",
                                                               "returned_to_poverty_by_case"]),
     "beneficiaries.0.poverty_markers", "exclusive"),
    (with_person(1, id_number=resident_id(1), poverty_markers=["rich"]), "beneficiaries.0.poverty_markers.0",
     "one_of"),
    (referral(1, source="rumour"), "source", "one_of"),
    (referral(1, source="lead"), "source", "one_of"),  # leads are verified through /leads first
    (referral(1, stage="trial"), "stage", "one_of"),
    (referral(1, stage=None), "stage", "required"),
    (referral(1, criminal_case_ref=None), "criminal_case_ref", "required"),
    (referral(1, source="partner_transfer", stage=None, source_agency="poverty-bureau"), "partner_reference",
     "required"),
    (referral(1, source="partner_transfer", stage=None, partner_reference="R1"), "source_agency", "required"),
    (referral(1, source="application", stage=None), "application", "required"),
    (referral(1, source="application", stage=None, application={"form": "by pigeon"}), "application.form", "one_of"),
    (referral(1, source="application", application={"form": "written"}), "stage", "not_allowed_for_source"),
    (referral(1, partner_reference="R1"), "partner_reference", "not_allowed_for_source"),
    (referral(1, eligibility_situation="bad_luck"), "eligibility_situation", "one_of"),
    (referral(1, eligibility_situation="other"), "situation_reason", "required"),
    (referral(1, beneficiaries=[{"name": "a", "id_number": resident_id(1)}, {"name": "b", "id_number": resident_id(1),
                                                                            "relationship": "spouse"}]),
     "beneficiaries.1.id_number", "duplicate"),
    (referral(1, documents=[{"kind": "identity"}]), "documents.0.beneficiary", "required"),
    (referral(1, documents=[{"kind": "identity", "beneficiary": 3}]), "documents.0.beneficiary",
     "unknown_beneficiary"),
    (referral(1, documents=[{"kind": "selfie"}]), "documents.0.kind", "one_of"),
    (referral(1, accept=False, override_reason="why not"), "override_reason", "must_be_empty"),
    (dict(referral(1), nickname="x"), "nickname", "unknown_field"),
    (referral(1, beneficiaries=[]), "beneficiaries", "length"),
])
def test_bad_referrals_name_the_field_and_the_reason(intake, body, field, code):
    response = intake.post("/referrals", body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert code in [f["code"] for f in error["fields"][field]], error
    messages = [f["message"] for f in error["fields"][field] if f["code"] == code]
    assert messages[0] != code  # every code has a text for people
    assert nothing_written(intake)


def test_error_texts_come_in_the_language_asked_for(intake):
    body = with_person(2, id_number=wrong_check_character(2))
    zh = intake.post("/referrals", body).get_json()["error"]["fields"]["beneficiaries.0.id_number"][0]["message"]
    en = intake.post("/referrals", body, headers={"Accept-Language": "en"}).get_json()
    assert "校验码" in zh and "check character" in en["error"]["fields"]["beneficiaries.0.id_number"][0]["message"]


def test_an_oversize_body_is_413_and_a_wrong_content_type_415(intake):
    huge = referral(3, summary="x" * (1024 * 1024 + 10))
    response = intake.post("/referrals", huge)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    form = intake.call("POST", "/referrals", data="source=ex_officio",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and form.get_json()["error"]["code"] == "unsupported_media_type"
    broken = intake.call("POST", "/referrals", data="{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "invalid_json"
    listed = intake.call("POST", "/referrals", data="[1]", headers={"Content-Type": "application/json"})
    assert listed.status_code == 422 and listed.get_json()["error"]["code"] == "not_json_object"
    assert nothing_written(intake)


def test_bad_leads_and_documents(intake):
    assert intake.post("/leads", {"channel": "carrier_pigeon", "summary": "x"}).status_code == 422
    future = intake.post("/leads", {"channel": "tv", "summary": "x", "received_at": "2999-01-01T00:00:00Z"})
    assert future.get_json()["error"]["fields"]["received_at"][0]["code"] == "in_future"
    assert nothing_written(intake)
    case = intake.refer(referral(4, accept=False, documents=[]))
    stranger = intake.post(f"/cases/{case['case_id']}/documents", {"kind": "identity", "beneficiary_id": "nobody"})
    assert stranger.status_code == 422
    assert stranger.get_json()["error"]["fields"]["beneficiary_id"][0]["code"] == "unknown_beneficiary"
    whose = intake.post(f"/cases/{case['case_id']}/documents", {"kind": "identity"})
    assert whose.get_json()["error"]["fields"]["beneficiary_id"][0]["code"] == "required"
    later = intake.post(f"/cases/{case['case_id']}/documents", {"kind": "application",
                                                                 "received_at": "2999-01-01T00:00:00Z"})
    assert later.get_json()["error"]["fields"]["received_at"][0]["code"] == "in_future"
    assert intake.count("case_document") == 0
    assert intake.call("GET", "/cases?status=lost").status_code == 400


def test_roles_that_may_not_write_are_refused(intake):
    assert intake.post("/referrals", referral(5), role="reviewer").status_code == 403
    assert intake.post("/referrals", referral(5), role="partner_agency", agency="poverty-bureau").status_code == 403
    assert intake.post("/leads", {"channel": "tv", "summary": "x"}, role="auditor").status_code == 403
    assert intake.client.post("/api/v1/referrals", json=referral(5)).status_code == 401
    assert nothing_written(intake)
