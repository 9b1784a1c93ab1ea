"""Persons: one person across sources, one open case per person and criminal case (also under
concurrency on PostgreSQL), and personal data sealed at rest and masked on screen."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from aidflow_intake.cases import Refused, record_progress, register_case
from aidflow_intake.schemas import ReferralIn
from aidflow_intake.service import service as intake_service
from aidflow_shared.contracts.catalogue import DECISION_RECORDED, PAYOUT_DISBURSED
from aidflow_shared.contracts.followup import CASE_CLOSED, CASE_REOPENED, REREFERRAL_REQUESTED
from aidflow_shared.envelope import new_event
from aidflow_shared.storage import utcnow
from support import IntakeApp, referral, resident_id, settings_for

SERVICES = ("intake", "review", "payout", "followup")


@pytest.fixture
def intake(tmp_path, database_url):
    app = IntakeApp(settings_for(tmp_path, db_urls={n: database_url for n in SERVICES})["intake"])
    yield app
    app.close()


@pytest.fixture
def intake_pg(tmp_path, pg_database):
    url = pg_database("intake")
    app = IntakeApp(settings_for(tmp_path, db_urls={n: url for n in SERVICES})["intake"])
    yield app
    app.close()


def deliver(app, message_type, data: dict) -> None:
    """Hand an event to intake's own handler, in a transaction, as its consumer does."""
    event = new_event(message_type.type, data, source="/aidflow/test")
    with app.runtime.unit_of_work(correlation_id=event.id) as uow:
        intake_service.handlers[message_type.type](event, uow)
        uow.commit()


def decided(case_id: str, outcome: str) -> dict:
    return {"decision_id": f"d-{case_id}", "case_id": case_id, "outcome": outcome, "awards": [], "total_fen": 0,
            "reason_code": "other" if outcome == "rejected" else None, "decided_at": utcnow()}


# -- one person, several sources -----------------------------------------------------------------------


def test_the_same_person_from_two_sources_is_recognised_and_staff_are_warned_at_once(intake):
    first = intake.refer(referral(1))
    transfer = referral(1, source="partner_transfer", stage=None, source_agency="poverty-bureau",
                        partner_reference="扶移〔2026〕1号", criminal_case_ref="川检刑诉〔2026〕101号")
    second = intake.refer(transfer)
    assert second["beneficiaries"][0]["person_ref"] == first["beneficiaries"][0]["person_ref"]
    assert second["warnings"] == [{"code": "person_known", "beneficiary": 0, "case_numbers": [first["case_number"]]}]
    assert intake.count("person") == 1
    shown = intake.get(f"/cases/{first['case_id']}")
    assert shown["beneficiaries"][0]["other_case_numbers"] == [second["case_number"]]
    # The same ID document under another name is recognised too, and staff told.
    renamed = referral(1, criminal_case_ref="川检刑诉〔2026〕102号")
    renamed["beneficiaries"][0]["name"] = "改名"
    warned = intake.refer(renamed)["warnings"]
    assert {"code": "name_differs", "beneficiary": 0} in warned


def test_same_person_same_criminal_case_gets_no_second_open_case_until_the_first_is_rejected(intake):
    first = intake.refer(referral(2))
    again = intake.post("/referrals", referral(2, source="application", stage=None,
                                                application={"form": "oral"}))
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "duplicate_case" and error["fields"]["beneficiaries.0"][0]["code"] == "duplicate_case"
    assert intake.count("aid_case") == 1
    deliver(intake, DECISION_RECORDED, decided(first["case_id"], "rejected"))
    assert intake.get(f"/cases/{first['case_id']}")["status"] == "rejected"
    reapplied = intake.refer(referral(2, source="application", stage=None, application={"form": "oral"}))
    assert reapplied["warnings"][0]["case_numbers"] == [first["case_number"]]
    # Once aided, never aided twice in the same criminal case (aid is one-off).
    deliver(intake, DECISION_RECORDED, decided(reapplied["case_id"], "approved"))
    deliver(intake, PAYOUT_DISBURSED, {"payout_id": "p", "decision_id": "d", "case_id": reapplied["case_id"],
                                       "beneficiary_id": reapplied["beneficiaries"][0]["beneficiary_id"],
                                       "amount_fen": 100, "fund_id": "f", "method": "bank_transfer",
                                       "disbursed_at": utcnow()})
    third = intake.post("/referrals", referral(2))
    assert third.status_code == 409 and third.get_json()["error"]["code"] == "already_aided"


