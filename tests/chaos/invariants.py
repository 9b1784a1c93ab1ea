"""The invariant checker: after a run, every service's state read back and compared.

It reads each service's own database with read-only queries (nothing is written) and the
parked messages each service lists, into a :class:`State` of plain rows, then :func:`check`
says what is wrong with it:

- every accepted referral reached the state it should: the case ``in_followup`` at intake, an
  approved decision at review, every payout of the case ``disbursed`` and paid in full at
  payout, a plan per paid beneficiary at follow-up;
- no payout twice: one payout per decision and beneficiary, never more money out (ledger
  disbursement lines) than a payout's amount, one review per case, one plan per case and
  beneficiary;
- the ledger balances: the double-entry lines replayed give every fund's balances, no account
  below zero, allocations = available + reserved + paid + recovered, and the fund rows agree;
- no deadline clock lost: each review and payout has its clock, stopped once its work is done;
  each partner transfer its transfer clock, stopped once the case was accepted;
- every outbox empty: all rows sent;
- parked messages accounted for: each one listed with a reason, and only the expected ones.

Run it against a deployment (read-only) with ``python tests/chaos/invariants.py --intake URL
--review URL --payout URL --followup URL [--parked FILE]``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

SERVICES = ("intake", "review", "payout", "followup")
# What each service's state is made of: table → the columns read.
QUERIES = {
    "intake": {"cases": "SELECT id, status, source, criminal_case_ref, accepted_at FROM aid_case"},
    "review": {"reviews": "SELECT id, case_id, status FROM review",
               "decisions": "SELECT id, review_id, outcome FROM decision"},
    "payout": {"payouts": "SELECT id, decision_id, case_id, beneficiary_id, amount_fen, paid_fen, status FROM payout",
               "ledger": "SELECT id, fund_id, kind, debit, credit, amount_fen, payout_id FROM ledger_line ORDER BY id",
               "funds": "SELECT id, allocated_fen, available_fen, reserved_fen, paid_fen, recovered_fen FROM fund"},
    "followup": {"plans": "SELECT id, case_id, beneficiary_id, payout_id, status FROM plan"},
}
COMMON = {"clocks": "SELECT stage, subject_id, case_id, status FROM deadline_clock",
          "unsent": "SELECT message_id, type, attempts, last_error FROM outbox WHERE sent_at IS NULL"}


@dataclass
class State:
    """Rows per service and table (dicts), and parked messages per service."""

    tables: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    parked: dict[str, list[dict]] = field(default_factory=dict)

    def rows(self, service: str, table: str) -> list[dict]:
        return self.tables.get(service, {}).get(table, [])


@dataclass
class Report:
    accepted: int = 0
    completed: int = 0
    lost: list[str] = field(default_factory=list)  # accepted case ids that did not reach their end
    duplicated_payouts: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated_payouts or self.violations)

    def summary(self) -> dict:
        return {"accepted": self.accepted, "completed": self.completed, "lost": len(self.lost),
                "duplicated_payouts": len(self.duplicated_payouts), "violations": len(self.violations)}

    def __str__(self) -> str:
        lines = [json.dumps(self.summary())]
        lines += [f"lost: case {c}" for c in self.lost[:20]]
        lines += [f"duplicated: {d}" for d in self.duplicated_payouts[:20]]
        lines += [f"violation: {v}" for v in self.violations[:40]]
        return "\n".join(lines)


def collect(database_urls: dict[str, str], parked: dict[str, list[dict]] | None = None) -> State:
    """Read every service's state with read-only queries."""
    from sqlalchemy import create_engine, text

    state = State(parked=parked or {})
    for service, url in database_urls.items():
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SET TRANSACTION READ ONLY"))
                state.tables[service] = {name: [dict(row._mapping) for row in conn.execute(text(sql))]
                                         for name, sql in {**QUERIES[service], **COMMON}.items()}
        finally:
            engine.dispose()
    return state


def check(state: State, *, expected_cases: set[str] = frozenset(),
          expected_parked: dict[str, str] | None = None) -> Report:
    """What is wrong with ``state``. ``expected_cases``: case ids the clients were told were
    accepted (intake must hold them all); ``expected_parked``: message id → reason of the
    messages that were meant to be parked."""
    report = Report()
    _cases(state, expected_cases, report)
    _payouts(state, report)
    _ledger(state, report)
    _clocks(state, report)
    for service in SERVICES:
        for row in state.rows(service, "unsent"):
            report.violations.append(f"{service}: outbox row {row['message_id']} ({row['type']}) never sent "
                                     f"after {row['attempts']} attempt(s): {row.get('last_error') or '-'}")
    _parked(state, expected_parked or {}, report)
    return report


