"""Intake's own settings, beside the shared ones: the key that protects personal data at rest.

``AIDFLOW_INTAKE_PII_KEY`` is 32 random bytes, base64 (URL-safe or standard) encoded, e.g.::

    python -c "from aidflow_shared.vault import new_key; print(new_key())"

It is read from the process environment, like every other setting, so the API processes and the
workers of one deployment share it. Lose it and the stored names, ID numbers and phone numbers
cannot be read again; keep it in the deployment's secret store, not beside the database backup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from aidflow_shared.settings import read_secret
from aidflow_shared.vault import VaultError, decode_key

PII_KEY_VARIABLE = "AIDFLOW_INTAKE_PII_KEY"


@dataclass(frozen=True)
class IntakeSettings:
    pii_key: bytes | None = None  # None: an embedded deployment may make a development key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "IntakeSettings":
        raw = read_secret(PII_KEY_VARIABLE, environ).strip()  # or from the file AIDFLOW_INTAKE_PII_KEY_FILE
        if not raw:
            return cls()
        try:
            return cls(pii_key=decode_key(raw))
        except VaultError as exc:
            raise VaultError(f"{PII_KEY_VARIABLE}: {exc}") from None
