"""Payees' bank details and receipt signers: sealed at rest, masked on screen.

Names and account numbers are personal data. They are stored sealed by the shared vault (the
field name bound in), account numbers also under a blind index, so that an account used for two
different beneficiaries can be noticed without reading any of them. Only finance officers see
them in clear; everyone else, auditors included, sees ``张*`` and ``6222********0123``. They
never go into logs, metric labels or events.
"""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL

from aidflow_payout.settings import PAYEE_KEY_VARIABLE
from aidflow_shared.vault import Vault, VaultError, development_key


PURPOSE = "payout payee"
DEV_KEY_FILE = "payout-payee.key"
CLEAR_TO = frozenset({"finance_officer"})
ACCOUNT_DIGITS = re.compile(r"^\d{8,30}$")


def normalise_account(number: str) -> str:
    """Account numbers are written with spaces and dashes; the bank reads the digits."""
    return re.sub(r"[\s-]", "", number)


def load_vault(extra: dict, url: URL, data_dir: Path) -> Vault:
    """The payee vault with the deployment's key; a development key for an embedded (SQLite) one."""
    if extra.get(PAYEE_KEY_VARIABLE):
        return Vault.from_environment(PAYEE_KEY_VARIABLE, purpose=PURPOSE, environ=extra)
    if url.get_backend_name() != "sqlite":
        raise VaultError(f"set {PAYEE_KEY_VARIABLE}: payout stores bank details only encrypted")
    key = development_key(Path(data_dir) / DEV_KEY_FILE, variable=PAYEE_KEY_VARIABLE, what="bank details")
    return Vault(key, purpose=PURPOSE)


def mask_name(name: str | None) -> str | None:
    if name is None:
        return None
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_account(number: str | None) -> str | None:
    if number is None:
        return None
    return number[:4] + "*" * (len(number) - 8) + number[-4:] if len(number) > 8 else "*" * len(number)


def shown(roles: frozenset[str], vault: Vault | None, sealed: str | None, field: str) -> str | None:
    """A sealed field as the caller may see it: in clear for finance officers, masked otherwise."""
    if sealed is None or vault is None:
        return None
    value = vault.open(sealed, field=field)
    if not roles.isdisjoint(CLEAR_TO):
        return value
    return mask_account(value) if field == "account_number" else mask_name(value)
