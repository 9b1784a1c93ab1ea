"""Intake's HTTP API: referrals and cases, documents and acceptance, leads, partner transfers.

Every write runs in one unit of work: the rows and the events they cause commit together, and a
refused request leaves nothing behind.
"""
from __future__ import annotations

import re

from flask import Blueprint, request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from aidflow_intake.cases import Refused, accept_case, record_document, register_case, set_eligibility
from aidflow_intake.leads import dismiss_lead, promote_lead, record_lead
from aidflow_intake.orm import Beneficiary, Case, Lead, PartnerAgency
from aidflow_intake.pii import vault_for
from aidflow_intake.schemas import (CASE_STATUSES, LEAD_STATUSES, AcceptanceIn, AgencyIn, AgencyListOut, AgencyOut,
                                    CaseCreatedOut, CaseListOut, CaseOut, ChecklistOut, DocumentIn, EligibilityIn,
                                    LeadDismissalIn, LeadIn, LeadListOut, LeadOut, LeadPromotionIn, PartnerTransferIn,
                                    ReferralIn, TransferAnswerOut)
from aidflow_intake.transfers import active_agency, answer, receive
from aidflow_intake.views import case_view, checklist_view
from aidflow_shared.contracts.common import SOURCES
from aidflow_shared.http.auth import current_principal, require
from aidflow_shared.http.errors import ApiError, answer_refusals, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page
from aidflow_shared.schema import instance
from aidflow_shared.storage import utcnow

# Who registers referrals, records documents, accepts cases and verifies leads.
STAFF = ("intake_clerk", "department_head")
CASE_READERS = ("intake_clerk", "reviewer", "department_head", "chief_procurator", "auditor", "followup_worker")
LEAD_READERS = ("intake_clerk", "department_head", "chief_procurator", "auditor")
AGENCY_READERS = ("intake_clerk", "department_head", "auditor", "ops")
AGENCY_CODE = re.compile(r"^[a-z][a-z0-9-]{1,63}$")  # a word of a routing key


def _case_query():
    return select(Case).options(
        selectinload(Case.beneficiaries).selectinload(Beneficiary.person), selectinload(Case.documents),
        selectinload(Case.history), selectinload(Case.transfers), selectinload(Case.agent))


def _filter(query, column, name: str, allowed=None):
    value = request.args.get(name)
    if not value:
        return query
    if allowed is not None and value not in allowed:
        raise ApiError(400, "validation_failed", {name: ["one_of"]})
    return query.where(column == value)


