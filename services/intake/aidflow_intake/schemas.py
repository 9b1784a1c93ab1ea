"""What intake's API accepts and returns.

Requests are loaded field by field (shape, value sets, identity documents); once every field is
sound, the rules of :mod:`aidflow_intake.referrals` check how they fit together.
The partner's schema extends the published contract, so the broker command and the HTTP call
take exactly the same payload.
"""
from marshmallow import ValidationError, fields, validate, validates_schema

from aidflow_intake import identity, referrals
from aidflow_shared.calendar import beijing_today
from aidflow_shared.contracts.common import SOURCES, TRACKS
from aidflow_shared.contracts.intake import (DOCUMENT_KINDS, ID_TYPES, PHONE, SITUATIONS, ReceivedDocument,
                                             ReferralSubmit, ReferredPerson)
from aidflow_shared.schema import BaseSchema
from aidflow_shared.storage import utcnow

STAGES = ("arrest_review", "prosecution_review", "criminal_appeal", "other_procuratorial")
REFERRAL_SOURCES = ("ex_officio", "partner_transfer", "application")  # leads come in through /leads
APPLICANTS = ("self", "agent")
APPLICATION_FORMS = ("written", "oral")
AGENT_KINDS = ("entrusted", "guardian")  # 委托代理人, 法定代理人
LEAD_CHANNELS = ("wechat", "weibo", "app", "website", "tv", "press", "village_first_secretary", "household_visit",
                 "hotline", "other")
LEAD_STATUSES = ("unverified", "promoted", "dismissed")
CASE_STATUSES = ("registered", "accepted", "under_review", "approved", "rejected", "paid", "in_followup", "closed")


# -- requests ----------------------------------------------------------------------------------------


class IdentityChecks:
    """A resident ID number is checked and gives the birth date; other dates may not be ahead."""

    @validates_schema
    def check_identity(self, data, **kwargs):
        if data.get("id_type") == "resident_id" and "id_number" in data:
            try:
                birth = identity.parse_resident_id(data["id_number"])
            except identity.InvalidIdNumber as exc:
                raise ValidationError(exc.code, field_name="id_number") from None
            if data.get("birth_date") and data["birth_date"] != birth:
                raise ValidationError("birth_date_mismatch", field_name="birth_date")
            data["birth_date"] = birth
        elif data.get("birth_date") and data["birth_date"] > beijing_today():
            raise ValidationError("in_future", field_name="birth_date")


class PersonIn(IdentityChecks, ReferredPerson):
    @validates_schema
    def check_markers(self, data, **kwargs):
        markers = data.get("poverty_markers") or []
        if len(set(markers)) != len(markers):
            raise ValidationError("duplicate", field_name="poverty_markers")
        if {"impoverished_by_case", "returned_to_poverty_by_case"} <= set(markers):
            raise ValidationError("exclusive", field_name="poverty_markers")


class AgentIn(IdentityChecks, BaseSchema):
    """Who applies for the beneficiaries: an entrusted agent or a guardian of a minor."""

    kind = fields.String(required=True, validate=validate.OneOf(AGENT_KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id_type = fields.String(load_default="resident_id", validate=validate.OneOf(ID_TYPES))
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    birth_date = fields.Date(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=PHONE)


class ApplicationIn(BaseSchema):
    """An application (申请): by the person or an agent; written, or oral and recorded by staff."""

    applicant = fields.String(load_default="self", validate=validate.OneOf(APPLICANTS))
    form = fields.String(required=True, validate=validate.OneOf(APPLICATION_FORMS))
    agent = fields.Nested(AgentIn, load_default=None, allow_none=True)

    @validates_schema
    def check_agent(self, data, **kwargs):
        if data.get("applicant") == "agent" and not data.get("agent"):
            raise ValidationError("required", field_name="agent")
        if data.get("applicant") == "self" and data.get("agent"):
            raise ValidationError("must_be_empty", field_name="agent")


class CaseFactsIn(BaseSchema):
    """What every way into a case says about it: people, harm, documents, and acceptance."""

    criminal_case_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    urgent_medical = fields.Boolean(load_default=False)
    summary = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    eligibility_situation = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(SITUATIONS))
    situation_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=500))
    victim_deceased = fields.Boolean(load_default=False)
    beneficiaries = fields.List(fields.Nested(PersonIn), required=True, validate=validate.Length(min=1, max=20))
    documents = fields.List(fields.Nested(ReceivedDocument), load_default=list, validate=validate.Length(max=100))
    accept = fields.Boolean(load_default=False, metadata={"description": "accept (受理) at once; needs the "
                                                          "documents complete or override_reason"})
    override_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=500))
    received_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso",
                                       metadata={"description": "for records migrated from paper ledgers"})
    accepted_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso",
                                       metadata={"description": "for records migrated from paper ledgers"})

    @validates_schema(skip_on_field_errors=True)
    def check_rules(self, data, **kwargs):
        errors = {**self.source_problems(data)}
        for path, codes in referrals.content_problems(data, now=utcnow()).items():
            errors.setdefault(path, []).extend(codes)
        if errors:
            raise ValidationError(errors)

    def source_problems(self, data) -> dict:
        return {}


