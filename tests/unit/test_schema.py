"""BaseSchema reports every problem as a stable code, at a dotted path."""
import enum

import pytest
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from aidflow_shared.i18n import message
from aidflow_shared.schema import BaseSchema, flatten_errors


class Track(enum.Enum):
    standard = "standard"
    urgent_medical = "urgent_medical"


def id_number(value: str) -> None:
    """A stand-in for the real check: 18 characters, the last may be X."""
    if len(value) != 18 or not value[:17].isdigit():
        raise ValidationError("invalid_id_number")


def even(value: int) -> None:
    if value % 2:
        raise ValidationError("not_even")


class BeneficiarySchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    id_number = fields.String(required=True, validate=id_number)
    born_on = fields.Date()


class PeriodSchema(BaseSchema):
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)

    @validates_schema
    def ends_after_start(self, data, **kwargs):
        if data["ends_on"] < data["starts_on"]:
            raise ValidationError("invalid_date")


class ReferralSchema(BaseSchema):
    source = fields.String(required=True, validate=validate.OneOf(["ex_officio", "partner", "media"]))
    track = fields.Enum(Track, by_value=True)
    # strict: without it marshmallow turns 1.5 into 1, and a fen amount must never be rounded
    amount_fen = fields.Integer(strict=True, validate=validate.Range(min=0, max=27578400))
    received_at = fields.AwareDateTime()
    note = fields.String(allow_none=False)
    email = fields.Email()
    postcode = fields.String(validate=validate.Regexp(r"^\d{6}$"))
    both = fields.Integer(validate=validate.And(validate.Range(min=10), even))
    tags = fields.List(fields.String(validate=validate.Length(max=8)))
    agencies = fields.List(fields.String(), validate=validate.ContainsOnly(["civil-affairs", "legal-aid"]))
    beneficiaries = fields.List(fields.Nested(BeneficiarySchema), validate=validate.Length(min=1))
    period = fields.Nested(PeriodSchema)
    amounts = fields.Dict(keys=fields.String(validate=validate.Length(max=4)), values=fields.Integer())
    window = fields.Tuple((fields.Date(), fields.Date()))


VALID = {
    "source": "partner",
    "track": "urgent_medical",
    "amount_fen": 500000,
    "beneficiaries": [{"name": "张三", "id_number": "11010119900307123X", "born_on": "1990-03-07"}],
    "period": {"starts_on": "2025-09-01", "ends_on": "2025-09-30"},
}


def errors_of(data, schema=None):
    with pytest.raises(ValidationError) as caught:
        (schema or ReferralSchema()).load(data)
    return flatten_errors(caught.value.messages)


def test_valid_data_loads():
    loaded = ReferralSchema().load(VALID)
    assert loaded["track"] is Track.urgent_medical
    assert loaded["beneficiaries"][0]["name"] == "张三"


