"""Review's HTTP API: the reviews waiting for a decision, and recording decisions."""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from aidflow_review.decisions import DecisionRefused, record_decision
from aidflow_review.orm import Decision, Review
from aidflow_review.schemas import DecisionIn, ReviewListOut, ReviewOut
from aidflow_shared.http.auth import current_principal, require
from aidflow_shared.http.errors import ApiError, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page

READERS = ("reviewer", "department_head", "chief_procurator", "auditor")
DECIDERS = ("reviewer", "department_head", "chief_procurator")


def _with_details(query):
    return query.options(selectinload(Review.beneficiaries),
                         selectinload(Review.decision).selectinload(Decision.awards))


def reviews_blueprint(runtime) -> Blueprint:
    bp = Blueprint("reviews", __name__, url_prefix="/api/v1")

    @bp.get("/reviews")
    @require(*READERS)
    @doc(response=ReviewListOut, tags=["reviews"])
    def list_reviews():
        """List reviews, oldest first; filter by ``status`` and ``case_id``.

        A review is ``awaiting_acceptance`` until its case is accepted (受理), then ``open`` until
        ``decided``; only an open review takes a decision.
        """
        limit, offset = page()
        query = select(Review)
        for name in ("status", "case_id"):
            if request.args.get(name):
                query = query.where(getattr(Review, name) == request.args[name])
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(_with_details(query).order_by(Review.opened_at).limit(limit).offset(offset)).all()
            return ReviewListOut().dump({"items": items, "total": total})

    @bp.get("/reviews/<review_id>")
    @require(*READERS)
    @doc(response=ReviewOut, tags=["reviews"])
    def get_review(review_id: str):
        """One review with its beneficiaries and decision."""
        with runtime.db.sessions() as session:
            review = session.scalars(_with_details(select(Review).where(Review.id == review_id))).first()
            if review is None:
                raise ApiError(404, "not_found")
            return ReviewOut().dump(review)

    @bp.post("/reviews/<review_id>/decision")
    @require(*DECIDERS)
    @doc(request=DecisionIn, response=ReviewOut, status=201, tags=["reviews"])
    def decide(review_id: str):
        """Record the decision: approved with an award per beneficiary, or rejected with a reason."""
        body = load_json(DecisionIn)
        with runtime.unit_of_work() as uow:
            query = _with_details(select(Review).where(Review.id == review_id))
            if runtime.db.dialect == "postgresql":
                query = query.with_for_update(of=Review)
            review = uow.session.scalars(query).first()
            if review is None:
                raise ApiError(404, "not_found")
            try:
                record_decision(uow, review, body, decided_by=current_principal().subject)
            except DecisionRefused as refused:
                raise ApiError(refused.status, refused.code, refused.fields) from None
            uow.commit()
        with runtime.db.sessions() as session:
            return ReviewOut().dump(session.scalars(_with_details(select(Review).where(Review.id == review_id))).one()), 201

    return bp
