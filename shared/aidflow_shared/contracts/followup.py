"""Messages follow-up publishes, the commands partners send to it, and the re-referral exchange.

The value sets below are part of the published contract: partner agencies receive them in
``handoff.requested`` and send them back in their answers; follow-up's own API uses the same
sets, so a hand-off means the same thing whichever way it is answered.

Hand-off statuses (shared by follow-up and every partner agency):

- ``requested``  follow-up asked the agency to serve the person;
- ``accepted``   the agency took the hand-off on (it acknowledges; the acknowledgement clock stops);
- ``in-service`` the agency is serving the person (a first session, an application filed ...);
- ``completed``  the person actually received the service, with its outcome;
- ``declined``   the agency will not serve the person, with the reason.

A status never goes back; ``completed`` and ``declined`` are final, as is ``withdrawn`` (by
follow-up). Nothing here carries a name, an ID number, a phone number or an address: the agency
fetches the contact details it was consented to see through follow-up's API.

The re-referral of a family back in hardship (返困) is a conversation between follow-up and
intake; follow-up's request and intake's answer are registered here together, as intake's
module keeps the partners' transfer command beside intake's answers to it.
"""
from marshmallow import fields, validate

from aidflow_shared.contracts import EVENTS, INBOUND, PARTNERS, registry
from aidflow_shared.contracts.common import Fen
from aidflow_shared.contracts.intake import POVERTY_MARKERS, RELATIONSHIPS
from aidflow_shared.schema import BaseSchema

# Assistance (帮扶) a person may need after aid: the needs assessment lists each one.
ASSISTANCE_SERVICES = (
    "psych_counselling",         # 心理疏导, always assessed for minors
    "civil_affairs_aid",         # 民政救助 (temporary assistance and the like)
    "minimum_living_guarantee",  # 低保
    "legal_aid",                 # 法律援助: judicial-aid recipients skip the means test
    "poverty_alleviation",       # 帮扶单位 / 扶贫
    "education_support",         # 助学
    "employment_support",        # 就业帮扶
    "other",
)
HANDOFF_STATUSES = ("requested", "accepted", "in-service", "completed", "declined", "withdrawn")
ANSWER_STATUSES = ("accepted", "in-service", "completed", "declined")
DECLINE_REASONS = ("not_eligible", "cannot_contact", "person_refused", "out_of_area", "no_capacity", "other")
# What a person may agree to share with an agency, by kind of data.
DATA_CATEGORIES = ("contact", "household", "harm", "health", "minor")
PSYCHOLOGICAL_STATES = ("stable", "improving", "distressed", "severe")
CLOSURE_REASONS = ("plan_complete", "person_deceased", "moved_away", "person_refused", "other")
REOPEN_REASONS = ("returned_to_hardship", "new_need", "complaint", "recorded_in_error", "other")

# -- events on aidflow.events ----------------------------------------------------------------------


class PlanOpened(BaseSchema):
    plan_id = fields.String(required=True)
    case_id = fields.String(required=True)
    beneficiary_id = fields.String(required=True)
    opened_at = fields.DateTime(required=True, format="iso")


class CaseClosed(BaseSchema):
    """Every plan of the case is complete and no hand-off or visit is open."""

    case_id = fields.String(required=True)
    plans = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    reason = fields.String(required=True, validate=validate.OneOf(CLOSURE_REASONS))
    closed_at = fields.DateTime(required=True, format="iso")


class CaseReopened(BaseSchema):
    case_id = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(REOPEN_REASONS))
    reopened_at = fields.DateTime(required=True, format="iso")


class ReReferralRequested(BaseSchema):
    """A beneficiary found back in hardship, referred to intake for a new case linked to the old.

    ``person_ref`` is intake's own id of the person; ``criminal_case_ref`` the criminal case the
    new case would be about. Intake refuses a second aid for the same person and criminal case.
    """

    rereferral_id = fields.String(required=True)
    from_case_id = fields.String(required=True)
    from_case_number = fields.String(load_default=None, allow_none=True)
    beneficiary_id = fields.String(required=True)
    person_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    criminal_case_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    relationship = fields.String(required=True, validate=validate.OneOf(RELATIONSHIPS))
    poverty_markers = fields.List(fields.String(validate=validate.OneOf(POVERTY_MARKERS)), required=True)
    urgent_medical = fields.Boolean(required=True)
    summary = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    requested_at = fields.DateTime(required=True, format="iso")


