"""Payout on RabbitMQ and PostgreSQL: approval → reservation → payment → ledger, exactly once,
never overdrawn by racing instances, waiting for funds and resuming, and a bank that times out
and answers late. The ledger is audited after every test (``start_payout``)."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from aidflow_payout.bank import BankAnswer as Answer
from aidflow_payout.disbursement import book, sweep
from aidflow_payout.orm import BankAnswer, Instruction, LedgerLine, Payout
from aidflow_payout.payouts import record_decision
from support import wait_until
from test_payout_support import start_payout  # noqa: F401 - the fixture

__all__ = ["start_payout"]


def consumed(running, outcome: str) -> float:
    return running.runtime.metrics.registry.get_sample_value(
        "aidflow_bus_consumed_total", {"service": "payout", "outcome": outcome}) or 0


def test_approval_becomes_a_payment_and_ledger_lines(broker, pg_database, start_payout):
    payout = start_payout(pg_database("payout"), amqp_url=broker.url)
    fund = payout.fund(100_000_00)
    decision = payout.decide(("b-1", 30_000_00), ("b-2", 20_000_00))
    paid = payout.wait_for("disbursed", 2)
    assert sorted((p.beneficiary_id, p.paid_fen) for p in paid) == [("b-1", 30_000_00), ("b-2", 20_000_00)]

    [after] = payout.funds()
    assert (after.allocated_fen, after.available_fen, after.reserved_fen, after.paid_fen) == (
        100_000_00, 50_000_00, 0, 50_000_00)
    with payout.runtime.db.sessions() as session:
        kinds = [line.kind for line in session.scalars(select(LedgerLine).order_by(LedgerLine.id))]
    assert kinds.count("reservation") == 2 and kinds.count("disbursement") == 2 and kinds[0] == "allocation"
    events = [json.loads(row.body)["data"] for row in payout.outbox("payout.disbursed.v1")]
    assert sorted(e["amount_fen"] for e in events) == [20_000_00, 30_000_00]
    assert {e["fund_id"] for e in events} == {fund["fund_id"]}

    case_id = json.loads(decision.to_json())["data"]["case_id"]
    dossier = payout.call("GET", f"/api/v1/cases/{case_id}/dossier", "auditor").get_json()
    assert [d["outcome"] for d in dossier["decisions"]] == ["approved"]
    assert {i["status"] for i in dossier["instructions"]} == {"accepted"}
    assert {c["outcome"] for c in dossier["clocks"]} == {"met"}  # paid within seven days of approval
    assert [a["action"] for a in dossier["trail"]].count("paid") == 2
    report = payout.call("GET", "/api/v1/reconciliation", "auditor").get_json()
    assert report["balanced"], report["problems"]


def test_the_same_approval_three_times_and_resent_with_a_new_id_pays_once(broker, pg_database, start_payout):
    payout = start_payout(pg_database("payout"), amqp_url=broker.url)
    payout.fund(50_000_00)
    first = payout.decide(("b-1", 12_000_00))
    payout.decide(envelope=first)
    payout.decide(envelope=first)
    resent = json.loads(first.to_json())
    resent["id"] = str(uuid.uuid4())  # the producer replayed it: same decision, new message
    from aidflow_shared.envelope import parse
    payout.decide(envelope=parse(json.dumps(resent), content_type="application/cloudevents+json",
                                 message_id=resent["id"], type=resent["type"]))
    wait_until(lambda: consumed(payout, "duplicate") == 2 and consumed(payout, "handled") == 2,
               what="three copies dropped by the inbox, the new id handled without effect")
    payout.wait_for("disbursed")
    assert len(payout.payouts()) == 1
    assert payout.count(LedgerLine, kind="reservation") == 1 and payout.count(LedgerLine, kind="disbursement") == 1
    assert len(payout.outbox("payout.disbursed.v1")) == 1
    assert [t["amount_fen"] for t in payout.ctx.bank.transfers()] == [12_000_00]


def test_two_instances_racing_for_the_last_money_never_overdraw(broker, pg_database, start_payout):
    url = pg_database("payout")
    first = start_payout(url, amqp_url=broker.url)
    second = start_payout(url, amqp_url=broker.url)
    first.fund(5_000_00)
    # Through the bus: twelve approvals of 1,000 yuan, consumed by both instances at once.
    for n in range(12):
        first.decide((f"b-{n}", 1_000_00))
    wait_until(lambda: len(first.payouts()) == 12, what="twelve payouts")
    first.wait_for("disbursed", 5)
    wait_until(lambda: len(first.payouts(status="awaiting_funds")) == 7, what="seven waiting")
    [fund] = first.funds()
    assert (fund.available_fen, fund.reserved_fen, fund.paid_fen) == (0, 0, 5_000_00)

    # Head to head: two instances approve in the same instant, with money for one of them.
    for waiting in first.payouts(status="awaiting_funds"):
        assert second.call("POST", f"/api/v1/payouts/{waiting.id}/cancel", json={"reason": "test"}).status_code == 200
    second.fund(1_000_00, name="the last")
    barrier = threading.Barrier(2)
    results = []

    def approve(running, beneficiary):
        with running.runtime.unit_of_work() as uow:
            barrier.wait()
            made = record_decision(uow, running.ctx, {
                "decision_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "outcome": "approved",
                "awards": [{"beneficiary_id": beneficiary, "amount_fen": 1_000_00}], "total_fen": 1_000_00,
                "decided_at": datetime.now(timezone.utc)})
            uow.commit()
        results.append(made[0].status)

    threads = [threading.Thread(target=approve, args=(r, f"race-{i}")) for i, r in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["awaiting_funds", "reserved"]
    assert all(f.available_fen >= 0 and f.reserved_fen >= 0 for f in first.funds())
    assert sum(f.paid_fen + f.reserved_fen for f in first.funds()) == 6_000_00
    first.wait_for("disbursed", 6)


def test_awaiting_funds_is_seen_asked_for_and_resumes_when_money_arrives(broker, pg_database, start_payout):
    payout = start_payout(pg_database("payout"), amqp_url=broker.url)
    empty = payout.fund(0)
    payout.decide(("b-1", 7_000_00))
    payout.decide(("b-2", 3_000_00))
    payout.wait_for("awaiting_funds", 2)
    metrics = payout.client.get("/metrics").get_data(as_text=True)
    assert "aidflow_payout_awaiting_funds 2.0" in metrics
    assert "aidflow_payout_awaiting_funds_fen 1e+06" in metrics
    assert metrics.count("# TYPE aidflow_payout_awaiting_funds ") == 1
    assert payout.runtime.metrics.registry.get_sample_value("aidflow_payout_awaiting_funds_started_total") == 2

    asked = payout.call("POST", "/api/v1/fund-requests", json={"year": empty["year"], "source": "finance_bureau",
                                                               "reason": "两名救助对象待拨款"})
    assert asked.status_code == 201 and asked.get_json()["amount_fen"] == 10_000_00  # the shortfall
    [sent] = payout.outbox("payout.fund.requested.v1")
    assert sent.exchange == "aidflow.partners" and sent.routing_key == "finance-bureau.fund.requested.v1"
    assert "b-1" not in sent.body  # a request for money, never a person
    wait_until(lambda: payout.outbox("payout.fund.requested.v1")[0].sent_at, what="the request to reach the broker")

    payout.call("POST", f"/api/v1/funds/{empty['fund_id']}/allocations",
                json={"amount_fen": 10_000_00, "fund_request_id": asked.get_json()["request_id"]})
    payout.wait_for("disbursed", 2)
    requests = payout.call("GET", "/api/v1/fund-requests", "auditor").get_json()["items"]
    assert [(r["status"], r["allocated_fen"]) for r in requests] == [("answered", 10_000_00)]


def test_a_bank_that_times_out_and_answers_late_pays_once(broker, pg_database, start_payout):
    payout = start_payout(pg_database("payout"), amqp_url=broker.url, resend_after=0,
                          sandbox_rules="registered:b-late=timeout;registered:b-lost=lost;registered:b-twice=twice")
    payout.fund(30_000_00)
    for beneficiary in ("b-late", "b-lost", "b-twice"):
        payout.decide((beneficiary, 10_000_00))
    paid = payout.wait_for("disbursed", 3)
    assert len(paid) == 3

    # Whatever the worker does next (ask again, resend with the same key), nothing more is paid.
    for _ in range(3):
        sweep(payout.ctx)
    with payout.runtime.db.sessions() as session:
        instruction = session.scalars(select(Instruction).join(Payout, Payout.id == Instruction.payout_id)
                                      .where(Payout.beneficiary_id == "b-late")).one()
        answers = session.scalars(select(BankAnswer).order_by(BankAnswer.id)).all()
    assert book(payout.ctx, Answer(instruction.idempotency_key, "accepted", instruction.bank_reference), "status") \
        is False
    transfers = payout.ctx.bank.transfers()
    assert sorted(t["payee_key"] for t in transfers) == ["registered:b-late", "registered:b-lost", "registered:b-twice"]
    assert payout.count(LedgerLine, kind="disbursement") == 3
    assert len(payout.outbox("payout.disbursed.v1")) == 3
    applied = [a for a in answers if a.applied]
    assert len(applied) == 3 and len(answers) > 3  # the late and the repeated answers were booked, unapplied
    assert {a.via for a in answers if not a.applied} & {"notification", "status"}
    by_payee = {t["payee_key"]: t for t in transfers}
    assert by_payee["registered:b-lost"]["submissions"] == 1  # lost once, executed once when resent