def test_a_registered_case_is_written_whole_and_stays_with_its_transaction(intake):
    """Registration inserts the case and its rows itself, then hands them to the session: what
    the same transaction changes afterwards is written with it, and what a known person's new
    referral adds (a phone not known before) is kept too."""
    from sqlalchemy import inspect as sa_inspect
    intake.refer(referral(8))  # the person, without a phone
    body = referral(8, criminal_case_ref="川检刑诉〔2026〕108号")
    body["beneficiaries"][0]["phone"] = "13700001111"
    with intake.runtime.unit_of_work() as uow:
        opened = register_case(uow, ReferralIn().load(body), registered_by="clerk-a")
        case = opened.case
        assert all(sa_inspect(obj).persistent for obj in (case, *case.beneficiaries, *case.documents, *case.history))
        case.summary = "补充说明"
        case.beneficiaries[0].urgent_medical_need = True
        case.documents[0].note = "原件已核"
        uow.commit()
    shown = intake.get(f"/cases/{case.id}")
    assert shown["summary"] == "补充说明" and shown["status"] == "accepted"
    assert shown["beneficiaries"][0]["urgent_medical_need"] is True
    assert shown["beneficiaries"][0]["phone"] == "13700001111"
    assert len(shown["beneficiaries"][0]["other_case_numbers"]) == 1
    assert [d["note"] for d in shown["checklist"]["documents"] if d["note"]] == ["原件已核"]
    assert len(shown["checklist"]["documents"]) == len(body["documents"])
    assert [h["status"] for h in shown["history"]] == ["registered", "accepted"]
    assert intake.count("person") == 1 and intake.count("case_claim") == 2


def test_two_referrals_racing_for_the_same_person_and_criminal_case_let_one_win(intake_pg):
    """On PostgreSQL the claim's primary key decides, not a read: the loser waits, then is refused."""
    body = ReferralIn().load(referral(3))
    first = intake_pg.runtime.unit_of_work()
    first.__enter__()
    register_case(first, body, registered_by="clerk-a")  # holds its new person and claim, uncommitted
    outcome = {}

    def second():
        try:
            with intake_pg.runtime.unit_of_work() as uow:
                register_case(uow, ReferralIn().load(referral(3)), registered_by="clerk-b")
                uow.commit()
                outcome["result"] = "committed"
        except Refused as refused:
            outcome["result"] = refused.code

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(1.0)
    assert racer.is_alive()  # it saw nothing to refuse, so it waits on the constraint
    first.commit()
    first.__exit__(None, None, None)
    racer.join(30)
    assert outcome == {"result": "duplicate_case"}
    assert intake_pg.count("aid_case") == 1 and intake_pg.count("person") == 1 and intake_pg.count("case_claim") == 1
    assert len(intake_pg.events("case.opened.v1")) == 1


def test_two_events_of_one_case_recorded_at_once_never_move_it_back(intake_pg):
    """Two instances recording a later and an earlier stage of one case at the same moment take
    turns on the case's row: the earlier stage, read after the later one committed, is history
    only, and the case stays at the later stage."""
    case_id = intake_pg.post("/referrals", referral(5)).get_json()["case_id"]
    later = intake_pg.runtime.unit_of_work()
    later.__enter__()
    record_progress(later, case_id, "paid", "org.aidflow.payout.disbursed.v1")  # holds the row, uncommitted

    def earlier():
        with intake_pg.runtime.unit_of_work() as uow:
            record_progress(uow, case_id, "approved", "org.aidflow.review.decision.recorded.v1")
            uow.commit()

    racer = threading.Thread(target=earlier)
    racer.start()
    racer.join(1.0)
    assert racer.is_alive()  # waiting for the case's row
    later.commit()
    later.__exit__(None, None, None)
    racer.join(30)
    assert not racer.is_alive()
    case = intake_pg.call("GET", f"/cases/{case_id}", "intake_clerk").get_json()
    assert case["status"] == "paid"
    assert [h["status"] for h in case["history"]][-2:] == ["paid", "approved"]


def test_a_known_person_racing_into_the_same_criminal_case_twice_is_refused_too(intake_pg):
    intake_pg.refer(referral(4, criminal_case_ref="川检刑诉〔2026〕400号"))  # the person exists already
    first = intake_pg.runtime.unit_of_work()
    first.__enter__()
    register_case(first, ReferralIn().load(referral(4)), registered_by="clerk-a")
    outcome = {}

    def second():
        try:
            with intake_pg.runtime.unit_of_work() as uow:
                register_case(uow, ReferralIn().load(referral(4)), registered_by="clerk-b")
                uow.commit()
                outcome["result"] = "committed"
        except Refused as refused:
            outcome["result"] = refused.code

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(1.0)
    assert racer.is_alive()
    first.commit()
    first.__exit__(None, None, None)
    racer.join(30)
    assert outcome == {"result": "duplicate_case"} and intake_pg.count("aid_case") == 2


