"""Disbursement: instructions to pay, sending them to the bank, and booking its answers.

An instruction is one order to pay: the whole remaining amount by bank transfer, in cash against
a signed receipt, or one instalment of a minor's escrow to the guardian. Its life::

    scheduled ──(due day)──▶ pending ──claim──▶ sending ──answer──▶ accepted │ rejected
                                                   └──timeout──▶ unknown ──status / late answer──┘

Sending happens outside any database transaction (a bank is slow and may not answer), between
two short ones: the claim (``pending`` → ``sending``, with a lease) and the answer. The bank
executes each idempotency key at most once, so whatever is sent twice (after a timeout, a crash,
by two instances) is paid once; and an answer is booked only while the instruction still waits
for one, so an answer that comes twice, or late, changes nothing the second time. Accepting
posts the disbursement (reserved → paid) in the same transaction that books the answer.
"""
from __future__ import annotations

import logging
import time
from datetime import date, timedelta

from sqlalchemy import select, update

from aidflow_payout import ledger
from aidflow_payout.bank import BankAnswer, BankTimeout, PaymentOrder
from aidflow_payout.dossier import record
from aidflow_payout.errors import Refused
from aidflow_payout.funds import lock
from aidflow_payout.orm import BankAnswer as BankAnswerRow, Instruction, Payout
from aidflow_payout.payees import normalise_account
from aidflow_shared.calendar import beijing_today
from aidflow_shared.contracts.catalogue import PAYOUT_DISBURSED
from aidflow_shared.storage import UnitOfWork, new_id, utcnow

log = logging.getLogger(__name__)

OPEN = ("scheduled", "pending")  # not yet sent: may be replaced
IN_FLIGHT = ("sending", "unknown")  # sent, no answer booked: blocks any other instruction


today = beijing_today  # the day instalments fall due and schedules are checked against


# -- instructing --------------------------------------------------------------------------------


def on_reserved(uow: UnitOfWork, payout_ctx, payout: Payout) -> None:
    """Money is held for ``payout``: in automatic mode, and always for an advance (先行救助), pay it
    at once to the account on record for the beneficiary."""
    if payout_ctx.automatic or payout.kind == "advance":
        _new(uow, payout, method="bank_transfer", amount_fen=payout.amount_fen - payout.paid_fen,
             payee_kind="registered", actor="system", status="pending")
        uow.after_commit(payout_ctx.wake)


def instruct(uow: UnitOfWork, payout_ctx, payout: Payout, body: dict, actor: str) -> tuple[list[Instruction], list]:
    """A finance officer says how to pay what remains of ``payout``; returns the instructions and
    warnings. Instructions not yet sent are replaced; one already sent must be answered first."""
    _check_payable(uow, payout)
    remaining = payout.amount_fen - payout.paid_fen
    method = body["method"]
    if method == "escrow":
        _check_schedule(body["schedule"], remaining)
    elif body["amount_fen"] != remaining:
        raise Refused("validation_failed", {"amount_fen": ["amount_mismatch"]})
    for stale in uow.session.scalars(select(Instruction).where(Instruction.payout_id == payout.id,
                                                               Instruction.status.in_(OPEN))):
        stale.status = "cancelled"
    uow.session.flush()
    payout.method, payout.failure = method, None
    vault = payout_ctx.vault
    warnings = []
    if method == "cash":
        receipt = body["receipt"]
        instruction = _new(uow, payout, method="cash", amount_fen=remaining, payee_kind="cash", actor=actor,
                           status="accepted", receipt_number=receipt["receipt_number"],
                           receipt_signer=vault.seal(receipt["signed_by"], field="receipt_signer"),
                           receipt_signed_at=receipt["signed_at"], receipt_sha256=receipt.get("document_sha256"),
                           answered_at=utcnow())
        _pay(uow, payout_ctx, payout, instruction)
        return [instruction], warnings
    payee = body["payee"]
    account = normalise_account(payee["account_number"])
    sealed = dict(payee_kind="account", payee_holder=vault.seal(payee["holder_name"], field="holder_name"),
                  payee_account=vault.seal(account, field="account_number"),
                  payee_account_index=vault.index(account, field="account_number"), payee_bank=payee["bank_name"])
    others = uow.session.scalars(select(Payout.beneficiary_id).join(Instruction, Instruction.payout_id == Payout.id)
                                 .where(Instruction.payee_account_index == sealed["payee_account_index"],
                                        Payout.beneficiary_id != payout.beneficiary_id).distinct()).all()
    if others:  # one account for several people: possible, and worth a second look
        warnings.append({"code": "account_used_for_other_beneficiary", "beneficiary_ids": sorted(others)})
    if method == "bank_transfer":
        made = _new(uow, payout, method=method, amount_fen=remaining, actor=actor, status="pending", **sealed)
        return [made], warnings
    first, day = _next_instalment(uow, payout), today()
    instalments = [_new(uow, payout, method="escrow", amount_fen=item["amount_fen"], due_on=item["due_on"],
                        instalment=first + n, actor=actor, status="pending" if item["due_on"] <= day else "scheduled",
                        **sealed)
                   for n, item in enumerate(body["schedule"])]
    record(uow, payout, "escrow_scheduled", actor, instalments=len(instalments),
           due=[i.due_on.isoformat() for i in instalments])
    return instalments, warnings


