"""Cases, people and checklists as a caller sees them: personal fields opened, then masked
according to the caller's roles (:data:`aidflow_intake.pii.CLEAR_TO`)."""
from __future__ import annotations

from sqlalchemy import select

from aidflow_intake import pii
from aidflow_intake.cases import checklist_of, poverty_markers
from aidflow_intake.orm import Beneficiary, Case, Person
from aidflow_shared.vault import Vault


def person_view(person: Person, vault: Vault, roles: frozenset[str]) -> dict:
    clear = {
        "name": vault.open(person.name_sealed, field="name"),
        "id_number": vault.open(person.id_number_sealed, field="id_number"),
        "phone": vault.open(person.phone_sealed, field="phone"),
        "birth_date": person.birth_date,
    }
    view, masked = {"id_type": person.id_type}, []
    for name, value in clear.items():
        view[name], was_masked = pii.shown(name, value, roles)
        if was_masked:
            masked.append(name)
    view["masked_fields"] = masked
    return view


def checklist_view(case: Case) -> dict:
    items = checklist_of(case)
    return {
        "complete": items.complete,
        "missing": [item.path for item in items.missing],
        "items": [{"requirement": i.requirement, "any_of": list(i.any_of), "beneficiary_id": i.beneficiary_id,
                   "present": i.present} for i in items.items],
        "documents": list(case.documents),
    }


def case_view(session, case: Case, vault: Vault, roles: frozenset[str], *, full: bool = True,
              others: dict[str, list[str]] | None = None) -> dict:
    """The case as ``roles`` may see it. ``others`` (the case numbers of each person's other
    cases, by person id) when the caller knows them already, as registration does."""
    view = {name: getattr(case, name) for name in (
        "case_number", "source", "source_agency", "partner_reference", "stage", "criminal_case_ref", "lead_id",
        "rereferred_from_id",
        "eligibility_situation", "situation_reason", "victim_deceased", "track", "status", "summary",
        "registered_by", "received_at", "opened_at", "accepted_at", "accepted_by", "acceptance_override_reason",
        "migrated", "updated_at")}
    view["case_id"] = case.id
    if others is None:
        others = _other_cases_of_people(session, case)
    view["beneficiaries"] = [
        {**person_view(b.person, vault, roles), "beneficiary_id": b.id, "person_ref": b.person_id,
         "relationship": b.relationship_to_victim, "is_minor": b.is_minor, "poverty_markers": poverty_markers(b),
         "urgent_medical_need": b.urgent_medical_need, "other_case_numbers": others.get(b.person_id, [])}
        for b in case.beneficiaries]
    if not full:
        return view
    view["application"] = None if case.application_form is None else {
        "applicant": case.applicant, "form": case.application_form, "recorded_by": case.recorded_by,
        "agent": None if case.agent is None else {**person_view(case.agent, vault, roles), "kind": case.agent_kind}}
    view["checklist"] = checklist_view(case)
    view["transfers"] = list(case.transfers)
    view["linked_cases"] = linked_cases(session, case)
    view["history"] = list(case.history)
    return view


def linked_cases(session, case: Case) -> list[dict]:
    """The other cases of the same criminal case: other direct victims, or other relatives."""
    if not case.criminal_case_ref:
        return []
    rows = session.execute(select(Case.id, Case.case_number, Case.status).where(
        Case.criminal_case_ref == case.criminal_case_ref, Case.id != case.id).order_by(Case.opened_at))
    return [{"case_id": r.id, "case_number": r.case_number, "status": r.status} for r in rows]


def _other_cases_of_people(session, case: Case) -> dict[str, list[str]]:
    people = [b.person_id for b in case.beneficiaries]
    rows = session.execute(select(Beneficiary.person_id, Case.case_number).join(Case).where(
        Beneficiary.person_id.in_(people), Case.id != case.id).order_by(Case.opened_at))
    others: dict[str, list[str]] = {}
    for person_id, number in rows:
        others.setdefault(person_id, []).append(number)
    return others