@pytest.mark.parametrize(
    "change, path, code",
    [
        ({"source": None}, "source", "null"),
        ({"note": None}, "note", "null"),
        ({"amount_fen": "lots"}, "amount_fen", "invalid"),
        ({"amount_fen": 1.5}, "amount_fen", "invalid"),
        ({"amount_fen": "100"}, "amount_fen", "invalid"),
        ({"amount_fen": -1}, "amount_fen", "range"),
        ({"source": "rumour"}, "source", "one_of"),
        ({"track": "slow"}, "track", "one_of"),
        ({"note": 42}, "note", "invalid"),
        ({"email": "nobody"}, "email", "invalid"),
        ({"postcode": "12"}, "postcode", "invalid"),
        ({"received_at": "yesterday"}, "received_at", "invalid_date"),
        ({"received_at": "2025-09-28T10:00:00"}, "received_at", "invalid_date"),  # no offset
        ({"tags": "urgent"}, "tags", "invalid"),
        ({"tags": ["ok", "far-too-long"]}, "tags.1", "length"),
        ({"agencies": ["civil-affairs", "bank"]}, "agencies", "one_of"),
        ({"beneficiaries": []}, "beneficiaries", "length"),
        ({"period": "September"}, "period", "invalid_type"),
        ({"amounts": {"medical": 100}}, "amounts.medical.key", "length"),
        ({"amounts": {"fee": "x"}}, "amounts.fee.value", "invalid"),
        ({"window": ["2025-01-01", "soon"]}, "window.1", "invalid_date"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_each_kind_of_error_has_its_code(change, path, code):
    assert errors_of({**VALID, **change}) == {path: [code]}


def test_a_missing_field_is_required():
    assert errors_of({}) == {"source": ["required"]}


def test_errors_in_nested_lists_have_dotted_paths():
    beneficiaries = [
        VALID["beneficiaries"][0],
        {"name": "", "id_number": "123", "born_on": "1990-02-30", "phone": "x"},
    ]
    assert errors_of({**VALID, "beneficiaries": beneficiaries}) == {
        "beneficiaries.1.name": ["length"],
        "beneficiaries.1.id_number": ["invalid_id_number"],
        "beneficiaries.1.born_on": ["invalid_date"],
        "beneficiaries.1.phone": ["unknown_field"],
    }


def test_a_missing_nested_field_is_required_at_its_path():
    assert errors_of({**VALID, "beneficiaries": [{"name": "李四"}]}) == {
        "beneficiaries.0.id_number": ["required"]
    }


def test_composed_validators_report_every_code():
    assert errors_of({**VALID, "both": 3}) == {"both": ["range", "not_even"]}


def test_schema_level_errors_belong_to_their_object():
    period = {"starts_on": "2025-09-30", "ends_on": "2025-09-01"}
    assert errors_of({**VALID, "period": period}) == {"period": ["invalid_date"]}
    assert errors_of(period, PeriodSchema()) == {"_schema": ["invalid_date"]}


def test_a_body_that_is_not_an_object_is_an_invalid_type():
    assert errors_of(["not", "an", "object"]) == {"_schema": ["invalid_type"]}


def test_messages_set_by_the_author_are_kept():
    class Custom(BaseSchema):
        name = fields.String(required=True, error_messages={"required": "name_missing"})
        track = fields.String(validate=validate.OneOf(["a"], error="bad_track"))

    assert errors_of({"track": "b"}, Custom()) == {"name": ["name_missing"], "track": ["bad_track"]}


def test_the_declared_fields_and_plain_schemas_are_left_alone():
    shared_range = validate.Range(min=0)

    class Coded(BaseSchema):
        amount = fields.Integer(validate=shared_range)

    class Plain(Schema):
        amount = fields.Integer(validate=shared_range)

    assert errors_of({"amount": -1}, Coded()) == {"amount": ["range"]}
    with pytest.raises(ValidationError) as caught:
        Plain().load({"amount": -1})
    assert caught.value.messages == {"amount": ["Must be greater than or equal to 0."]}
    assert Coded._declared_fields["amount"].error_messages["invalid"] == "Not a valid integer."


def test_every_code_the_schema_produces_has_a_message():
    codes = {
        code
        for data in ({}, {**VALID, "amount_fen": "x", "period": 1, "colour": 1, "received_at": "x"})
        for codes in errors_of(data).values()
        for code in codes
    }
    assert codes == {"required", "invalid", "invalid_type", "unknown_field", "invalid_date"}
    assert all(message(code, "en") != code for code in codes)


@pytest.mark.parametrize(
    "messages, flat",
    [
        ({}, {}),
        ({"name": ["required"]}, {"name": ["required"]}),
        ({"name": "required"}, {"name": ["required"]}),
        ({"_schema": ["invalid_type"]}, {"_schema": ["invalid_type"]}),
        (
            {0: {"name": ["required"]}, 2: {"age": ["invalid"]}},
            {"0.name": ["required"], "2.age": ["invalid"]},
        ),
        (
            {"people": {0: {"_schema": ["invalid_date"], "id_number": ["invalid_id_number"]}}},
            {"people.0": ["invalid_date"], "people.0.id_number": ["invalid_id_number"]},
        ),
        ({"a": {"b": {"c": ["x", "y"]}}}, {"a.b.c": ["x", "y"]}),
        ({"a": ["x", {"b": ["y"]}]}, {"a": ["x"], "a.b": ["y"]}),
        (["x"], {"_schema": ["x"]}),
    ],
)
def test_flatten_errors(messages, flat):
    assert flatten_errors(messages) == flat
