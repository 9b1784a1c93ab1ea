"""Follow-up's HTTP API: plans and cases, hand-offs (for staff and for partner agencies), reports.

Every write runs in one unit of work: the rows and the events they cause commit together, and a
refused request leaves nothing behind (the audit of contact reads excepted: a refused read is
recorded too).
"""
from __future__ import annotations

from flask import Blueprint, request
from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from aidflow_followup import contacts, handoffs as handoff_rules, plans as plan_rules, visits as visit_rules
from aidflow_followup.bootstrap import context
from aidflow_followup.cases import beneficiary_of, is_minor
from aidflow_followup.consent import active_consent, record_consent, withdraw_consent
from aidflow_followup.errors import Refused
from aidflow_followup.needs import services_of
from aidflow_followup.orm import (CaseFile, Consent, ContactAccess, Escalation, Handoff, KnownBeneficiary,
                                  PartnerAgency, Plan, Visit)
from aidflow_followup.rereferrals import request_rereferral
from aidflow_followup.schemas import (PLAN_STATUSES, AgencyIn, AgencyListOut, AgencyOut, AnswerIn, AssessedOut,
                                      AssessmentIn, CaseOut, ClosureIn, ConsentIn, ConsentOut, ContactAccessListOut,
                                      ContactForAgencyOut, ContactIn, EscalationListOut, HandoffListOut, HandoffOut,
                                      HandoffRequestIn, HandoffWithdrawalIn, PeriodIn, PlanListOut, PlanOut,
                                      ReopeningIn, ReReferralIn, ReReferralOut, StatisticsOut, VisitCancellationIn,
                                      VisitIn, VisitOut, WithdrawalIn)
from aidflow_followup.statistics import figures
from aidflow_shared.contracts.followup import HANDOFF_STATUSES
from aidflow_shared.http.auth import current_principal, require
from aidflow_shared.http.errors import ApiError, answer_refusals, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page
from aidflow_shared.schema import flatten_errors, instance
from aidflow_shared.storage import utcnow
from aidflow_shared.vault import VaultError

WORKERS = ("followup_worker",)
CLOSERS = ("followup_worker", "department_head")
READERS = ("followup_worker", "department_head", "chief_procurator", "auditor")
AUDIT_READERS = ("department_head", "auditor")
PARTNER = "partner_agency"


def _plan_query():
    return select(Plan).options(
        selectinload(Plan.case), selectinload(Plan.needs), selectinload(Plan.assessments),
        selectinload(Plan.consents), selectinload(Plan.contact), selectinload(Plan.visits),
        selectinload(Plan.rereferrals), selectinload(Plan.handoffs).selectinload(Handoff.answers))


def _locked(session, query, dialect: str, of=None):
    if dialect == "postgresql":
        query = query.with_for_update(of=of)
    found = session.scalars(query).first()
    if found is None:
        raise ApiError(404, "not_found")
    return found


def _choice(name: str, allowed) -> str | None:
    value = request.args.get(name)
    if value and value not in allowed:
        raise ApiError(400, "validation_failed", {name: ["one_of"]})
    return value or None