class ReferralIn(CaseFactsIn):
    """A referral entered by staff: found ex officio, transferred on paper, or an application."""

    source = fields.String(required=True, validate=validate.OneOf(REFERRAL_SOURCES))
    stage = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(STAGES))
    source_agency = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    partner_reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    application = fields.Nested(ApplicationIn, load_default=None, allow_none=True)

    def source_problems(self, data) -> dict:
        return referrals.source_problems(data)


class PartnerReferralIn(ReferralSubmit):
    """A partner agency's transfer: the published contract, with intake's checks of people."""

    beneficiaries = fields.List(fields.Nested(PersonIn), required=True, validate=validate.Length(min=1, max=20))

    @validates_schema(skip_on_field_errors=True)
    def check_rules(self, data, **kwargs):
        errors = referrals.content_problems(data, now=utcnow())
        if errors:
            raise ValidationError(errors)


class PartnerTransferIn(PartnerReferralIn):
    """The partner's transfer over HTTP; the agency is the token's, whatever the body says."""

    source_agency = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                                  metadata={"description": "optional; if given, the token's own agency"})


class LeadIn(BaseSchema):
    channel = fields.String(required=True, validate=validate.OneOf(LEAD_CHANNELS))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    location = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    criminal_case_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    received_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")

    @validates_schema(skip_on_field_errors=True)
    def check_date(self, data, **kwargs):
        if data.get("received_at") and data["received_at"] > utcnow():
            raise ValidationError("in_future", field_name="received_at")


class LeadPromotionIn(CaseFactsIn):
    """Staff verified the lead: who the people are, and how it was verified."""

    verification_note = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class LeadDismissalIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class DocumentIn(BaseSchema):
    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))
    beneficiary_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=36))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    received_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")


class AcceptanceIn(BaseSchema):
    override_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=500),
                                    metadata={"description": "why the case is accepted with documents missing"})
    accepted_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso",
                                       metadata={"description": "for records migrated from paper ledgers"})


class EligibilityIn(BaseSchema):
    eligibility_situation = fields.String(required=True, validate=validate.OneOf(SITUATIONS))
    situation_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=500))


# -- responses ---------------------------------------------------------------------------------------


class PersonOut(BaseSchema):
    """A person as the caller may see them: ``masked_fields`` lists what is shown masked."""

    name = fields.String()
    id_type = fields.String()
    id_number = fields.String()
    birth_date = fields.Date(allow_none=True)
    phone = fields.String(allow_none=True)
    masked_fields = fields.List(fields.String())


class BeneficiaryOut(PersonOut):
    beneficiary_id = fields.String()
    person_ref = fields.String()
    relationship = fields.String()
    is_minor = fields.Boolean()
    poverty_markers = fields.List(fields.String())
    urgent_medical_need = fields.Boolean()
    other_case_numbers = fields.List(fields.String(), metadata={"description": "this person's other cases"})


class AgentOut(PersonOut):
    kind = fields.String()


class ApplicationOut(BaseSchema):
    applicant = fields.String()
    form = fields.String()
    recorded_by = fields.String(allow_none=True)
    agent = fields.Nested(AgentOut, allow_none=True)


class HistoryOut(BaseSchema):
    status = fields.String()
    event_type = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    at = fields.DateTime(format="iso")


class TransferOut(BaseSchema):
    agency = fields.String()
    partner_reference = fields.String(allow_none=True)
    channel = fields.String()
    outcome = fields.String()
    sent_at = fields.DateTime(format="iso", allow_none=True)
    received_at = fields.DateTime(format="iso")
    answered_at = fields.DateTime(format="iso", allow_none=True)


class ChecklistItemOut(BaseSchema):
    requirement = fields.String()
    any_of = fields.List(fields.String())
    beneficiary_id = fields.String(allow_none=True)
    present = fields.Boolean()


