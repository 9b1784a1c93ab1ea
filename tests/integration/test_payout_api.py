"""Payout's API in ``instructed`` mode, where finance officers say how to pay: bank accounts
(sealed, masked), cash against a receipt, escrow instalments for minors; refusals that write
nothing; ``Idempotency-Key``; cancellation, recovery, advances, notifications; the ledger
exports and the reconciliation. Each test runs on SQLite with the embedded bus and on PostgreSQL
with RabbitMQ; the ledger is audited after each (``start_payout``)."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from aidflow_payout.disbursement import sweep, today
from aidflow_payout.orm import Activity, IdempotentRequest, Instruction, LedgerLine
from support import wait_until
from test_payout_support import start_payout  # noqa: F401 - the fixture

__all__ = ["start_payout"]

ACCOUNT = "6222 0212 3456 7890 123"
PAYEE = {"holder_name": "李小明", "account_number": ACCOUNT, "bank_name": "中国工商银行成都分行"}


@pytest.fixture(params=["sqlite", "postgres"])
def payout(request):
    if request.param == "sqlite":
        return request.getfixturevalue("start_payout")(disbursement="instructed")
    # The database and the broker first, so that they outlive the runtime at teardown.
    url, amqp_url = request.getfixturevalue("pg_database")("payout"), request.getfixturevalue("broker").url
    return request.getfixturevalue("start_payout")(url, amqp_url=amqp_url, disbursement="instructed")


def approved(payout, amount_fen: int = 10_000_00, beneficiary: str = "b-1", **kw) -> dict:
    """An approved decision whose money is reserved; its ids."""
    envelope = payout.decide((beneficiary, amount_fen), **kw)
    data = json.loads(envelope.to_json())["data"]
    [reserved] = payout.wait_for("reserved", decision_id=data["decision_id"])
    return {"decision_id": data["decision_id"], "beneficiary_id": beneficiary, "case_id": data["case_id"],
            "payout_id": reserved.id}


def transfer(payout, ids, amount_fen=10_000_00, payee=PAYEE, headers=None, **extra):
    body = {"decision_id": ids["decision_id"], "beneficiary_id": ids["beneficiary_id"], "method": "bank_transfer",
            "amount_fen": amount_fen, "payee": payee, **extra}
    return payout.call("POST", "/api/v1/disbursements", json=body, headers=headers)


def written(payout) -> tuple:
    return (payout.count(Instruction), payout.count(LedgerLine), payout.count(IdempotentRequest),
            payout.count(Activity), len(payout.outbox("payout.disbursed.v1")))


def test_a_bank_transfer_to_the_account_given_sealed_and_masked(payout):
    payout.fund(50_000_00)
    ids = approved(payout)
    response = transfer(payout, ids)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["payout"]["status"] == "disbursed" and body["instructions"][0]["status"] == "accepted"
    assert body["instructions"][0]["payee_account"] == ACCOUNT.replace(" ", "")  # the finance officer sees it
    with payout.runtime.db.engine.connect() as conn:
        stored = conn.execute(text("SELECT payee_holder, payee_account FROM instruction")).one()
    assert "李小明" not in str(stored) and "6222" not in str(stored)  # sealed at rest
    dossier = payout.call("GET", f"/api/v1/cases/{ids['case_id']}/dossier", "auditor").get_json()
    [shown] = dossier["instructions"]
    assert shown["payee_holder"] == "李**" and shown["payee_account"] == "6222***********0123"
    events = [json.loads(r.body) for r in payout.outbox("payout.disbursed.v1")]
    assert "6222" not in json.dumps(events) and "李" not in json.dumps(events)


def test_a_rejected_transfer_keeps_the_money_reserved_until_corrected(payout):
    payout.fund(10_000_00)
    ids = approved(payout)
    closed = transfer(payout, ids, payee=dict(PAYEE, account_number="6222021234564001"))
    assert closed.status_code == 201
    assert closed.get_json()["instructions"][0]["failure"] == "account_closed"
    assert closed.get_json()["payout"]["status"] == "reserved"
    assert payout.funds()[0].reserved_fen == 10_000_00
    corrected = transfer(payout, ids)
    assert corrected.get_json()["payout"]["status"] == "disbursed"
    assert [t["amount_fen"] for t in payout.ctx.bank.transfers() if t["outcome"] == "accepted"] == [10_000_00]


def test_cash_against_a_signed_receipt(payout):
    payout.fund(10_000_00)
    ids = approved(payout, 3_000_00)
    receipt = {"receipt_number": "JZ-2026-001", "signed_by": "王大妈",
               "signed_at": datetime.now(timezone.utc).isoformat(), "document_sha256": "a" * 64}
    paid = payout.call("POST", "/api/v1/disbursements", json={
        "decision_id": ids["decision_id"], "beneficiary_id": "b-1", "method": "cash", "amount_fen": 3_000_00,
        "receipt": receipt})
    assert paid.status_code == 201, paid.get_json()
    assert paid.get_json()["payout"]["status"] == "disbursed"
    assert paid.get_json()["instructions"][0]["receipt"]["signed_by"] == "王大妈"
    assert payout.ctx.bank.transfers() == []  # no bank involved
    [event] = [json.loads(r.body)["data"] for r in payout.outbox("payout.disbursed.v1")]
    assert event["method"] == "cash"


def test_escrow_for_a_minor_pays_the_guardian_in_instalments_on_schedule(payout):
    payout.fund(20_000_00)
    ids = approved(payout, 12_000_00)
    start = today()
    schedule = [{"due_on": (start + timedelta(days=30 * n)).isoformat(), "amount_fen": 4_000_00} for n in range(3)]
    short = [dict(item) for item in schedule]
    short[2]["amount_fen"] = 3_999_99
    before = written(payout)
    refused = payout.call("POST", "/api/v1/disbursements", json={
        "decision_id": ids["decision_id"], "beneficiary_id": "b-1", "method": "escrow", "payee": PAYEE,
        "schedule": short})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["schedule"][0]["code"] == "schedule_sum_mismatch"
    assert written(payout) == before
    made = payout.call("POST", "/api/v1/disbursements", json={
        "decision_id": ids["decision_id"], "beneficiary_id": "b-1", "method": "escrow", "payee": PAYEE,
        "schedule": schedule})
    assert made.status_code == 201, made.get_json()
    assert [i["status"] for i in made.get_json()["instructions"]] == ["accepted", "scheduled", "scheduled"]
    assert made.get_json()["payout"]["status"] == "in_escrow"
    # The runtime's own worker sweeps too and may be the one that sends a released instalment:
    # wait for the money, whoever sent it.
    sweep(payout.ctx, on=start + timedelta(days=30))
    wait_until(lambda: payout.payouts()[0].paid_fen == 8_000_00, what="the second instalment")
    sweep(payout.ctx, on=start + timedelta(days=60))
    wait_until(lambda: payout.payouts()[0].status == "disbursed", what="the last instalment")
    [done] = payout.payouts()
    assert (done.status, done.paid_fen) == ("disbursed", 12_000_00)
    assert len(payout.outbox("payout.disbursed.v1")) == 1  # follow-up starts on the first money
    [fund] = payout.funds()
    assert (fund.reserved_fen, fund.paid_fen) == (0, 12_000_00)


@pytest.mark.parametrize("change, field, code", [
    ({"amount_fen": -100}, "amount_fen", "range"),
    ({"amount_fen": 0}, "amount_fen", "range"),
    ({"amount_fen": 10000.5}, "amount_fen", "not_whole_fen"),
    ({"amount_fen": "10000.00"}, "amount_fen", "not_whole_fen"),
    ({"amount_fen": 9_999_99}, "amount_fen", "amount_mismatch"),
    ({"currency": "USD"}, "currency", "currency_not_supported"),
    ({"decision_id": "no-such-decision"}, "decision_id", "unknown_decision"),
    ({"beneficiary_id": "someone-else"}, "beneficiary_id", "not_in_decision"),
    ({"payee": dict(PAYEE, account_number="12-AB")}, "payee.account_number", "invalid_account_number"),
    ({"receipt": {"receipt_number": "1", "signed_by": "王", "signed_at": "2026-01-05T08:00:00Z"}}, "receipt",
     "not_allowed_for_method"),
])
def test_bad_disbursements_are_refused_by_field_and_write_nothing(payout, change, field, code):
    payout.fund(20_000_00)
    ids = approved(payout)
    before = written(payout)
    response = transfer(payout, dict(ids, **{k: v for k, v in change.items() if k in ids}),
                        headers={"Idempotency-Key": "k-1", "Accept-Language": "en"},
                        **{k: v for k, v in change.items() if k not in ids})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert code in [f["code"] for f in error["fields"][field]], error
    assert all(f["message"] != f["code"] for problems in error["fields"].values() for f in problems)
    assert written(payout) == before
    # Corrected, with the same key: accepted (the refusal kept nothing, not even the key).
    assert transfer(payout, ids, headers={"Idempotency-Key": "k-1"}).status_code == 201


def test_a_rejected_decision_cannot_be_paid(payout):
    envelope = payout.decide(("b-1", 5_000_00), outcome="rejected")
    data = json.loads(envelope.to_json())["data"]
    from aidflow_payout.orm import Decision
    from support import wait_until
    wait_until(lambda: payout.count(Decision, id=data["decision_id"]), what="the decision to arrive")
    response = transfer(payout, {"decision_id": data["decision_id"], "beneficiary_id": "b-1"}, amount_fen=5_000_00)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["decision_id"][0]["code"] == "decision_not_approved"
    assert payout.payouts() == []


def test_idempotency_key_replays_the_answer_and_refuses_another_body(payout):
    payout.fund(20_000_00)
    ids = approved(payout)
    first = transfer(payout, ids, headers={"Idempotency-Key": "pay-b-1"})
    again = transfer(payout, ids, headers={"Idempotency-Key": "pay-b-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and first.headers["Idempotent-Replayed"] == "false"
    assert again.get_json() == first.get_json()
    other = transfer(payout, ids, headers={"Idempotency-Key": "pay-b-1"}, payee=dict(PAYEE, holder_name="李大明"))
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_conflict"
    assert payout.count(Instruction) == 1 and payout.count(LedgerLine, kind="disbursement") == 1
    allocation = {"amount_fen": 1_000_00, "reference": "财预〔2026〕12号"}
    fund_id = payout.funds()[0].id
    for _ in range(3):
        assert payout.call("POST", f"/api/v1/funds/{fund_id}/allocations", json=allocation,
                           headers={"Idempotency-Key": "alloc-12"}).status_code == 201
    assert payout.funds()[0].allocated_fen == 21_000_00


def test_cancel_voids_the_reservation_and_a_paid_payout_cannot_be_cancelled(payout):
    payout.fund(10_000_00)
    ids = approved(payout, 6_000_00)
    cancelled = payout.call("POST", f"/api/v1/payouts/{ids['payout_id']}/cancel", json={"reason": "申请人撤回申请"})
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    [fund] = payout.funds()
    assert (fund.available_fen, fund.reserved_fen) == (10_000_00, 0)
    other = approved(payout, 4_000_00, beneficiary="b-2")
    assert transfer(payout, other, amount_fen=4_000_00).status_code == 201
    wait_until(lambda: payout.payouts(id=other["payout_id"])[0].status == "disbursed", what="the transfer")
    again = payout.call("POST", f"/api/v1/payouts/{other['payout_id']}/cancel", json={"reason": "x"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_paid"


def test_recovery_goes_back_into_the_fund(payout):
    payout.fund(10_000_00)
    ids = approved(payout, 8_000_00)
    transfer(payout, ids, amount_fen=8_000_00)
    path = f"/api/v1/payouts/{ids['payout_id']}/recoveries"
    too_much = payout.call("POST", path, json={"amount_fen": 8_000_01, "reason": "fraud",
                                               "recovered_on": today().isoformat()})
    assert too_much.status_code == 422
    assert too_much.get_json()["error"]["fields"]["amount_fen"][0]["code"] == "exceeds_paid"
    got = payout.call("POST", path, json={"amount_fen": 3_000_00, "reason": "liable_party_paid",
                                          "reference": "(2026)川0104执123号", "recovered_on": today().isoformat()})
    assert got.status_code == 201, got.get_json()
    [fund] = payout.funds()
    assert (fund.allocated_fen, fund.available_fen, fund.paid_fen, fund.recovered_fen) == (
        10_000_00, 2_000_00, 5_000_00, 3_000_00)


def test_an_advance_is_paid_at_once_and_reconciled_when_the_paperwork_completes(payout):
    payout.fund(10_000_00)
    envelope = payout.decide(("b-9", 5_000_00), advance=True)
    [paid] = payout.wait_for("disbursed", decision_id=json.loads(envelope.to_json())["data"]["decision_id"])
    assert paid.kind == "advance"  # paid at once although this deployment waits for instructions
    ordinary = approved(payout, 1_000_00, beneficiary="b-8")
    assert payout.call("POST", f"/api/v1/payouts/{ordinary['payout_id']}/paperwork", json={}).status_code == 409
    done = payout.call("POST", f"/api/v1/payouts/{paid.id}/paperwork", json={"final_amount_fen": 4_500_00})
    assert done.status_code == 200 and done.get_json()["to_recover_fen"] == 500_00
    assert done.get_json()["payout"]["paperwork_completed_at"]
    twice = payout.call("POST", f"/api/v1/payouts/{paid.id}/paperwork", json={})
    assert twice.get_json()["error"]["code"] == "already_reconciled"


def test_notification_recorded_in_the_dossier(payout):
    payout.fund(10_000_00)
    ids = approved(payout)
    made = payout.call("POST", f"/api/v1/payouts/{ids['payout_id']}/notifications",
                       json={"channel": "phone", "notified_at": datetime.now(timezone.utc).isoformat()})
    assert made.status_code == 201, made.get_json()
    dossier = payout.call("GET", f"/api/v1/cases/{ids['case_id']}/dossier", "chief_procurator").get_json()
    assert [n["channel"] for n in dossier["notifications"]] == ["phone"]
    assert payout.call("GET", f"/api/v1/cases/{ids['case_id']}/dossier", "intake_clerk").status_code == 403
    assert payout.call("POST", f"/api/v1/payouts/{ids['payout_id']}/cancel", "auditor",
                       json={"reason": "x"}).status_code == 403


def test_ledger_exports_with_period_totals_and_a_balanced_reconciliation(payout):
    payout.fund(30_000_00)
    for n, amount in enumerate((10_000_00, 5_000_00)):
        ids = approved(payout, amount, beneficiary=f"b-{n}")
        transfer(payout, ids, amount_fen=amount)
    approved(payout, 2_000_00, beneficiary="b-held")
    month = today().strftime("%Y-%m")
    as_json = payout.call("GET", "/api/v1/ledger", "auditor").get_json()
    assert [p["period"] for p in as_json["periods"]] == [month]
    period = as_json["periods"][0]
    assert (period["allocation"], period["reservation"], period["disbursement"]) == (30_000_00, 17_000_00, 15_000_00)
    assert as_json["totals"][0]["closing"] == {"allocations": 30_000_00, "available": 13_000_00,
                                               "reserved": 2_000_00, "paid": 15_000_00, "recovered": 0}

    exported = payout.call("GET", f"/api/v1/ledger?format=csv&from={today()}&to={today()}", "auditor")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "时间（北京）", "资金编号"]
    assert ["reservation", "reserved", "available", "1000000", "10000.00"] == rows[2][5 - 1:9]
    assert [month, as_json["periods"][0]["fund_id"], "6"] == rows[rows.index([]) + 2][:3]

    book = load_workbook(io.BytesIO(payout.call("GET", "/api/v1/ledger?format=xlsx", "auditor",
                                                headers={"Accept-Language": "en"}).get_data()))
    assert book.sheetnames == ["ledger", "periods", "balances"]
    assert book["ledger"].max_row == 1 + 6 and book["ledger"]["I2"].value == "=H2/100"
    assert [c.value for c in book["periods"][2]][:4] == [month, period["fund_id"], 6, 30_000_00]

    report = payout.call("GET", "/api/v1/reconciliation", "auditor").get_json()
    assert report["balanced"], report["problems"]
    [row] = report["approvals"]
    assert (row["approved"], row["reserved"], row["paid"], row["awaiting"]) == (17_000_00, 2_000_00, 15_000_00, 0)


def test_the_ledger_is_append_only(payout):
    payout.fund(1_000_00)
    for statement in ("UPDATE ledger_line SET amount_fen = 1", "DELETE FROM ledger_line"):
        with pytest.raises(DBAPIError, match="append-only"):
            with payout.runtime.db.engine.begin() as conn:
                conn.execute(text(statement))
    with payout.runtime.db.engine.connect() as conn:
        assert conn.execute(select(func.sum(LedgerLine.amount_fen))).scalar() == 1_000_00
