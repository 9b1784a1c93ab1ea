"""Review's HTTP API: the review queue; proposals, their approvals and the decision; pausing the
clock while the case waits for the applicant; advance payments' paperwork."""
from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, request
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from aidflow_review.decisions import DecisionRefused, check_open
from aidflow_review.orm import Decision, Proposal, Review
from aidflow_review.proposals import approve, complete_paperwork, propose
from aidflow_review.schemas import (AdvanceListOut, ApprovalIn, PaperworkIn, PauseIn, ProposalIn, ResumeIn,
                                    ReviewListOut, ReviewOut)
from aidflow_shared.deadlines import ClockError
from aidflow_shared.http.auth import current_principal, require
from aidflow_shared.http.errors import ApiError, answer_refusals, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page
from aidflow_shared.schema import instance
from aidflow_shared.storage import utcnow

READERS = ("reviewer", "department_head", "chief_procurator", "auditor")
HANDLERS = ("reviewer",)  # the handler (承办人) proposes, pauses and completes paperwork
APPROVERS = ("department_head", "chief_procurator")


def _with_details(query):
    return query.options(selectinload(Review.beneficiaries),
                         selectinload(Review.proposals).selectinload(Proposal.approvals),
                         selectinload(Review.decision).selectinload(Decision.awards))


def _locked_with_details(query):
    """One review to change, with what its answer shows: its beneficiaries and its decision come
    in the locking statement itself (outer joins; only the review's row is locked), its proposals
    with their approvals and the decision's awards in one statement each, when there are any."""
    return query.options(joinedload(Review.beneficiaries),
                         selectinload(Review.proposals).selectinload(Proposal.approvals),
                         joinedload(Review.decision).selectinload(Decision.awards))


