"""Messages payout publishes.

``payout.disbursed.v1`` is consumed by follow-up (a plan opens) and intake (the case is paid). It
is sent once per payout, when its money first reaches the beneficiary: the whole amount by bank
transfer or in cash, or the first instalment of a minor's escrow (``amount_fen`` is then what was
paid in that instalment). Reservations, awaiting funds, later instalments and recoveries stay in
payout's own dossier and ledger.

``payout.fund.requested.v1`` goes to the finance bureau on ``aidflow.partners``
(routing key ``finance-bureau.fund.requested.v1``): a request for money, never a person.
"""
from marshmallow import fields, validate

from aidflow_shared.contracts import EVENTS, PARTNERS, registry
from aidflow_shared.contracts.common import Fen
from aidflow_shared.schema import BaseSchema

FUND_SOURCES = ("finance_bureau", "political_legal_committee", "superior_procuratorate")


class PayoutDisbursed(BaseSchema):
    payout_id = fields.String(required=True)
    decision_id = fields.String(required=True)
    case_id = fields.String(required=True)
    beneficiary_id = fields.String(required=True)
    amount_fen = Fen(required=True)
    fund_id = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(("bank_transfer", "cash", "escrow")))
    disbursed_at = fields.DateTime(required=True, format="iso")


class FundRequested(BaseSchema):
    """The procuratorate asks the finance bureau for money for one year's fund of one source."""

    request_id = fields.String(required=True)
    year = fields.Integer(required=True, strict=True)
    source = fields.String(required=True, validate=validate.OneOf(FUND_SOURCES))
    amount_fen = Fen(required=True)
    # Payouts of that year waiting for money when the request was made, and their total.
    awaiting_payouts = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    awaiting_fen = Fen(required=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    requested_at = fields.DateTime(required=True, format="iso")


PAYOUT_DISBURSED = registry.register(
    "org.aidflow.payout.disbursed.v1", PayoutDisbursed, exchange=EVENTS, producer="payout",
    consumers=("followup", "intake"), summary="Aid money for one beneficiary was paid out.")
FUND_REQUESTED = registry.register(
    "org.aidflow.payout.fund.requested.v1", FundRequested, exchange=PARTNERS, producer="payout",
    summary="A request to the finance bureau for money for a fund (资金申请); answered by an allocation.")
