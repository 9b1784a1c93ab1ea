"""A review for each case: registered, opened on the case's acceptance, then decided."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from aidflow_review.orm import Award, Decision, Proposal, Review, ReviewBeneficiary
from aidflow_shared.contracts.catalogue import DECISION_RECORDED, REVIEW_OPENED
from aidflow_shared.i18n import register_messages
from aidflow_shared.storage import UnitOfWork, new_id, utcnow

register_messages({
    "review_not_open": {"zh": "案件尚未受理，不能作出救助决定。",
                        "en": "The case is not accepted yet; no decision can be recorded."},
    "already_decided": {"zh": "该案件已作出决定。", "en": "This review is already decided."},
    "unknown_beneficiary": {"zh": "救助对象不属于本案。", "en": "No such beneficiary in this case."},
    "duplicate": {"zh": "重复的条目。", "en": "Duplicate entry."},
    "must_be_empty": {"zh": "此项此时应为空。", "en": "This field must be empty here."},
})


class DecisionRefused(Exception):
    """The decision cannot be recorded as asked; ``fields`` say why, as error codes."""

    def __init__(self, code: str, fields: dict | None = None, status: int = 422):
        super().__init__(code)
        self.code = code
        self.fields = fields or {}
        self.status = status


def register_review(uow: UnitOfWork, case: dict) -> Review | None:
    """A case was registered: its review waits for the case's acceptance, with no clock."""
    if _review_of(uow, case["case_id"]) is not None:
        return None  # announced twice, or its acceptance arrived first
    review = Review(id=new_id(), case_id=case["case_id"], case_number=case["case_number"], track=case["track"],
                    source=case["source"], status="awaiting_acceptance", opened_at=utcnow())
    review.beneficiaries = [ReviewBeneficiary(beneficiary_id=b["beneficiary_id"], person_ref=b["person_ref"],
                                              is_minor=b["is_minor"], relationship_to_victim=b.get("relationship"))
                            for b in case["beneficiaries"]]
    uow.session.add(review)
    return review


def open_review(uow: UnitOfWork, case: dict) -> Review | None:
    """A case was accepted (受理): its review opens and the review clock runs from ``accepted_at``.

    Retries can deliver the acceptance before the registration; the review is then made from
    the acceptance, which carries everything the registration would have.
    """
    review = _review_of(uow, case["case_id"]) or register_review(uow, case)
    if review.status != "awaiting_acceptance":
        return None  # accepted twice: the first one counted
    review.status = "open"
    review.track = case["track"]
    review.eligibility_situation = case.get("eligibility_situation")
    review.victim_deceased = case["victim_deceased"]
    review.documents_complete = case["documents_complete"]
    review.migrated = case["migrated"]
    review.received_at, review.accepted_at = case["received_at"], case["accepted_at"]
    accepted = {b["beneficiary_id"]: b for b in case["beneficiaries"]}
    for beneficiary in review.beneficiaries:
        facts = accepted.get(beneficiary.beneficiary_id, {})
        beneficiary.poverty_markers = facts.get("poverty_markers", [])
        beneficiary.urgent_medical_need = facts.get("urgent_medical_need", False)
    if uow.clocks:  # "within N working days" of the acceptance, N by track (policy)
        uow.clocks.start(uow, stage="review", subject_id=review.id, case_id=review.case_id,
                         started_at=review.accepted_at, track=review.track)
    uow.emit(REVIEW_OPENED.type, {"review_id": review.id, "case_id": review.case_id, "track": review.track,
                                  "opened_at": review.accepted_at}, subject=review.case_id)
    return review


def _review_of(uow: UnitOfWork, case_id: str) -> Review | None:
    return uow.session.scalars(select(Review).where(Review.case_id == case_id)).first()


def check_open(review: Review) -> None:
    """Only an open review takes a proposal or a decision."""
    if review.status == "awaiting_acceptance":
        raise DecisionRefused("review_not_open", status=409)  # no decision before 受理
    if review.status != "open":
        raise DecisionRefused("already_decided", status=409)


def check_awards(review: Review, request: dict) -> None:
    """An approval awards each beneficiary of the case at most once; a rejection awards nothing."""
    awards = request.get("awards") or []
    known = {b.beneficiary_id for b in review.beneficiaries}
    if request["outcome"] == "approved":
        if not awards:
            raise DecisionRefused("validation_failed", {"awards": ["required"]})
        fields = {}
        seen = set()
        for i, award in enumerate(awards):
            if award["beneficiary_id"] not in known:
                fields[f"awards.{i}.beneficiary_id"] = ["unknown_beneficiary"]
            elif award["beneficiary_id"] in seen:
                fields[f"awards.{i}.beneficiary_id"] = ["duplicate"]
            seen.add(award["beneficiary_id"])
            if award["amount_fen"] <= 0:
                fields[f"awards.{i}.amount_fen"] = ["range"]
        if fields:
            raise DecisionRefused("validation_failed", fields)
    elif awards:
        raise DecisionRefused("validation_failed", {"awards": ["must_be_empty"]})


def record_decision(uow: UnitOfWork, review: Review, proposal: Proposal, decided_by: str, now: datetime) -> Decision:
    """The approved proposal becomes the decision: recorded, the clock stopped, announced."""
    decision = Decision(id=new_id(), review_id=review.id, outcome=proposal.outcome, total_fen=proposal.total_fen,
                        reason_code=proposal.reason_code, explanation=proposal.explanation, decided_by=decided_by,
                        decided_at=now, proposal_id=proposal.id, proposed_by=proposal.proposed_by,
                        joint_aid=proposal.joint_aid, advance=proposal.advance,
                        awards=[Award(beneficiary_id=a["beneficiary_id"], amount_fen=a["amount_fen"])
                                for a in sorted(proposal.awards, key=lambda a: a["beneficiary_id"])])
    review.status = "decided"
    review.decided_at = now
    review.waiting_reason = None
    if uow.clocks:
        uow.clocks.stop(uow, "review", review.id, now, missing_ok=True)
    uow.session.add(decision)
    review.decision = decision
    uow.emit(DECISION_RECORDED.type, {
        "decision_id": decision.id, "case_id": review.case_id, "outcome": decision.outcome,
        "awards": [{"beneficiary_id": a.beneficiary_id, "amount_fen": a.amount_fen} for a in decision.awards],
        "total_fen": decision.total_fen, "reason_code": decision.reason_code, "decided_at": now,
        "advance": decision.advance, "joint_aid": decision.joint_aid,
    }, subject=review.case_id)
    return decision
