"""Every message type of the system with its payload schema.

Payloads carry identifiers and facts, never names, ID numbers or phone numbers: a person is
referred to by ``person_ref``, an opaque id that only intake can resolve. Money is integer fen.
A change that would break a published payload is a new version (``.v2``) registered beside the
old one, never an edit of it.
"""
from marshmallow import fields, validate

from aidflow_shared.contracts import EVENTS, INBOUND, PARTNERS, registry
from aidflow_shared.schema import BaseSchema

SOURCES = ("ex_officio", "partner_transfer", "application", "lead")
TRACKS = ("standard", "urgent_medical")
OUTCOMES = ("approved", "rejected")
Fen = lambda **kw: fields.Integer(strict=True, validate=validate.Range(min=0), **kw)  # noqa: E731


class BeneficiaryRef(BaseSchema):
    beneficiary_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    person_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    is_minor = fields.Boolean(required=True)
    relationship = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))


class CaseOpened(BaseSchema):
    case_id = fields.String(required=True)
    case_number = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    source_agency = fields.String(load_default=None, allow_none=True)
    track = fields.String(required=True, validate=validate.OneOf(TRACKS))
    criminal_case_ref = fields.String(load_default=None, allow_none=True)
    beneficiaries = fields.List(fields.Nested(BeneficiaryRef), required=True, validate=validate.Length(min=1))
    opened_at = fields.DateTime(required=True, format="iso")


class ReviewOpened(BaseSchema):
    review_id = fields.String(required=True)
    case_id = fields.String(required=True)
    track = fields.String(required=True, validate=validate.OneOf(TRACKS))
    opened_at = fields.DateTime(required=True, format="iso")


class Award(BaseSchema):
    beneficiary_id = fields.String(required=True)
    amount_fen = Fen(required=True)


class DecisionRecorded(BaseSchema):
    decision_id = fields.String(required=True)
    case_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    awards = fields.List(fields.Nested(Award), required=True)
    total_fen = Fen(required=True)
    reason_code = fields.String(load_default=None, allow_none=True)
    decided_at = fields.DateTime(required=True, format="iso")


class PayoutDisbursed(BaseSchema):
    payout_id = fields.String(required=True)
    decision_id = fields.String(required=True)
    case_id = fields.String(required=True)
    beneficiary_id = fields.String(required=True)
    amount_fen = Fen(required=True)
    fund_id = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(("bank_transfer", "cash", "escrow")))
    disbursed_at = fields.DateTime(required=True, format="iso")


class PlanOpened(BaseSchema):
    plan_id = fields.String(required=True)
    case_id = fields.String(required=True)
    beneficiary_id = fields.String(required=True)
    opened_at = fields.DateTime(required=True, format="iso")


CASE_OPENED = registry.register(
    "org.aidflow.intake.case.opened.v1", CaseOpened, exchange=EVENTS, producer="intake",
    consumers=("review",), summary="A referral became a case with one or more beneficiaries.")
REVIEW_OPENED = registry.register(
    "org.aidflow.review.review.opened.v1", ReviewOpened, exchange=EVENTS, producer="review",
    consumers=("intake",), summary="Review of a case started; its deadline clock runs.")
DECISION_RECORDED = registry.register(
    "org.aidflow.review.decision.recorded.v1", DecisionRecorded, exchange=EVENTS, producer="review",
    consumers=("payout", "intake"), summary="A case was approved (with awards per beneficiary) or rejected.")
PAYOUT_DISBURSED = registry.register(
    "org.aidflow.payout.disbursed.v1", PayoutDisbursed, exchange=EVENTS, producer="payout",
    consumers=("followup", "intake"), summary="Aid money for one beneficiary was paid out.")
PLAN_OPENED = registry.register(
    "org.aidflow.followup.plan.opened.v1", PlanOpened, exchange=EVENTS, producer="followup",
    consumers=("intake",), summary="A follow-up (aid + assistance) plan opened for a beneficiary.")

__all__ = ["CASE_OPENED", "REVIEW_OPENED", "DECISION_RECORDED", "PAYOUT_DISBURSED", "PLAN_OPENED",
           "INBOUND", "PARTNERS"]