class Views:
    """Plans and hand-offs as the caller may see them."""

    def __init__(self, runtime):
        self.runtime = runtime

    @property
    def followup(self):
        return context(self.runtime.db)

    def vault(self):
        """The contact vault; without a key (outside the embedded mode) contact details cannot be kept."""
        try:
            return self.followup.vault
        except VaultError:
            raise ApiError(503, "contact_key_missing") from None

    def handoff(self, session, handoff: Handoff, bands: dict | None = None) -> dict:
        plan = handoff.plan
        known = beneficiary_of(session, plan)
        shared = handoff_rules.shared_data(handoff, plan, known) if known is not None else None
        bands = self.bands(session, [handoff.id]) if bands is None else bands
        return {**{name: getattr(handoff, name) for name in (
            "plan_id", "service", "agency", "channel", "status", "note", "requested_by", "requested_at",
            "acknowledge_by", "acknowledged_at", "escalated_at", "reason", "outcome", "updated_at")},
            "handoff_id": handoff.id, "case_number": plan.case.case_number, "shared": shared,
            "deadline_band": bands.get(handoff.id), "answers": list(handoff.answers)}

    def bands(self, session, handoff_ids: list[str]) -> dict[str, str]:
        clocks = self.followup.clocks
        if not handoff_ids:
            return {}
        rows = session.execute(select(clocks.table).where(clocks.table.c.stage == "handoff",
                                                          clocks.table.c.subject_id.in_(handoff_ids))).all()
        # A breach the sweep recorded stays shown as one: it was escalated on it.
        return {row.subject_id: "breached" if row.breached_at else clocks.band(row)
                for row in rows if row.status != "stopped"}

    def plan_summary(self, session, plan: Plan) -> dict:
        known = session.get(KnownBeneficiary, plan.beneficiary_id)
        items = plan_rules.open_items(plan)
        today = self.followup.today(utcnow())
        return {**{name: getattr(plan, name) for name in (
            "case_id", "beneficiary_id", "payout_id", "decision_id", "opened_on", "status", "opened_at", "closed_at",
            "assessed_at", "next_assessment_on", "psychological_state", "relapsed_at")},
            "plan_id": plan.id, "case_number": plan.case.case_number, "facts_known": plan.case.facts_known,
            "is_minor": known.is_minor if known else None, "complete": not items, "open_items": items,
            "reassessment_due": plan.status == "open" and plan.next_assessment_on is not None
            and plan.next_assessment_on <= today}

    def plan(self, session, plan: Plan) -> dict:
        roles = current_principal().roles
        vault = self.vault() if plan.contact is not None else None
        bands = self.bands(session, [h.id for h in plan.handoffs])
        escalations = session.scalars(select(Escalation).where(Escalation.plan_id == plan.id)
                                      .order_by(Escalation.escalated_at)).all()
        return {**self.plan_summary(session, plan), "needs": plan.needs, "assessments": plan.assessments,
                "consents": plan.consents, "contact": contacts.contact_view(plan.contact, vault, roles),
                "handoffs": [self.handoff(session, h, bands) for h in plan.handoffs], "visits": plan.visits,
                "rereferrals": plan.rereferrals, "escalations": escalations}

    def show_plan(self, plan_id: str) -> dict:
        with self.runtime.db.sessions() as session:
            plan = session.scalars(_plan_query().where(Plan.id == plan_id)).first()
            if plan is None:
                raise ApiError(404, "not_found")
            return instance(PlanOut).dump(self.plan(session, plan))


