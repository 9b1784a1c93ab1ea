"""Messages intake publishes, and the commands partners send to it.

The value sets below are part of the published contract: partner agencies send them in
``referral.submit`` and services read them in ``case.accepted``. Intake's own API uses the same
sets, so a referral means the same thing whichever way it arrives.
"""
from marshmallow import fields, validate

from aidflow_shared.contracts import EVENTS, INBOUND, PARTNERS, registry
from aidflow_shared.contracts.common import SOURCES, TRACKS
from aidflow_shared.schema import BaseSchema

ID_TYPES = ("resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_permanent_resident", "other")
# The person harmed directly (or who helped the procuratorate and was retaliated against)...
DIRECT_RELATIONSHIPS = ("victim", "informant", "witness", "expert")
# ...and the close relatives or dependants who apply for a deceased or incapacitated victim.
RELATIVE_RELATIONSHIPS = ("spouse", "child", "parent", "sibling", "other_dependant")
RELATIONSHIPS = DIRECT_RELATIONSHIPS + RELATIVE_RELATIONSHIPS
# Eligible situations of art. 7 of the 2021 rules, (1) to (7) in order.
SITUATIONS = ("serious_injury", "urgent_treatment", "death_or_incapacity", "property_loss", "retaliation",
              "civil_tort", "other")
# 建档立卡 registered poor household, 因案致贫 impoverished by the case, 因案返贫 fallen back by it.
POVERTY_MARKERS = ("registered_poor_household", "impoverished_by_case", "returned_to_poverty_by_case")
DOCUMENT_KINDS = (
    "application",              # 救助申请书
    "oral_application_record",  # 口头申请笔录
    "transfer_letter",          # 移送函
    "verification_record",      # 线索核查记录
    "identity",                 # 身份证明
    "injury_appraisal",         # 伤情（伤残）鉴定意见
    "medical_bills",            # 诊断证明及医疗费用票据
    "death_certificate",        # 死亡证明
    "loss_evidence",            # 财产损失证明
    "retaliation_evidence",     # 遭受打击报复的证明
    "no_compensation_proof",    # 未获赔偿的证明（如终结执行裁定）
    "hardship_proof",           # 生活困难证明
    "compensation_statement",   # 获得赔偿、救助情况的说明
    "relationship_proof",       # 亲属关系证明
    "power_of_attorney",        # 授权委托书
    "other",
)
PHONE = validate.Regexp(r"^\+?[0-9\- ]{5,20}$", error="invalid_phone")


# -- events on aidflow.events ----------------------------------------------------------------------


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


class AcceptedBeneficiary(BaseSchema):
    beneficiary_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    person_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    is_minor = fields.Boolean(required=True)
    relationship = fields.String(required=True, validate=validate.OneOf(RELATIONSHIPS))
    poverty_markers = fields.List(fields.String(validate=validate.OneOf(POVERTY_MARKERS)), required=True)
    urgent_medical_need = fields.Boolean(required=True)


class CaseAccepted(BaseSchema):
    case_id = fields.String(required=True)
    case_number = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    source_agency = fields.String(load_default=None, allow_none=True)
    track = fields.String(required=True, validate=validate.OneOf(TRACKS))
    criminal_case_ref = fields.String(load_default=None, allow_none=True)
    eligibility_situation = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(SITUATIONS))
    victim_deceased = fields.Boolean(required=True)
    beneficiaries = fields.List(fields.Nested(AcceptedBeneficiary), required=True, validate=validate.Length(min=1))
    # False when staff accepted with documents missing and recorded why (先行救助，后补手续).
    documents_complete = fields.Boolean(required=True)
    received_at = fields.DateTime(required=True, format="iso")
    # The moment the review clock starts; a past date for records migrated from paper ledgers.
    accepted_at = fields.DateTime(required=True, format="iso")
    migrated = fields.Boolean(required=True)


CASE_OPENED = registry.register(
    "org.aidflow.intake.case.opened.v1", CaseOpened, exchange=EVENTS, producer="intake",
    consumers=("review",), summary="A referral became a case with one or more beneficiaries.")
CASE_ACCEPTED = registry.register(
    "org.aidflow.intake.case.accepted.v1", CaseAccepted, exchange=EVENTS, producer="intake",
    consumers=("review", "followup"),
    summary="A case was accepted (受理): its documents are complete or staff recorded why not; review starts.")


# -- partner agencies: the transfer command and intake's answers ----------------------------------


class ReferredPerson(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id_type = fields.String(load_default="resident_id", validate=validate.OneOf(ID_TYPES))
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    birth_date = fields.Date(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=PHONE)
    relationship = fields.String(load_default="victim", validate=validate.OneOf(RELATIONSHIPS))
    poverty_markers = fields.List(fields.String(validate=validate.OneOf(POVERTY_MARKERS)), load_default=list,
                                  validate=validate.Length(max=len(POVERTY_MARKERS)))
    urgent_medical_need = fields.Boolean(load_default=False)


class ReceivedDocument(BaseSchema):
    """A document that came with the referral; ``beneficiary`` is a position in ``beneficiaries``."""

    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))
    beneficiary = fields.Integer(load_default=None, allow_none=True, strict=True)
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class ReferralSubmit(BaseSchema):
    """A partner agency transfers a case (移送); the agency is the publishing broker user."""

    partner_reference = fields.String(required=True, validate=validate.Length(min=1, max=64))
    criminal_case_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    summary = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    urgent_medical = fields.Boolean(load_default=False)
    eligibility_situation = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(SITUATIONS))
    situation_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=500))
    victim_deceased = fields.Boolean(load_default=False)
    beneficiaries = fields.List(fields.Nested(ReferredPerson), required=True, validate=validate.Length(min=1, max=20))
    documents = fields.List(fields.Nested(ReceivedDocument), load_default=list, validate=validate.Length(max=100))


class ReferralAccepted(BaseSchema):
    """The transfer is registered as a case. Carries no personal data."""

    partner_reference = fields.String(required=True)
    case_number = fields.String(required=True)
    # True when this reference had already been registered: the same case, not a second one.
    already_received = fields.Boolean(required=True)
    received_at = fields.DateTime(required=True, format="iso")
    answered_at = fields.DateTime(required=True, format="iso")


class FieldProblem(BaseSchema):
    field = fields.String(required=True)  # dotted path into the submitted data
    code = fields.String(required=True)
    message = fields.String(required=True)  # the code in Chinese, for the agency's staff


class ReferralRejected(BaseSchema):
    """The transfer was not registered; ``errors`` say which fields and why, never their values."""

    partner_reference = fields.String(load_default=None, allow_none=True)
    reason = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldProblem), required=True)
    received_at = fields.DateTime(required=True, format="iso")
    answered_at = fields.DateTime(required=True, format="iso")


REFERRAL_SUBMIT = registry.register(
    "org.aidflow.partner.referral.submit.v1", ReferralSubmit, exchange=INBOUND, producer="partner",
    consumers=("intake",), answers_invalid=True,
    summary="A partner agency transfers a case to the procuratorate; answered with accepted or rejected.")
REFERRAL_ACCEPTED = registry.register(
    "org.aidflow.intake.referral.accepted.v1", ReferralAccepted, exchange=PARTNERS, producer="intake",
    summary="Intake's answer to a transfer: registered as a case (correlation_id = the agency's message id).")
REFERRAL_REJECTED = registry.register(
    "org.aidflow.intake.referral.rejected.v1", ReferralRejected, exchange=PARTNERS, producer="intake",
    summary="Intake's answer to a transfer: not registered, with the reason per field.")