def _check_payable(uow: UnitOfWork, payout: Payout) -> None:
    if payout.status == "awaiting_funds":
        raise Refused("not_reserved", status=409)
    if payout.status == "cancelled":
        raise Refused("payout_cancelled", status=409)
    if payout.status == "disbursed":
        raise Refused("already_paid", status=409)
    in_flight = uow.session.scalar(select(Instruction.id).where(Instruction.payout_id == payout.id,
                                                                Instruction.status.in_(IN_FLIGHT)).limit(1))
    if in_flight:
        raise Refused("payment_in_flight", status=409)


def _check_schedule(schedule: list[dict], remaining: int) -> None:
    fields = {}
    days = [item["due_on"] for item in schedule]
    if sum(item["amount_fen"] for item in schedule) != remaining:
        fields["schedule"] = ["schedule_sum_mismatch"]
    elif days != sorted(set(days)):
        fields["schedule"] = ["schedule_not_ascending"]
    if days and days[0] < today():
        fields["schedule.0.due_on"] = ["in_past"]
    if fields:
        raise Refused("validation_failed", fields)


def _next_instalment(uow: UnitOfWork, payout: Payout) -> int:
    used = uow.session.scalars(select(Instruction.instalment).where(Instruction.payout_id == payout.id)).all()
    return max(used, default=0) + 1


def _new(uow: UnitOfWork, payout: Payout, *, method: str, amount_fen: int, actor: str, status: str,
         instalment: int = 0, **fields) -> Instruction:
    instruction_id = new_id()
    instruction = Instruction(id=instruction_id, payout_id=payout.id, instalment=instalment, method=method,
                              amount_fen=amount_fen, status=status, idempotency_key=f"aidflow-payout-{instruction_id}",
                              attempts=0, created_by=actor, created_at=utcnow(), **fields)
    uow.session.add(instruction)
    uow.session.flush()
    record(uow, payout, "instructed", actor, instruction_id=instruction_id, method=method, amount_fen=amount_fen,
           instalment=instalment or None)
    return instruction


# -- sending ------------------------------------------------------------------------------------


SEND_BATCH = 50  # orders claimed per transaction


def send(payout_ctx, ids: list[str] | None = None, limit: int = SEND_BATCH) -> int:
    """Send pending instructions (these ``ids``, or any) to the bank and book the answers."""
    claimed = _claim(payout_ctx, ids, limit)
    for instruction_id, method, order in claimed:
        _submit(payout_ctx, instruction_id, "submit", (method, order))
    return len(claimed)