class ReReferralAnswered(BaseSchema):
    """Intake's answer: a case registered (``accepted``) or not (``refused``, with the reason)."""

    rereferral_id = fields.String(required=True)
    from_case_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("accepted", "refused")))
    reason = fields.String(load_default=None, allow_none=True)
    case_id = fields.String(load_default=None, allow_none=True)
    case_number = fields.String(load_default=None, allow_none=True)
    answered_at = fields.DateTime(required=True, format="iso")


PLAN_OPENED = registry.register(
    "org.aidflow.followup.plan.opened.v1", PlanOpened, exchange=EVENTS, producer="followup",
    consumers=("intake",), summary="A follow-up (aid + assistance) plan opened for a beneficiary.")
CASE_CLOSED = registry.register(
    "org.aidflow.followup.case.closed.v1", CaseClosed, exchange=EVENTS, producer="followup",
    consumers=("intake",), summary="A case's follow-up closed: plans complete, no hand-off or visit open.")
CASE_REOPENED = registry.register(
    "org.aidflow.followup.case.reopened.v1", CaseReopened, exchange=EVENTS, producer="followup",
    consumers=("intake",), summary="A closed case's follow-up reopened, with the reason.")
REREFERRAL_REQUESTED = registry.register(
    "org.aidflow.followup.rereferral.requested.v1", ReReferralRequested, exchange=EVENTS, producer="followup",
    consumers=("intake",),
    summary="A family back in hardship (返困) is referred to intake again, linked to the old case.")
REREFERRAL_ANSWERED = registry.register(
    "org.aidflow.intake.rereferral.answered.v1", ReReferralAnswered, exchange=EVENTS, producer="intake",
    consumers=("followup",), summary="Intake's answer to a re-referral: the new case, or why there is none.")


# -- to partner agencies, on aidflow.partners ------------------------------------------------------


class SharedMinor(BaseSchema):
    is_minor = fields.Boolean(required=True)
    relationship = fields.String(load_default=None, allow_none=True)


class SharedHousehold(BaseSchema):
    poverty_markers = fields.List(fields.String(validate=validate.OneOf(POVERTY_MARKERS)), required=True)


class SharedHarm(BaseSchema):
    eligibility_situation = fields.String(load_default=None, allow_none=True)
    victim_deceased = fields.Boolean(required=True)


class SharedHealth(BaseSchema):
    psychological_state = fields.String(load_default=None, allow_none=True,
                                        validate=validate.OneOf(PSYCHOLOGICAL_STATES))
    urgent_medical_need = fields.Boolean(required=True)


class HandoffRequested(BaseSchema):
    """Follow-up asks an agency to serve a person, with only what that agency's service needs.

    Each data category appears only if the person agreed to share it with this agency and the
    service needs it. ``contact_path`` is where the agency, with its own token, fetches the
    contact details it may see; the message itself carries none.
    """

    handoff_id = fields.String(required=True)
    case_number = fields.String(load_default=None, allow_none=True)
    service = fields.String(required=True, validate=validate.OneOf(ASSISTANCE_SERVICES))
    requested_at = fields.DateTime(required=True, format="iso")
    acknowledge_by = fields.DateTime(required=True, format="iso")
    # Judicial-aid recipients qualify for legal aid without the economic means test.
    means_test_waived = fields.Boolean(required=True)
    shared_categories = fields.List(fields.String(validate=validate.OneOf(DATA_CATEGORIES)), required=True)
    minor = fields.Nested(SharedMinor, load_default=None, allow_none=True)
    household = fields.Nested(SharedHousehold, load_default=None, allow_none=True)
    harm = fields.Nested(SharedHarm, load_default=None, allow_none=True)
    health = fields.Nested(SharedHealth, load_default=None, allow_none=True)
    contact_path = fields.String(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class HandoffRecorded(BaseSchema):
    """The agency's answer is recorded (``already_recorded``: the same status came again)."""

    handoff_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ANSWER_STATUSES))
    already_recorded = fields.Boolean(required=True)
    recorded_at = fields.DateTime(required=True, format="iso")


