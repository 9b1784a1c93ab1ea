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
        clocks = runtime.clocks.table
        # The review queue: least time left first (urgent-medical cases have the shortest
        # deadlines, so they lead), then reviews without a running clock, oldest first.
        query = select(Review).outerjoin(clocks, (clocks.c.stage == "review") & (clocks.c.subject_id == Review.id))
        for name in ("status", "case_id"):
            if request.args.get(name):
                query = query.where(getattr(Review, name) == request.args[name])
        order = (clocks.c.due_at.is_(None), clocks.c.due_at, Review.opened_at)
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(_with_details(query).order_by(*order).limit(limit).offset(offset)).all()
            _attach_deadlines(runtime, session, items)
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
            _attach_deadlines(runtime, session, [review])
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


def _attach_deadlines(runtime, session, reviews) -> None:
    """Each review's clock as the queue shows it: deadline, band, provisional, outcome."""
    clocks = runtime.clocks
    rows = session.execute(select(clocks.table).where(
        clocks.table.c.stage == "review", clocks.table.c.subject_id.in_([r.id for r in reviews]))).all()
    by_review = {row.subject_id: row for row in rows}
    for review in reviews:
        row = by_review.get(review.id)
        review.deadline = None if row is None else {
            "due_at": row.due_at, "working_days": row.allowance + row.extension, "provisional": row.provisional,
            "band": "stopped" if row.status == "stopped" else clocks.band(row), "outcome": row.outcome}
