"""A payout's life: created from an approved decision, its money held (or waited for), paid,
cancelled, recovered; the applicant told; an advance reconciled when its paperwork is complete.

One payout per (decision, beneficiary), whatever is redelivered or replayed: the row is claimed
with an insert that the unique constraint turns into "nothing" for a second copy, on every
instance, not found by a read that two instances could both pass.
"""
from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import select

from aidflow_payout import funds, ledger
from aidflow_payout.disbursement import IN_FLIGHT, OPEN, on_reserved
from aidflow_payout.dossier import record
from aidflow_payout.errors import Refused
from aidflow_payout.orm import Decision, Instruction, Notification, Payout, Recovery
from aidflow_shared.storage import UnitOfWork, conflict_insert, new_id, utcnow

log = logging.getLogger(__name__)


def _insert_once(uow: UnitOfWork, entity, values: dict):
    """INSERT that does nothing on a unique conflict: the new row, as an object of the session
    (from the INSERT's own RETURNING, not read again), or None for a copy."""
    upsert = conflict_insert(uow.db.dialect)
    return uow.session.scalars(upsert(entity).values(**values).on_conflict_do_nothing()
                               .returning(entity)).first()


def record_decision(uow: UnitOfWork, payout_ctx, decision: dict) -> list[Payout]:
    """Remember a decision; for an approved one, a payout per award, its money held at once if a
    fund has it, and its seven-day clock started at the approval."""
    advance = bool(decision.get("advance", False))
    _insert_once(uow, Decision, dict(
        id=decision["decision_id"], case_id=decision["case_id"], outcome=decision["outcome"],
        total_fen=decision["total_fen"], advance=advance, decided_at=decision["decided_at"], received_at=utcnow()))
    if decision["outcome"] != "approved":
        return []
    created = []
    for award in decision["awards"]:
        payout = _insert_once(uow, Payout, dict(
            id=new_id(), decision_id=decision["decision_id"], case_id=decision["case_id"],
            beneficiary_id=award["beneficiary_id"], amount_fen=award["amount_fen"], status="awaiting_funds",
            method="bank_transfer", kind="advance" if advance else "standard", paid_fen=0, recovered_fen=0,
            approved_at=decision["decided_at"]))
        if payout is None:
            continue  # this decision's payout for this beneficiary exists: a copy of the event
        record(uow, payout, "approved", "review", decision_id=payout.decision_id, amount_fen=payout.amount_fen,
               advance=advance or None)
        payout_ctx.clocks.start(uow, stage="payout", subject_id=payout.id, started_at=payout.approved_at,
                                track="urgent_medical" if advance else "standard", case_id=payout.case_id)
        if funds.reserve(uow, payout):
            on_reserved(uow, payout_ctx, payout)
        else:
            _wait_for_funds(uow, payout_ctx, payout)
        created.append(payout)
    return created


def _wait_for_funds(uow: UnitOfWork, payout_ctx, payout: Payout) -> None:
    record(uow, payout, "awaiting_funds", "system", amount_fen=payout.amount_fen)
    log.warning("no fund holds enough for a payout; it waits for an allocation",
                extra={"payout_id": payout.id, "amount_fen": payout.amount_fen})
    uow.after_commit(payout_ctx.metrics.awaiting_total.inc)


def resume_waiting(uow: UnitOfWork, payout_ctx) -> list[Payout]:
    """Hold money for waiting payouts, oldest approval first, as far as the funds now reach.

    On PostgreSQL, a payout another instance is already resuming is skipped, not waited for."""
    query = select(Payout).where(Payout.status == "awaiting_funds").order_by(Payout.approved_at, Payout.id)
    if uow.db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    resumed = []
    for payout in uow.session.scalars(query).all():
        if funds.reserve(uow, payout):
            on_reserved(uow, payout_ctx, payout)
            resumed.append(payout)
    return resumed


def cancel(uow: UnitOfWork, payout_ctx, payout: Payout, reason: str, actor: str) -> None:
    """Cancel a payout before any of its money is paid; held money goes back (void)."""
    if payout.status == "cancelled":
        raise Refused("payout_cancelled", status=409)
    if payout.paid_fen > 0:
        raise Refused("already_paid", status=409)
    instructions = uow.session.scalars(select(Instruction).where(Instruction.payout_id == payout.id)).all()
    if any(i.status in IN_FLIGHT for i in instructions):
        raise Refused("payment_in_flight", status=409)
    for instruction in instructions:
        if instruction.status in OPEN:
            instruction.status = "cancelled"
    if payout.status == "reserved":
        ledger.post(uow, payout.fund_id, "void", payout.amount_fen, payout_id=payout.id, case_id=payout.case_id,
                    reference=reason[:100], actor=actor)
    now = utcnow()
    payout.status, payout.cancelled_at, payout.cancel_reason = "cancelled", now, reason
    payout_ctx.clocks.stop(uow, "payout", payout.id, now, missing_ok=True)
    record(uow, payout, "cancelled", actor, reason=reason)


def recover(uow: UnitOfWork, payout: Payout, *, amount_fen: int, reason: str, reference: str | None,
            recovered_on: date, actor: str) -> Recovery:
    """Book money recovered (追回) for ``payout`` back into its fund: paid → recovered."""
    if amount_fen > payout.paid_fen - payout.recovered_fen:
        raise Refused("validation_failed", {"amount_fen": ["exceeds_paid"]})
    recovery = Recovery(id=new_id(), payout_id=payout.id, amount_fen=amount_fen, reason=reason, reference=reference,
                        recovered_on=recovered_on, recorded_by=actor, recorded_at=utcnow())
    uow.session.add(recovery)
    ledger.post(uow, payout.fund_id, "recovery", amount_fen, payout_id=payout.id, case_id=payout.case_id,
                reference=reference, actor=actor)
    payout.recovered_fen += amount_fen
    record(uow, payout, "recovered", actor, recovery_id=recovery.id, amount_fen=amount_fen, reason=reason)
    return recovery


def notify(uow: UnitOfWork, payout: Payout, *, channel: str, notified_at, note: str | None, actor: str) -> Notification:
    """Record that the applicant was told about the money, how and when."""
    if payout.status == "cancelled":
        raise Refused("payout_cancelled", status=409)
    notification = Notification(id=new_id(), payout_id=payout.id, channel=channel, notified_at=notified_at,
                                note=note, recorded_by=actor, recorded_at=utcnow())
    uow.session.add(notification)
    record(uow, payout, "notified", actor, channel=channel)
    return notification


def complete_paperwork(uow: UnitOfWork, payout: Payout, *, final_amount_fen: int | None, actor: str) -> int:
    """An advance (先行救助) paid first has its paperwork completed: reconcile it. Returns the fen
    paid beyond the final amount, to be recovered (0 when the advance was right)."""
    if payout.kind != "advance":
        raise Refused("not_an_advance", status=409)
    if payout.paperwork_completed_at is not None:
        raise Refused("already_reconciled", status=409)
    final = payout.amount_fen if final_amount_fen is None else final_amount_fen
    if final > payout.amount_fen:  # more than the advance needs a decision of its own
        raise Refused("validation_failed", {"final_amount_fen": ["exceeds_advance"]})
    payout.paperwork_completed_at = utcnow()
    to_recover = max(0, payout.paid_fen - final)
    record(uow, payout, "paperwork_completed", actor, final_amount_fen=final, to_recover_fen=to_recover or None)
    return to_recover