def plans_blueprint(runtime) -> Blueprint:
    bp = Blueprint("plans", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)
    views = Views(runtime)
    dialect = runtime.db.dialect

    def locked_plan(uow, plan_id: str) -> Plan:
        return _locked(uow.session, _plan_query().where(Plan.id == plan_id), dialect, of=Plan)

    @bp.get("/plans")
    @require(*READERS)
    @doc(response=PlanListOut, tags=["plans"])
    def list_plans():
        """Plans, newest first; filter by ``case_id``, ``status`` or ``due=reassessment``."""
        limit, offset = page()
        query = select(Plan)
        if request.args.get("case_id"):
            query = query.where(Plan.case_id == request.args["case_id"])
        status = _choice("status", PLAN_STATUSES)
        if status:
            query = query.where(Plan.status == status)
        if _choice("due", ("reassessment",)):
            query = query.where(Plan.status == "open", Plan.next_assessment_on <= views.followup.today(utcnow()))
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.options(selectinload(Plan.case), selectinload(Plan.needs),
                                                  selectinload(Plan.handoffs), selectinload(Plan.visits))
                                    .order_by(Plan.opened_at.desc()).limit(limit).offset(offset)).all()
            return instance(PlanListOut).dump({"items": [views.plan_summary(session, p) for p in items], "total": total})

    @bp.get("/plans/<plan_id>")
    @require(*READERS)
    @doc(response=PlanOut, tags=["plans"])
    def get_plan(plan_id: str):
        """One plan: needs, assessments, consents, contact (masked unless a follow-up worker), hand-offs,
        visits, re-referrals and escalations."""
        return views.show_plan(plan_id)

    @bp.post("/plans/<plan_id>/assessments")
    @require(*WORKERS)
    @doc(request=AssessmentIn, response=AssessedOut, status=201, tags=["plans"])
    def assess(plan_id: str):
        """Assess (or re-assess) the plan's needs; hand-offs named are made at once.

        For a minor, psychological counselling must be assessed. With ``returned_to_hardship``
        (返困) every open need without a hand-off goes to an agency holding a sufficient consent;
        the rest are listed in ``awaiting_handoff``.
        """
        body = load_json(AssessmentIn)
        followup = views.followup
        with runtime.unit_of_work() as uow:
            plan = locked_plan(uow, plan_id)
            result = plan_rules.assess(uow, followup, plan, body, by=current_principal().subject)
            uow.commit()
            handoff_ids = [h.id for h in result.handoffs]
        with runtime.db.sessions() as session:
            made = session.scalars(select(Handoff).where(Handoff.id.in_(handoff_ids))).all()
            plan = session.scalars(_plan_query().where(Plan.id == plan_id)).one()
            return instance(AssessedOut).dump({"assessment": result.assessment, "awaiting_handoff": result.awaiting_handoff,
                                       "handoffs": [views.handoff(session, h) for h in made],
                                       "plan": views.plan(session, plan)}), 201

    @bp.put("/plans/<plan_id>/contact")
    @require(*WORKERS)
    @doc(request=ContactIn, response=PlanOut, tags=["plans"])
    def put_contact(plan_id: str):
        """Record how to reach the person (sealed at rest); for a minor the guardian is required."""
        body = load_json(ContactIn)
        with runtime.unit_of_work() as uow:
            plan = locked_plan(uow, plan_id)
            if is_minor(uow.session, plan):
                missing = {name: ["required"] for name in ("guardian_name", "guardian_phone") if not body.get(name)}
                if missing:
                    raise ApiError(422, "validation_failed", missing)
            contacts.record_contact(uow.session, views.vault(), plan, body, by=current_principal().subject)
            uow.commit()
        return views.show_plan(plan_id)

    @bp.post("/plans/<plan_id>/consents")
    @require(*WORKERS)
    @doc(request=ConsentIn, response=ConsentOut, status=201, tags=["plans"])
    def give_consent(plan_id: str):
        """Record what the person (a minor's guardian) agreed to share with one agency.

        It replaces the agency's earlier consent. For a minor only the kinds of data that agency's
        services need may be named.
        """
        body = load_json(ConsentIn)
        with runtime.unit_of_work() as uow:
            plan = locked_plan(uow, plan_id)
            consent = record_consent(uow.session, plan, body, is_minor=is_minor(uow.session, plan),
                                     by=current_principal().subject, now=utcnow())
            uow.commit()
            return instance(ConsentOut).dump(consent), 201

    @bp.post("/consents/<consent_id>/withdrawal")
    @require(*WORKERS)
    @doc(request=WithdrawalIn, response=ConsentOut, status=201, tags=["plans"])
    def withdraw(consent_id: str):
        """The person withdraws a consent: no hand-off and no contact read rely on it from now."""
        body = load_json(WithdrawalIn)
        with runtime.unit_of_work() as uow:
            consent = _locked(uow.session, select(Consent).where(Consent.id == consent_id), dialect)
            withdraw_consent(consent, body["reason"], utcnow())
            uow.commit()
            return instance(ConsentOut).dump(consent), 201

    @bp.post("/plans/<plan_id>/handoffs")
    @require(*WORKERS)
    @doc(request=HandoffRequestIn, response=HandoffOut, status=201, tags=["handoffs"])
    def hand_off(plan_id: str):
        """Hand the person over to an agency for a service the plan needs.

        Refused unless the agency provides the service, the person's consent covers what it
        needs (409 ``consent_missing``, per kind of data) and the contact details are recorded.
        An agency on the broker gets ``<agency>.handoff.requested.v1``; for one served by staff,
        staff deliver it and record its answers.
        """
        body = load_json(HandoffRequestIn)
        with runtime.unit_of_work() as uow:
            plan = locked_plan(uow, plan_id)
            handoff = handoff_rules.request_handoff(uow, views.followup, plan, service=body["service"],
                                                    agency=body["agency"], note=body.get("note"),
                                                    by=current_principal().subject, now=utcnow())
            uow.commit()
            handoff_id = handoff.id
        with runtime.db.sessions() as session:
            return instance(HandoffOut).dump(views.handoff(session, session.get(Handoff, handoff_id))), 201

    @bp.post("/plans/<plan_id>/visits")
    @require(*WORKERS)
    @doc(request=VisitIn, response=VisitOut, status=201, tags=["visits"])
    def visit_off_schedule(plan_id: str):
        """Record a visit made off the schedule (a relapse suspected, a call for help)."""
        body = load_json(VisitIn)
        with runtime.unit_of_work() as uow:
            plan = locked_plan(uow, plan_id)
            visit = visit_rules.record_visit(uow, views.followup, plan, None, body,
                                             by=current_principal().subject)
            uow.commit()
            return instance(VisitOut).dump(visit), 201

    @bp.post("/visits/<visit_id>/outcome")
    @require(*WORKERS)
    @doc(request=VisitIn, response=VisitOut, status=201, tags=["visits"])
    def visit_made(visit_id: str):
        """Record a scheduled return visit (回访) as made, with what it found; its clock stops."""
        body = load_json(VisitIn)
        with runtime.unit_of_work() as uow:
            visit = _locked(uow.session, select(Visit).where(Visit.id == visit_id), dialect)
            visit_rules.record_visit(uow, views.followup, visit.plan, visit, body,
                                     by=current_principal().subject)
            uow.commit()
            return instance(VisitOut).dump(visit), 201

    @bp.post("/visits/<visit_id>/cancellation")
    @require(*WORKERS)
    @doc(request=VisitCancellationIn, response=VisitOut, status=201, tags=["visits"])
    def visit_cancelled(visit_id: str):
        """A scheduled visit that will not be made, with the reason; its clock stops."""
        body = load_json(VisitCancellationIn)
        with runtime.unit_of_work() as uow:
            visit = _locked(uow.session, select(Visit).where(Visit.id == visit_id), dialect)
            visit_rules.cancel_visit(uow, views.followup, visit.plan, visit, body["reason"],
                                     by=current_principal().subject)
            uow.commit()
            return instance(VisitOut).dump(visit), 201

    @bp.post("/plans/<plan_id>/rereferrals")
    @require(*WORKERS)
    @doc(request=ReReferralIn, response=ReReferralOut, status=201, tags=["plans"])
    def rerefer(plan_id: str):
        """Refer the person back to intake for a new case, linked to this one (after a relapse).

        Refused for the case's own criminal case (``same_criminal_case``): aid is one-off per
        person and criminal case; intake refuses any other case it already aided.
        """
        body = load_json(ReReferralIn)
        with runtime.unit_of_work() as uow:
            plan = locked_plan(uow, plan_id)
            rereferral = request_rereferral(uow, plan, body, by=current_principal().subject)
            uow.commit()
            return instance(ReReferralOut).dump(rereferral), 201

    def show_case(case_id: str) -> dict:
        with runtime.db.sessions() as session:
            case = session.scalars(select(CaseFile).where(CaseFile.case_id == case_id).options(
                selectinload(CaseFile.plans).selectinload(Plan.needs), selectinload(CaseFile.closures),
                selectinload(CaseFile.plans).selectinload(Plan.handoffs),
                selectinload(CaseFile.plans).selectinload(Plan.visits))).first()
            if case is None:
                raise ApiError(404, "not_found")
            items = {}
            for plan in case.plans:
                items.update(plan_rules.open_items(plan))
            return instance(CaseOut).dump({**{name: getattr(case, name) for name in (
                "case_id", "case_number", "criminal_case_ref", "status", "facts_known")},
                "plans": [views.plan_summary(session, p) for p in case.plans], "closures": case.closures,
                "open_items": items})

    @bp.get("/cases/<case_id>")
    @require(*READERS)
    @doc(response=CaseOut, tags=["cases"])
    def get_case(case_id: str):
        """A case's follow-up: its plans, what is still open, and its closures and reopenings."""
        return show_case(case_id)

    @bp.post("/cases/<case_id>/closure")
    @require(*CLOSERS)
    @doc(request=ClosureIn, response=CaseOut, status=201, tags=["cases"])
    def close(case_id: str):
        """Close the case's follow-up: 409 ``closure_refused`` naming every need, hand-off and visit
        still open."""
        body = load_json(ClosureIn)
        with runtime.unit_of_work() as uow:
            case = _locked(uow.session, select(CaseFile).where(CaseFile.case_id == case_id), dialect)
            plan_rules.close_case(uow, case, body, by=current_principal().subject)
            uow.commit()
        return show_case(case_id), 201

    @bp.post("/cases/<case_id>/reopening")
    @require(*CLOSERS)
    @doc(request=ReopeningIn, response=CaseOut, status=201, tags=["cases"])
    def reopen(case_id: str):
        """Reopen a closed case's follow-up, with the reason; its plans are due for re-assessment."""
        body = load_json(ReopeningIn)
        with runtime.unit_of_work() as uow:
            case = _locked(uow.session, select(CaseFile).where(CaseFile.case_id == case_id), dialect)
            plan_rules.reopen_case(uow, views.followup, case, body, by=current_principal().subject)
            uow.commit()
        return show_case(case_id), 201

    return bp


