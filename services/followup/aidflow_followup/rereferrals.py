"""Re-referral: a family found back in hardship (返困) goes to intake again, linked to the old case.

Follow-up asks (``followup.rereferral.requested``) only for a plan whose person was found back in
hardship, naming the criminal case the new aid would be for; intake registers a new case for
the same person, or refuses it, and answers (``intake.rereferral.answered``). Aid is one-off per
person and criminal case: follow-up refuses the old case's own criminal case at once, and
intake, which knows every case of the person, refuses any other it has already aided.
"""
from __future__ import annotations

from aidflow_followup.cases import beneficiary_of
from aidflow_followup.errors import conflict, invalid
from aidflow_followup.handoffs import carries_personal_numbers
from aidflow_followup.orm import Plan, ReReferral
from aidflow_shared.contracts.followup import REREFERRAL_REQUESTED
from aidflow_shared.envelope import MessageRejected
from aidflow_shared.storage import UnitOfWork, new_id, utcnow


def request_rereferral(uow: UnitOfWork, plan: Plan, body: dict, *, by: str) -> ReReferral:
    if plan.relapsed_at is None:
        raise conflict("no_relapse_recorded")
    if carries_personal_numbers(body.get("summary")):
        raise invalid({"summary": ["personal_data_in_text"]})
    known = beneficiary_of(uow.session, plan)
    if known is None or not plan.case.facts_known:
        raise conflict("facts_unknown")
    if body["criminal_case_ref"] == plan.case.criminal_case_ref:
        raise conflict("same_criminal_case", "criminal_case_ref")
    if any(r.status == "requested" for r in plan.rereferrals):
        raise conflict("rereferral_open")
    now = utcnow()
    rereferral = ReReferral(id=new_id(), plan_id=plan.id, from_case_id=plan.case_id,
                            criminal_case_ref=body["criminal_case_ref"], status="requested", requested_by=by,
                            requested_at=now)
    uow.session.add(rereferral)
    plan.rereferrals.append(rereferral)
    uow.emit(REREFERRAL_REQUESTED.type, {
        "rereferral_id": rereferral.id, "from_case_id": plan.case_id, "from_case_number": plan.case.case_number,
        "beneficiary_id": plan.beneficiary_id, "person_ref": known.person_ref,
        "criminal_case_ref": body["criminal_case_ref"], "relationship": body["relationship"],
        "poverty_markers": body["poverty_markers"], "urgent_medical": body["urgent_medical"],
        "summary": body.get("summary"), "requested_at": now}, subject=plan.case_id)
    return rereferral


def record_answer(uow: UnitOfWork, answer: dict) -> None:
    """Intake's answer: the new case (linked to the plan), or why there is none."""
    rereferral = uow.session.get(ReReferral, answer["rereferral_id"])
    if rereferral is None:
        raise MessageRejected("unknown-rereferral", "follow-up asked no such re-referral")
    if rereferral.status != "requested":
        return  # answered already: intake answers a re-referral once
    rereferral.status = answer["outcome"]
    rereferral.reason = answer.get("reason")
    rereferral.new_case_id, rereferral.new_case_number = answer.get("case_id"), answer.get("case_number")
    rereferral.answered_at = answer["answered_at"]
