"""Plans (救助+帮扶): opened when aid is paid or an advance approved, assessed and re-assessed,
and closed with their case only when nothing is left open.

- **Opening.** One plan per beneficiary of a case, on ``payout.disbursed`` or, for an advance
  payment (先行救助), on the approval itself; the later payout is recorded on the same plan. The
  return visits are scheduled at once, from policy.
- **Assessment.** The first needs assessment is made by the rules of :mod:`aidflow_followup.needs`
  from intake's acceptance (counselling always for minors); staff confirm and re-assess.
  Rolling management (滚动管理): a re-assessment falls due every ``reassess_months``, and at once
  when a visit finds the family back in hardship (返困). A relapse assessment hands the person
  over again for every open need an agency with consent can meet, and lists those it cannot.
- **Closure.** A case closes only when every plan is assessed, no need is open, no hand-off is
  open and no visit waits; closing is ``followup.case.closed``, reopening (with its reason)
  ``followup.case.reopened``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from aidflow_followup import needs
from aidflow_followup.cases import case_file, facts_of, is_minor, learn_case
from aidflow_followup.consent import active_consent, missing_for
from aidflow_followup.errors import Refused, conflict, invalid
from aidflow_followup.handoffs import OPEN as OPEN_HANDOFF, carries_personal_numbers, request_handoff
from aidflow_followup.orm import Assessment, CaseFile, Closure, Need, Plan
from aidflow_followup.visits import add_months, schedule
from aidflow_shared.contracts.followup import CASE_CLOSED, CASE_REOPENED, PLAN_OPENED
from aidflow_shared.storage import UnitOfWork, new_id, utcnow


# -- opening ---------------------------------------------------------------------------------------


def open_plan(uow: UnitOfWork, followup, *, case_id: str, beneficiary_id: str, payout_id: str | None = None,
              decision_id: str | None = None, opened_on: str = "payout") -> Plan | None:
    """Open the beneficiary's plan; None if it is open already (the payout is then noted on it).

    The case file is locked first, so the plans of one case are opened one at a time: of two
    instances opening the same plan at once, the second waits for the first to commit and then
    finds its plan. The unique (case, beneficiary) stays as the backstop: a collision there
    fails the transaction, and the message is handled again.
    """
    session = uow.session
    case = case_file(session, case_id, lock=True)
    existing = session.scalars(select(Plan).where(Plan.case_id == case_id,
                                                  Plan.beneficiary_id == beneficiary_id)).first()
    if existing is not None:
        existing.payout_id = existing.payout_id or payout_id
        existing.decision_id = existing.decision_id or decision_id
        return None
    plan = _new_plan(uow, followup, case, beneficiary_id, payout_id, decision_id, opened_on)
    uow.emit(PLAN_OPENED.type, {"plan_id": plan.id, "case_id": case_id, "beneficiary_id": beneficiary_id,
                                "opened_at": plan.opened_at}, subject=case_id)
    return plan


def _new_plan(uow, followup, case: CaseFile, beneficiary_id, payout_id, decision_id, opened_on) -> Plan:
    session = uow.session
    now = utcnow()
    plan = Plan(id=new_id(), case_id=case.case_id, beneficiary_id=beneficiary_id, payout_id=payout_id,
                decision_id=decision_id, opened_on=opened_on, status="open", opened_at=now,
                next_assessment_on=add_months(followup.today(now), followup.settings.reassess_months))
    plan.case = case
    session.add(plan)
    schedule(plan, followup.policy.visit_months)
    with session.no_autoflush:  # the plan is written once, assessed: not inserted, then updated
        assess_by_rules(session, plan, now)
    if case.status == "closed":  # another beneficiary's aid after closure: the case is followed again
        reopen_case(uow, followup, case, {"reason": "new_need", "note": "a plan opened"}, by="system")
    return plan


def learn_and_assess(uow: UnitOfWork, accepted: dict) -> CaseFile:
    """``intake.case.accepted``: keep the case's facts; plans opened before them are assessed now."""
    case = learn_case(uow.session, accepted)
    now = utcnow()
    for plan in case.plans:
        if plan.assessed_at is None:
            assess_by_rules(uow.session, plan, now)
    return case


def assess_by_rules(session, plan: Plan, now: datetime) -> bool:
    """The first assessment, by the rules, once the facts are known; False while they are not."""
    facts = facts_of(session, plan)
    if facts is None:
        return False
    found = needs.initial_needs(facts)
    for service, reason in found.items():
        plan.needs.append(Need(id=new_id(), plan_id=plan.id, service=service, status=needs.NEEDED, reason=reason,
                               updated_at=now))
    plan.assessments.append(Assessment(id=new_id(), plan_id=plan.id, kind="initial", assessed_by="rules",
                                       assessed_at=now, needs={s: needs.NEEDED for s in found}))
    plan.assessed_at = now
    return True


# -- re-assessing (滚动管理) -----------------------------------------------------------------------


@dataclass
class Assessed:
    assessment: Assessment
    handoffs: list = field(default_factory=list)
    awaiting_handoff: list[dict] = field(default_factory=list)


