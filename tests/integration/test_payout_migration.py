"""Payout's migration 0003 on SQLite and PostgreSQL: the walking skeleton's funds and ledger are
carried over into two-phase balances and a double-entry ledger that audits clean, and back."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text

from aidflow_payout import ledger
from aidflow_payout.orm import Fund
from aidflow_payout.service import service
from aidflow_shared.migrations import downgrade, upgrade
from aidflow_shared.storage import Database


def test_the_skeletons_money_is_carried_over_and_audits_clean(database_url):
    db = Database(database_url, service.metadata)
    upgrade(db, service.migrations, "0002")
    at = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    stamp = at.replace(tzinfo=None) if db.dialect == "sqlite" else at
    with db.writer.begin() as conn:
        conn.execute(text("INSERT INTO fund (id, name, source, year, allocated_fen, paid_fen, created_at) "
                          "VALUES ('f1', 'old', 'finance_bureau', 2026, 10000000, 3000000, :at)"), {"at": stamp})
        conn.execute(text("INSERT INTO payout (id, decision_id, case_id, beneficiary_id, amount_fen, status, method, "
                          "fund_id, approved_at, disbursed_at) VALUES ('p1', 'd1', 'c1', 'b1', 3000000, 'disbursed', "
                          "'bank_transfer', 'f1', :at, :at)"), {"at": stamp})
        conn.execute(text("INSERT INTO ledger_entry (id, fund_id, kind, amount_fen, payout_id, reference, at) VALUES "
                          "('e1', 'f1', 'allocation', 10000000, NULL, '财预1号', :at), "
                          "('e2', 'f1', 'disbursement', 3000000, 'p1', NULL, :at)"), {"at": stamp})
    upgrade(db, service.migrations)
    with db.sessions() as session:
        result = ledger.audit(session)
        assert result.ok, result.problems
        fund = session.get(Fund, "f1")
        assert (fund.allocated_fen, fund.available_fen, fund.reserved_fen, fund.paid_fen) == (
            100_000_00, 70_000_00, 0, 30_000_00)
        kinds = session.execute(text("SELECT kind, case_id FROM ledger_line ORDER BY id")).all()
        assert kinds == [("allocation", None), ("reservation", "c1"), ("disbursement", "c1")]
        assert session.execute(text("SELECT paid_fen FROM payout")).scalar() == 30_000_00
    downgrade(db, service.migrations, "0002")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT kind, amount_fen FROM ledger_entry ORDER BY kind")).all() == [
            ("allocation", 10_000_000), ("disbursement", 3_000_000)]
    downgrade(db, service.migrations, "base")
    db.dispose()
