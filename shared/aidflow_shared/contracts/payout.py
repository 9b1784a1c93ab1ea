"""Messages payout publishes."""
from marshmallow import fields, validate

from aidflow_shared.contracts import EVENTS, registry
from aidflow_shared.contracts.common import Fen
from aidflow_shared.schema import BaseSchema


class PayoutDisbursed(BaseSchema):
    payout_id = fields.String(required=True)
    decision_id = fields.String(required=True)
    case_id = fields.String(required=True)
    beneficiary_id = fields.String(required=True)
    amount_fen = Fen(required=True)
    fund_id = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(("bank_transfer", "cash", "escrow")))
    disbursed_at = fields.DateTime(required=True, format="iso")


PAYOUT_DISBURSED = registry.register(
    "org.aidflow.payout.disbursed.v1", PayoutDisbursed, exchange=EVENTS, producer="payout",
    consumers=("followup", "intake"), summary="Aid money for one beneficiary was paid out.")
