"""Follow-up's re-referral of a family back in hardship (返困): a new case, linked to the old.

Follow-up names the person by ``person_ref`` (intake's own id) and the criminal case a new aid
would be for. Intake opens the person's sealed record itself and registers the case exactly as
any referral (:func:`aidflow_intake.cases.register_case`), so the same rule refuses a second case
for the same person and criminal case (``duplicate_case``, or ``already_aided`` once aided). The
new case is ex officio (依职权: the procuratorate's own follow-up found it), linked to the earlier
one (``rereferred_from_id``), and waits for its documents and acceptance like any other. Intake
answers ``intake.rereferral.answered`` either way, with no personal data.
"""
from __future__ import annotations

from aidflow_intake.cases import Refused, register_case
from aidflow_intake.orm import Case, Person
from aidflow_intake.pii import vault_for
from aidflow_shared.contracts.followup import REREFERRAL_ANSWERED
from aidflow_shared.envelope import Envelope
from aidflow_shared.storage import UnitOfWork, utcnow

REGISTERED_BY = "followup:rereferral"
STAGE = "other_procuratorial"


def handle_rereferral(uow: UnitOfWork, event: Envelope) -> None:
    """``followup.rereferral.requested``: register the new case, or say why not."""
    data = event.data
    session = uow.session
    person = session.get(Person, data["person_ref"])
    if person is None:
        return _answer(uow, data, "refused", reason="unknown_person")
    earlier = session.get(Case, data["from_case_id"])
    if earlier is None:
        return _answer(uow, data, "refused", reason="unknown_case")
    vault = vault_for(uow.db)
    referral = {
        "source": "ex_officio", "stage": STAGE, "criminal_case_ref": data["criminal_case_ref"],
        "urgent_medical": data["urgent_medical"], "summary": data.get("summary"), "documents": [],
        "beneficiaries": [{
            "name": vault.open(person.name_sealed, field="name"), "id_type": person.id_type,
            "id_number": vault.open(person.id_number_sealed, field="id_number"), "birth_date": person.birth_date,
            "phone": vault.open(person.phone_sealed, field="phone"), "relationship": data["relationship"],
            "poverty_markers": data["poverty_markers"], "urgent_medical_need": data["urgent_medical"]}],
    }
    try:
        opened = register_case(uow, referral, registered_by=REGISTERED_BY, rereferred_from=earlier, vault=vault)
    except Refused as refused:
        return _answer(uow, data, "refused", reason=refused.code)
    _answer(uow, data, "accepted", case=opened.case)


def _answer(uow: UnitOfWork, data: dict, outcome: str, *, reason: str | None = None, case: Case | None = None):
    uow.emit(REREFERRAL_ANSWERED.type, {
        "rereferral_id": data["rereferral_id"], "from_case_id": data["from_case_id"], "outcome": outcome,
        "reason": reason, "case_id": case.id if case else None, "case_number": case.case_number if case else None,
        "answered_at": utcnow()}, subject=data["from_case_id"])
