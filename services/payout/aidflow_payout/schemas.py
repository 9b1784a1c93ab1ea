"""What payout's API accepts and returns. Money is integer fen (分), in and out.

An amount with decimals is refused (``not_whole_fen``), never rounded: ¥12.34 is sent as 1234. A
currency may be named, and must be ``CNY``.
"""
from marshmallow import ValidationError, fields, validate, validates_schema

from aidflow_shared.contracts.payout import FUND_SOURCES
from aidflow_shared.schema import BaseSchema

MAX_FEN = 10**12  # ¥10 billion: more than any fund; a typo, not an amount
METHODS = ("bank_transfer", "cash", "escrow")
RECOVERY_REASONS = ("fraud", "liable_party_paid", "overpaid_advance", "other")
CHANNELS = ("sms", "phone", "letter", "in_person", "other")
CURRENCIES = ("CNY",)


class FenField(fields.Integer):
    """A positive amount in whole fen."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_FEN))
        messages = kwargs.setdefault("error_messages", {})
        messages.setdefault("not_whole_fen", "not_whole_fen")
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        # 1234.56, 1234.0 and "1234.56" are yuan figures or floats: refused, never rounded.
        if isinstance(value, float) or isinstance(value, str) and "." in value:
            raise self.make_error("not_whole_fen")
        return super()._validated(value)


def Currency():  # noqa: N802 - reads like a field class
    return fields.String(load_default="CNY", validate=validate.OneOf(CURRENCIES, error="currency_not_supported"))


# -- funds ----------------------------------------------------------------------------------------


class FundIn(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    source = fields.String(required=True, validate=validate.OneOf(FUND_SOURCES))
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2100))


class AllocationIn(BaseSchema):
    amount_fen = FenField(required=True)
    currency = Currency()
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    fund_request_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=36))


class FundOut(BaseSchema):
    fund_id = fields.String(attribute="id")
    name = fields.String()
    source = fields.String()
    year = fields.Integer()
    allocated_fen = fields.Integer()
    available_fen = fields.Integer()
    reserved_fen = fields.Integer()
    paid_fen = fields.Integer()
    recovered_fen = fields.Integer()


class FundListOut(BaseSchema):
    items = fields.List(fields.Nested(FundOut))


class FundRequestIn(BaseSchema):
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2100))
    source = fields.String(required=True, validate=validate.OneOf(FUND_SOURCES))
    amount_fen = FenField(load_default=None, allow_none=True)
    currency = Currency()
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class FundRequestOut(BaseSchema):
    request_id = fields.String(attribute="id")
    year = fields.Integer()
    source = fields.String()
    amount_fen = fields.Integer()
    allocated_fen = fields.Integer()
    reason = fields.String(allow_none=True)
    status = fields.String()
    requested_by = fields.String()
    requested_at = fields.DateTime(format="iso")
    answered_at = fields.DateTime(format="iso", allow_none=True)  # null while the request is open


class FundRequestListOut(BaseSchema):
    items = fields.List(fields.Nested(FundRequestOut))


# -- payouts --------------------------------------------------------------------------------------


class PayoutOut(BaseSchema):
    payout_id = fields.String(attribute="id")
    decision_id = fields.String()
    case_id = fields.String()
    beneficiary_id = fields.String()
    amount_fen = fields.Integer()
    paid_fen = fields.Integer()
    recovered_fen = fields.Integer()
    status = fields.String()
    method = fields.String()
    kind = fields.String()
    fund_id = fields.String()
    failure = fields.String()
    approved_at = fields.DateTime(format="iso")
    reserved_at = fields.DateTime(format="iso")
    disbursed_at = fields.DateTime(format="iso")
    completed_at = fields.DateTime(format="iso")
    cancelled_at = fields.DateTime(format="iso")
    cancel_reason = fields.String()
    paperwork_completed_at = fields.DateTime(format="iso")


class PayoutListOut(BaseSchema):
    items = fields.List(fields.Nested(PayoutOut))
    total = fields.Integer()


class PayeeIn(BaseSchema):
    holder_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    account_number = fields.String(required=True, validate=validate.Regexp(r"^[0-9][0-9 \-]{6,38}[0-9]$",
                                                                             error="invalid_account_number"))
    bank_name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ReceiptIn(BaseSchema):
    """The signed receipt (领款收据) a cash payment is made against."""

    receipt_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    signed_by = fields.String(required=True, validate=validate.Length(min=1, max=100))
    signed_at = fields.AwareDateTime(required=True, format="iso")
    document_sha256 = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Regexp(r"^[0-9a-f]{64}$", error="invalid"))


class InstalmentIn(BaseSchema):
    due_on = fields.Date(required=True)
    amount_fen = FenField(required=True)


class DisbursementIn(BaseSchema):
    """How to pay one beneficiary of an approved decision: all of what remains, or a schedule."""

    decision_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    beneficiary_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    amount_fen = FenField(load_default=None)
    currency = Currency()
    payee = fields.Nested(PayeeIn, load_default=None)
    receipt = fields.Nested(ReceiptIn, load_default=None)
    schedule = fields.List(fields.Nested(InstalmentIn), load_default=None, validate=validate.Length(min=1, max=120))

    @validates_schema
    def _parts_of_the_method(self, data, **_):
        needs = {"bank_transfer": ("amount_fen", "payee"), "cash": ("amount_fen", "receipt"),
                 "escrow": ("payee", "schedule")}[data["method"]]
        errors = {name: ["required"] for name in needs if data.get(name) is None}
        errors.update({name: ["not_allowed_for_method"] for name in ("payee", "receipt", "schedule")
                       if name not in needs and data.get(name) is not None})
        if errors:
            raise ValidationError(errors)


class WarningOut(BaseSchema):
    code = fields.String()
    beneficiary_ids = fields.List(fields.String())


class ReceiptOut(BaseSchema):
    receipt_number = fields.String()
    signed_by = fields.String()
    signed_at = fields.DateTime(format="iso")
    document_sha256 = fields.String()


class InstructionOut(BaseSchema):
    instruction_id = fields.String()
    payout_id = fields.String()
    method = fields.String()
    instalment = fields.Integer()
    amount_fen = fields.Integer()
    due_on = fields.Date(allow_none=True)
    status = fields.String()
    idempotency_key = fields.String()
    attempts = fields.Integer()
    payee_kind = fields.String()
    # Null until known (cash has no bank or account; a pending instruction no answer yet).
    payee_bank = fields.String(allow_none=True)
    payee_holder = fields.String(allow_none=True)
    payee_account = fields.String(allow_none=True)
    bank_reference = fields.String(allow_none=True)
    failure = fields.String(allow_none=True)
    sent_at = fields.DateTime(format="iso", allow_none=True)
    answered_at = fields.DateTime(format="iso", allow_none=True)
    created_by = fields.String()
    created_at = fields.DateTime(format="iso")
    receipt = fields.Nested(ReceiptOut, allow_none=True)


class DisbursementOut(BaseSchema):
    payout = fields.Nested(PayoutOut)
    instructions = fields.List(fields.Nested(InstructionOut))
    warnings = fields.List(fields.Nested(WarningOut))


class CancelIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RecoveryIn(BaseSchema):
    amount_fen = FenField(required=True)
    currency = Currency()
    reason = fields.String(required=True, validate=validate.OneOf(RECOVERY_REASONS))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    recovered_on = fields.Date(required=True)


class RecoveryOut(BaseSchema):
    recovery_id = fields.String(attribute="id")
    payout_id = fields.String()
    amount_fen = fields.Integer()
    reason = fields.String()
    reference = fields.String()
    recovered_on = fields.Date()
    recorded_by = fields.String()
    recorded_at = fields.DateTime(format="iso")


class NotificationIn(BaseSchema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    notified_at = fields.AwareDateTime(required=True, format="iso")
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class NotificationOut(BaseSchema):
    notification_id = fields.String(attribute="id")
    payout_id = fields.String()
    channel = fields.String()
    notified_at = fields.DateTime(format="iso")
    note = fields.String()
    recorded_by = fields.String()
    recorded_at = fields.DateTime(format="iso")


class PaperworkIn(BaseSchema):
    final_amount_fen = FenField(load_default=None, allow_none=True)
    currency = Currency()


class PaperworkOut(BaseSchema):
    payout = fields.Nested(PayoutOut)
    to_recover_fen = fields.Integer()


# -- the dossier and the reports ------------------------------------------------------------------


class LedgerLineOut(BaseSchema):
    line = fields.Integer(attribute="id")
    fund_id = fields.String()
    kind = fields.String()
    debit = fields.String()
    credit = fields.String()
    amount_fen = fields.Integer()
    payout_id = fields.String()
    case_id = fields.String()
    instruction_id = fields.String()
    fund_request_id = fields.String()
    reference = fields.String()
    actor = fields.String()
    at = fields.DateTime(format="iso")


class BankAnswerOut(BaseSchema):
    instruction_id = fields.String()
    outcome = fields.String()
    bank_reference = fields.String()
    reason = fields.String()
    via = fields.String()
    applied = fields.Boolean()
    received_at = fields.DateTime(format="iso")


class ActivityOut(BaseSchema):
    payout_id = fields.String()
    action = fields.String()
    actor = fields.String()
    detail = fields.Dict()
    at = fields.DateTime(format="iso")


class DecisionOut(BaseSchema):
    decision_id = fields.String()
    outcome = fields.String()
    total_fen = fields.Integer()
    advance = fields.Boolean()
    decided_at = fields.DateTime(format="iso")


class ClockOut(BaseSchema):
    subject_id = fields.String()
    track = fields.String()
    started_at = fields.DateTime(format="iso")
    due_at = fields.DateTime(format="iso")
    status = fields.String()
    outcome = fields.String()
    stopped_at = fields.DateTime(format="iso")
    breached_at = fields.DateTime(format="iso")


class DossierOut(BaseSchema):
    case_id = fields.String()
    decisions = fields.List(fields.Nested(DecisionOut))
    payouts = fields.List(fields.Nested(PayoutOut))
    instructions = fields.List(fields.Nested(InstructionOut))
    bank_answers = fields.List(fields.Nested(BankAnswerOut))
    notifications = fields.List(fields.Nested(NotificationOut))
    recoveries = fields.List(fields.Nested(RecoveryOut))
    ledger = fields.List(fields.Nested(LedgerLineOut))
    clocks = fields.List(fields.Nested(ClockOut))
    trail = fields.List(fields.Nested(ActivityOut))


class LedgerOut(BaseSchema):
    lines = fields.List(fields.Nested(LedgerLineOut))
    periods = fields.List(fields.Dict())
    totals = fields.List(fields.Dict())


class ReconciliationOut(BaseSchema):
    balanced = fields.Boolean()
    funds = fields.List(fields.Dict())
    approvals = fields.List(fields.Dict())
    problems = fields.List(fields.String())
