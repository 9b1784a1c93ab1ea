"""What payout's API accepts and returns. Money is integer fen."""
from marshmallow import fields, validate

from aidflow_shared.schema import BaseSchema

FUND_SOURCES = ("finance_bureau", "political_legal_committee", "superior_procuratorate")


class FundIn(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    source = fields.String(required=True, validate=validate.OneOf(FUND_SOURCES))
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2100))


class AllocationIn(BaseSchema):
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**12))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class FundOut(BaseSchema):
    fund_id = fields.String(attribute="id")
    name = fields.String()
    source = fields.String()
    year = fields.Integer()
    allocated_fen = fields.Integer()
    paid_fen = fields.Integer()
    available_fen = fields.Integer()


class FundListOut(BaseSchema):
    items = fields.List(fields.Nested(FundOut))


class PayoutOut(BaseSchema):
    payout_id = fields.String(attribute="id")
    decision_id = fields.String()
    case_id = fields.String()
    beneficiary_id = fields.String()
    amount_fen = fields.Integer()
    status = fields.String()
    method = fields.String()
    fund_id = fields.String()
    approved_at = fields.DateTime(format="iso")
    disbursed_at = fields.DateTime(format="iso")


class PayoutListOut(BaseSchema):
    items = fields.List(fields.Nested(PayoutOut))
    total = fields.Integer()
