"""The base of every request and payload schema: errors come out as stable codes.

marshmallow reports problems as English sentences. Clients need something they can branch on,
and people need their own language, so :class:`BaseSchema` makes every field, validator and
schema-level error a code from :mod:`aidflow_shared.i18n` (``required``, ``invalid``,
``one_of`` ...). The HTTP layer turns codes into localized messages at the edge.

Custom validators follow the same rule: ``raise ValidationError("invalid_id_number")``.
"""
from __future__ import annotations

import copy
import functools
from typing import Any, Iterator

from marshmallow import RAISE, Schema, fields, validate
from marshmallow.exceptions import SCHEMA

# marshmallow's message keys, field by field, mapped to our codes. Every key not listed here
# ("too_large", "invalid_uuid", "special", "invalid_ip" ...) says the value is unusable: "invalid".
_KEY_CODES = {
    "required": "required",
    "null": "null",
    "validator_failed": "validator_failed",
    "type": "invalid_type",  # Nested given something that is not an object
    "unknown": "one_of",  # Enum given a name or value outside the enum
}
# Date, time and datetime fields: any unusable value is a bad date.
_TEMPORAL_FIELDS = (fields.DateTime, fields.Date, fields.Time)

_VALIDATOR_CODES: tuple[tuple[type[validate.Validator], str], ...] = (
    (validate.OneOf, "one_of"),  # ContainsOnly too
    (validate.Length, "length"),
    (validate.Range, "range"),
    (validate.Regexp, "invalid"),
    (validate.Email, "invalid"),
    (validate.URL, "invalid"),
    (validate.Equal, "invalid"),
    (validate.NoneOf, "invalid"),  # ContainsNoneOf too
    (validate.Predicate, "invalid"),
)


class BaseSchema(Schema):
    """A marshmallow schema whose errors are codes and which refuses unknown fields.

    A message the schema author set on a field (``error_messages=``) or a validator
    (``error=``) is kept as written: it is expected to be a code already. Nested schemas must
    derive from this class too, or their errors stay English sentences.
    """

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "unknown_field", "type": "invalid_type"}

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        super().on_bind_field(field_name, field_obj)
        _use_codes(field_obj)


@functools.cache
def instance(schema_class: type[Schema], **options) -> Schema:
    """The one shared instance of ``schema_class`` with these options (``many=True``,
    ``unknown=EXCLUDE``), built on first use.

    Building a schema binds and copies every field (and, for ours, rewrites their error
    messages as codes): more work than loading or dumping a typical payload with it. An instance
    keeps nothing between calls, so one serves every request and message, on any thread.
    """
    return schema_class(**options)


def flatten_errors(messages: Any) -> dict[str, list[str]]:
    """marshmallow's nested error dict as dotted paths: ``{"beneficiaries.0.id_number": [...]}``.

    Schema-level errors (marshmallow's ``_schema`` key) belong to the object they were raised
    on, so they are reported at that object's path, or under ``_schema`` for the whole body.
    """
    flat: dict[str, list[str]] = {}
    _flatten(messages, (), flat)
    return flat


def _flatten(messages: Any, path: tuple[str, ...], flat: dict[str, list[str]]) -> None:
    if isinstance(messages, dict):
        for key, value in messages.items():
            _flatten(value, path if key == SCHEMA else (*path, str(key)), flat)
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            _flatten(item, path, flat)
    else:
        flat.setdefault(".".join(path) or SCHEMA, []).append(str(messages))


def _use_codes(field: fields.Field) -> None:
    """Replace the field's default messages and its validators' messages by codes.

    Fields are shallow copies of the declared ones, so the dict and list are replaced, never
    changed in place: the class-level declaration stays untouched.
    """
    defaults = _default_messages(type(field))
    temporal = isinstance(field, _TEMPORAL_FIELDS)
    field.error_messages = {
        key: _field_code(key, temporal) if text == defaults.get(key) else text
        for key, text in field.error_messages.items()
    }
    field.validators = [_coded_validator(validator) for validator in field.validators]
    for inner in _inner_fields(field):
        _use_codes(inner)


def _default_messages(field_class: type[fields.Field]) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for cls in reversed(field_class.__mro__):
        messages.update(getattr(cls, "default_error_messages", {}))
    return messages


def _field_code(key: str, temporal: bool) -> str:
    code = _KEY_CODES.get(key, "invalid")
    return "invalid_date" if temporal and code == "invalid" else code


def _coded_validator(validator: Any) -> Any:
    if isinstance(validator, validate.And):
        return validate.And(*(_coded_validator(inner) for inner in validator.validators))
    for kind, code in _VALIDATOR_CODES:
        if isinstance(validator, kind):
            if validator.error not in (None, getattr(type(validator), "default_message", None)):
                return validator
            coded = copy.copy(validator)
            coded.error = code
            return coded
    return validator


def _inner_fields(field: fields.Field) -> Iterator[fields.Field]:
    """The fields a container field delegates its items to (its own copies, bound to it)."""
    if isinstance(field, fields.List):
        yield field.inner
    elif isinstance(field, fields.Tuple):
        yield from field.tuple_fields
    elif isinstance(field, fields.Mapping):
        yield from (inner for inner in (field.key_field, field.value_field) if inner is not None)