def test_a_burst_of_identical_referrals_over_http_opens_one_case(intake_pg):
    results, barrier = [], threading.Barrier(6)

    def submit():
        client = intake_pg.runtime.create_app().test_client()
        from aidflow_shared.auth import mint_token
        token = mint_token(intake_pg.runtime.settings, "clerk", ["intake_clerk"], ttl=timedelta(minutes=5))
        barrier.wait()
        results.append(client.post("/api/v1/referrals", json=referral(5),
                                   headers={"Authorization": f"Bearer {token}"}).status_code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [201, 409, 409, 409, 409, 409]
    assert intake_pg.count("aid_case") == 1 and intake_pg.count("person") == 1


# -- back in hardship: follow-up refers the family again -----------------------------------------------


def test_a_family_back_in_hardship_is_a_new_case_linked_to_the_old_never_a_second_aid(intake):
    first = intake.refer(referral(8))
    person_ref = first["beneficiaries"][0]["person_ref"]
    deliver(intake, DECISION_RECORDED, decided(first["case_id"], "approved"))
    deliver(intake, PAYOUT_DISBURSED, {"payout_id": "p8", "decision_id": "d8", "case_id": first["case_id"],
                                       "beneficiary_id": first["beneficiaries"][0]["beneficiary_id"],
                                       "amount_fen": 100, "fund_id": "f", "method": "cash", "disbursed_at": utcnow()})
    deliver(intake, CASE_CLOSED, {"case_id": first["case_id"], "plans": 1, "reason": "plan_complete",
                                  "closed_at": utcnow()})
    assert intake.get(f"/cases/{first['case_id']}")["status"] == "closed"

    def rereferral(ref: str, person: str = person_ref) -> dict:
        return {"rereferral_id": f"rr-{ref}", "from_case_id": first["case_id"], "beneficiary_id": "b",
                "person_ref": person, "criminal_case_ref": ref, "relationship": "victim",
                "poverty_markers": ["returned_to_poverty_by_case"], "urgent_medical": True, "requested_at": utcnow()}

    deliver(intake, REREFERRAL_REQUESTED, rereferral(referral(8)["criminal_case_ref"]))
    deliver(intake, REREFERRAL_REQUESTED, rereferral("川检刑诉〔2027〕8号"))
    deliver(intake, REREFERRAL_REQUESTED, rereferral("川检刑诉〔2027〕9号", person="nobody"))
    answers = [e["data"] for e in intake.events("rereferral.answered.v1")]
    assert [(a["outcome"], a["reason"]) for a in answers] == [("refused", "already_aided"), ("accepted", None),
                                                              ("refused", "unknown_person")]
    new = intake.get(f"/cases/{answers[1]['case_id']}")
    assert new["case_number"] == answers[1]["case_number"] and new["rereferred_from_id"] == first["case_id"]
    assert (new["source"], new["stage"], new["status"], new["track"]) == (
        "ex_officio", "other_procuratorial", "registered", "urgent_medical")
    assert new["beneficiaries"][0]["person_ref"] == person_ref
    assert new["beneficiaries"][0]["poverty_markers"] == ["returned_to_poverty_by_case"]
    events = json.dumps(intake.events("rereferral.answered.v1"), ensure_ascii=False)
    assert resident_id(8) not in events

    deliver(intake, CASE_REOPENED, {"case_id": first["case_id"], "reason": "returned_to_hardship",
                                    "reopened_at": utcnow()})
    assert intake.get(f"/cases/{first['case_id']}")["status"] == "in_followup"


# -- personal data at rest and on screen ---------------------------------------------------------------


def test_personal_data_is_sealed_at_rest_and_never_in_events(intake):
    number, phone, name = resident_id(6), "13812345678", "王秀英"
    body = referral(6)
    body["beneficiaries"][0].update(name=name, phone=phone)
    case = intake.refer(body)
    with intake.db.engine.connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(text("SELECT * FROM person"))]
    raw = json.dumps(rows, ensure_ascii=False)
    assert number not in raw and phone not in raw and name not in raw
    assert number[:17] not in raw  # not even the digits without the check character
    with intake.db.engine.connect() as conn:
        sealed = conn.execute(text("SELECT id_number_sealed, id_index FROM person")).one()
    assert sealed.id_number_sealed.startswith("v1.") and len(sealed.id_index) == 64
    events = json.dumps(intake.events(), ensure_ascii=False)
    assert number not in events and phone not in events and name not in events
    assert case["beneficiaries"][0]["id_number"] == number  # the clerk sees them in clear
    assert case["beneficiaries"][0]["masked_fields"] == []


@pytest.mark.parametrize("role, masked", [
    ("intake_clerk", []),
    ("department_head", []),
    ("followup_worker", ["id_number", "birth_date"]),
    ("reviewer", ["id_number", "phone", "birth_date"]),
    ("chief_procurator", ["id_number", "phone", "birth_date"]),
    ("auditor", ["name", "id_number", "phone", "birth_date"]),
])
def test_personal_data_is_masked_for_roles_without_the_need(intake, role, masked):
    body = referral(7)
    body["beneficiaries"][0].update(name="李建华", phone="13987654321")
    case = intake.refer(body)
    seen = intake.get(f"/cases/{case['case_id']}", role=role)["beneficiaries"][0]
    assert seen["masked_fields"] == masked
    clear = {"name": "李建华", "id_number": resident_id(7), "phone": "13987654321"}
    for field, value in clear.items():
        assert (seen[field] == value) is (field not in masked)
    if "id_number" in masked:
        assert seen["id_number"] == resident_id(7)[:3] + "*" * 13 + resident_id(7)[-2:]
    if "phone" in masked:
        assert seen["phone"] == "139****4321"
    if "name" in masked:
        assert seen["name"] == "李**"
    listed = intake.get("/cases", role=role)["items"][0]["beneficiaries"][0]
    assert listed["masked_fields"] == masked