class DocumentOut(BaseSchema):
    document_id = fields.String(attribute="id")
    kind = fields.String()
    beneficiary_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    received_at = fields.DateTime(format="iso")
    recorded_by = fields.String()


class ChecklistOut(BaseSchema):
    complete = fields.Boolean()
    missing = fields.List(fields.String(), metadata={"description": "field paths of missing requirements"})
    items = fields.List(fields.Nested(ChecklistItemOut))
    documents = fields.List(fields.Nested(DocumentOut))


class LinkedCaseOut(BaseSchema):
    case_id = fields.String()
    case_number = fields.String()
    status = fields.String()


class CaseOut(BaseSchema):
    case_id = fields.String()
    case_number = fields.String()
    source = fields.String(validate=validate.OneOf(SOURCES))
    source_agency = fields.String(allow_none=True)
    partner_reference = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    criminal_case_ref = fields.String(allow_none=True)
    lead_id = fields.String(allow_none=True)
    rereferred_from_id = fields.String(allow_none=True, metadata={"description": "the case before, when follow-up "
                                                                                  "found the family back in hardship"})
    application = fields.Nested(ApplicationOut, allow_none=True)
    eligibility_situation = fields.String(allow_none=True)
    situation_reason = fields.String(allow_none=True)
    victim_deceased = fields.Boolean()
    track = fields.String(validate=validate.OneOf(TRACKS))
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    summary = fields.String(allow_none=True)
    registered_by = fields.String()
    received_at = fields.DateTime(format="iso")
    opened_at = fields.DateTime(format="iso")
    accepted_at = fields.DateTime(format="iso", allow_none=True)
    accepted_by = fields.String(allow_none=True)
    acceptance_override_reason = fields.String(allow_none=True)
    migrated = fields.Boolean()
    updated_at = fields.DateTime(format="iso")
    beneficiaries = fields.List(fields.Nested(BeneficiaryOut))
    checklist = fields.Nested(ChecklistOut)
    transfers = fields.List(fields.Nested(TransferOut))
    linked_cases = fields.List(fields.Nested(LinkedCaseOut),
                               metadata={"description": "other cases of the same criminal case"})
    history = fields.List(fields.Nested(HistoryOut))


class WarningOut(BaseSchema):
    code = fields.String()
    beneficiary = fields.Integer()
    case_numbers = fields.List(fields.String())


class CaseCreatedOut(CaseOut):
    warnings = fields.List(fields.Nested(WarningOut))


class CaseSummaryOut(BaseSchema):
    case_id = fields.String()
    case_number = fields.String()
    source = fields.String()
    source_agency = fields.String(allow_none=True)
    criminal_case_ref = fields.String(allow_none=True)
    track = fields.String()
    status = fields.String()
    received_at = fields.DateTime(format="iso")
    opened_at = fields.DateTime(format="iso")
    accepted_at = fields.DateTime(format="iso", allow_none=True)
    migrated = fields.Boolean()
    beneficiaries = fields.List(fields.Nested(BeneficiaryOut))


class CaseListOut(BaseSchema):
    items = fields.List(fields.Nested(CaseSummaryOut))
    total = fields.Integer()


class LeadOut(BaseSchema):
    lead_id = fields.String(attribute="id")
    channel = fields.String()
    summary = fields.String()
    location = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    criminal_case_ref = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(LEAD_STATUSES))
    received_at = fields.DateTime(format="iso")
    reported_by = fields.String()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(format="iso", allow_none=True)
    verification_note = fields.String(allow_none=True)
    dismissal_reason = fields.String(allow_none=True)
    case_id = fields.Function(lambda lead: lead.case.id if lead.case else None)
    case_number = fields.Function(lambda lead: lead.case.case_number if lead.case else None)


class LeadListOut(BaseSchema):
    items = fields.List(fields.Nested(LeadOut))
    total = fields.Integer()


class AgencyIn(BaseSchema):
    """A partner agency in the registry: its name and the broker user it publishes as."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    broker_user = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"))
    active = fields.Boolean(load_default=True)


class AgencyOut(BaseSchema):
    code = fields.String()
    name = fields.String()
    broker_user = fields.String()
    active = fields.Boolean()


class AgencyListOut(BaseSchema):
    items = fields.List(fields.Nested(AgencyOut))


class TransferAnswerOut(BaseSchema):
    """What a partner learns of its transfer: the case number, never other people's data."""

    partner_reference = fields.String()
    case_number = fields.String()
    already_received = fields.Boolean()
    received_at = fields.DateTime(format="iso")
    answered_at = fields.DateTime(format="iso")
