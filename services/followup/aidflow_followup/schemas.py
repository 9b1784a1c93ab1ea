"""What follow-up's API accepts and returns.

The value sets are the contract's (:mod:`aidflow_shared.contracts.followup`), so a service, a
status or a kind of data means the same in the API and on the bus.
"""
from marshmallow import fields, validate

from aidflow_followup.consent import GIVERS
from aidflow_followup.handoffs import WITHDRAWAL_REASONS
from aidflow_followup.needs import NEED_STATUSES, NEEDED
from aidflow_followup.visits import LIVING_SITUATIONS, METHODS
from aidflow_shared.auth import AGENCIES
from aidflow_shared.contracts.followup import (ANSWER_STATUSES, ASSISTANCE_SERVICES, CLOSURE_REASONS, DATA_CATEGORIES,
                                               DECLINE_REASONS, HANDOFF_STATUSES, PSYCHOLOGICAL_STATES,
                                               REOPEN_REASONS, HandoffOutcome)
from aidflow_shared.contracts.intake import PHONE, POVERTY_MARKERS, RELATIONSHIPS
from aidflow_shared.schema import BaseSchema

SERVICE = validate.OneOf(ASSISTANCE_SERVICES)
# Staff set a need as needed or end it; "met" comes only from a hand-off completed.
ASSESSABLE = tuple(s for s in NEED_STATUSES if s != "met")
PLAN_STATUSES = ("open", "closed")
CHANNELS = ("broker", "staff")


def Note(size: int = 1000, **kwargs) -> fields.String:  # noqa: N802 - reads like a field class
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(max=size), **kwargs)


# -- what staff and agencies send ------------------------------------------------------------------


class NeedIn(BaseSchema):
    service = fields.String(required=True, validate=SERVICE)
    status = fields.String(required=True, validate=validate.OneOf(ASSESSABLE))
    note = Note()


class HandoffRequestIn(BaseSchema):
    service = fields.String(required=True, validate=SERVICE)
    agency = fields.String(required=True, validate=validate.OneOf(AGENCIES))
    note = Note(500)


class AssessmentIn(BaseSchema):
    """A needs assessment: every service assessed, and hand-offs to make at once."""

    needs = fields.List(fields.Nested(NeedIn), required=True,
                        validate=validate.Length(min=1, max=len(ASSISTANCE_SERVICES)))
    psychological_state = fields.String(load_default=None, allow_none=True,
                                        validate=validate.OneOf(PSYCHOLOGICAL_STATES))
    returned_to_hardship = fields.Boolean(load_default=False)
    note = Note()
    handoffs = fields.List(fields.Nested(HandoffRequestIn), load_default=list,
                           validate=validate.Length(max=len(ASSISTANCE_SERVICES)))


class ContactIn(BaseSchema):
    """How to reach the person; for a minor, the guardian too."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(load_default=None, allow_none=True, validate=PHONE)
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    guardian_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    guardian_phone = fields.String(load_default=None, allow_none=True, validate=PHONE)


class ConsentIn(BaseSchema):
    agency = fields.String(required=True, validate=validate.OneOf(AGENCIES))
    categories = fields.List(fields.String(validate=validate.OneOf(DATA_CATEGORIES)), required=True,
                             validate=validate.Length(min=1, max=len(DATA_CATEGORIES)))
    given_by = fields.String(required=True, validate=validate.OneOf(GIVERS))
    given_at = fields.DateTime(load_default=None, allow_none=True, format="iso")


class WithdrawalIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class HandoffWithdrawalIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.OneOf(WITHDRAWAL_REASONS))


class AnswerIn(BaseSchema):
    """An agency's answer, sent by the agency with its token or recorded by staff for it."""

    status = fields.String(required=True, validate=validate.OneOf(ANSWER_STATUSES))
    at = fields.DateTime(required=True, format="iso")
    note = Note(500)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DECLINE_REASONS))
    outcome = fields.Nested(HandoffOutcome, load_default=None, allow_none=True)


class VisitIn(BaseSchema):
    visited_at = fields.DateTime(required=True, format="iso")
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    living_situation = fields.String(required=True, validate=validate.OneOf(LIVING_SITUATIONS))
    psychological_state = fields.String(required=True, validate=validate.OneOf(PSYCHOLOGICAL_STATES))
    services_received = fields.List(fields.String(validate=SERVICE), load_default=list,
                                    validate=validate.Length(max=len(ASSISTANCE_SERVICES)))
    satisfaction = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 5))
    aware_of_aid = fields.Boolean(load_default=None, allow_none=True)
    returned_to_hardship = fields.Boolean(load_default=False)
    note = Note()


class VisitCancellationIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ReReferralIn(BaseSchema):
    criminal_case_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    relationship = fields.String(load_default="victim", validate=validate.OneOf(RELATIONSHIPS))
    poverty_markers = fields.List(fields.String(validate=validate.OneOf(POVERTY_MARKERS)),
                                  load_default=lambda: ["returned_to_poverty_by_case"],
                                  validate=validate.Length(max=len(POVERTY_MARKERS)))
    urgent_medical = fields.Boolean(load_default=False)
    summary = Note()


