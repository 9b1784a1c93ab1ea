"""What review's API accepts and returns."""
from marshmallow import fields, validate

from aidflow_review.approvals import LEVELS
from aidflow_review.eligibility import SITUATIONS
from aidflow_shared.contracts.catalogue import OUTCOMES
from aidflow_shared.schema import BaseSchema

REVIEW_STATUSES = ("awaiting_acceptance", "open", "decided")
REASON_CODES = ("not_eligible", "no_situation_applies", "excluded_major_fault", "excluded_refused_cooperation",
                "excluded_false_statement", "excluded_waived_compensation", "excluded_hardship_not_caused",
                "excluded_already_compensated", "withdrawn", "other")
VERDICTS = ("approved", "returned")


class AwardIn(BaseSchema):
    beneficiary_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**10))


class ProposedAwardIn(AwardIn):
    court_damages_fen = fields.Integer(load_default=None, allow_none=True, strict=True,
                                       validate=validate.Range(min=0, max=10**11),
                                       metadata={"description": "damages a court awarded this beneficiary; aid never exceeds them"})


class ReasoningIn(BaseSchema):
    situation = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(tuple(SITUATIONS)),
                              metadata={"description": "the art. 7 situation that applies; null: none does"})
    exclusions = fields.Dict(keys=fields.String(), values=fields.Boolean(), load_default=dict,
                             metadata={"description": "every art. 8 exclusion as checked: true when it applies"})
    evidence = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list,
                           validate=validate.Length(max=50), metadata={"description": "the evidence relied on"})


class ProposalIn(BaseSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    eligibility = fields.Nested(ReasoningIn, required=True)
    awards = fields.List(fields.Nested(ProposedAwardIn), load_default=list)
    reason_code = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REASON_CODES))
    explanation = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000),
                                metadata={"description": "owed to the applicant on a rejection; the reason above the cap"})
    joint_aid = fields.Boolean(load_default=False, metadata={"description": "aid jointly with the superior procuratorate"})
    joint_aid_with = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    advance = fields.Boolean(load_default=False,
                             metadata={"description": "green channel: an advance payment (先行救助), paperwork later"})


class ApprovalIn(BaseSchema):
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100),
                              metadata={"description": "the office meeting's minutes or the superior's document no."})


class PauseIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "what the case waits for from the applicant"})