def send_now(payout_ctx, ids: list[str], wait: float = 5.0) -> None:
    """Send these instructions at once, so that an answer can say what the bank said.

    One that another instance (the worker's round) claimed first is being sent there: wait,
    at most ``wait`` seconds, for its answer to be booked, polling every 20 ms. Past that, the
    caller shows it as it is (``sending``); the worker books the answer when it comes.
    """
    if not ids:
        return
    send(payout_ctx, ids)
    deadline = time.monotonic() + wait
    while True:
        with payout_ctx.db.sessions() as session:
            in_flight = session.scalar(select(Instruction.id).where(Instruction.id.in_(ids),
                                                                    Instruction.status == "sending").limit(1))
        if in_flight is None or time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _claim(payout_ctx, ids, limit) -> list[tuple[str, str, PaymentOrder]]:
    """Claim up to ``limit`` pending instructions; each with its method and payment order, read
    in the claiming transaction."""
    now = utcnow()
    with payout_ctx.unit_of_work() as uow:
        query = select(Instruction.id).where(Instruction.status == "pending")
        if ids is not None:
            query = query.where(Instruction.id.in_(ids))
        candidates = uow.session.scalars(query.order_by(Instruction.created_at).limit(limit)).all()
        if not candidates:
            return []
        # Conditional: of two instances claiming the same row, the second finds it no longer pending.
        claimed = set(uow.session.scalars(
            update(Instruction).where(Instruction.id.in_(candidates), Instruction.status == "pending")
            .values(status="sending", attempts=Instruction.attempts + 1, sent_at=now,
                    lease_until=now + timedelta(seconds=payout_ctx.settings.lease_seconds))
            .returning(Instruction.id).execution_options(synchronize_session=False)).all())
        rows = _prepared(payout_ctx, uow.session, claimed)
        uow.commit()
    return [(instruction_id, *rows[instruction_id]) for instruction_id in candidates if instruction_id in rows]


def _prepared(payout_ctx, session, ids) -> dict[str, tuple[str, PaymentOrder]]:
    """Each of these (just claimed) instructions' method and payment order, read in the claiming
    transaction."""
    if not ids:
        return {}
    return {instruction.id: (instruction.method, _order(payout_ctx, instruction, payout))
            for instruction, payout in session.execute(
                select(Instruction, Payout).join(Payout, Payout.id == Instruction.payout_id)
                .where(Instruction.id.in_(ids)))}


def _submit(payout_ctx, instruction_id: str, via: str, prepared: tuple[str, PaymentOrder]) -> None:
    """Send one claimed instruction's order, ``prepared`` as its claim read it, and book the answer."""
    method, order = prepared
    try:
        answer = payout_ctx.bank.submit(order)
    except BankTimeout:
        log.warning("the bank did not answer in time; the order's fate is unknown until it says",
                    extra={"instruction_id": instruction_id})
        _mark_unknown(payout_ctx, instruction_id)
        payout_ctx.metrics.instructions.labels(method, "timeout").inc()
        return
    except Exception:  # the bank is unreachable: the order is in doubt, as after a timeout
        log.warning("sending a payment order failed", exc_info=True, extra={"instruction_id": instruction_id})
        _mark_unknown(payout_ctx, instruction_id)
        return
    book(payout_ctx, answer, via)


def _order(payout_ctx, instruction: Instruction, payout: Payout) -> PaymentOrder:
    if instruction.payee_kind == "registered":
        return PaymentOrder(instruction.idempotency_key, instruction.amount_fen, "registered",
                            payee_reference=payout.beneficiary_id)
    vault = payout_ctx.vault
    return PaymentOrder(instruction.idempotency_key, instruction.amount_fen, "account",
                        account_number=vault.open(instruction.payee_account, field="account_number"),
                        holder_name=vault.open(instruction.payee_holder, field="holder_name"),
                        bank_name=instruction.payee_bank)