def handoffs_blueprint(runtime) -> Blueprint:
    bp = Blueprint("handoffs", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)
    views = Views(runtime)
    dialect = runtime.db.dialect

    def own_agency() -> str | None:
        """The caller's agency if it is a partner (who sees only its own hand-offs), else None."""
        principal = current_principal()
        if not principal.has_any(PARTNER) or principal.has_any(*READERS):
            return None
        if not principal.agency:
            raise ApiError(403, "token_agency_required")
        return principal.agency

    def visible(session, handoff_id: str, agency: str | None) -> Handoff:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None:
            raise ApiError(404, "not_found")
        if agency is not None and handoff.agency != agency:
            raise ApiError(403, "not_your_handoff")
        return handoff

    @bp.get("/handoffs")
    @require(*READERS, PARTNER)
    @doc(response=HandoffListOut, tags=["handoffs"])
    def list_handoffs():
        """Hand-offs, newest first; filter by ``status``, ``agency``, ``plan_id``. A partner agency
        sees only its own."""
        agency = own_agency()
        limit, offset = page()
        query = select(Handoff)
        status = _choice("status", HANDOFF_STATUSES)
        if status:
            query = query.where(Handoff.status == status)
        for name in ("agency", "plan_id"):
            if request.args.get(name):
                query = query.where(getattr(Handoff, name) == request.args[name])
        if agency is not None:
            query = query.where(Handoff.agency == agency)
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.options(selectinload(Handoff.plan).selectinload(Plan.case),
                                                  selectinload(Handoff.answers))
                                    .order_by(Handoff.requested_at.desc()).limit(limit).offset(offset)).all()
            bands = views.bands(session, [h.id for h in items])
            return instance(HandoffListOut).dump({"items": [views.handoff(session, h, bands) for h in items], "total": total})

    @bp.get("/handoffs/<handoff_id>")
    @require(*READERS, PARTNER)
    @doc(response=HandoffOut, tags=["handoffs"])
    def get_handoff(handoff_id: str):
        """One hand-off with every answer received; a partner agency only its own (403 otherwise)."""
        agency = own_agency()
        with runtime.db.sessions() as session:
            return instance(HandoffOut).dump(views.handoff(session, visible(session, handoff_id, agency)))

    @bp.post("/handoffs/<handoff_id>/answers")
    @require(*WORKERS, PARTNER)
    @doc(request=AnswerIn, response=HandoffOut, status=201, tags=["handoffs"])
    def answer(handoff_id: str):
        """Answer a hand-off: the agency with its own token, or staff for an agency they deal with
        by letter or phone. The same status again is recorded as a repetition (200)."""
        agency = own_agency()
        body = load_json(AnswerIn)
        principal = current_principal()
        with runtime.unit_of_work() as uow:
            handoff = _locked(uow.session, select(Handoff).where(Handoff.id == handoff_id), dialect)
            if agency is not None and handoff.agency != agency:
                raise ApiError(403, "not_your_handoff")
            changed = handoff_rules.record_answer(
                uow, views.followup, handoff, body.pop("status"), body, channel="http" if agency else "staff",
                by=principal.subject, now=utcnow())
            uow.commit()
        with runtime.db.sessions() as session:
            return instance(HandoffOut).dump(views.handoff(session, session.get(Handoff, handoff_id))), 201 if changed else 200

    @bp.post("/handoffs/<handoff_id>/withdrawal")
    @require(*WORKERS)
    @doc(request=HandoffWithdrawalIn, response=HandoffOut, status=201, tags=["handoffs"])
    def withdraw(handoff_id: str):
        """Take a hand-off back (the need is open again); an agency on the broker is told."""
        body = load_json(HandoffWithdrawalIn)
        with runtime.unit_of_work() as uow:
            handoff = _locked(uow.session, select(Handoff).where(Handoff.id == handoff_id), dialect)
            handoff_rules.withdraw(uow, views.followup, handoff, body["reason"], now=utcnow())
            uow.commit()
        with runtime.db.sessions() as session:
            return instance(HandoffOut).dump(views.handoff(session, session.get(Handoff, handoff_id))), 201

    @bp.get("/handoffs/<handoff_id>/contact")
    @require(*WORKERS, PARTNER)
    @doc(response=ContactForAgencyOut, tags=["handoffs"])
    def contact(handoff_id: str):
        """The contact details an agency may see for its own open hand-off, with the person's consent.

        Every read is audited, refused ones too: 403 ``not_your_handoff``, 403 ``consent_missing``,
        409 ``handoff_closed``, 404 ``contact_missing``.
        """
        principal = current_principal()
        agency = own_agency()
        with runtime.db.sessions() as session:
            handoff = session.get(Handoff, handoff_id)
            refusal = _contact_refusal(session, handoff, agency)
            details = None
            if refusal is None:
                details = contacts.opened(handoff.plan.contact, views.vault())
            plan_id = handoff.plan_id if handoff is not None else None
            target = handoff.agency if handoff is not None else agency
        with runtime.unit_of_work() as uow:
            contacts.audit(uow.session, handoff_id=handoff_id, plan_id=plan_id, agency=target, principal=principal,
                           granted=refusal is None, reason=refusal.code if refusal else None)
            uow.commit()
        views.followup.contact_reads.labels(str(refusal is None).lower()).inc()
        if refusal is not None:
            raise refusal
        return instance(ContactForAgencyOut).dump({"handoff_id": handoff_id, **details})

    return bp