class AnswerProblem(BaseSchema):
    field = fields.String(required=True)  # dotted path into the answer's data
    code = fields.String(required=True)
    message = fields.String(required=True)  # the code in Chinese, for the agency's staff


class HandoffRefused(BaseSchema):
    """The agency's answer was not recorded; ``reason`` and ``errors`` say why, never its values."""

    handoff_id = fields.String(load_default=None, allow_none=True)
    reason = fields.String(required=True)
    # The status the hand-off has, where the answer concerned a hand-off of this agency.
    current_status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(HANDOFF_STATUSES))
    errors = fields.List(fields.Nested(AnswerProblem), required=True)
    answered_at = fields.DateTime(required=True, format="iso")


class HandoffWithdrawn(BaseSchema):
    handoff_id = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=64))
    withdrawn_at = fields.DateTime(required=True, format="iso")


class HandoffOverdue(BaseSchema):
    """The agency has not acknowledged a hand-off by its deadline: escalated at the procuratorate."""

    handoff_id = fields.String(required=True)
    acknowledge_by = fields.DateTime(required=True, format="iso")
    escalated_at = fields.DateTime(required=True, format="iso")


HANDOFF_REQUESTED = registry.register(
    "org.aidflow.followup.handoff.requested.v1", HandoffRequested, exchange=PARTNERS, producer="followup",
    summary="Follow-up hands a person over to a partner agency for a service; answered on aidflow.inbound.")
HANDOFF_RECORDED = registry.register(
    "org.aidflow.followup.handoff.recorded.v1", HandoffRecorded, exchange=PARTNERS, producer="followup",
    summary="The agency's answer to a hand-off is recorded (correlation_id = the agency's message id).")
HANDOFF_REFUSED = registry.register(
    "org.aidflow.followup.handoff.refused.v1", HandoffRefused, exchange=PARTNERS, producer="followup",
    summary="The agency's answer to a hand-off was refused, with the reason per field.")
HANDOFF_WITHDRAWN = registry.register(
    "org.aidflow.followup.handoff.withdrawn.v1", HandoffWithdrawn, exchange=PARTNERS, producer="followup",
    summary="Follow-up withdrew a hand-off; the agency stops and may no longer fetch the contact details.")
HANDOFF_OVERDUE = registry.register(
    "org.aidflow.followup.handoff.overdue.v1", HandoffOverdue, exchange=PARTNERS, producer="followup",
    summary="A hand-off was not acknowledged within its working-day deadline and was escalated.")


# -- partner agencies' answers, on aidflow.inbound -------------------------------------------------


class HandoffOutcome(BaseSchema):
    """What the person received. Amounts in fen; no personal data."""

    received_on = fields.Date(required=True)
    summary = fields.String(required=True, validate=validate.Length(min=1, max=500))
    amount_fen = Fen(load_default=None, allow_none=True)  # e.g. a monthly minimum living guarantee
    sessions = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))


class HandoffAnswer(BaseSchema):
    """An agency's answer to a hand-off; the agency is the publishing broker user.

    ``reason`` is required with ``declined``, ``outcome`` with ``completed``.
    """

    handoff_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    at = fields.DateTime(required=True, format="iso")  # when it happened at the agency
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DECLINE_REASONS))
    outcome = fields.Nested(HandoffOutcome, load_default=None, allow_none=True)


def _answer(status: str, summary: str):
    return registry.register(
        f"org.aidflow.partner.handoff.{status}.v1", HandoffAnswer, exchange=INBOUND, producer="partner",
        consumers=("followup",), answers_invalid=True, summary=summary)


HANDOFF_ACCEPTED = _answer("accepted", "An agency takes a hand-off on (acknowledges it).")
HANDOFF_IN_SERVICE = _answer("in-service", "An agency is serving the person handed off.")
HANDOFF_COMPLETED = _answer("completed", "The person received the service; with its outcome.")
HANDOFF_DECLINED = _answer("declined", "An agency will not serve the person; with the reason.")
HANDOFF_ANSWERS = {"accepted": HANDOFF_ACCEPTED, "in-service": HANDOFF_IN_SERVICE,
                   "completed": HANDOFF_COMPLETED, "declined": HANDOFF_DECLINED}
