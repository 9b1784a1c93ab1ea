"""What the finance department and the auditors read: the ledger (台账) for a period, as JSON, CSV
or XLSX with period totals, and the reconciliation of approved, reserved, paid and recovered
money per fund and month, which must balance.

Periods are calendar months in Beijing time. Amounts stay integer fen; the yuan column of the
exports is text (CSV) or a formula over the fen column (XLSX), never a float.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from aidflow_payout.ledger import ACCOUNTS, MOVES, Balances, replay
from aidflow_payout.orm import Fund, LedgerLine, Payout
from aidflow_shared.calendar import BEIJING

KINDS = tuple(MOVES)
COLUMNS = ("line", "at", "fund_id", "fund", "kind", "debit", "credit", "amount_fen", "amount_yuan", "payout_id",
           "case_id", "instruction_id", "fund_request_id", "reference", "actor")
HEADINGS = {
    "zh": {"line": "序号", "at": "时间（北京）", "fund_id": "资金编号", "fund": "资金", "kind": "业务类型",
           "debit": "借方", "credit": "贷方", "amount_fen": "金额（分）", "amount_yuan": "金额（元）",
           "payout_id": "支付编号", "case_id": "案件编号", "instruction_id": "指令编号", "fund_request_id": "资金申请",
           "reference": "凭证/备注", "actor": "经办人", "period": "期间", "count": "笔数",
           "opening": "期初", "closing": "期末", "account": "科目"},
    "en": {name: name.replace("_", " ") for name in COLUMNS + ("period", "count", "opening", "closing", "account")},
}


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def period_of(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m")


def bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[start 00:00, the day after end 00:00) in Beijing time, as instants."""
    lower = datetime.combine(start, time(0), BEIJING) if start else None
    upper = datetime.combine(end + timedelta(days=1), time(0), BEIJING) if end else None
    return lower, upper


# -- the ledger for a period ----------------------------------------------------------------------


def ledger_report(session, *, start: date | None, end: date | None, fund_id: str | None) -> dict:
    lower, upper = bounds(start, end)
    funds = {f.id: f for f in session.scalars(select(Fund)).all()}
    query = select(LedgerLine).order_by(LedgerLine.id)
    if fund_id:
        query = query.where(LedgerLine.fund_id == fund_id)
    opening: dict[str, Balances] = defaultdict(Balances)
    closing: dict[str, Balances] = defaultdict(Balances)
    movements: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    periods: dict[tuple[str, str], dict] = {}
    lines = []
    for line in session.scalars(query):
        if upper is not None and line.at >= upper:
            continue
        closing[line.fund_id].apply(line.debit, line.credit, line.amount_fen)
        if lower is not None and line.at < lower:
            opening[line.fund_id].apply(line.debit, line.credit, line.amount_fen)
            continue
        lines.append(line)
        movements[line.fund_id][line.kind] += line.amount_fen
        period = periods.setdefault((period_of(line.at), line.fund_id), {
            "period": period_of(line.at), "fund_id": line.fund_id, "count": 0, **dict.fromkeys(KINDS, 0)})
        period["count"] += 1
        period[line.kind] += line.amount_fen
    totals = [{"fund_id": fid, "fund": _fund_name(funds.get(fid)), "opening": opening[fid].as_dict(),
               **movements[fid], "closing": closing[fid].as_dict()}
              for fid in sorted(set(movements) | set(opening), key=lambda f: _fund_name(funds.get(f)))]
    return {"lines": lines, "periods": [periods[k] for k in sorted(periods)], "totals": totals, "funds": funds}


def _fund_name(fund: Fund | None) -> str:
    return f"{fund.year} {fund.name} ({fund.source})" if fund else ""


def _row(line: LedgerLine, funds: dict) -> dict:
    return {"line": line.id, "at": line.at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "fund_id": line.fund_id, "fund": _fund_name(funds.get(line.fund_id)), "kind": line.kind,
            "debit": line.debit, "credit": line.credit, "amount_fen": line.amount_fen,
            "amount_yuan": yuan(line.amount_fen), "payout_id": line.payout_id, "case_id": line.case_id,
            "instruction_id": line.instruction_id, "fund_request_id": line.fund_request_id,
            "reference": line.reference, "actor": line.actor}


def ledger_csv(report: dict, lang: str) -> bytes:
    """Lines, then the totals per month and fund, then each fund's opening and closing balances.
    UTF-8 with a byte-order mark, which spreadsheet programs need to read Chinese."""
    heads = HEADINGS[lang]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([heads[c] for c in COLUMNS])
    for line in report["lines"]:
        row = _row(line, report["funds"])
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    writer.writerow([])
    writer.writerow([heads["period"], heads["fund_id"], heads["count"], *KINDS])
    for period in report["periods"]:
        writer.writerow([period["period"], period["fund_id"], period["count"], *(period[k] for k in KINDS)])
    writer.writerow([])
    writer.writerow([heads["fund_id"], heads["fund"], heads["account"], heads["opening"], *KINDS, heads["closing"]])
    for total in report["totals"]:
        for account in ACCOUNTS:
            writer.writerow([total["fund_id"], total["fund"], account, total["opening"][account],
                             *(total[k] for k in KINDS), total["closing"][account]])
    return out.getvalue().encode("utf-8-sig")