def _contact_refusal(session, handoff: Handoff | None, agency: str | None) -> ApiError | None:
    if handoff is None:
        return ApiError(404, "not_found")
    if agency is None:  # a follow-up worker
        return None if handoff.plan.contact is not None else ApiError(404, "contact_missing")
    if handoff.agency != agency:
        return ApiError(403, "not_your_handoff")
    if handoff.status not in handoff_rules.OPEN:
        return ApiError(409, "handoff_closed")
    consent = active_consent(session, handoff.plan_id, agency)
    if consent is None or "contact" not in consent.categories:
        return ApiError(403, "consent_missing")
    if handoff.plan.contact is None:
        return ApiError(404, "contact_missing")
    return None


def reports_blueprint(runtime) -> Blueprint:
    bp = Blueprint("reports", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)

    @bp.get("/escalations")
    @require(*READERS)
    @doc(response=EscalationListOut, tags=["reports"])
    def list_escalations():
        """Deadlines passed: hand-offs not acknowledged and visits overdue; ``open=true`` for those
        not yet resolved. Newest first."""
        limit, offset = page()
        query = select(Escalation)
        if _choice("open", ("true", "false")) == "true":
            query = query.where(Escalation.resolved_at.is_(None))
        stage = _choice("stage", ("handoff", "visit"))
        if stage:
            query = query.where(Escalation.stage == stage)
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.order_by(Escalation.escalated_at.desc()).limit(limit).offset(offset)).all()
            return instance(EscalationListOut).dump({"items": items, "total": total})

    @bp.get("/statistics")
    @require(*READERS)
    @doc(response=StatisticsOut, tags=["reports"])
    def statistics():
        """Aggregate figures for publication: satisfaction and awareness from return visits, plans,
        hand-offs by service and status, escalations, relapses and re-referrals; ``from`` and ``to``
        (dates, inclusive) bound the period."""
        try:
            period = instance(PeriodIn).load({name: request.args[name] for name in ("from", "to") if name in request.args})
        except ValidationError as exc:
            raise ApiError(400, "validation_failed", flatten_errors(exc.messages)) from None
        if period["since"] and period["until"] and period["since"] > period["until"]:
            raise ApiError(400, "validation_failed", {"to": ["range"]})
        with runtime.db.sessions() as session:
            return instance(StatisticsOut).dump(figures(session, period["since"], period["until"]))

    @bp.get("/contact-reads")
    @require(*AUDIT_READERS)
    @doc(response=ContactAccessListOut, tags=["reports"])
    def contact_reads():
        """The audit of contact details read through hand-offs, newest first; filter by ``handoff_id``
        or ``agency``."""
        limit, offset = page()
        query = select(ContactAccess)
        for name in ("handoff_id", "agency"):
            if request.args.get(name):
                query = query.where(getattr(ContactAccess, name) == request.args[name])
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.order_by(ContactAccess.id.desc()).limit(limit).offset(offset)).all()
            return instance(ContactAccessListOut).dump({"items": items, "total": total})

    @bp.get("/agencies")
    @require(*READERS)
    @doc(response=AgencyListOut, tags=["reports"])
    def list_agencies():
        """Follow-up's partner agencies: the services each provides and how it is reached."""
        with runtime.db.sessions() as session:
            agencies = session.scalars(select(PartnerAgency).order_by(PartnerAgency.code)).all()
            return instance(AgencyListOut).dump({"items": [_agency_view(a) for a in agencies]})

    @bp.put("/agencies/<code>")
    @require("department_head", "ops")
    @doc(request=AgencyIn, response=AgencyOut, tags=["reports"])
    def update_agency(code: str):
        """Say how an agency is reached (``broker`` or ``staff``) and whether it takes hand-offs."""
        body = load_json(AgencyIn)
        with runtime.unit_of_work() as uow:
            agency = _locked(uow.session, select(PartnerAgency).where(PartnerAgency.code == code), runtime.db.dialect)
            for name in ("channel", "active"):
                if body.get(name) is not None:
                    setattr(agency, name, body[name])
            uow.commit()
            return instance(AgencyOut).dump(_agency_view(agency))

    return bp


def _agency_view(agency: PartnerAgency) -> dict:
    return {"code": agency.code, "name": agency.name, "broker_user": agency.broker_user, "channel": agency.channel,
            "active": agency.active, "services": list(services_of(agency.code))}

