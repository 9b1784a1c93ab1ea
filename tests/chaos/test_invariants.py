"""The invariant checker passes a consistent state and fails each deliberately corrupted one."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from invariants import State, check

NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)
POISON = "poison-1"


def good_state() -> State:
    """Two accepted cases (one a partner transfer), each approved, paid in full and followed up."""
    tables = {
        "intake": {"cases": [{"id": "c1", "status": "in_followup", "source": "ex_officio", "accepted_at": NOW},
                             {"id": "c2", "status": "in_followup", "source": "partner_transfer", "accepted_at": NOW}],
                   "clocks": [{"stage": "transfer", "subject_id": "c2", "case_id": "c2", "status": "stopped"}],
                   "unsent": []},
        "review": {"reviews": [{"id": "r1", "case_id": "c1", "status": "decided"},
                               {"id": "r2", "case_id": "c2", "status": "decided"}],
                   "decisions": [{"id": "d1", "review_id": "r1", "outcome": "approved"},
                                 {"id": "d2", "review_id": "r2", "outcome": "approved"}],
                   "clocks": [{"stage": "review", "subject_id": "r1", "case_id": "c1", "status": "stopped"},
                              {"stage": "review", "subject_id": "r2", "case_id": "c2", "status": "stopped"}],
                   "unsent": []},
        "payout": {"payouts": [{"id": "p1", "decision_id": "d1", "case_id": "c1", "beneficiary_id": "b1",
                                "amount_fen": 500, "paid_fen": 500, "status": "disbursed"},
                               {"id": "p2", "decision_id": "d2", "case_id": "c2", "beneficiary_id": "b2",
                                "amount_fen": 300, "paid_fen": 300, "status": "disbursed"}],
                   "ledger": [line(1, "allocation", 10_000), line(2, "reservation", 500, "p1"),
                              line(3, "disbursement", 500, "p1"), line(4, "reservation", 300, "p2"),
                              line(5, "disbursement", 300, "p2")],
                   "funds": [{"id": "f1", "allocated_fen": 10_000, "available_fen": 9_200, "reserved_fen": 0,
                              "paid_fen": 800, "recovered_fen": 0}],
                   "clocks": [{"stage": "payout", "subject_id": "p1", "case_id": "c1", "status": "stopped"},
                              {"stage": "payout", "subject_id": "p2", "case_id": "c2", "status": "stopped"}],
                   "unsent": []},
        "followup": {"plans": [{"id": "pl1", "case_id": "c1", "beneficiary_id": "b1", "payout_id": "p1",
                                "status": "open"},
                               {"id": "pl2", "case_id": "c2", "beneficiary_id": "b2", "payout_id": "p2",
                                "status": "open"}],
                     "clocks": [], "unsent": []},
    }
    parked = {"review": [{"message_id": POISON, "type": "intake.case.accepted.v1", "reason": "malformed",
                          "detail": "not JSON"}]}
    return State(tables=tables, parked=parked)


def line(n: int, kind: str, amount: int, payout: str | None = None) -> dict:
    moves = {"allocation": ("available", "allocations"), "reservation": ("reserved", "available"),
             "disbursement": ("paid", "reserved")}
    debit, credit = moves[kind]
    return {"id": n, "fund_id": "f1", "kind": kind, "debit": debit, "credit": credit, "amount_fen": amount,
            "payout_id": payout}


def run(state: State, **kw):
    return check(state, expected_cases=kw.pop("expected_cases", {"c1", "c2"}),
                 expected_parked=kw.pop("expected_parked", {POISON: "malformed"}))


def test_a_consistent_state_passes():
    report = run(good_state())
    assert report.ok, str(report)
    assert report.summary() == {"accepted": 2, "completed": 2, "lost": 0, "duplicated_payouts": 0, "violations": 0}


def corrupt(path: list, value):
    def apply(state: State):
        target = state.tables
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return apply


def append(service: str, table: str, row: dict):
    return lambda state: state.tables[service][table].append(row)


CORRUPTIONS = {
    # every accepted referral reaches its end
    "case stuck at intake": (corrupt(["intake", "cases", 0, "status"], "accepted"), "lost"),
    "accepted case missing at intake": (lambda s: s.tables["intake"]["cases"].pop(0), "lost"),
    "decision missing": (lambda s: s.tables["review"]["decisions"].pop(0), "lost"),
    "payout not paid": (corrupt(["payout", "payouts", 0, "status"], "reserved"), "lost"),
    "plan missing": (lambda s: s.tables["followup"]["plans"].pop(1), "lost"),
    # no payout twice
    "two payouts for one decision and beneficiary": (
        append("payout", "payouts", {"id": "p3", "decision_id": "d1", "case_id": "c1", "beneficiary_id": "b1",
                                     "amount_fen": 500, "paid_fen": 0, "status": "reserved"}), "duplicated"),
    "money disbursed twice": (append("payout", "ledger", line(6, "disbursement", 500, "p1")), "duplicated"),
    "two plans for one beneficiary": (
        append("followup", "plans", {"id": "pl3", "case_id": "c1", "beneficiary_id": "b1", "payout_id": "p1",
                                     "status": "open"}), "violation"),
    # the ledger balances
    "fund row disagrees with its lines": (corrupt(["payout", "funds", 0, "paid_fen"], 900), "violation"),
    "a line with a wrong account": (corrupt(["payout", "ledger", 1, "credit"], "allocations"), "violation"),
    # no clock lost
    "review clock lost": (lambda s: s.tables["review"]["clocks"].pop(0), "violation"),
    "payout clock still running": (corrupt(["payout", "clocks", 1, "status"], "running"), "violation"),
    "transfer clock lost": (corrupt(["intake", "clocks"], []), "violation"),
    # outboxes empty
    "outbox row never sent": (append("followup", "unsent", {"message_id": "m1", "type": "followup.plan.opened.v1",
                                                            "attempts": 7, "last_error": "unroutable"}), "violation"),
    # parked messages accounted for
    "unexpected parked message": (lambda s: s.parked["review"].append(
        {"message_id": "m2", "type": "x", "reason": "handler-failed", "detail": "boom"}), "violation"),
    "expected parked message missing": (lambda s: s.parked["review"].clear(), "violation"),
    "parked for another reason": (lambda s: s.parked["review"][0].update(reason="no-handler"),
                                  "violation"),
    "parked without a reason": (lambda s: s.parked["review"][0].update(reason=""), "violation"),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_corrupted_state_fails(name):
    state = copy.deepcopy(good_state())
    damage, kind = CORRUPTIONS[name]
    damage(state)
    report = run(state)
    assert not report.ok, name
    if kind == "lost":
        assert report.lost, str(report)
    elif kind == "duplicated":
        assert report.duplicated_payouts, str(report)
    else:
        assert report.violations, str(report)


def test_a_referral_the_client_was_told_accepted_but_intake_lacks_is_lost():
    report = run(good_state(), expected_cases={"c1", "c2", "c9"})
    assert report.lost == ["c9"]
