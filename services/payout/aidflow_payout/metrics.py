"""Payout's metrics, for the dashboards and the "money is short" alert.

- ``aidflow_payout_awaiting_funds``, ``aidflow_payout_awaiting_funds_fen`` and
  ``aidflow_payout_awaiting_funds_oldest_seconds``: payouts waiting for money now, read from the
  database at scrape (alert on the count above zero, or on the age);
- ``aidflow_payout_awaiting_funds_started_total``: payouts that had to wait, ever;
- ``aidflow_payout_fund_balance_fen{source,year,account}``: every fund's balances;
- ``aidflow_payout_instructions_total{method,outcome}``: payment orders by outcome
  (``accepted``, ``rejected``, ``timeout``);
- ``aidflow_payout_bank_answers_total{via,applied}``: answers from the bank; ``applied="false"``
  counts the repeated ones that changed nothing.

Labels are bounded sets; never a case, a person or an account.
"""
from __future__ import annotations

import time
from datetime import timezone

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from aidflow_payout.orm import Fund, Payout
from aidflow_shared.storage import Database, utcnow


class PayoutMetrics:
    def __init__(self, db: Database, registry: CollectorRegistry):
        self.awaiting_total = Counter("aidflow_payout_awaiting_funds_started_total",
                                      "Payouts that found no fund with enough money and had to wait.",
                                      registry=registry)
        self.instructions = Counter("aidflow_payout_instructions_total", "Payment orders by outcome.",
                                    ["method", "outcome"], registry=registry)
        self.bank_answers = Counter("aidflow_payout_bank_answers_total",
                                    "Answers from the bank; applied=false repeated what was known.",
                                    ["via", "applied"], registry=registry)
        registry.register(_FromDatabase(db))


class _FromDatabase:
    def __init__(self, db: Database):
        self.db = db
        self._cache: tuple[float, tuple] = (0.0, ((0, 0, None), []))

    def describe(self):
        return []

    def collect(self):
        at, (awaiting, funds) = self._cache
        if time.monotonic() - at > 5.0:
            try:
                awaiting, funds = self._query()
            except Exception:  # database away: readiness says so; keep the last figures
                pass
            self._cache = (time.monotonic(), (awaiting, funds))
        count, fen, oldest = awaiting
        for name, help_, value in (
                ("aidflow_payout_awaiting_funds", "Payouts waiting for money now.", count),
                ("aidflow_payout_awaiting_funds_fen", "Fen approved and waiting for money now.", fen),
                ("aidflow_payout_awaiting_funds_oldest_seconds", "How long the oldest waiting payout has waited.",
                 (utcnow() - oldest).total_seconds() if oldest else 0)):
            gauge = GaugeMetricFamily(name, help_)
            gauge.add_metric([], value)
            yield gauge
        balances = GaugeMetricFamily("aidflow_payout_fund_balance_fen", "Fund balances by account.",
                                     labels=["source", "year", "account"])
        for source, year, *values in funds:
            for account, value in zip(("allocations", "available", "reserved", "paid", "recovered"), values):
                balances.add_metric([source, str(year), account], value)
        yield balances

    def _query(self):
        with self.db.engine.connect() as conn:
            awaiting = conn.execute(select(func.count(), func.coalesce(func.sum(Payout.amount_fen), 0),
                                           func.min(Payout.approved_at))
                                    .where(Payout.status == "awaiting_funds")).one()
            funds = conn.execute(select(Fund.source, Fund.year, func.sum(Fund.allocated_fen),
                                        func.sum(Fund.available_fen), func.sum(Fund.reserved_fen),
                                        func.sum(Fund.paid_fen), func.sum(Fund.recovered_fen))
                                 .group_by(Fund.source, Fund.year)).all()
        count, fen, oldest = awaiting
        if oldest is not None and oldest.tzinfo is None:  # SQLite, read without the column's type
            oldest = oldest.replace(tzinfo=timezone.utc)
        return (int(count), int(fen), oldest), [tuple(row) for row in funds]
