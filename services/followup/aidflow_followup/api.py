"""Follow-up's HTTP API: plans."""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import func, select

from aidflow_followup.orm import Plan
from aidflow_followup.schemas import PlanListOut, PlanOut
from aidflow_shared.http.auth import require
from aidflow_shared.http.errors import ApiError
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page

READERS = ("followup_worker", "department_head", "chief_procurator", "auditor")


def plans_blueprint(runtime) -> Blueprint:
    bp = Blueprint("plans", __name__, url_prefix="/api/v1")

    @bp.get("/plans")
    @require(*READERS)
    @doc(response=PlanListOut, tags=["plans"])
    def list_plans():
        """Plans, newest first; filter by ``case_id`` and ``status``."""
        limit, offset = page()
        query = select(Plan)
        for name in ("case_id", "status"):
            if request.args.get(name):
                query = query.where(getattr(Plan, name) == request.args[name])
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.order_by(Plan.opened_at.desc()).limit(limit).offset(offset)).all()
            return PlanListOut().dump({"items": items, "total": total})

    @bp.get("/plans/<plan_id>")
    @require(*READERS)
    @doc(response=PlanOut, tags=["plans"])
    def get_plan(plan_id: str):
        """One plan."""
        with runtime.db.sessions() as session:
            plan = session.get(Plan, plan_id)
            if plan is None:
                raise ApiError(404, "not_found")
            return PlanOut().dump(plan)

    return bp