def cases_blueprint(runtime) -> Blueprint:
    bp = Blueprint("cases", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)
    vault = vault_for(runtime.db)  # no key, no start: refused here rather than on the first person
    # Built once: binding a schema's fields (and their error codes) costs more than loading a referral.
    referral_in, created_out, case_out = ReferralIn(), CaseCreatedOut(), CaseOut()

    def locked_case(uow, case_id: str) -> Case:
        query = _case_query().where(Case.id == case_id)
        if runtime.db.dialect == "postgresql":
            query = query.with_for_update(of=Case)
        case = uow.session.scalars(query).first()
        if case is None:
            raise ApiError(404, "not_found")
        return case

    def show(case_id: str, schema=CaseOut, **extra):
        with runtime.db.sessions() as session:
            case = session.scalars(_case_query().where(Case.id == case_id)).first()
            if case is None:
                raise ApiError(404, "not_found")
            return schema().dump({**case_view(session, case, vault, current_principal().roles), **extra})

    def changed(uow, case: Case) -> dict:
        """Commit, and answer with the locked case as changed in memory: it was loaded whole, and
        what the change added (an acceptance's history entry) is in its collections."""
        view = case_view(uow.session, case, vault, current_principal().roles)
        uow.commit()
        return case_out.dump(view)

    @bp.post("/referrals")
    @require(*STAFF)
    @doc(request=ReferralIn, response=CaseCreatedOut, status=201, tags=["referrals"])
    def submit_referral():
        """Register a referral found ex officio, transferred on paper, or applied for.

        With ``accept`` (or a migrated ``accepted_at``) the case is also accepted (受理) at once,
        which needs its documents complete or an ``override_reason``. Leads go to ``/leads``,
        partner agencies to ``/partner-referrals``.
        """
        referral = load_json(referral_in)
        principal = current_principal()
        with runtime.unit_of_work() as uow:
            if referral["source"] == "partner_transfer" and not active_agency(uow.session, referral["source_agency"]):
                raise ApiError(422, "validation_failed", {"source_agency": ["unknown_agency"]})
            opened = register_case(uow, referral, registered_by=principal.subject,
                                   source_agency=referral.get("source_agency"), vault=vault)
            # The answer comes from the objects just written; only the other cases of the same
            # criminal case are read (in this transaction, so the new case is not among them).
            view = case_view(uow.session, opened.case, vault, principal.roles, others=opened.other_case_numbers)
            uow.commit()
        body = created_out.dump({**view, "warnings": opened.warnings})
        return body, 201, {"Location": f"/api/v1/cases/{opened.case.id}"}

    @bp.get("/cases")
    @require(*CASE_READERS)
    @doc(response=CaseListOut, tags=["cases"])
    def list_cases():
        """List cases, newest first; filter by ``status``, ``source`` or ``criminal_case_ref``."""
        limit, offset = page()
        query = _filter(select(Case), Case.status, "status", CASE_STATUSES)
        query = _filter(query, Case.source, "source", SOURCES)
        query = _filter(query, Case.criminal_case_ref, "criminal_case_ref")
        roles = current_principal().roles
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.options(selectinload(Case.beneficiaries).selectinload(Beneficiary.person))
                                    .order_by(Case.opened_at.desc()).limit(limit).offset(offset)).all()
            return instance(CaseListOut).dump({"items": [case_view(session, c, vault, roles, full=False) for c in items],
                                       "total": total})

    @bp.get("/cases/<case_id>")
    @require(*CASE_READERS)
    @doc(response=CaseOut, tags=["cases"])
    def get_case(case_id: str):
        """One case: beneficiaries, documents checklist, partner transfers, linked cases, history."""
        return show(case_id)

    @bp.get("/cases/<case_id>/documents")
    @require(*CASE_READERS)
    @doc(response=ChecklistOut, tags=["cases"])
    def get_checklist(case_id: str):
        """The documents checklist: what is present and what is missing."""
        with runtime.db.sessions() as session:
            case = session.scalars(_case_query().where(Case.id == case_id)).first()
            if case is None:
                raise ApiError(404, "not_found")
            return instance(ChecklistOut).dump(checklist_view(case))

    @bp.post("/cases/<case_id>/documents")
    @require(*STAFF)
    @doc(request=DocumentIn, response=ChecklistOut, status=201, tags=["cases"])
    def add_document(case_id: str):
        """Record a document received for the case; also after acceptance (后补手续)."""
        body = load_json(DocumentIn)
        with runtime.unit_of_work() as uow:
            case = locked_case(uow, case_id)
            record_document(uow, case, body, recorded_by=current_principal().subject)
            uow.commit()
            return instance(ChecklistOut).dump(checklist_view(case)), 201

    @bp.put("/cases/<case_id>/eligibility")
    @require(*STAFF)
    @doc(request=EligibilityIn, response=CaseOut, tags=["cases"])
    def set_case_eligibility(case_id: str):
        """Establish the eligible situation (art. 7) before acceptance; it decides the proof of harm."""
        body = load_json(EligibilityIn)
        with runtime.unit_of_work() as uow:
            case = locked_case(uow, case_id)
            set_eligibility(case, body["eligibility_situation"], body.get("situation_reason"))
            return changed(uow, case)

    @bp.post("/cases/<case_id>/acceptance")
    @require(*STAFF)
    @doc(request=AcceptanceIn, response=CaseOut, status=201, tags=["cases"])
    def accept(case_id: str):
        """Accept the case (受理): the review clock starts.

        Refused with 409 ``checklist_incomplete`` (the missing items as fields) unless the
        documents are complete or ``override_reason`` says why the case goes ahead without them.
        """
        body = load_json(AcceptanceIn)
        with runtime.unit_of_work() as uow:
            case = locked_case(uow, case_id)
            accept_case(uow, case, accepted_by=current_principal().subject,
                        override_reason=body.get("override_reason"), accepted_at=body.get("accepted_at"))
            return changed(uow, case), 201

    return bp


