"""Payout's booking of a bank answer, on every case's path, on SQLite and PostgreSQL: the instruction
and its payout locked in one statement, and the whole booking a handful of statements that still
does all it did (the instruction answered, the ledger line, the payout paid, its clock stopped,
the event announced, the answer kept); a repeated answer changes nothing and is kept too."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from aidflow_payout.disbursement import _claim, book
from aidflow_payout.orm import BankAnswer, Instruction, LedgerLine, Payout
from aidflow_payout.service import service as payout_service
from aidflow_shared.contracts.catalogue import DECISION_RECORDED
from aidflow_shared.envelope import new_event
from test_payout_support import PayoutUnderTest


@pytest.fixture
def payout(tmp_path, database_url):
    running = PayoutUnderTest(tmp_path, database_url=database_url, start=False)
    yield running
    try:
        running.audit()
    finally:
        running.stop()


def decided(payout, beneficiary_id: str, amount_fen: int) -> str:
    """Review's approval handled as the consumer would, in its own transaction; the case's id."""
    data = {"decision_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "outcome": "approved",
            "awards": [{"beneficiary_id": beneficiary_id, "amount_fen": amount_fen}], "total_fen": amount_fen,
            "reason_code": None, "decided_at": datetime.now(timezone.utc)}
    message = new_event(DECISION_RECORDED.type, data, source="/aidflow/review", subject=data["case_id"])
    with payout.runtime.unit_of_work(correlation_id=message.id) as uow:
        payout_service.handlers[DECISION_RECORDED.type](message, uow)
        uow.commit()
    return data["case_id"]


def booked(payout, answer) -> tuple[bool, list[str]]:
    """Book one answer; whether it changed anything and the statements it sent."""
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.split("\n")[0])
    event.listen(payout.runtime.db.engine, "before_cursor_execute", record)
    try:
        applied = book(payout.ctx, answer, "submit")
    finally:
        event.remove(payout.runtime.db.engine, "before_cursor_execute", record)
    return applied, [s for s in statements if not s.startswith("BEGIN")]


def locking(statements: list[str]) -> list[str]:
    """The reads of the instruction and its payout (the clock has its own, when it stops)."""
    return [s for s in statements if s.startswith("SELECT") and "deadline_clock" not in s]


def answered(payout, beneficiary_id: str):
    """Claim the pending instruction of this beneficiary's payout and have the sandbox bank answer it."""
    [(_, _, order)] = [c for c in _claim(payout.ctx, None, 50) if c[2].payee_reference == beneficiary_id]
    return payout.ctx.bank.submit(order)


def test_a_bank_answer_is_booked_in_a_handful_of_statements(payout):
    payout.fund(100_000_00)
    decided(payout, "b-warm", 1_000_00)  # the first booking builds caches
    assert booked(payout, answered(payout, "b-warm"))[0] is True

    case_id = decided(payout, "b-1", 20_000_00)
    answer = answered(payout, "b-1")
    applied, statements = booked(payout, answer)
    assert applied is True
    # The instruction and its payout locked in one read; the fund moved, the ledger line, the
    # dossier entry, the clock stopped, the event, the answer kept, the instruction and payout
    # updated, the commit. The two were locked one after the other before.
    assert len(locking(statements)) == 1, "\n".join(statements)
    assert len(statements) <= 11, statements

    with payout.runtime.db.sessions() as session:
        paid = session.scalars(select(Payout).where(Payout.case_id == case_id)).one()
        instruction = session.scalars(select(Instruction).where(Instruction.payout_id == paid.id)).one()
        assert (paid.status, paid.paid_fen, paid.disbursed_at is not None) == ("disbursed", 20_000_00, True)
        assert (instruction.status, instruction.bank_reference) == ("accepted", answer.bank_reference)
        assert instruction.lease_until is None and instruction.answered_at is not None
        lines = session.scalars(select(LedgerLine).where(LedgerLine.payout_id == paid.id)
                                .order_by(LedgerLine.id)).all()
        assert [line.kind for line in lines] == ["reservation", "disbursement"]
        assert [a.applied for a in session.scalars(select(BankAnswer).where(
            BankAnswer.instruction_id == instruction.id))] == [True]
    assert [json.loads(row.body)["subject"] for row in payout.outbox("payout.disbursed.v1")].count(case_id) == 1

    again, statements = booked(payout, answer)  # the bank says it again: nothing changes
    assert again is False
    assert len(locking(statements)) == 1 and len(statements) <= 3, "\n".join(statements)
    assert payout.count(LedgerLine, kind="disbursement") == 2
    assert len(payout.outbox("payout.disbursed.v1")) == 2
    assert payout.count(BankAnswer, applied=False) == 1


def test_a_ledger_line_is_one_update_and_one_insert_and_a_loaded_fund_sees_it(payout):
    """The line is written with a prebuilt INSERT, the fund moved with a prebuilt conditional
    UPDATE; a fund the transaction has loaded shows the new balances, as the ORM's update did."""
    from aidflow_payout import ledger
    from aidflow_payout.orm import Fund
    fund_id = payout.fund(0)["fund_id"]
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.split("\n")[0])
    with payout.runtime.unit_of_work() as uow:
        fund = uow.session.get(Fund, fund_id)
        assert fund.available_fen == 0
        event.listen(payout.runtime.db.engine, "before_cursor_execute", record)
        try:
            line = ledger.post(uow, fund_id, "allocation", 5_000_00, reference="拨款-1", actor="finance")
            with pytest.raises(ledger.InsufficientBalance):
                ledger.post(uow, fund_id, "reservation", 6_000_00, payout_id="p-1")
        finally:
            event.remove(payout.runtime.db.engine, "before_cursor_execute", record)
        assert [s.split(" ")[0] for s in statements] == ["UPDATE", "INSERT", "UPDATE"]  # the refused one writes nothing
        assert (fund.allocated_fen, fund.available_fen) == (5_000_00, 5_000_00)
        assert line.id and (line.debit, line.credit, line.amount_fen) == ("available", "allocations", 5_000_00)
        uow.commit()
    with payout.runtime.db.sessions() as session:
        [stored] = session.scalars(select(LedgerLine).where(LedgerLine.fund_id == fund_id)).all()
    assert (stored.id, stored.kind, stored.reference, stored.actor) == (line.id, "allocation", "拨款-1", "finance")