def _mark_unknown(payout_ctx, instruction_id: str) -> None:
    with payout_ctx.unit_of_work() as uow:
        uow.session.execute(update(Instruction).where(Instruction.id == instruction_id,
                                                      Instruction.status == "sending")
                            .values(status="unknown", lease_until=None).execution_options(synchronize_session=False))
        uow.commit()


# -- booking the bank's answers ----------------------------------------------------------------


def book(payout_ctx, answer: BankAnswer, via: str) -> bool:
    """Book one answer of the bank; True if it changed anything (False: a repeat, or unknown)."""
    with payout_ctx.unit_of_work() as uow:
        # The instruction and its payout locked by one read. PostgreSQL locks the rows of a join
        # in the order the tables are named (instruction, then payout), whatever the plan, the
        # order the two reads took before.
        found = uow.session.execute(lock(uow, select(Instruction, Payout)
                                         .join(Payout, Payout.id == Instruction.payout_id)
                                         .where(Instruction.idempotency_key == answer.idempotency_key))).first()
        if found is None:
            log.error("the bank answered about an order we never gave", extra={"via": via})
            return False
        instruction, payout = found
        applied = instruction.status in IN_FLIGHT
        if applied:
            instruction.answered_at, instruction.lease_until = utcnow(), None
            if answer.outcome == "accepted":
                instruction.status, instruction.bank_reference = "accepted", answer.bank_reference
                _pay(uow, payout_ctx, payout, instruction)
            else:
                instruction.status, instruction.failure = "rejected", answer.reason
                payout.failure = answer.reason
                record(uow, payout, "bank_rejected", "bank", instruction_id=instruction.id, reason=answer.reason)
        elif (instruction.status, answer.outcome) not in (("accepted", "accepted"), ("rejected", "rejected")):
            log.error("the bank contradicts an answer it gave before", extra={
                "instruction_id": instruction.id, "booked": instruction.status, "now": answer.outcome})
        uow.session.add(BankAnswerRow(instruction_id=instruction.id, outcome=answer.outcome,
                                      bank_reference=answer.bank_reference, reason=answer.reason, via=via,
                                      applied=applied, received_at=utcnow()))
        uow.commit()
    payout_ctx.metrics.bank_answers.labels(via, "true" if applied else "false").inc()
    if applied:
        payout_ctx.metrics.instructions.labels(instruction.method, answer.outcome).inc()
    return applied


def _pay(uow: UnitOfWork, payout_ctx, payout: Payout, instruction: Instruction) -> None:
    """The money of ``instruction`` reached the payee: post it, and on the first money announce it."""
    now = utcnow()
    ledger.post(uow, payout.fund_id, "disbursement", instruction.amount_fen, payout_id=payout.id,
                case_id=payout.case_id, instruction_id=instruction.id,
                reference=instruction.bank_reference or instruction.receipt_number, actor=instruction.created_by)
    payout.paid_fen += instruction.amount_fen
    payout.failure = None
    first = payout.disbursed_at is None
    if payout.paid_fen == payout.amount_fen:
        payout.status, payout.completed_at = "disbursed", now
    else:
        payout.status = "in_escrow"
    record(uow, payout, "paid", instruction.created_by, instruction_id=instruction.id, method=instruction.method,
           amount_fen=instruction.amount_fen, instalment=instruction.instalment or None)
    if not first:
        return
    payout.disbursed_at = now
    payout_ctx.clocks.stop(uow, "payout", payout.id, now, missing_ok=True)
    uow.emit(PAYOUT_DISBURSED.type, {
        "payout_id": payout.id, "decision_id": payout.decision_id, "case_id": payout.case_id,
        "beneficiary_id": payout.beneficiary_id, "amount_fen": instruction.amount_fen, "fund_id": payout.fund_id,
        "method": payout.method, "disbursed_at": now}, subject=payout.case_id)


# -- the worker's round -------------------------------------------------------------------------


