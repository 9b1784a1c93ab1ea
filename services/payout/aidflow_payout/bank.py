"""The bank, seen through one small interface, and a sandbox bank that behaves like one.

Payout never talks to a bank directly: it hands a :class:`PaymentOrder` to a
:class:`PaymentAdapter`. Every order carries the idempotency key of its instruction, and a bank
worth the name executes a key at most once: sending the same order again (after a timeout, a
crash, a second instance) returns the first answer instead of paying twice. Answers may also
arrive on their own, late or repeated; :meth:`PaymentAdapter.notifications` hands them over.

:class:`SandboxBank` is the adapter for development and tests, and a real part of them: a small
bank in its own SQLite file (shared by every payout process of a machine, kept across restarts)
that accepts, rejects, times out and answers twice, deterministically, by rules over the payee:

    AIDFLOW_PAYOUT_SANDBOX_RULES="*4001=reject:account_closed;*4008=timeout;registered:b-7=twice"

Each rule is ``glob=behaviour``; the first that matches the payee key wins (the account number,
or ``registered:<beneficiary id>`` for a transfer to the account the finance bureau holds on
record for the beneficiary). Behaviours:

- ``accept``: pays and answers at once;
- ``reject:<reason>``: pays nothing and says why (``account_closed``, ``name_mismatch`` ...);
- ``timeout``: pays, but the answer is lost on the way: the caller sees a timeout, ``status``
  knows the transfer, and the answer also arrives late as a notification;
- ``lost``: the order never arrived: a timeout, nothing paid, ``status`` knows nothing; the
  same order sent again arrives and is paid;
- ``twice``: pays, answers at once, and sends the same answer again as a notification.
"""
from __future__ import annotations

import fnmatch
import importlib
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

BEHAVIOURS = ("accept", "reject", "timeout", "lost", "twice")
# Like a card network's test numbers: account numbers whose last digits choose the behaviour.
DEFAULT_RULES = (("*4001", "reject:account_closed"), ("*4002", "reject:name_mismatch"),
                 ("*4008", "timeout"), ("*4009", "lost"), ("*4010", "twice"))


@dataclass(frozen=True)
class PaymentOrder:
    idempotency_key: str
    amount_fen: int
    payee_kind: str  # registered | account
    payee_reference: str | None = None  # the beneficiary id, for a registered account
    account_number: str | None = None
    holder_name: str | None = None
    bank_name: str | None = None
    currency: str = "CNY"

    @property
    def payee_key(self) -> str:
        return self.account_number if self.payee_kind == "account" else f"registered:{self.payee_reference}"

    def __repr__(self) -> str:  # never the account or the name, wherever an order is printed
        return f"PaymentOrder({self.idempotency_key}, {self.amount_fen} fen, {self.payee_kind})"


@dataclass(frozen=True)
class BankAnswer:
    idempotency_key: str
    outcome: str  # accepted | rejected
    bank_reference: str | None = None
    reason: str | None = None


class BankTimeout(Exception):
    """No answer in time: the order may or may not have been executed."""


class PaymentAdapter(Protocol):
    def submit(self, order: PaymentOrder) -> BankAnswer:
        """Execute ``order`` once per idempotency key; raises :class:`BankTimeout` without an answer."""

    def status(self, idempotency_key: str) -> BankAnswer | None:
        """What the bank knows of a key; None if it never received it."""

    def notifications(self) -> list[BankAnswer]:
        """Answers that arrived on their own (late or repeated), each handed over once."""


