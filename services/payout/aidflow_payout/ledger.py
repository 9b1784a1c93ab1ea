"""The ledger (台账): double entry over five accounts per fund, append-only.

Every movement of money is one line that takes ``amount_fen`` from one account (credit) and
gives it to another (debit) of the same fund:

==============  =============  ==============  ===========================================
kind            debit          credit          when
==============  =============  ==============  ===========================================
allocation      available      allocations     the finance bureau (or another source) gives
reservation     reserved       available       a payout is approved and money is held for it
void            available      reserved        a reserved payout is cancelled
disbursement    paid           reserved        the money reaches the beneficiary
recovery        recovered      paid            money paid is recovered (追回)
==============  =============  ==============  ===========================================

So for every fund: allocations = available + reserved + paid + recovered, by construction. The
fund row carries the balances; each line changes them with one conditional UPDATE that refuses
to take an account below zero, so two instances racing for the last money in a fund cannot both
have it (the row lock serialises them, the condition refuses the second). The database's CHECK
constraints say the same a second time.

:func:`replay` recomputes every balance from the lines alone, line by line: the audit that the
reconciliation report and the tests run.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, select, update

from aidflow_payout.orm import Fund, LedgerLine
from aidflow_shared.storage import UnitOfWork, utcnow

ACCOUNTS = ("allocations", "available", "reserved", "paid", "recovered")
HELD = ACCOUNTS[1:]  # what the money allocated has become
MOVES = {
    "allocation": ("available", "allocations"),
    "reservation": ("reserved", "available"),
    "void": ("available", "reserved"),
    "disbursement": ("paid", "reserved"),
    "recovery": ("recovered", "paid"),
}
_COLUMNS = {"allocations": Fund.allocated_fen, "available": Fund.available_fen, "reserved": Fund.reserved_fen,
            "paid": Fund.paid_fen, "recovered": Fund.recovered_fen}


class InsufficientBalance(Exception):
    """The account a line would take money from does not hold that much."""


class LedgerImbalance(AssertionError):
    """The ledger contradicts itself or the fund balances: a bug or a tampered database."""


def post(uow: UnitOfWork, fund_id: str, kind: str, amount_fen: int, **refs) -> LedgerLine:
    """Write one line and move the fund's balances with it; :class:`InsufficientBalance` if the
    credited account holds less than ``amount_fen`` (nothing is written then)."""
    if amount_fen <= 0:
        raise ValueError("a ledger line moves a positive amount")
    debit, credit = MOVES[kind]
    uow.session.flush()  # what the caller changed first (a fund opened, a payout) goes in before the line
    moved = uow.session.execute(_move(kind), {"fund": fund_id, "amount": amount_fen}).first()
    if moved is None:
        raise InsufficientBalance(f"{credit} of fund {fund_id} holds less than {amount_fen} fen")
    held = uow.session.identity_map.get(uow.session.identity_key(Fund, fund_id))
    if held is not None:  # a fund the caller has loaded shows its new balances when next read
        uow.session.expire(held, [_COLUMNS[debit].key, _COLUMNS[credit].key])
    values = dict(fund_id=fund_id, kind=kind, debit=debit, credit=credit, amount_fen=amount_fen,
                  at=refs.pop("at", None) or utcnow(), **refs)
    # A line is never changed once written, so it needs no place in the session: one prebuilt
    # INSERT returning its number, and no flush of the ORM's for it.
    number = uow.session.execute(_INSERT_LINE, values).scalar_one()
    return LedgerLine(id=number, **values)


_INSERT_LINE = insert(LedgerLine.__table__).returning(LedgerLine.__table__.c.id)


@functools.cache
def _move(kind: str):
    """The fund's conditional UPDATE for a line of ``kind``, built once: the debited account
    grows, the credited one shrinks and may not go below zero (the allocations account, where
    money comes from, grows as it gives)."""
    debit, credit = MOVES[kind]
    table = Fund.__table__
    amount = bindparam("amount")
    to, of = table.c[_COLUMNS[debit].key], table.c[_COLUMNS[credit].key]
    statement = update(table).where(table.c.id == bindparam("fund"))
    if credit == "allocations":
        return statement.values({to: to + amount, of: of + amount}).returning(table.c.id)
    return statement.where(of >= amount).values({to: to + amount, of: of - amount}).returning(table.c.id)


@dataclass
class Balances:
    """A fund's accounts; ``allocations`` counted positive (what was given)."""

    allocations: int = 0
    available: int = 0
    reserved: int = 0
    paid: int = 0
    recovered: int = 0

    def apply(self, debit: str, credit: str, amount: int) -> None:
        sign = {"allocations": -1}
        setattr(self, debit, getattr(self, debit) + amount * sign.get(debit, 1))
        setattr(self, credit, getattr(self, credit) - amount * sign.get(credit, 1))

    @property
    def balanced(self) -> bool:
        return self.allocations == self.available + self.reserved + self.paid + self.recovered

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ACCOUNTS}


@dataclass
class Replay:
    funds: dict[str, Balances] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def replay(lines, funds=()) -> Replay:
    """Balances from the ledger lines alone (in id order), checking at every line that no account
    went below zero and that allocations = available + reserved + paid + recovered; then that each
    fund row agrees with its lines."""
    result = Replay()
    for line in lines:
        if MOVES.get(line.kind) != (line.debit, line.credit) or line.amount_fen <= 0:
            result.problems.append(f"line {line.id}: {line.kind} {line.debit}/{line.credit} {line.amount_fen}")
            continue
        balances = result.funds.setdefault(line.fund_id, Balances())
        balances.apply(line.debit, line.credit, line.amount_fen)
        negative = [name for name in HELD if getattr(balances, name) < 0]
        if negative or not balances.balanced:
            result.problems.append(f"line {line.id}: fund {line.fund_id} {balances.as_dict()}")
    for fund in funds:
        expected = result.funds.get(fund.id, Balances()).as_dict()
        actual = {"allocations": fund.allocated_fen, "available": fund.available_fen,
                  "reserved": fund.reserved_fen, "paid": fund.paid_fen, "recovered": fund.recovered_fen}
        if actual != expected:
            result.problems.append(f"fund {fund.id}: row {actual} but ledger {expected}")
    return result


def audit(session) -> Replay:
    """Replay the whole ledger of a database against its fund rows."""
    lines = session.scalars(select(LedgerLine).order_by(LedgerLine.id)).all()
    return replay(lines, session.scalars(select(Fund)).all())
