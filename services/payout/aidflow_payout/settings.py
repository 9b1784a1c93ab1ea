"""Payout's own settings, beside the shared ones, from ``AIDFLOW_PAYOUT_*`` variables.

- ``AIDFLOW_PAYOUT_DISBURSEMENT``: ``automatic`` (default) pays a payout as soon as its money is
  reserved, by transfer to the account the finance bureau holds on record for the beneficiary
  (e.g. the social-security or subsidy card, 惠民惠农"一卡通"); ``instructed`` waits for a finance
  officer to say how (a bank account, cash against a signed receipt, escrow instalments for a
  minor). Advance payments (先行救助) are paid at once in both modes.
- ``AIDFLOW_PAYOUT_BANK``: ``sandbox`` (default) or ``package.module:Factory``.
- ``AIDFLOW_PAYOUT_SANDBOX_RULES`` and ``AIDFLOW_PAYOUT_SANDBOX_PATH``: the sandbox bank's
  behaviour by payee (see :mod:`aidflow_payout.bank`) and its file (default: the data directory).
- ``AIDFLOW_PAYOUT_PAYEE_KEY``: 32 random bytes, base64: the key that seals payees' names and
  account numbers. Without it, an embedded (SQLite) deployment keeps a development key in its
  data directory; any other refuses to store bank details.
- ``AIDFLOW_PAYOUT_SWEEP_INTERVAL`` (seconds, default 5): how often a worker sends what is due,
  asks the bank about unanswered orders and reads its notifications.
- ``AIDFLOW_PAYOUT_RESEND_AFTER`` (seconds, default 300): an order the bank says it never got
  is sent again (same idempotency key) after this long.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aidflow_payout.bank import DEFAULT_RULES, parse_rules
from aidflow_shared.settings import Settings

MODES = ("automatic", "instructed")
PAYEE_KEY_VARIABLE = "AIDFLOW_PAYOUT_PAYEE_KEY"


@dataclass(frozen=True)
class PayoutSettings:
    disbursement: str = "automatic"
    bank: str = "sandbox"
    sandbox_rules: tuple[tuple[str, str], ...] = DEFAULT_RULES
    sandbox_path: Path = Path("data/sandbox-bank.sqlite3")
    sweep_interval: float = 5.0
    lease_seconds: float = 60.0
    resend_after: float = 300.0

    def __post_init__(self):
        if self.disbursement not in MODES:
            raise ValueError(f"AIDFLOW_PAYOUT_DISBURSEMENT must be one of {', '.join(MODES)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> "PayoutSettings":
        extra = settings.extra

        def pick(name: str, default: str) -> str:
            return extra.get(f"AIDFLOW_PAYOUT_{name}") or default

        rules = pick("SANDBOX_RULES", "")
        return cls(
            disbursement=pick("DISBURSEMENT", "automatic"),
            bank=pick("BANK", "sandbox"),
            sandbox_rules=parse_rules(rules) + DEFAULT_RULES if rules else DEFAULT_RULES,
            sandbox_path=Path(pick("SANDBOX_PATH", str(settings.data_dir / "sandbox-bank.sqlite3"))),
            sweep_interval=float(pick("SWEEP_INTERVAL", "5")),
            resend_after=float(pick("RESEND_AFTER", "300")),
            lease_seconds=float(pick("LEASE_SECONDS", "60")),
        )
