"""Contact details (name, phone, address; a minor's guardian): sealed at rest, masked on screen,
handed to an agency only through its own hand-off, with consent, and every read audited.

They never travel on the bus: a hand-off tells the agency where to fetch them, and the agency
asks with its own token. Follow-up workers see them in clear (they make the visits); department
heads and auditors see them masked. Sealing is the shared vault's, under follow-up's own key
(``AIDFLOW_FOLLOWUP_CONTACT_KEY``).
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from aidflow_followup.orm import Contact, ContactAccess, Plan
from aidflow_followup.settings import CONTACT_KEY_VARIABLE
from aidflow_shared.auth import Principal
from aidflow_shared.storage import utcnow
from aidflow_shared.vault import Vault, VaultError, development_key


PURPOSE = "followup contact"
DEV_KEY_FILE = "followup-contact.key"
FIELDS = ("name", "phone", "address", "guardian_name", "guardian_phone")
CLEAR_TO = frozenset({"followup_worker"})


def load_vault(extra, url: URL, data_dir: Path) -> Vault:
    """The contact vault with the deployment's key; a development key for an embedded (SQLite) one."""
    if extra.get(CONTACT_KEY_VARIABLE):
        return Vault.from_environment(CONTACT_KEY_VARIABLE, purpose=PURPOSE, environ=extra)
    if url.get_backend_name() != "sqlite":
        raise VaultError(f"set {CONTACT_KEY_VARIABLE}: follow-up stores contact details only encrypted")
    key = development_key(Path(data_dir) / DEV_KEY_FILE, variable=CONTACT_KEY_VARIABLE, what="contact details")
    return Vault(key, purpose=PURPOSE)


def record_contact(session, vault: Vault, plan: Plan, details: dict, *, by: str) -> Contact:
    """Seal and keep the contact details of ``plan``'s person, replacing earlier ones."""
    contact = plan.contact or Contact(plan_id=plan.id)
    for name in FIELDS:
        setattr(contact, f"{name}_sealed", vault.seal(details.get(name), field=name))
    contact.recorded_by, contact.recorded_at = by, utcnow()
    session.add(contact)
    plan.contact = contact
    return contact


def opened(contact: Contact, vault: Vault) -> dict:
    return {name: vault.open(getattr(contact, f"{name}_sealed"), field=name) for name in FIELDS}


def contact_view(contact: Contact | None, vault: Vault | None, roles: frozenset[str]) -> dict | None:
    """The contact details as the caller may see them: in clear for follow-up workers, masked otherwise."""
    if contact is None:
        return None
    view = {"recorded_by": contact.recorded_by, "recorded_at": contact.recorded_at, "masked_fields": []}
    clear = not roles.isdisjoint(CLEAR_TO)
    values = opened(contact, vault) if vault is not None else dict.fromkeys(FIELDS)
    for name, value in values.items():
        if value is not None and not clear:
            value = _mask(name, value)
            view["masked_fields"].append(name)
        view[name] = value
    return view


def _mask(field: str, value: str) -> str:
    if field.endswith("phone"):
        return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)
    if field == "address":
        return value[:6] + "***" if len(value) > 6 else "***"
    return value[:1] + "*" * (len(value) - 1) if len(value) > 1 else "*"


def audit(session, *, handoff_id: str, plan_id: str | None, agency: str | None, principal: Principal,
          granted: bool, reason: str | None = None) -> None:
    """Record a read of contact details through a hand-off, granted or not."""
    role = "partner_agency" if principal.has_any("partner_agency") else sorted(principal.roles)[0]
    session.add(ContactAccess(handoff_id=handoff_id[:64], plan_id=plan_id, agency=agency,
                              subject=principal.subject[:100], role=role, granted=granted, reason=reason,
                              at=utcnow()))