def ledger_xlsx(report: dict, lang: str) -> bytes:
    """Three sheets: the lines, the totals per month and fund, the balances per fund."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    heads = HEADINGS[lang]
    bold = Font(bold=True)
    book = Workbook()
    sheet = book.active
    sheet.title = "台账" if lang == "zh" else "ledger"
    sheet.append([heads[c] for c in COLUMNS])
    amount = COLUMNS.index("amount_fen") + 1
    fen_column = get_column_letter(amount)
    for n, line in enumerate(report["lines"], start=2):
        row = _row(line, report["funds"])
        row["amount_yuan"] = f"={fen_column}{n}/100"
        sheet.append([row[c] for c in COLUMNS])
        sheet.cell(n, amount + 1).number_format = "#,##0.00"
    periods = book.create_sheet("期间合计" if lang == "zh" else "periods")
    periods.append([heads["period"], heads["fund_id"], heads["count"], *KINDS])
    for period in report["periods"]:
        periods.append([period["period"], period["fund_id"], period["count"], *(period[k] for k in KINDS)])
    balances = book.create_sheet("余额" if lang == "zh" else "balances")
    balances.append([heads["fund_id"], heads["fund"], heads["account"], heads["opening"], *KINDS, heads["closing"]])
    for total in report["totals"]:
        for account in ACCOUNTS:
            balances.append([total["fund_id"], total["fund"], account, total["opening"][account],
                             *(total[k] for k in KINDS), total["closing"][account]])
    for each in (sheet, periods, balances):
        for cell in each[1]:
            cell.font = bold
        each.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- reconciliation -------------------------------------------------------------------------------


def reconciliation(session, *, start: date | None, end: date | None) -> dict:
    """Per fund and month: opening + movements = closing for every account, and allocations =
    available + reserved + paid + recovered; per month and fund of the payouts approved in it:
    approved = awaiting + cancelled + still reserved + paid (net) + recovered, each side read
    from the payouts and checked against the ledger lines of the same payouts."""
    lower, upper = bounds(start, end)
    funds = {f.id: f for f in session.scalars(select(Fund)).all()}
    all_lines = session.scalars(select(LedgerLine).order_by(LedgerLine.id)).all()
    problems = list(replay(all_lines, funds.values()).problems)
    running: dict[str, Balances] = defaultdict(Balances)
    months: dict[tuple[str, str], dict] = {}
    for line in all_lines:
        if upper is not None and line.at >= upper:
            break
        balances = running[line.fund_id]
        if lower is None or line.at >= lower:
            key = (line.fund_id, period_of(line.at))
            month = months.setdefault(key, {"period": key[1], "opening": balances.as_dict(),
                                            **dict.fromkeys(KINDS, 0)})
            month[line.kind] += line.amount_fen
        balances.apply(line.debit, line.credit, line.amount_fen)
        if lower is None or line.at >= lower:
            months[(line.fund_id, period_of(line.at))]["closing"] = balances.as_dict()
    fund_rows = []
    for fund_id in sorted(funds, key=lambda f: _fund_name(funds[f])):
        periods = [months[k] for k in sorted(months) if k[0] == fund_id]
        for month in periods:
            month["balanced"] = _month_balances(month)
            if not month["balanced"]:
                problems.append(f"fund {fund_id} {month['period']}: movements do not lead from opening to closing")
        fund_rows.append({"fund_id": fund_id, "fund": _fund_name(funds[fund_id]), "periods": periods,
                          "closing": running[fund_id].as_dict(), "balanced": running[fund_id].balanced})
    approvals = _approvals(session, all_lines, lower, upper, problems)
    return {"balanced": not problems, "funds": fund_rows, "approvals": approvals, "problems": problems}


def _month_balances(month: dict) -> bool:
    expected = Balances(**month["opening"])
    for kind in KINDS:
        if month[kind]:
            expected.apply(*MOVES[kind], month[kind])
    return expected.as_dict() == month["closing"] and expected.balanced


def _approvals(session, lines, lower, upper, problems) -> list[dict]:
    query = select(Payout)
    if lower is not None:
        query = query.where(Payout.approved_at >= lower)
    if upper is not None:
        query = query.where(Payout.approved_at < upper)
    by_payout: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    for line in lines:
        if line.payout_id:
            by_payout[line.payout_id][line.kind] += line.amount_fen
    rows: dict[tuple[str, str | None], dict] = {}
    for payout in session.scalars(query):
        key = (period_of(payout.approved_at), payout.fund_id)
        row = rows.setdefault(key, {"period": key[0], "fund_id": key[1], "payouts": 0, "approved": 0, "awaiting": 0,
                                    "cancelled": 0, "reserved": 0, "paid": 0, "recovered": 0})
        row["payouts"] += 1
        row["approved"] += payout.amount_fen
        moved = by_payout[payout.id]
        if payout.status == "awaiting_funds":
            row["awaiting"] += payout.amount_fen
        elif payout.status == "cancelled":
            row["cancelled"] += payout.amount_fen
        held = payout.amount_fen - payout.paid_fen if payout.status in ("reserved", "in_escrow") else 0
        row["reserved"] += held
        row["paid"] += payout.paid_fen - payout.recovered_fen
        row["recovered"] += payout.recovered_fen
        from_ledger = (moved["reservation"] - moved["void"] - moved["disbursement"],
                       moved["disbursement"] - moved["recovery"], moved["recovery"])
        if from_ledger != (held, payout.paid_fen - payout.recovered_fen, payout.recovered_fen):
            problems.append(f"payout {payout.id}: the ledger says reserved/paid/recovered {from_ledger}")
    for row in rows.values():
        row["balanced"] = row["approved"] == (row["awaiting"] + row["cancelled"] + row["reserved"] + row["paid"]
                                              + row["recovered"])
        if not row["balanced"]:
            problems.append(f"approvals {row['period']} fund {row['fund_id']}: parts do not add up")
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] or ""))]
