"""Intake's HTTP API: referrals in, cases out."""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from aidflow_intake.cases import DuplicateCase, open_case
from aidflow_intake.orm import Beneficiary, Case
from aidflow_intake.schemas import CaseCreatedOut, CaseListOut, CaseOut, ReferralIn
from aidflow_shared.http.auth import current_principal, require
from aidflow_shared.http.errors import ApiError, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page

CASE_READERS = ("intake_clerk", "reviewer", "department_head", "chief_procurator", "auditor", "followup_worker")


def cases_blueprint(runtime) -> Blueprint:
    bp = Blueprint("cases", __name__, url_prefix="/api/v1")

    @bp.post("/referrals")
    @require("intake_clerk", "partner_agency")
    @doc(request=ReferralIn, response=CaseCreatedOut, status=201, tags=["referrals"])
    def submit_referral():
        """Submit a referral; it becomes a case at once (leads need verification first)."""
        referral = load_json(ReferralIn)
        principal = current_principal()
        if principal.has_any("intake_clerk"):
            agency = referral.get("source_agency")
            if referral["source"] == "partner_transfer" and not agency:
                raise ApiError(422, "validation_failed", {"source_agency": ["required"]})
        else:  # a partner agency speaks for itself only, whatever the body says
            if referral["source"] != "partner_transfer":
                raise ApiError(422, "validation_failed", {"source": ["one_of"]})
            agency = principal.agency
        for attempt in range(2):
            try:
                with runtime.unit_of_work() as uow:
                    opened = open_case(uow, referral, source_agency=agency)
                    uow.commit()
                break
            except DuplicateCase as dup:
                raise ApiError(409, "duplicate_case", {f"beneficiaries.{dup.position}": ["duplicate_case"]},
                               case_number=dup.case_number) from None
            except IntegrityError:
                if attempt:  # the same person was created concurrently: the second try finds them
                    raise
        case = _load_case(runtime, opened.case.id)
        body = CaseCreatedOut().dump(case)
        body["warnings"] = opened.warnings
        return body, 201, {"Location": f"/api/v1/cases/{case.id}"}

    @bp.get("/cases")
    @require(*CASE_READERS)
    @doc(response=CaseListOut, tags=["cases"])
    def list_cases():
        """List cases, newest first; filter by ``status``; page with ``limit`` and ``offset``."""
        limit, offset = page()
        query = select(Case)
        if request.args.get("status"):
            query = query.where(Case.status == request.args["status"])
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.options(selectinload(Case.beneficiaries).selectinload(Beneficiary.person))
                                    .order_by(Case.opened_at.desc()).limit(limit).offset(offset)).all()
            return CaseListOut().dump({"items": items, "total": total})

    @bp.get("/cases/<case_id>")
    @require(*CASE_READERS)
    @doc(response=CaseOut, tags=["cases"])
    def get_case(case_id: str):
        """One case with its beneficiaries and history."""
        return CaseOut().dump(_load_case(runtime, case_id))

    return bp


def _load_case(runtime, case_id: str) -> Case:
    with runtime.db.sessions() as session:
        case = session.scalars(select(Case).where(Case.id == case_id).options(
            selectinload(Case.beneficiaries).selectinload(Beneficiary.person), selectinload(Case.history))).first()
        if case is None:
            raise ApiError(404, "not_found")
        return case

