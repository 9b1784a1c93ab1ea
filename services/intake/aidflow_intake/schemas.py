"""What intake's API accepts and returns."""
from marshmallow import ValidationError, fields, validate, validates_schema

from aidflow_intake import identity
from aidflow_shared.auth import AGENCIES
from aidflow_shared.schema import BaseSchema

STAGES = ("arrest_review", "prosecution_review", "criminal_appeal", "other_procuratorial")
RELATIONSHIPS = ("victim", "spouse", "child", "parent", "sibling", "other_dependant", "informant", "witness", "expert")
REFERRAL_SOURCES = ("ex_officio", "partner_transfer", "application")
PHONE = validate.Regexp(r"^\+?[0-9\- ]{5,20}$", error="invalid_phone")


class PersonIn(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id_type = fields.String(load_default="resident_id", validate=validate.OneOf(identity.ID_TYPES))
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    birth_date = fields.Date(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=PHONE)
    relationship = fields.String(load_default="victim", validate=validate.OneOf(RELATIONSHIPS))

    @validates_schema
    def check_identity(self, data, **kwargs):
        if data.get("id_type") != "resident_id" or "id_number" not in data:
            return
        try:
            birth = identity.parse_resident_id(data["id_number"])
        except identity.InvalidIdNumber as exc:
            raise ValidationError(exc.code, field_name="id_number") from None
        if data.get("birth_date") and data["birth_date"] != birth:
            raise ValidationError("birth_date_mismatch", field_name="birth_date")
        data["birth_date"] = birth


class ReferralIn(BaseSchema):
    source = fields.String(required=True, validate=validate.OneOf(REFERRAL_SOURCES))
    source_agency = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(AGENCIES))
    stage = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(STAGES))
    criminal_case_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    urgent_medical = fields.Boolean(load_default=False)
    summary = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    beneficiaries = fields.List(fields.Nested(PersonIn), required=True, validate=validate.Length(min=1, max=20))

    @validates_schema
    def check_source(self, data, **kwargs):
        if data.get("source") == "ex_officio":
            errors = {k: ["required"] for k in ("stage", "criminal_case_ref") if not data.get(k)}
            if errors:
                raise ValidationError(errors)


class BeneficiaryOut(BaseSchema):
    beneficiary_id = fields.String(attribute="id")
    person_ref = fields.String(attribute="person_id")
    name = fields.String(attribute="person.name")
    id_type = fields.String(attribute="person.id_type")
    id_number_masked = fields.Function(lambda b: identity.mask(b.person.id_number))
    relationship = fields.String(attribute="relationship_to_victim")
    is_minor = fields.Boolean()


class HistoryOut(BaseSchema):
    status = fields.String()
    event_type = fields.String()
    note = fields.String()
    at = fields.DateTime(format="iso")


class CaseOut(BaseSchema):
    case_id = fields.String(attribute="id")
    case_number = fields.String()
    source = fields.String()
    source_agency = fields.String()
    stage = fields.String()
    criminal_case_ref = fields.String()
    track = fields.String()
    status = fields.String()
    opened_at = fields.DateTime(format="iso")
    updated_at = fields.DateTime(format="iso")
    beneficiaries = fields.List(fields.Nested(BeneficiaryOut))
    history = fields.List(fields.Nested(HistoryOut))


class CaseCreatedOut(CaseOut):
    warnings = fields.List(fields.Dict())


class CaseSummaryOut(CaseOut):
    class Meta:
        exclude = ("history",)


class CaseListOut(BaseSchema):
    items = fields.List(fields.Nested(CaseSummaryOut))
    total = fields.Integer()
