"""Payout's rules without a broker or a database: money as it is written, the ledger's replay,
the sandbox bank's behaviours, and the shared vault that seals payees."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st
from marshmallow import ValidationError

from aidflow_payout.bank import DEFAULT_RULES, BankTimeout, PaymentOrder, SandboxBank, parse_rules
from aidflow_payout.ledger import MOVES, Balances, replay
from aidflow_payout.payees import mask_account, mask_name
from aidflow_payout.reports import yuan
from aidflow_payout.schemas import AllocationIn, DisbursementIn
from aidflow_shared.vault import Vault, VaultError, decode_key, new_key


@pytest.mark.parametrize("amount, code", [(12.34, "not_whole_fen"), (1234.0, "not_whole_fen"),
                                          ("12.34", "not_whole_fen"), ("1234", "invalid"), (0, "range"),
                                          (-5, "range"), (True, "invalid"), (None, "null")])
def test_amounts_are_whole_positive_fen(amount, code):
    with pytest.raises(ValidationError) as refused:
        AllocationIn().load({"amount_fen": amount})
    assert refused.value.messages["amount_fen"] == [code]


def test_only_yuan_renminbi():
    assert AllocationIn().load({"amount_fen": 1})["currency"] == "CNY"
    with pytest.raises(ValidationError) as refused:
        AllocationIn().load({"amount_fen": 1, "currency": "USD"})
    assert refused.value.messages == {"currency": ["currency_not_supported"]}


def test_each_method_needs_its_own_parts():
    base = {"decision_id": "d", "beneficiary_id": "b"}
    with pytest.raises(ValidationError) as refused:
        DisbursementIn().load(dict(base, method="escrow", amount_fen=5))
    assert refused.value.messages == {"payee": ["required"], "schedule": ["required"]}
    with pytest.raises(ValidationError) as refused:
        DisbursementIn().load(dict(base, method="cash", amount_fen=5, schedule=[{"due_on": "2026-12-01",
                                                                                 "amount_fen": 5}]))
    assert refused.value.messages == {"receipt": ["required"], "schedule": ["not_allowed_for_method"]}


def line(n, fund, kind, amount):
    debit, credit = MOVES[kind]
    return SimpleNamespace(id=n, fund_id=fund, kind=kind, debit=debit, credit=credit, amount_fen=amount)


def test_replay_balances_a_funds_life():
    lines = [line(1, "f", "allocation", 100), line(2, "f", "reservation", 60), line(3, "f", "void", 10),
             line(4, "f", "disbursement", 50), line(5, "f", "recovery", 20)]
    result = replay(lines)
    assert result.ok, result.problems
    assert result.funds["f"].as_dict() == {"allocations": 100, "available": 50, "reserved": 0, "paid": 30,
                                           "recovered": 20}


def test_replay_finds_an_overdraft_at_the_line_it_happens_and_a_fund_row_that_disagrees():
    result = replay([line(1, "f", "allocation", 100), line(2, "f", "reservation", 120),
                     line(3, "f", "allocation", 50)])
    assert not result.ok and result.problems[0].startswith("line 2:")
    fund = SimpleNamespace(id="f", allocated_fen=100, available_fen=100, reserved_fen=0, paid_fen=0, recovered_fen=0)
    assert "fund f" in replay([line(1, "f", "allocation", 90)], [fund]).problems[0]


@given(st.lists(st.tuples(st.sampled_from(sorted(MOVES)), st.integers(min_value=1, max_value=10**6)), max_size=40))
def test_moving_money_between_accounts_never_unbalances_a_fund(moves):
    balances = Balances()
    for kind, amount in moves:
        balances.apply(*MOVES[kind], amount)
        assert balances.balanced


def test_yuan_and_masks():
    assert (yuan(1234), yuan(5), yuan(-100), yuan(0)) == ("12.34", "0.05", "-1.00", "0.00")
    assert mask_account("6222021234567890123") == "6222***********0123" and mask_name("欧阳小明") == "欧***"


def order(key, payee_key, amount=100):
    kind, _, ref = payee_key.partition(":")
    return (PaymentOrder(key, amount, "registered", payee_reference=ref) if kind == "registered"
            else PaymentOrder(key, amount, "account", account_number=payee_key, holder_name="张三", bank_name="b"))


def test_the_sandbox_bank_accepts_rejects_times_out_loses_and_answers_twice(tmp_path):
    bank = SandboxBank(tmp_path / "bank.sqlite3", parse_rules("registered:x=twice") + DEFAULT_RULES)
    assert bank.submit(order("k1", "6222000000000000")).outcome == "accepted"
    assert bank.submit(order("k2", "6222000000004001")).reason == "account_closed"
    with pytest.raises(BankTimeout):
        bank.submit(order("k3", "6222000000004008"))
    with pytest.raises(BankTimeout):
        bank.submit(order("k4", "6222000000004009"))
    assert bank.status("k3").outcome == "accepted" and bank.status("k4") is None
    assert bank.submit(order("k4", "6222000000004009")).outcome == "accepted"  # lost once, then arrives
    twice = bank.submit(order("k5", "registered:x"))
    assert [a.idempotency_key for a in bank.notifications()] == ["k3", "k5"]
    assert bank.notifications() == []  # each handed over once
    assert bank.submit(order("k5", "registered:x")) == twice  # the same key: the same answer, not paid again
    paid = {t["idempotency_key"]: t for t in bank.transfers()}
    assert paid["k5"]["submissions"] == 2 and len(paid) == 5
    assert "6222" not in repr(order("k1", "6222000000000000"))


def test_sandbox_rules_are_checked():
    with pytest.raises(ValueError):
        parse_rules("*1=explode")


def test_vault_seals_with_the_field_bound_in_and_indexes_blindly():
    key = new_key()
    vault = Vault(decode_key(key), purpose="test")
    sealed = vault.seal("6222021234567890123", field="account_number")
    assert "6222" not in sealed and vault.open(sealed, field="account_number") == "6222021234567890123"
    assert vault.seal("same", field="f") != vault.seal("same", field="f")  # a fresh nonce each time
    with pytest.raises(VaultError, match="another field"):
        vault.open(sealed, field="holder_name")
    with pytest.raises(VaultError, match="another key"):
        Vault(decode_key(new_key()), purpose="test").open(sealed, field="account_number")
    assert vault.index("123", field="a") == vault.index("123", field="a") != vault.index("123", field="b")
    assert Vault(decode_key(key), purpose="other").index("123", field="a") != vault.index("123", field="a")
    with pytest.raises(VaultError, match="set AIDFLOW_X_KEY"):
        Vault.from_environment("AIDFLOW_X_KEY", purpose="test", environ={})
    with pytest.raises(VaultError, match="32 random bytes"):
        Vault.from_environment("AIDFLOW_X_KEY", purpose="test", environ={"AIDFLOW_X_KEY": "short"})