def reviews_blueprint(runtime) -> Blueprint:
    bp = Blueprint("reviews", __name__, url_prefix="/api/v1")
    answer_refusals(bp, DecisionRefused)  # the rules' refusals, raised in a view's unit of work

    @bp.get("/reviews")
    @require(*READERS)
    @doc(response=ReviewListOut, tags=["reviews"])
    def list_reviews():
        """The review queue: urgent-medical cases first (the green channel), then least time left;
        filter by ``status`` and ``case_id``. A paused review shows band ``paused`` and why.

        A review is ``awaiting_acceptance`` until its case is accepted (受理), then ``open`` until
        ``decided``; only an open review takes a proposal.
        """
        limit, offset = page()
        clocks = runtime.clocks.table
        # The review queue: urgent-medical cases lead whatever their deadlines, then least time
        # left, then reviews without a clock, oldest first.
        query = select(Review).outerjoin(clocks, (clocks.c.stage == "review") & (clocks.c.subject_id == Review.id))
        for name in ("status", "case_id"):
            if request.args.get(name):
                query = query.where(getattr(Review, name) == request.args[name])
        urgent_first = case((Review.track == "urgent_medical", 0), else_=1)
        order = (urgent_first, clocks.c.due_at.is_(None), clocks.c.due_at, Review.opened_at)
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(_with_details(query).order_by(*order).limit(limit).offset(offset)).all()
            _attach_deadlines(runtime, session, items)
            return instance(ReviewListOut).dump({"items": items, "total": total})

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
            return instance(ReviewOut).dump(review)

    def change(review_id: str, work, status: int = 200):
        """Run ``work(uow, review, now)`` on the review, locked, and answer with the review.

        The answer is the locked review as ``work`` left it, with its clock as the transaction
        wrote it: no second read. ``work`` changes the review through its relationships (a new
        proposal appended to ``review.proposals``, an approval to ``proposal.approvals``), so the
        objects in the session are what a fresh read would load.
        """
        with runtime.unit_of_work() as uow:
            query = _locked_with_details(select(Review).where(Review.id == review_id))
            if runtime.db.dialect == "postgresql":
                query = query.with_for_update(of=Review)
            review = uow.session.scalars(query).unique().first()
            if review is None:
                raise ApiError(404, "not_found")
            try:
                work(uow, review, utcnow())
                uow.session.flush()
                _attach_deadlines(runtime, uow.session, [review],
                                  written=runtime.clocks.as_written(uow, "review", review.id))
                uow.commit()
            except IntegrityError:  # another approver signed this level a moment ago (SQLite)
                raise ApiError(409, "conflict") from None
            return instance(ReviewOut).dump(review), status

    @bp.post("/reviews/<review_id>/proposal")
    @require(*HANDLERS)
    @doc(request=ProposalIn, response=ReviewOut, status=201, tags=["reviews"])
    def propose_decision(review_id: str):
        """The handler's proposal: eligibility reasoning (art. 7 situation, art. 8 exclusions checked,
        evidence), the outcome and an amount per beneficiary; checked against the cap, it waits for
        the approvals its amount needs. ``advance: true`` on an urgent-medical case: the green channel."""
        body = load_json(ProposalIn)
        subject = current_principal().subject
        return change(review_id, lambda uow, review, now: propose(uow, review, body, proposer=subject,
                                                                  rules=runtime.review_rules, now=now), 201)

    @bp.post("/reviews/<review_id>/approvals")
    @require(*APPROVERS)
    @doc(request=ApprovalIn, response=ReviewOut, status=201, tags=["reviews"])
    def approve_proposal(review_id: str):
        """The next level's verdict on the pending proposal: ``approved`` or ``returned`` (with a note).

        Never by the proposer (403 ``own_proposal``), nor by someone without the level's role (403
        ``approval_level_not_held``), nor twice by one person (403 ``approves_twice``). The last
        approval records the decision, stops the review clock and announces the decision."""
        body = load_json(ApprovalIn)
        principal = current_principal()
        return change(review_id, lambda uow, review, now: approve(uow, review, body, approver=principal.subject,
                                                                  roles=principal.roles, now=now), 201)

    @bp.post("/reviews/<review_id>/pause")
    @require(*HANDLERS)
    @doc(request=PauseIn, response=ReviewOut, tags=["reviews"])
    def pause_review(review_id: str):
        """The case waits for the applicant (documents missing): the review clock pauses, with the reason."""
        body = load_json(PauseIn)

        def work(uow, review, now):
            check_open(review)
            try:
                uow.clocks.pause(uow, "review", review.id, now, body["reason"])
            except ClockError:
                raise DecisionRefused("review_not_running", status=409) from None
            review.waiting_reason = body["reason"]
        return change(review_id, work)

    @bp.post("/reviews/<review_id>/resume")
    @require(*HANDLERS)
    @doc(request=ResumeIn, response=ReviewOut, tags=["reviews"])
    def resume_review(review_id: str):
        """What the case waited for has arrived: the clock runs again, its deadline moved by the
        working days it was paused."""
        load_json(ResumeIn)

        def work(uow, review, now):
            check_open(review)
            try:
                uow.clocks.resume(uow, "review", review.id, now)
            except ClockError:
                raise DecisionRefused("review_not_paused", status=409) from None
            review.waiting_reason = None
        return change(review_id, work)

    @bp.post("/reviews/<review_id>/paperwork")
    @require(*HANDLERS)
    @doc(request=PaperworkIn, response=ReviewOut, tags=["reviews"])
    def complete_advance_paperwork(review_id: str):
        """An advance payment's paperwork is complete (后补手续): the full reasoning and evidence."""
        body = load_json(PaperworkIn)
        subject = current_principal().subject
        return change(review_id, lambda uow, review, now: complete_paperwork(review, body, actor=subject, now=now))

    @bp.get("/advances")
    @require(*READERS)
    @doc(response=AdvanceListOut, tags=["reviews"])
    def list_advances():
        """Advance payments (先行救助) by their paperwork: ``status=outstanding`` (the default), oldest
        first, or ``complete``."""
        limit, offset = page()
        status = request.args.get("status", "outstanding")
        if status not in ("outstanding", "complete"):
            raise ApiError(422, "validation_failed", {"status": ["one_of"]})
        done = Decision.paperwork_completed_at.is_not(None)
        query = (select(Decision, Review).join(Review, Review.id == Decision.review_id)
                 .where(Decision.advance.is_(True), done if status == "complete" else ~done))
        now = utcnow()
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            rows = session.execute(query.order_by(Decision.decided_at).limit(limit).offset(offset)).all()
            items = [{"review_id": review.id, "case_id": review.case_id, "case_number": review.case_number,
                      "decision_id": decision.id, "total_fen": decision.total_fen, "decided_at": decision.decided_at,
                      "paperwork_completed_at": decision.paperwork_completed_at,
                      "working_days_outstanding": None if decision.paperwork_completed_at else
                      runtime.calendar.working_days_between(decision.decided_at, now)}
                     for decision, review in rows]
            return instance(AdvanceListOut).dump({"items": items, "total": total})

    return bp


def _attach_deadlines(runtime, session, reviews, written: dict | None = None) -> None:
    """Each review's clock as the queue shows it: deadline, band, provisional, outcome.

    ``written``: the one review's clock as the caller's transaction just wrote it, not read again."""
    clocks = runtime.clocks
    if written is not None:
        rows = [SimpleNamespace(**written)]
    else:
        rows = session.execute(select(clocks.table).where(
            clocks.table.c.stage == "review", clocks.table.c.subject_id.in_([r.id for r in reviews]))).all()
    by_review = {row.subject_id: row for row in rows}
    for review in reviews:
        row = by_review.get(review.id)
        review.deadline = None if row is None else {
            "due_at": row.due_at, "working_days": row.allowance + row.extension, "provisional": row.provisional,
            "band": "stopped" if row.status == "stopped" else clocks.band(row), "outcome": row.outcome}
