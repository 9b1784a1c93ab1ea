"""Opening a review for a new case and recording its decision."""
from __future__ import annotations

from sqlalchemy import select

from aidflow_review.orm import Award, Decision, Review, ReviewBeneficiary
from aidflow_shared.contracts.catalogue import DECISION_RECORDED, REVIEW_OPENED
from aidflow_shared.storage import UnitOfWork, new_id, utcnow


class DecisionRefused(Exception):
    """The decision cannot be recorded as asked; ``fields`` say why, as error codes."""

    def __init__(self, code: str, fields: dict | None = None, status: int = 422):
        super().__init__(code)
        self.code = code
        self.fields = fields or {}
        self.status = status


def open_review(uow: UnitOfWork, case: dict) -> Review | None:
    if uow.session.scalars(select(Review).where(Review.case_id == case["case_id"])).first():
        return None  # already open: the same case announced twice
    now = utcnow()
    review = Review(id=new_id(), case_id=case["case_id"], case_number=case["case_number"], track=case["track"],
                    status="open", opened_at=now)
    review.beneficiaries = [ReviewBeneficiary(beneficiary_id=b["beneficiary_id"], person_ref=b["person_ref"],
                                              is_minor=b["is_minor"], relationship_to_victim=b.get("relationship"))
                            for b in case["beneficiaries"]]
    uow.session.add(review)
    uow.emit(REVIEW_OPENED.type, {"review_id": review.id, "case_id": review.case_id, "track": review.track,
                                  "opened_at": now}, subject=review.case_id)
    return review


def check_decision(review: Review, request: dict) -> None:
    """The rules a decision must satisfy before it is recorded."""
    if review.status != "open":
        raise DecisionRefused("already_decided", status=409)
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
    else:
        if awards:
            raise DecisionRefused("validation_failed", {"awards": ["must_be_empty"]})
        if not request.get("reason_code"):
            raise DecisionRefused("validation_failed", {"reason_code": ["required"]})


def record_decision(uow: UnitOfWork, review: Review, request: dict, decided_by: str) -> Decision:
    check_decision(review, request)
    now = utcnow()
    awards = request.get("awards") or []
    decision = Decision(id=new_id(), review_id=review.id, outcome=request["outcome"],
                        total_fen=sum(a["amount_fen"] for a in awards), reason_code=request.get("reason_code"),
                        explanation=request.get("explanation"), decided_by=decided_by, decided_at=now,
                        awards=[Award(beneficiary_id=a["beneficiary_id"], amount_fen=a["amount_fen"]) for a in awards])
    review.status = "decided"
    review.decided_at = now
    uow.session.add(decision)
    uow.emit(DECISION_RECORDED.type, {
        "decision_id": decision.id, "case_id": review.case_id, "outcome": decision.outcome,
        "awards": [{"beneficiary_id": a.beneficiary_id, "amount_fen": a.amount_fen} for a in decision.awards],
        "total_fen": decision.total_fen, "reason_code": decision.reason_code, "decided_at": now,
    }, subject=review.case_id)
    return decision