def leads_blueprint(runtime) -> Blueprint:
    bp = Blueprint("leads", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)
    vault = vault_for(runtime.db)

    def locked_lead(uow, lead_id: str) -> Lead:
        query = select(Lead).where(Lead.id == lead_id)
        if runtime.db.dialect == "postgresql":
            query = query.with_for_update()
        lead = uow.session.scalars(query).first()
        if lead is None:
            raise ApiError(404, "not_found")
        return lead

    def show(lead_id: str):
        with runtime.db.sessions() as session:
            lead = session.scalars(select(Lead).where(Lead.id == lead_id).options(selectinload(Lead.case))).first()
            if lead is None:
                raise ApiError(404, "not_found")
            return instance(LeadOut).dump(lead)

    @bp.post("/leads")
    @require(*STAFF)
    @doc(request=LeadIn, response=LeadOut, status=201, tags=["leads"])
    def report_lead():
        """Record a lead from the media or a village or household visit; it is not a case yet."""
        body = load_json(LeadIn)
        with runtime.unit_of_work() as uow:
            lead = record_lead(uow, body, reported_by=current_principal().subject)
            uow.commit()
        return show(lead.id), 201, {"Location": f"/api/v1/leads/{lead.id}"}

    @bp.get("/leads")
    @require(*LEAD_READERS)
    @doc(response=LeadListOut, tags=["leads"])
    def list_leads():
        """List leads, newest first; filter by ``status`` (unverified, promoted, dismissed)."""
        limit, offset = page()
        query = _filter(select(Lead), Lead.status, "status", LEAD_STATUSES)
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.options(selectinload(Lead.case)).order_by(Lead.received_at.desc())
                                    .limit(limit).offset(offset)).all()
            return instance(LeadListOut).dump({"items": items, "total": total})

    @bp.get("/leads/<lead_id>")
    @require(*LEAD_READERS)
    @doc(response=LeadOut, tags=["leads"])
    def get_lead(lead_id: str):
        """One lead, with its case once promoted."""
        return show(lead_id)

    @bp.post("/leads/<lead_id>/promotion")
    @require(*STAFF)
    @doc(request=LeadPromotionIn, response=CaseCreatedOut, status=201, tags=["leads"])
    def promote(lead_id: str):
        """Verified: the lead becomes a case, once; a second promotion is 409 ``lead_already_promoted``."""
        body = load_json(LeadPromotionIn)
        subject = current_principal().subject
        with runtime.unit_of_work() as uow:
            lead = locked_lead(uow, lead_id)
            opened = promote_lead(uow, lead, body, verified_by=subject)
            uow.commit()
        with runtime.db.sessions() as session:
            case = session.scalars(_case_query().where(Case.id == opened.case.id)).one()
            view = case_view(session, case, vault, current_principal().roles)
        return instance(CaseCreatedOut).dump({**view, "warnings": opened.warnings}), 201, \
            {"Location": f"/api/v1/cases/{opened.case.id}"}

    @bp.post("/leads/<lead_id>/dismissal")
    @require(*STAFF)
    @doc(request=LeadDismissalIn, response=LeadOut, status=201, tags=["leads"])
    def dismiss(lead_id: str):
        """Not a case: the lead is closed with the reason."""
        body = load_json(LeadDismissalIn)
        with runtime.unit_of_work() as uow:
            lead = locked_lead(uow, lead_id)
            dismiss_lead(lead, body["reason"], dismissed_by=current_principal().subject)
            uow.commit()
        return show(lead_id), 201

    return bp


def partners_blueprint(runtime) -> Blueprint:
    bp = Blueprint("partners", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)

    @bp.post("/partner-referrals")
    @require("partner_agency")
    @doc(request=PartnerTransferIn, response=TransferAnswerOut, status=201, tags=["partners"])
    def submit_transfer():
        """A partner agency transfers a case: the same payload as the ``referral.submit.v1`` command.

        The agency is the one in the caller's token; a body naming another is refused with 403
        ``agency_mismatch``. A reference already registered is answered 200 with the same case.
        """
        principal = current_principal()
        if not principal.agency:
            raise ApiError(403, "agency_required")
        submission = load_json(PartnerTransferIn)
        if submission.pop("source_agency") not in (None, principal.agency):
            raise ApiError(403, "agency_mismatch", {"source_agency": ["agency_mismatch"]})
        received_at = utcnow()
        with runtime.unit_of_work() as uow:
            agency = active_agency(uow.session, principal.agency)
            if agency is None:
                raise ApiError(403, "unknown_agency")
            transfer, case = receive(uow, agency, submission, channel="http", received_at=received_at)
            uow.commit()
            body = instance(TransferAnswerOut).dump(answer(transfer, case))
        return body, 200 if body["already_received"] else 201

    @bp.get("/agencies")
    @require(*AGENCY_READERS)
    @doc(response=AgencyListOut, tags=["partners"])
    def list_agencies():
        """The registry of partner agencies and the broker user each one publishes as."""
        with runtime.db.sessions() as session:
            return instance(AgencyListOut).dump({"items": session.scalars(select(PartnerAgency)
                                                                  .order_by(PartnerAgency.code)).all()})

    @bp.put("/agencies/<code>")
    @require("ops")
    @doc(request=AgencyIn, response=AgencyOut, tags=["partners"])
    def put_agency(code: str):
        """Add an agency to the registry, or change its broker user or whether it is active."""
        if not AGENCY_CODE.match(code):
            raise ApiError(404, "not_found")
        body = load_json(AgencyIn)
        with runtime.unit_of_work() as uow:
            taken = uow.session.scalars(select(PartnerAgency).where(
                PartnerAgency.broker_user == body["broker_user"], PartnerAgency.code != code)).first()
            if taken is not None:  # one broker user speaks for one agency only
                raise ApiError(409, "conflict", {"broker_user": ["duplicate"]})
            agency = uow.session.get(PartnerAgency, code) or PartnerAgency(code=code)
            agency.name, agency.broker_user, agency.active = body["name"], body["broker_user"], body["active"]
            uow.session.add(agency)
            uow.commit()
            return instance(AgencyOut).dump(agency)

    return bp
