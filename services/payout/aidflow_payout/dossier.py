"""The dossier (卷宗) of a case's money: decision, approvals, instructions, bank answers, receipts,
notifications, recoveries, its ledger lines and its payout clocks, and the trail of who did what.

The trail is written by every state change (:func:`record`), in its transaction; it names
payouts, instructions, funds and amounts, never a person or an account.
"""
from __future__ import annotations

from sqlalchemy import select

from aidflow_payout.orm import (Activity, BankAnswer, Decision, Instruction, LedgerLine, Notification, Payout,
                                Recovery)
from aidflow_payout.payees import shown
from aidflow_shared.storage import utcnow


def record(uow, payout: Payout, action: str, actor: str, **detail) -> None:
    uow.session.add(Activity(case_id=payout.case_id, payout_id=payout.id, action=action, actor=actor,
                             detail={k: v for k, v in detail.items() if v is not None} or None, at=utcnow()))


def build(session, case_id: str, *, roles: frozenset[str], vault, clocks) -> dict | None:
    payouts = session.scalars(select(Payout).where(Payout.case_id == case_id).order_by(Payout.approved_at)).all()
    decisions = session.scalars(select(Decision).where(Decision.case_id == case_id)
                                .order_by(Decision.decided_at)).all()
    if not payouts and not decisions:
        return None
    ids = [p.id for p in payouts]
    instructions = session.scalars(select(Instruction).where(Instruction.payout_id.in_(ids))
                                   .order_by(Instruction.created_at, Instruction.instalment)).all()
    answers = session.scalars(select(BankAnswer).where(BankAnswer.instruction_id.in_([i.id for i in instructions]))
                              .order_by(BankAnswer.id)).all()
    opened = vault() if any(i.payee_account or i.receipt_signer for i in instructions) else None
    clock_table = clocks.table
    clock_rows = session.execute(select(clock_table).where(clock_table.c.stage == "payout",
                                                           clock_table.c.subject_id.in_(ids))).mappings().all()
    return {
        "case_id": case_id,
        "decisions": [{"decision_id": d.id, "outcome": d.outcome, "total_fen": d.total_fen, "advance": d.advance,
                       "decided_at": d.decided_at} for d in decisions],
        "payouts": payouts,
        "instructions": [instruction_view(i, roles, opened) for i in instructions],
        "bank_answers": answers,
        "notifications": session.scalars(select(Notification).where(Notification.payout_id.in_(ids))
                                          .order_by(Notification.notified_at)).all(),
        "recoveries": session.scalars(select(Recovery).where(Recovery.payout_id.in_(ids))
                                      .order_by(Recovery.recorded_at)).all(),
        "ledger": session.scalars(select(LedgerLine).where(LedgerLine.payout_id.in_(ids))
                                  .order_by(LedgerLine.id)).all(),
        "clocks": [dict(row) for row in clock_rows],
        "trail": session.scalars(select(Activity).where(Activity.case_id == case_id).order_by(Activity.id)).all(),
    }


def instruction_view(i: Instruction, roles: frozenset[str], vault) -> dict:
    """An instruction as ``roles`` may see it: payee and signer in clear only for finance officers."""
    return {
        "instruction_id": i.id, "payout_id": i.payout_id, "method": i.method, "instalment": i.instalment,
        "amount_fen": i.amount_fen, "due_on": i.due_on, "status": i.status, "idempotency_key": i.idempotency_key,
        "attempts": i.attempts, "payee_kind": i.payee_kind, "payee_bank": i.payee_bank,
        "payee_holder": shown(roles, vault, i.payee_holder, "holder_name"),
        "payee_account": shown(roles, vault, i.payee_account, "account_number"),
        "bank_reference": i.bank_reference, "failure": i.failure, "sent_at": i.sent_at,
        "answered_at": i.answered_at, "created_by": i.created_by, "created_at": i.created_at,
        "receipt": None if i.method != "cash" else {
            "receipt_number": i.receipt_number, "signed_at": i.receipt_signed_at,
            "signed_by": shown(roles, vault, i.receipt_signer, "receipt_signer"),
            "document_sha256": i.receipt_sha256},
    }