class SandboxBank:
    """A deterministic bank in a SQLite file. See the module's docstring for its behaviours."""

    def __init__(self, path: Path, rules=DEFAULT_RULES):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rules = tuple(rules)
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.executescript("""
                CREATE TABLE IF NOT EXISTS transfer (
                    idempotency_key TEXT PRIMARY KEY, payee_key TEXT NOT NULL, amount_fen INTEGER NOT NULL,
                    outcome TEXT NOT NULL, bank_reference TEXT, reason TEXT, submissions INTEGER NOT NULL,
                    executed_at TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS notification (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL, outcome TEXT NOT NULL,
                    bank_reference TEXT, reason TEXT, delivered INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE IF NOT EXISTS lost (idempotency_key TEXT PRIMARY KEY);
            """)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def behaviour(self, payee_key: str) -> str:
        for pattern, behaviour in self.rules:
            if fnmatch.fnmatchcase(payee_key, pattern):
                return behaviour
        return "accept"

    def submit(self, order: PaymentOrder) -> BankAnswer:
        behaviour = self.behaviour(order.payee_key)
        with self._lock, self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT outcome, bank_reference, reason FROM transfer WHERE idempotency_key = ?",
                               (order.idempotency_key,)).fetchone()
            if row is not None:  # the same order again: the first answer, never a second payment
                conn.execute("UPDATE transfer SET submissions = submissions + 1 WHERE idempotency_key = ?",
                             (order.idempotency_key,))
                conn.execute("COMMIT")
                return BankAnswer(order.idempotency_key, row[0], row[1], row[2])
            if behaviour == "lost":
                lost_before = conn.execute("SELECT 1 FROM lost WHERE idempotency_key = ?",
                                           (order.idempotency_key,)).fetchone()
                if lost_before is None:  # lost the first time; the same order sent again arrives
                    conn.execute("INSERT INTO lost VALUES (?)", (order.idempotency_key,))
                    conn.execute("COMMIT")
                    raise BankTimeout("the sandbox bank lost the order")
                behaviour = "accept"
            kind, _, reason = behaviour.partition(":")
            answer = (BankAnswer(order.idempotency_key, "rejected", None, reason or "rejected") if kind == "reject"
                      else BankAnswer(order.idempotency_key, "accepted", "SBX" + uuid.uuid4().hex[:16].upper()))
            conn.execute("INSERT INTO transfer VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                         (order.idempotency_key, order.payee_key, order.amount_fen, answer.outcome,
                          answer.bank_reference, answer.reason, datetime.now(timezone.utc).isoformat()))
            if kind in ("timeout", "twice"):
                conn.execute("INSERT INTO notification (idempotency_key, outcome, bank_reference, reason) "
                             "VALUES (?, ?, ?, ?)", (answer.idempotency_key, answer.outcome, answer.bank_reference,
                                                     answer.reason))
            conn.execute("COMMIT")
        if kind == "timeout":
            raise BankTimeout("the sandbox bank's answer was lost")
        return answer

    def status(self, idempotency_key: str) -> BankAnswer | None:
        with self._connect() as conn:
            row = conn.execute("SELECT outcome, bank_reference, reason FROM transfer WHERE idempotency_key = ?",
                               (idempotency_key,)).fetchone()
        return BankAnswer(idempotency_key, *row) if row else None

    def notifications(self) -> list[BankAnswer]:
        with self._lock, self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute("SELECT id, idempotency_key, outcome, bank_reference, reason FROM notification "
                                "WHERE delivered = 0 ORDER BY id").fetchall()
            conn.executemany("UPDATE notification SET delivered = 1 WHERE id = ?", [(r[0],) for r in rows])
            conn.execute("COMMIT")
        return [BankAnswer(*row[1:]) for row in rows]

    # -- what the bank's own statement says, for tests and the demo ----------------------------

    def transfers(self) -> list[dict]:
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM transfer ORDER BY executed_at")]


def parse_rules(text: str) -> tuple[tuple[str, str], ...]:
    """``"*4001=reject:account_closed;*4008=timeout"`` as rules; a wrong behaviour is refused."""
    rules = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        pattern, sep, behaviour = item.partition("=")
        if not sep or behaviour.split(":", 1)[0] not in BEHAVIOURS:
            raise ValueError(f"sandbox rule {item!r}: expected glob=behaviour, "
                             f"behaviour one of {', '.join(BEHAVIOURS)}")
        rules.append((pattern.strip(), behaviour.strip()))
    return tuple(rules)


def load_adapter(spec: str, *, sandbox_path: Path, sandbox_rules) -> PaymentAdapter:
    """``sandbox``, or ``package.module:Factory`` for a deployment's own bank adapter."""
    if spec == "sandbox":
        return SandboxBank(sandbox_path, sandbox_rules)
    module, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"AIDFLOW_PAYOUT_BANK={spec!r}: expected 'sandbox' or 'package.module:Factory'")
    return getattr(importlib.import_module(module), name)()
