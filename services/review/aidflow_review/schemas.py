"""What review's API accepts and returns."""
from marshmallow import fields, validate

from aidflow_shared.contracts.catalogue import OUTCOMES
from aidflow_shared.schema import BaseSchema

REVIEW_STATUSES = ("awaiting_acceptance", "open", "decided")
REASON_CODES = ("not_eligible", "excluded_major_fault", "excluded_refused_cooperation", "excluded_false_statement",
                "excluded_waived_compensation", "excluded_hardship_not_caused", "excluded_already_compensated",
                "withdrawn", "other")


class AwardIn(BaseSchema):
    beneficiary_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**10))


class DecisionIn(BaseSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    awards = fields.List(fields.Nested(AwardIn), load_default=list)
    reason_code = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REASON_CODES))
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
    beneficiaries = fields.List(fields.Nested(ReviewBeneficiaryOut))
    decision = fields.Nested(DecisionOut, allow_none=True)


class ReviewListOut(BaseSchema):
    items = fields.List(fields.Nested(ReviewOut))
    total = fields.Integer()