def sweep(payout_ctx, *, on: date | None = None) -> dict[str, int]:
    """One round of the worker: release instalments due ``on`` (today), send what is pending,
    find out what became of orders in doubt, and book the bank's own notifications."""
    counts = {"released": _release_due(payout_ctx, on or today()), "expired": _expire_leases(payout_ctx)}
    counts["sent"] = send(payout_ctx)
    counts["asked"] = _ask_about_unknown(payout_ctx)
    counts["notified"] = sum(book(payout_ctx, answer, "notification") for answer in payout_ctx.bank.notifications())
    return counts


def _release_due(payout_ctx, day: date) -> int:
    with payout_ctx.unit_of_work() as uow:
        released = uow.session.execute(update(Instruction).where(Instruction.status == "scheduled",
                                                                 Instruction.due_on <= day)
                                       .values(status="pending").execution_options(synchronize_session=False))
        uow.commit()
    return released.rowcount or 0


def _expire_leases(payout_ctx) -> int:
    """An instance that died while sending leaves its orders in doubt, not lost."""
    with payout_ctx.unit_of_work() as uow:
        expired = uow.session.execute(update(Instruction).where(Instruction.status == "sending",
                                                                Instruction.lease_until < utcnow())
                                      .values(status="unknown", lease_until=None)
                                      .execution_options(synchronize_session=False))
        uow.commit()
    return expired.rowcount or 0


def _ask_about_unknown(payout_ctx) -> int:
    with payout_ctx.db.sessions() as session:
        doubtful = session.execute(select(Instruction.id, Instruction.idempotency_key, Instruction.sent_at)
                                   .where(Instruction.status == "unknown").limit(100)).all()
    resend_before = utcnow() - timedelta(seconds=payout_ctx.settings.resend_after)
    for instruction_id, key, sent_at in doubtful:
        answer = payout_ctx.bank.status(key)
        if answer is not None:
            book(payout_ctx, answer, "status")
        elif sent_at is None or sent_at < resend_before:  # never arrived: the same order again
            prepared = _reclaim(payout_ctx, instruction_id)
            if prepared is not None:
                _submit(payout_ctx, instruction_id, "submit", prepared)
    return len(doubtful)


def _reclaim(payout_ctx, instruction_id: str) -> tuple[str, PaymentOrder] | None:
    """Claim an order in doubt to send it again; its method and order, or None if another
    instance did first."""
    now = utcnow()
    with payout_ctx.unit_of_work() as uow:
        claimed = uow.session.scalars(
            update(Instruction).where(Instruction.id == instruction_id, Instruction.status == "unknown")
            .values(status="sending", attempts=Instruction.attempts + 1, sent_at=now,
                    lease_until=now + timedelta(seconds=payout_ctx.settings.lease_seconds))
            .returning(Instruction.id).execution_options(synchronize_session=False)).all()
        prepared = _prepared(payout_ctx, uow.session, claimed).get(instruction_id)
        uow.commit()
    return prepared


def run_worker(payout_ctx, stop) -> None:
    """Sweep every ``sweep_interval`` seconds until ``stop`` is set; in between, send at once
    what a transaction just instructed (the worker is woken).

    A wake-up only sends: the claim and one booking per order. Releasing instalments, expiring
    leases, asking about orders in doubt and reading the bank's notifications wait for the next
    full round, which comes at the interval whatever the traffic, so a busy worker spends its
    transactions on the orders themselves rather than on four housekeeping statements per
    payout.
    """
    interval = payout_ctx.settings.sweep_interval
    next_round = time.monotonic()
    while not stop.is_set():
        payout_ctx.wakeup.clear()
        more = False
        try:
            if time.monotonic() >= next_round:
                next_round = time.monotonic() + interval
                sweep(payout_ctx)
            else:
                more = send(payout_ctx) == SEND_BATCH  # a full batch: there may be more waiting
        except Exception:  # database or bank away: the next round tries again
            log.warning("payout sweep failed; will retry", exc_info=True)
        while not (more or stop.is_set() or payout_ctx.wakeup.is_set()) and time.monotonic() < next_round:
            payout_ctx.wakeup.wait(min(0.2, max(0.0, next_round - time.monotonic())))