class ClosureIn(BaseSchema):
    reason = fields.String(load_default="plan_complete", validate=validate.OneOf(CLOSURE_REASONS))
    note = Note()


class ReopeningIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.OneOf(REOPEN_REASONS))
    note = Note()


class PeriodIn(BaseSchema):
    """The period of the published figures: Beijing dates, both ends included (query parameters)."""

    since = fields.Date(data_key="from", load_default=None)
    until = fields.Date(data_key="to", load_default=None)


class AgencyIn(BaseSchema):
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    active = fields.Boolean(load_default=None)


# -- what the API returns --------------------------------------------------------------------------


class NeedOut(BaseSchema):
    service = fields.String(validate=SERVICE)
    status = fields.String(validate=validate.OneOf((NEEDED, *ASSESSABLE, "met")))
    reason = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    updated_at = fields.DateTime(format="iso")


class AssessmentOut(BaseSchema):
    assessment_id = fields.String(attribute="id")
    kind = fields.String()
    assessed_by = fields.String()
    assessed_at = fields.DateTime(format="iso")
    returned_to_hardship = fields.Boolean()
    psychological_state = fields.String(allow_none=True)
    needs = fields.Dict(keys=fields.String(), values=fields.String())
    note = fields.String(allow_none=True)


class ConsentOut(BaseSchema):
    consent_id = fields.String(attribute="id")
    agency = fields.String()
    categories = fields.List(fields.String())
    given_by = fields.String()
    given_at = fields.DateTime(format="iso")
    recorded_by = fields.String()
    recorded_at = fields.DateTime(format="iso")
    withdrawn_at = fields.DateTime(format="iso", allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)
    active = fields.Function(lambda consent: consent.withdrawn_at is None)


class ContactOut(BaseSchema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    guardian_name = fields.String(allow_none=True)
    guardian_phone = fields.String(allow_none=True)
    masked_fields = fields.List(fields.String())
    recorded_by = fields.String()
    recorded_at = fields.DateTime(format="iso")


class AnswerOut(BaseSchema):
    status = fields.String(allow_none=True)
    channel = fields.String()
    stated_at = fields.DateTime(format="iso", allow_none=True)
    received_at = fields.DateTime(format="iso")
    result = fields.String()
    reason = fields.String(allow_none=True)
    errors = fields.Dict(allow_none=True)
    recorded_by = fields.String(allow_none=True)


class SharedOut(BaseSchema):
    shared_categories = fields.List(fields.String())
    means_test_waived = fields.Boolean()
    contact_path = fields.String(allow_none=True)
    minor = fields.Dict(allow_none=True)
    household = fields.Dict(allow_none=True)
    harm = fields.Dict(allow_none=True)
    health = fields.Dict(allow_none=True)


class HandoffOut(BaseSchema):
    handoff_id = fields.String()
    plan_id = fields.String()
    case_number = fields.String(allow_none=True)
    service = fields.String()
    agency = fields.String()
    channel = fields.String()
    status = fields.String(validate=validate.OneOf(HANDOFF_STATUSES))
    shared = fields.Nested(SharedOut)
    note = fields.String(allow_none=True)
    requested_by = fields.String()
    requested_at = fields.DateTime(format="iso")
    acknowledge_by = fields.DateTime(format="iso")
    acknowledged_at = fields.DateTime(format="iso", allow_none=True)
    deadline_band = fields.String(allow_none=True)  # ok, warning, critical, breached; None once acknowledged
    escalated_at = fields.DateTime(format="iso", allow_none=True)
    reason = fields.String(allow_none=True)
    outcome = fields.Dict(allow_none=True)
    updated_at = fields.DateTime(format="iso")
    answers = fields.List(fields.Nested(AnswerOut))


class HandoffListOut(BaseSchema):
    items = fields.List(fields.Nested(HandoffOut))
    total = fields.Integer()


class VisitOut(BaseSchema):
    visit_id = fields.String(attribute="id")
    months_after = fields.Integer(allow_none=True)
    due_on = fields.Date(allow_none=True)
    status = fields.String()
    visited_at = fields.DateTime(format="iso", allow_none=True)
    method = fields.String(allow_none=True)
    living_situation = fields.String(allow_none=True)
    psychological_state = fields.String(allow_none=True)
    services_received = fields.List(fields.String(), allow_none=True)
    satisfaction = fields.Integer(allow_none=True)
    aware_of_aid = fields.Boolean(allow_none=True)
    returned_to_hardship = fields.Boolean(allow_none=True)
    note = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True)
    recorded_at = fields.DateTime(format="iso", allow_none=True)
    cancel_reason = fields.String(allow_none=True)