def _cases(state: State, expected: set[str], report: Report) -> None:
    cases = {c["id"]: c for c in state.rows("intake", "cases")}
    for case_id in sorted(set(expected) - set(cases)):
        report.lost.append(case_id)
        report.violations.append(f"intake: accepted case {case_id} is not in intake's database")
    reviews = defaultdict(list)
    for review in state.rows("review", "reviews"):
        reviews[review["case_id"]].append(review)
    decisions = {d["review_id"]: d for d in state.rows("review", "decisions")}
    payouts = defaultdict(list)
    for payout in state.rows("payout", "payouts"):
        payouts[payout["case_id"]].append(payout)
    plans = defaultdict(list)
    for plan in state.rows("followup", "plans"):
        plans[plan["case_id"]].append(plan)
    accepted = [c for c in cases.values() if c["accepted_at"] is not None]
    report.accepted = len(accepted)
    for case in accepted:
        problems = []
        if case["status"] != "in_followup":
            problems.append(f"intake status {case['status']}")
        mine = reviews.get(case["id"], [])
        decision = decisions.get(mine[0]["id"]) if mine else None
        if decision is None or decision["outcome"] != "approved":
            problems.append("no approved decision at review")
        if not payouts.get(case["id"]):
            problems.append("no payout")
        for payout in payouts.get(case["id"], []):
            if payout["status"] != "disbursed" or payout["paid_fen"] != payout["amount_fen"]:
                problems.append(f"payout {payout['id']} {payout['status']} {payout['paid_fen']}/{payout['amount_fen']}")
            if not any(p["beneficiary_id"] == payout["beneficiary_id"] for p in plans.get(case["id"], [])):
                problems.append(f"no plan for beneficiary {payout['beneficiary_id']}")
        if problems:
            report.lost.append(case["id"])
            report.violations.append(f"case {case['id']}: " + "; ".join(problems))
        else:
            report.completed += 1
    for case_id, mine in reviews.items():
        if len(mine) > 1:
            report.violations.append(f"review: {len(mine)} reviews of case {case_id}")


def _payouts(state: State, report: Report) -> None:
    payouts = state.rows("payout", "payouts")
    for (decision, beneficiary), n in Counter((p["decision_id"], p["beneficiary_id"]) for p in payouts).items():
        if n > 1:
            report.duplicated_payouts.append(f"{n} payouts for decision {decision}, beneficiary {beneficiary}")
    out = Counter()
    for line in state.rows("payout", "ledger"):
        if line["kind"] == "disbursement" and line["payout_id"]:
            out[line["payout_id"]] += line["amount_fen"]
    for payout in payouts:
        if out[payout["id"]] > payout["amount_fen"]:
            report.duplicated_payouts.append(f"payout {payout['id']}: {out[payout['id']]} fen disbursed "
                                             f"of {payout['amount_fen']}")
        if out[payout["id"]] != payout["paid_fen"]:
            report.violations.append(f"payout {payout['id']}: paid_fen {payout['paid_fen']} but the ledger "
                                     f"disbursed {out[payout['id']]}")
    for (case, beneficiary), n in Counter((p["case_id"], p["beneficiary_id"])
                                          for p in state.rows("followup", "plans")).items():
        if n > 1:
            report.violations.append(f"followup: {n} plans for case {case}, beneficiary {beneficiary}")


def _ledger(state: State, report: Report) -> None:
    from aidflow_payout.ledger import replay

    lines = [SimpleNamespace(**row) for row in state.rows("payout", "ledger")]
    funds = [SimpleNamespace(**row) for row in state.rows("payout", "funds")]
    report.violations += [f"ledger: {problem}" for problem in replay(lines, funds).problems]


def _clocks(state: State, report: Report) -> None:
    def clocks(service: str, stage: str) -> dict[str, dict]:
        return {c["subject_id"]: c for c in state.rows(service, "clocks") if c["stage"] == stage}

    def expect(service: str, stage: str, subject: str, done: bool) -> None:
        clock = clocks(service, stage).get(subject)
        if clock is None:
            report.violations.append(f"{service}: {stage} clock of {subject} lost")
        elif done and clock["status"] != "stopped":
            report.violations.append(f"{service}: {stage} clock of {subject} still {clock['status']} "
                                     "though its work is done")
    for case in state.rows("intake", "cases"):
        if case["source"] == "partner_transfer":
            expect("intake", "transfer", case["id"], case["accepted_at"] is not None)
    decided = {d["review_id"] for d in state.rows("review", "decisions")}
    for review in state.rows("review", "reviews"):
        if review["status"] != "awaiting_acceptance":
            expect("review", "review", review["id"], review["id"] in decided)
    for payout in state.rows("payout", "payouts"):
        expect("payout", "payout", payout["id"], payout["status"] == "disbursed")


def _parked(state: State, expected: dict[str, str], report: Report) -> None:
    seen = {}
    for service, messages in state.parked.items():
        for message in messages:
            key = message.get("message_id") or "-"
            if not message.get("reason"):
                report.violations.append(f"{service}: parked message {key} has no reason")
            if key not in expected:
                report.violations.append(f"{service}: unexpected parked message {key} ({message.get('type')}): "
                                         f"{message.get('reason')} {str(message.get('detail'))[:120]}")
            elif message.get("reason") != expected[key]:
                report.violations.append(f"{service}: parked message {key} for {message.get('reason')}, "
                                         f"expected {expected[key]}")
            seen[key] = service
    for key in sorted(set(expected) - set(seen)):
        report.violations.append(f"parked message {key} ({expected[key]}) is missing from every parking queue")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Check aidflow's cross-service invariants (read-only).")
    for service in SERVICES:
        parser.add_argument(f"--{service}", required=True, metavar="DATABASE_URL")
    parser.add_argument("--parked", type=argparse.FileType(), help="JSON {service: [parked message, ...]}")
    parser.add_argument("--expect-parked", type=argparse.FileType(), help="JSON {message_id: reason}")
    args = parser.parse_args(argv)
    parked = json.load(args.parked) if args.parked else {}
    expected = json.load(args.expect_parked) if args.expect_parked else {}
    report = check(collect({s: getattr(args, s) for s in SERVICES}, parked), expected_parked=expected)
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
