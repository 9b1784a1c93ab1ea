"""Messages intake publishes, and the commands partners send to it."""
from marshmallow import fields, validate

from aidflow_shared.contracts import EVENTS, registry
from aidflow_shared.contracts.common import SOURCES, TRACKS
from aidflow_shared.schema import BaseSchema


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


CASE_OPENED = registry.register(
    "org.aidflow.intake.case.opened.v1", CaseOpened, exchange=EVENTS, producer="intake",
    consumers=("review",), summary="A referral became a case with one or more beneficiaries.")
