"""The walking skeleton end to end: a referral becomes a case, a review, a payout and a plan.

Once on the embedded default (SQLite and the embedded transport, one process) and once on
RabbitMQ and PostgreSQL with a database per service; every hop is an event through an outbox
and the bus.
"""
from __future__ import annotations

import pytest

from support import referral, rejected_proposal, settings_for, start_system, wait_until


def run_one_case(system, n: int = 1) -> str:
    system.fund()
    case = system.refer(n)
    assert case["status"] == "accepted" and case["case_number"].startswith("JZ")
    review = system.open_review(case["case_id"])
    assert review["track"] == "standard" and len(review["beneficiaries"]) == 1
    system.approve(review, amount_fen=18_000_00)
    plans = wait_until(lambda: system.plans(case["case_id"]), what="the follow-up plan")
    assert len(plans) == 1
    wait_until(lambda: system.case_status(case["case_id"]) == "in_followup", what="intake to learn the plan opened")
    payouts = system.call("GET", "payout", f"/api/v1/payouts?case_id={case['case_id']}", "finance_officer").get_json()
    assert [(p["status"], p["amount_fen"]) for p in payouts["items"]] == [("disbursed", 18_000_00)]
    history = system.call("GET", "intake", f"/api/v1/cases/{case['case_id']}", "intake_clerk").get_json()["history"]
    assert {h["status"] for h in history} >= {"registered", "accepted", "under_review", "approved", "paid",
                                              "in_followup"}
    return case["case_id"]


def test_skeleton_on_the_embedded_default(tmp_path):
    system = start_system(settings_for(tmp_path))
    try:
        case_id = run_one_case(system)
    finally:
        system.stop()
    # A restart of the process keeps every accepted referral, and the system carries on.
    system = start_system(settings_for(tmp_path))
    try:
        assert system.case_status(case_id) == "in_followup"
        case = system.refer(2)
        review = system.open_review(case["case_id"])
        system.approve(review)
        wait_until(lambda: system.plans(case["case_id"]), what="a plan after the restart")
    finally:
        system.stop()


def test_skeleton_on_rabbitmq_and_postgresql(tmp_path, broker, pg_database):
    db_urls = {name: pg_database(name) for name in ("intake", "review", "payout", "followup")}
    system = start_system(settings_for(tmp_path, amqp_url=broker.url, db_urls=db_urls))
    try:
        run_one_case(system)
    finally:
        system.stop()


def test_rejected_case_is_closed_without_payout(tmp_path):
    system = start_system(settings_for(tmp_path))
    try:
        case = system.refer(3)
        review = system.open_review(case["case_id"])
        system.decide(review, rejected_proposal())
        wait_until(lambda: system.case_status(case["case_id"]) == "rejected", what="intake to learn the rejection")
        again = system.call("POST", "review", f"/api/v1/reviews/{review['review_id']}/proposal", "reviewer",
                            json=rejected_proposal(reason_code="other"))
        assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_decided"
        assert system.call("GET", "payout", "/api/v1/payouts", "finance_officer").get_json()["total"] == 0
    finally:
        system.stop()


def test_a_payout_waits_for_funds_and_proceeds_when_they_arrive(tmp_path):
    system = start_system(settings_for(tmp_path))
    try:
        case = system.refer(4)
        system.approve(system.open_review(case["case_id"]), amount_fen=5_000_00)
        waiting = wait_until(lambda: system.call("GET", "payout", f"/api/v1/payouts?case_id={case['case_id']}",
                                                 "finance_officer").get_json()["items"], what="the payout")
        assert waiting[0]["status"] == "awaiting_funds"
        fund = system.fund(amount_fen=5_000_00)
        # The allocation takes the waiting payout's money at once; the bank pays it a moment later.
        assert fund["available_fen"] == 0 and fund["reserved_fen"] + fund["paid_fen"] == 5_000_00
        wait_until(lambda: system.plans(case["case_id"]), what="the plan once funds arrived")
        funds = system.call("GET", "payout", "/api/v1/funds", "finance_officer").get_json()["items"]
        assert [(f["available_fen"], f["reserved_fen"], f["paid_fen"]) for f in funds] == [(0, 0, 5_000_00)]
    finally:
        system.stop()


@pytest.mark.parametrize("body, field, code", [
    (referral(5, beneficiaries=[{"name": "张三", "id_number": "110105194912310021"}]),
     "beneficiaries.0.id_number", "invalid_id_checksum"),
    (referral(5, source="ex_officio", stage=None), "stage", "required"),
    (referral(5, urgent_medical="maybe"), "urgent_medical", "invalid"),
    (referral(5, beneficiaries=[]), "beneficiaries", "length"),
    (dict(referral(5), nickname="x"), "nickname", "unknown_field"),
])
def test_bad_referrals_get_field_errors_and_nothing_is_written(tmp_path, body, field, code):
    system = start_system(settings_for(tmp_path))
    try:
        response = system.call("POST", "intake", "/api/v1/referrals", "intake_clerk", json=body)
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["code"] == "validation_failed"
        assert code in [f["code"] for f in error["fields"][field]], error
        assert system.call("GET", "intake", "/api/v1/cases", "intake_clerk").get_json()["total"] == 0
        outbox = system.runtimes["intake"].db.metadata.tables["outbox"]
        with system.runtimes["intake"].db.engine.connect() as conn:
            assert conn.execute(outbox.select()).all() == []
    finally:
        system.stop()


def test_same_person_same_criminal_case_never_gets_a_second_open_case(tmp_path):
    system = start_system(settings_for(tmp_path))
    try:
        first = system.refer(6)
        again = system.call("POST", "intake", "/api/v1/referrals", "intake_clerk",
                            json=referral(6, source="application", stage=None, application={"form": "written"}))
        assert again.status_code == 409
        assert again.get_json()["error"]["fields"]["beneficiaries.0"][0]["code"] == "duplicate_case"
        other_case = system.refer(6, criminal_case_ref="川检刑诉〔2026〕999号")
        assert other_case["warnings"][0]["code"] == "person_known"
        assert first["case_number"] in other_case["warnings"][0]["case_numbers"]
        assert other_case["beneficiaries"][0]["person_ref"] == first["beneficiaries"][0]["person_ref"]
    finally:
        system.stop()
