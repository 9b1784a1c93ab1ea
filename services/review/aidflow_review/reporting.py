"""Review's published figures for a period: decisions approved and rejected (rejections by reason
code), the amounts decided, beneficiaries awarded, the urgent-medical track, and the review-stage
deadline.

Served at ``GET /api/v1/reports/summary``; aggregates only (see :mod:`aidflow_shared.reporting`).
"""
from __future__ import annotations

from marshmallow import fields
from sqlalchemy import func, select

from aidflow_review.orm import Award, Decision, Review
from aidflow_shared.reporting import Period, SummaryOut, counts, share, summary_blueprint


class ReviewSummaryOut(SummaryOut):
    reviews_opened = fields.Integer(metadata={"description": "reviews whose case was accepted (受理) in the period"})
    decisions = fields.Dict(keys=fields.String(), values=fields.Integer(),
                            metadata={"description": "decided in the period: total, approved, rejected"})
    approval_share = fields.Float(allow_none=True)
    amount_decided_fen = fields.Integer(metadata={"description": "awarded by the approvals of the period, in fen"})
    beneficiaries_awarded = fields.Integer()
    urgent_medical = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                 metadata={"description": "decisions on the urgent-medical track"})
    rejected_by_reason = fields.Dict(keys=fields.String(), values=fields.Integer())


def figures(session, period: Period) -> dict:
    decided = period.within(Decision.decided_at)
    outcomes = counts(session, select(Decision.outcome, func.count()).where(*decided).group_by(Decision.outcome))
    approved = [*decided, Decision.outcome == "approved"]
    urgent = counts(session, select(Decision.outcome, func.count()).join(Review, Decision.review_id == Review.id)
                    .where(*decided, Review.track == "urgent_medical").group_by(Decision.outcome))
    total = sum(outcomes.values())
    return {
        "reviews_opened": session.scalar(select(func.count()).select_from(Review)
                                         .where(*period.within(Review.accepted_at))),
        "decisions": {"total": total, "approved": outcomes.get("approved", 0), "rejected": outcomes.get("rejected", 0)},
        "approval_share": share(outcomes.get("approved", 0), total),
        "amount_decided_fen": session.scalar(select(func.coalesce(func.sum(Decision.total_fen), 0)).where(*approved)),
        "beneficiaries_awarded": session.scalar(select(func.count()).select_from(Award)
                                                .join(Decision, Award.decision_id == Decision.id).where(*approved)),
        "urgent_medical": {"decided": sum(urgent.values()), "approved": urgent.get("approved", 0)},
        "rejected_by_reason": {reason or "unspecified": n for reason, n in session.execute(
            select(Decision.reason_code, func.count()).where(*decided, Decision.outcome == "rejected")
            .group_by(Decision.reason_code))},
    }


def blueprint(runtime):
    return summary_blueprint(runtime, figures, ReviewSummaryOut, stages=("review",),
                             description="Decisions approved and rejected (rejections by reason code), the amount "
                                         "awarded in fen, beneficiaries awarded, urgent-medical decisions, and the "
                                         "review deadline met or missed.")