class ResumeIn(BaseSchema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class PaperworkIn(BaseSchema):
    eligibility = fields.Nested(ReasoningIn, required=True)
    explanation = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class AwardOut(BaseSchema):
    beneficiary_id = fields.String()
    amount_fen = fields.Integer()


class DecisionOut(BaseSchema):
    decision_id = fields.String(attribute="id")
    outcome = fields.String()
    total_fen = fields.Integer()
    reason_code = fields.String()
    explanation = fields.String()
    decided_by = fields.String()
    decided_at = fields.DateTime(format="iso")
    awards = fields.List(fields.Nested(AwardOut))
    proposal_id = fields.String(allow_none=True)
    proposed_by = fields.String(allow_none=True)
    joint_aid = fields.Boolean()
    advance = fields.Boolean()
    paperwork = fields.Dict(allow_none=True)
    paperwork_completed_at = fields.DateTime(format="iso", allow_none=True)
    paperwork_completed_by = fields.String(allow_none=True)


class ApprovalOut(BaseSchema):
    level = fields.String(validate=validate.OneOf(LEVELS))
    verdict = fields.String(validate=validate.OneOf(VERDICTS))
    approver = fields.String()
    note = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    at = fields.DateTime(format="iso")


class ProposedAwardOut(BaseSchema):
    beneficiary_id = fields.String()
    amount_fen = fields.Integer()
    court_damages_fen = fields.Integer(allow_none=True)
    check = fields.String(allow_none=True, metadata={"description": "why special approval is needed, if it is"})


class ProposalOut(BaseSchema):
    proposal_id = fields.String(attribute="id")
    status = fields.String(validate=validate.OneOf(("pending", "approved", "returned")))
    outcome = fields.String()
    advance = fields.Boolean()
    situation = fields.String(allow_none=True)
    exclusions = fields.Dict()
    evidence = fields.List(fields.String())
    reason_code = fields.String(allow_none=True)
    explanation = fields.String(allow_none=True)
    awards = fields.List(fields.Nested(ProposedAwardOut))
    total_fen = fields.Integer()
    cap = fields.Dict(allow_none=True, metadata={"description": "the cap in fen and the wage figure it rests on"})
    special_approval = fields.Boolean()
    joint_aid = fields.Boolean()
    joint_aid_with = fields.String(allow_none=True)
    required_levels = fields.List(fields.String())
    next_level = fields.String(allow_none=True, metadata={"description": "the level whose approval is awaited"})
    proposed_by = fields.String()
    proposed_at = fields.DateTime(format="iso")
    closed_at = fields.DateTime(format="iso", allow_none=True)
    approvals = fields.List(fields.Nested(ApprovalOut))


class ReviewBeneficiaryOut(BaseSchema):
    beneficiary_id = fields.String()
    person_ref = fields.String()
    is_minor = fields.Boolean()
    relationship = fields.String(attribute="relationship_to_victim")
    poverty_markers = fields.List(fields.String())
    urgent_medical_need = fields.Boolean()


class DeadlineOut(BaseSchema):
    due_at = fields.DateTime(format="iso", metadata={"description": "the end of the last working day allowed"})
    working_days = fields.Integer(metadata={"description": "allowed, including days paused for the applicant"})
    provisional = fields.Boolean(metadata={"description": "counts days of a year with no official holiday schedule"})
    band = fields.String(validate=validate.OneOf(("ok", "warning", "critical", "breached", "paused", "stopped")))
    outcome = fields.String(allow_none=True, validate=validate.OneOf(("met", "missed")))


class ReviewOut(BaseSchema):
    review_id = fields.String(attribute="id")
    deadline = fields.Nested(DeadlineOut, allow_none=True, dump_default=None)
    case_id = fields.String()
    case_number = fields.String()
    track = fields.String()
    status = fields.String(validate=validate.OneOf(REVIEW_STATUSES))
    source = fields.String(allow_none=True)
    eligibility_situation = fields.String(allow_none=True)
    victim_deceased = fields.Boolean()
    documents_complete = fields.Boolean(allow_none=True,
                                        metadata={"description": "false: accepted with documents to follow"})
    migrated = fields.Boolean()
    opened_at = fields.DateTime(format="iso")
    received_at = fields.DateTime(format="iso", allow_none=True)
    accepted_at = fields.DateTime(format="iso", allow_none=True,
                                  metadata={"description": "the case's acceptance (受理): the review clock's start"})
    decided_at = fields.DateTime(format="iso")
    waiting_reason = fields.String(allow_none=True, metadata={"description": "why the clock is paused"})
    beneficiaries = fields.List(fields.Nested(ReviewBeneficiaryOut))
    proposals = fields.List(fields.Nested(ProposalOut))
    decision = fields.Nested(DecisionOut, allow_none=True)


class ReviewListOut(BaseSchema):
    items = fields.List(fields.Nested(ReviewOut))
    total = fields.Integer()


class AdvanceOut(BaseSchema):
    review_id = fields.String()
    case_id = fields.String()
    case_number = fields.String()
    decision_id = fields.String()
    total_fen = fields.Integer()
    decided_at = fields.DateTime(format="iso")
    paperwork_completed_at = fields.DateTime(format="iso", allow_none=True)
    working_days_outstanding = fields.Integer(allow_none=True)


class AdvanceListOut(BaseSchema):
    items = fields.List(fields.Nested(AdvanceOut))
    total = fields.Integer()