def assess(uow: UnitOfWork, followup, plan: Plan, body: dict, *, by: str) -> Assessed:
    """Staff assess the plan's needs; with ``returned_to_hardship`` the person is handed over again.

    Hand-offs named in ``handoffs`` are made as asked (any refusal refuses the whole assessment);
    after a relapse, every other open need without an open hand-off goes to the first agency that
    provides it and holds a sufficient consent, or is listed in ``awaiting_handoff`` with why not.
    """
    session = uow.session
    now = utcnow()
    if plan.status != "open":
        raise conflict("plan_closed")
    problems = needs.assessment_problems(body["needs"], is_minor=is_minor(session, plan))
    after = {n.service: n.status for n in plan.needs} | {e["service"]: e["status"] for e in body["needs"]}
    for position, entry in enumerate(body.get("handoffs") or ()):
        if after.get(entry["service"]) != needs.NEEDED:
            problems.setdefault(f"handoffs.{position}.service", []).append("not_a_need")
    if problems:
        raise invalid(problems)
    by_service = {n.service: n for n in plan.needs}
    for position, entry in enumerate(body["needs"]):
        if entry["status"] != needs.NEEDED and any(h.service == entry["service"] and h.status in OPEN_HANDOFF
                                                   for h in plan.handoffs):
            raise conflict("handoff_open", f"needs.{position}.status")  # withdraw the hand-off first
        need = by_service.get(entry["service"])
        if need is None:
            need = by_service[entry["service"]] = Need(id=new_id(), plan_id=plan.id, service=entry["service"],
                                                       reason="assessed")
            plan.needs.append(need)
        need.status, need.note, need.updated_at = entry["status"], entry.get("note"), now
    relapse = bool(body.get("returned_to_hardship"))
    assessment = Assessment(id=new_id(), plan_id=plan.id, kind="relapse" if relapse else "periodic",
                            assessed_by=by, assessed_at=now, returned_to_hardship=relapse,
                            psychological_state=body.get("psychological_state"),
                            needs={e["service"]: e["status"] for e in body["needs"]}, note=body.get("note"))
    plan.assessments.append(assessment)
    plan.assessed_at = now
    plan.next_assessment_on = add_months(followup.today(now), followup.settings.reassess_months)
    if body.get("psychological_state"):
        plan.psychological_state = body["psychological_state"]
    if relapse:
        plan.relapsed_at = now
    result = Assessed(assessment)
    for entry in body.get("handoffs") or ():
        result.handoffs.append(request_handoff(uow, followup, plan, service=entry["service"], agency=entry["agency"],
                                               note=entry.get("note"), by=by, now=now))
    for need in sorted(plan.needs, key=lambda n: n.service):
        if need.status != needs.NEEDED or any(h.service == need.service and h.status in OPEN_HANDOFF
                                              for h in plan.handoffs):
            continue
        agency = _consented_provider(session, plan, need.service) if relapse else None
        if agency is None:
            result.awaiting_handoff.append({"service": need.service,
                                            "reason": "consent_missing" if relapse else "not_requested"})
            continue
        try:
            with session.begin_nested():
                result.handoffs.append(request_handoff(uow, followup, plan, service=need.service, agency=agency,
                                                       note=None, by=by, now=now))
        except Refused as refused:
            result.awaiting_handoff.append({"service": need.service, "reason": refused.code})
    return result


def _consented_provider(session, plan: Plan, service: str) -> str | None:
    for agency in needs.PROVIDERS[service]:
        consent = active_consent(session, plan.id, agency)
        if consent is not None and not missing_for(service, set(consent.categories)):
            return agency
    return None


# -- closing and reopening -------------------------------------------------------------------------


def open_items(plan: Plan) -> dict[str, list[str]]:
    """What keeps the plan from being complete, as field paths to codes."""
    items: dict[str, list[str]] = {}
    prefix = f"plans.{plan.id}"
    if plan.assessed_at is None:
        items[prefix] = ["not_assessed"]
    for need in plan.needs:
        if need.status == needs.NEEDED:
            items[f"{prefix}.needs.{need.service}"] = ["need_open"]
    for handoff in plan.handoffs:
        if handoff.status in OPEN_HANDOFF:
            items[f"{prefix}.handoffs.{handoff.id}"] = ["handoff_open"]
    for visit in plan.visits:
        if visit.status == "scheduled":
            items[f"{prefix}.visits.{visit.id}"] = ["visit_open"]
    return items


def close_case(uow: UnitOfWork, case: CaseFile, body: dict, *, by: str) -> Closure:
    """Close the case's follow-up; refused with every open item named while anything is open."""
    if case.status == "closed":
        raise conflict("followup_closed")
    if not case.plans:
        raise conflict("no_plan")
    if carries_personal_numbers(body.get("note")):
        raise invalid({"note": ["personal_data_in_text"]})
    items: dict[str, list[str]] = {}
    for plan in case.plans:
        items.update(open_items(plan))
    if items:
        raise Refused(409, "closure_refused", items)
    now = utcnow()
    for plan in case.plans:
        plan.status, plan.closed_at = "closed", now
    case.status, case.updated_at = "closed", now
    closure = Closure(case_id=case.case_id, kind="closed", reason=body["reason"], note=body.get("note"), by=by,
                      at=now)
    case.closures.append(closure)
    uow.emit(CASE_CLOSED.type, {"case_id": case.case_id, "plans": len(case.plans), "reason": body["reason"],
                                "closed_at": now}, subject=case.case_id)
    return closure


def reopen_case(uow: UnitOfWork, followup, case: CaseFile, body: dict, *, by: str) -> Closure:
    """Reopen a closed case's follow-up, with the reason; its plans are to be re-assessed at once."""
    if case.status != "closed":
        raise conflict("followup_not_closed")
    if body["reason"] == "other" and not body.get("note"):
        raise invalid({"note": ["reason_required"]})
    now = utcnow()
    for plan in case.plans:
        plan.status, plan.closed_at, plan.next_assessment_on = "open", None, followup.today(now)
    case.status, case.updated_at = "open", now
    closure = Closure(case_id=case.case_id, kind="reopened", reason=body["reason"], note=body.get("note"), by=by,
                      at=now)
    case.closures.append(closure)
    uow.emit(CASE_REOPENED.type, {"case_id": case.case_id, "reason": body["reason"], "reopened_at": now},
             subject=case.case_id)
    return closure