class ReReferralOut(BaseSchema):
    rereferral_id = fields.String(attribute="id")
    from_case_id = fields.String()
    criminal_case_ref = fields.String()
    status = fields.String()
    requested_by = fields.String()
    requested_at = fields.DateTime(format="iso")
    answered_at = fields.DateTime(format="iso", allow_none=True)
    reason = fields.String(allow_none=True)
    new_case_id = fields.String(allow_none=True)
    new_case_number = fields.String(allow_none=True)


class EscalationOut(BaseSchema):
    escalation_id = fields.String(attribute="id")
    stage = fields.String()
    subject_id = fields.String()
    plan_id = fields.String()
    agency = fields.String(allow_none=True)
    due_at = fields.DateTime(format="iso")
    escalated_at = fields.DateTime(format="iso")
    resolved_at = fields.DateTime(format="iso", allow_none=True)


class EscalationListOut(BaseSchema):
    items = fields.List(fields.Nested(EscalationOut))
    total = fields.Integer()


class PlanSummaryOut(BaseSchema):
    plan_id = fields.String()
    case_id = fields.String()
    case_number = fields.String(allow_none=True)
    beneficiary_id = fields.String()
    is_minor = fields.Boolean(allow_none=True)
    payout_id = fields.String(allow_none=True)
    decision_id = fields.String(allow_none=True)
    opened_on = fields.String()
    status = fields.String(validate=validate.OneOf(PLAN_STATUSES))
    opened_at = fields.DateTime(format="iso")
    closed_at = fields.DateTime(format="iso", allow_none=True)
    facts_known = fields.Boolean()
    assessed_at = fields.DateTime(format="iso", allow_none=True)
    next_assessment_on = fields.Date(allow_none=True)
    reassessment_due = fields.Boolean()
    psychological_state = fields.String(allow_none=True)
    relapsed_at = fields.DateTime(format="iso", allow_none=True)
    complete = fields.Boolean()
    open_items = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class PlanOut(PlanSummaryOut):
    needs = fields.List(fields.Nested(NeedOut))
    assessments = fields.List(fields.Nested(AssessmentOut))
    consents = fields.List(fields.Nested(ConsentOut))
    contact = fields.Nested(ContactOut, allow_none=True)
    handoffs = fields.List(fields.Nested(HandoffOut))
    visits = fields.List(fields.Nested(VisitOut))
    rereferrals = fields.List(fields.Nested(ReReferralOut))
    escalations = fields.List(fields.Nested(EscalationOut))


class PlanListOut(BaseSchema):
    items = fields.List(fields.Nested(PlanSummaryOut))
    total = fields.Integer()


class AssessedOut(BaseSchema):
    assessment = fields.Nested(AssessmentOut)
    handoffs = fields.List(fields.Nested(HandoffOut))
    awaiting_handoff = fields.List(fields.Dict())
    plan = fields.Nested(PlanOut)


class ClosureOut(BaseSchema):
    kind = fields.String()
    reason = fields.String()
    note = fields.String(allow_none=True)
    by = fields.String()
    at = fields.DateTime(format="iso")


class CaseOut(BaseSchema):
    case_id = fields.String()
    case_number = fields.String(allow_none=True)
    criminal_case_ref = fields.String(allow_none=True)
    status = fields.String()
    facts_known = fields.Boolean()
    plans = fields.List(fields.Nested(PlanSummaryOut))
    closures = fields.List(fields.Nested(ClosureOut))
    open_items = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ContactForAgencyOut(BaseSchema):
    """The contact details an agency may see for its hand-off (a minor's guardian included)."""

    handoff_id = fields.String()
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    guardian_name = fields.String(allow_none=True)
    guardian_phone = fields.String(allow_none=True)


class ContactAccessOut(BaseSchema):
    handoff_id = fields.String()
    plan_id = fields.String(allow_none=True)
    agency = fields.String(allow_none=True)
    subject = fields.String()
    role = fields.String()
    granted = fields.Boolean()
    reason = fields.String(allow_none=True)
    at = fields.DateTime(format="iso")


class ContactAccessListOut(BaseSchema):
    items = fields.List(fields.Nested(ContactAccessOut))
    total = fields.Integer()


class AgencyOut(BaseSchema):
    code = fields.String()
    name = fields.String()
    broker_user = fields.String(allow_none=True)
    channel = fields.String()
    active = fields.Boolean()
    services = fields.List(fields.String())


class AgencyListOut(BaseSchema):
    items = fields.List(fields.Nested(AgencyOut))


class StatisticsOut(BaseSchema):
    """Aggregates only: counts, shares (0..1) and means; never a case or a person."""

    since = fields.Date(allow_none=True)
    until = fields.Date(allow_none=True)
    visits = fields.Dict(keys=fields.String(), values=fields.Integer())
    satisfaction = fields.Dict()
    awareness = fields.Dict()
    plans = fields.Dict(keys=fields.String(), values=fields.Integer())
    handoffs = fields.Dict()
    escalations = fields.Dict(keys=fields.String(), values=fields.Integer())
    rereferrals = fields.Dict(keys=fields.String(), values=fields.Integer())
