"""Personal data at rest and on screen: sealed in the database, masked for those without need.

Names, ID numbers and phone numbers are stored sealed by the shared vault
(:mod:`aidflow_shared.vault`: AES-256-GCM, the column bound in) under intake's own key,
``AIDFLOW_INTAKE_PII_KEY``. Recognising a person needs equality search on the ID document,
which ciphertext cannot give, so each person also carries the vault's blind index of ID type and
number.

Who sees what in clear is a table (:data:`CLEAR_TO`), not a scatter of checks; everyone else
gets the masked form. Personal data never goes into logs, metric labels or events.
"""
from __future__ import annotations

from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy.engine import URL

from aidflow_intake import identity
from aidflow_intake.settings import PII_KEY_VARIABLE, IntakeSettings
from aidflow_shared.storage import Database
from aidflow_shared.vault import Vault, VaultError, development_key


PURPOSE = "intake"
DEV_KEY_FILE = "intake-pii.key"

# The roles that see each personal field in clear. Intake clerks and department heads register
# and verify people; follow-up workers call them for return visits; reviewers and the chief
# procurator decide on a named person but need neither ID nor phone; auditors check the
# process, not the people, and see everything masked. Partners never read cases.
CLEAR_TO: dict[str, frozenset[str]] = {
    "name": frozenset({"intake_clerk", "department_head", "reviewer", "chief_procurator", "followup_worker"}),
    "id_number": frozenset({"intake_clerk", "department_head"}),
    "birth_date": frozenset({"intake_clerk", "department_head"}),
    "phone": frozenset({"intake_clerk", "department_head", "followup_worker"}),
}


def id_index(vault: Vault, id_type: str, id_number: str) -> str:
    """The blind index of an ID document: equal for the same type and number, else unrelated."""
    return vault.index(f"{id_type}:{identity.normalise(id_number)}", field="id_document")


# -- masking ---------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """The family name and a star per other character: 张** for 张三丰."""
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    return digits[:3] + "*" * max(0, len(digits) - 7) + digits[-4:] if len(digits) > 7 else "*" * len(digits)


MASKS = {"name": mask_name, "id_number": identity.mask, "phone": mask_phone, "birth_date": lambda _: None}


def shown(field: str, value, roles: frozenset[str]):
    """``value`` as the caller may see it, and whether it was masked."""
    if value is None or not roles.isdisjoint(CLEAR_TO[field]):
        return value, False
    return MASKS[field](value), True


# -- the deployment's vault ------------------------------------------------------------------------

_VAULTS: "WeakKeyDictionary[Database, Vault]" = WeakKeyDictionary()


def vault_for(db: Database) -> Vault:
    """The vault of the intake database ``db``, with the key from the environment."""
    vault = _VAULTS.get(db)
    if vault is None:
        vault = _VAULTS[db] = Vault(master_key_for(db.url), purpose=PURPOSE)
    return vault


def master_key_for(url: URL) -> bytes:
    """The key from ``AIDFLOW_INTAKE_PII_KEY``; without one, a development key for SQLite.

    An embedded deployment (a SQLite file) generates a key and keeps it beside the database in
    the data directory, with a warning: good enough for a laptop, no protection against someone
    who copies the whole directory. Any other deployment refuses to run without the variable.
    """
    configured = IntakeSettings.from_env().pii_key
    if configured:
        return configured
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise VaultError(f"set {PII_KEY_VARIABLE}: intake stores personal data only encrypted")
    return development_key(Path(url.database).parent / DEV_KEY_FILE, variable=PII_KEY_VARIABLE,
                           what="personal data")
