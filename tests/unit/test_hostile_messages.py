"""Hostile input on the bus contract: every registered message schema, and the envelope parser.

Payloads are generated from each schema's own fields and validators, so a type added to the
registry is covered without a line here. The properties:

- a generated valid payload loads, and dumping and loading it again changes nothing;
- arbitrary JSON, and a valid payload with one value replaced, removed or added, is either
  loaded or refused with marshmallow's ``ValidationError``: never ``TypeError``, ``KeyError`` ...;
- money is integer fen: floats, booleans, strings and integers past 2**53 - 1 are refused;
- the envelope parser, given any bytes and any properties, returns an envelope or raises
  ``MessageRejected``, nothing else.

``AIDFLOW_HOSTILE_EXAMPLES`` raises the number of examples per property for a deep run.
"""
from __future__ import annotations

import json
import os
import uuid
from datetime import timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import EXCLUDE, ValidationError, fields, validate

from aidflow_shared.contracts import registry
from aidflow_shared.contracts.common import MAX_FEN
from aidflow_shared.envelope import CONTENT_TYPE, MessageRejected, new_event, parse

EXAMPLES = int(os.environ.get("AIDFLOW_HOSTILE_EXAMPLES", "10"))
hostile = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TYPES = sorted(registry.types)

# -- valid payloads, read off the schema -------------------------------------------------------------


def payloads(schema) -> st.SearchStrategy[dict]:
    """Python values (datetimes, dates ...) that ``schema`` dumps into a valid payload."""
    required, optional = {}, {}
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        key = field.data_key or name
        (required if field.required else optional)[key] = values(field)
    return st.fixed_dictionaries(required, optional=optional)


def values(field: fields.Field) -> st.SearchStrategy:
    strategy = _non_null(field)
    return st.one_of(st.none(), strategy) if field.allow_none else strategy


def _non_null(field: fields.Field) -> st.SearchStrategy:
    checks = {type(v): v for v in field.validators}
    one_of, length, rng, regexp = (checks.get(validate.OneOf), checks.get(validate.Length),
                                   checks.get(validate.Range), checks.get(validate.Regexp))
    if validate.Equal in checks:
        return st.just(checks[validate.Equal].comparable)
    if one_of is not None:
        return st.sampled_from(list(one_of.choices))
    if isinstance(field, fields.Nested):
        return payloads(field.schema)
    if isinstance(field, fields.List):
        low = length.min if length and length.min is not None else 0
        high = length.max if length and length.max is not None else 4
        return st.lists(values(field.inner), min_size=low, max_size=min(high, low + 4))
    if isinstance(field, fields.Boolean):
        return st.booleans()
    if isinstance(field, fields.Integer):
        low = rng.min if rng and rng.min is not None else -(2**63)
        high = rng.max if rng and rng.max is not None else 2**63
        return st.integers(low, high)
    if isinstance(field, fields.DateTime):
        return st.datetimes(timezones=st.just(timezone.utc))
    if isinstance(field, fields.Date):
        return st.dates()
    if isinstance(field, fields.String):
        if regexp is not None:
            return st.from_regex(regexp.regex, fullmatch=True)
        low = length.min if length and length.min is not None else 0
        high = length.max if length and length.max is not None else 80
        return st.text(min_size=low, max_size=min(high, 80))
    raise AssertionError(f"no strategy for {type(field).__name__}: add one")


def valid(type_: str) -> st.SearchStrategy[dict]:
    """A valid payload of ``type_`` as it travels: JSON-ready, through the schema's dump."""
    schema = registry.get(type_).schema()
    return payloads(schema).map(lambda data: json.loads(json.dumps(schema.dump(data))))


# -- arbitrary and mutated payloads ------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**53, max_value=2**200),
                    st.floats(allow_nan=True), st.text(max_size=30), st.sampled_from(["", "1", "true", "null"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)
json_objects = st.dictionaries(st.text(max_size=20), json_values, max_size=8)


def paths(value, prefix=()):
    """Every (path, value) inside a JSON document."""
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


@st.composite
def mutated(draw, type_: str):
    """A valid payload with one thing wrong: a value replaced or removed, or a key added."""
    payload = draw(valid(type_))
    places = list(paths(payload))
    path, _ = draw(st.sampled_from(places))
    action = draw(st.sampled_from(["replace", "remove", "add"] if path else ["add"]))
    if not path:
        payload[draw(st.text(max_size=12))] = draw(json_values)
        return payload
    *parent_path, last = path
    parent = payload
    for step in parent_path:
        parent = parent[step]
    if action == "replace":
        parent[last] = draw(json_values)
    elif action == "remove":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=12))] = draw(json_values)
    else:
        parent.append(draw(json_values))
    return payload


def loads_or_refuses(type_: str, payload) -> None:
    """The only outcomes allowed: loaded, or a ValidationError."""
    for unknown in (None, EXCLUDE):  # strict (the producer's check) and tolerant (a consumer's)
        schema = registry.get(type_).schema(**({"unknown": unknown} if unknown else {}))
        try:
            schema.load(payload)
        except ValidationError:
            pass


def contains(whole, part) -> bool:
    """``part`` is ``whole`` but for keys ``whole`` has in addition (defaults loaded in)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and contains(whole[k], v) for k, v in part.items())
    if isinstance(part, list):
        return isinstance(whole, list) and len(whole) == len(part) and all(map(contains, whole, part))
    return whole == part and type(whole) is type(part)


# -- the properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", TYPES)
@hostile
@given(data=st.data())
def test_valid_payloads_load_and_round_trip(type_, data):
    payload = data.draw(valid(type_))
    schema = registry.get(type_).schema()
    loaded = schema.load(payload)
    again = json.loads(json.dumps(schema.dump(loaded)))
    assert contains(again, payload)  # what was sent comes back unchanged, defaults filled in
    assert schema.load(again) == loaded
    assert json.loads(json.dumps(schema.dump(schema.load(again)))) == again
    event = new_event(type_, loaded, source="/hostile")
    parsed = parse(event.to_json().encode(), content_type=CONTENT_TYPE, message_id=event.id, type=type_)
    assert parsed.data == again


@settings(hostile, max_examples=EXAMPLES * 5)
@given(type_=st.sampled_from(TYPES), payload=json_objects)
def test_arbitrary_json_is_loaded_or_refused(type_, payload):
    loads_or_refuses(type_, payload)


@pytest.mark.parametrize("type_", TYPES)
@hostile
@given(data=st.data())
def test_mutated_payloads_are_loaded_or_refused(type_, data):
    loads_or_refuses(type_, data.draw(mutated(type_)))


def money_fields(schema, prefix=()):
    """Paths of every fen amount in ``schema``, nested ones through a single object or list item."""
    for name, field in schema.fields.items():
        key = field.data_key or name
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Integer) and key.endswith("_fen"):
            yield (*prefix, key), field
        elif isinstance(inner, fields.Nested):
            yield from money_fields(inner.schema, (*prefix, key, 0) if inner is not field else (*prefix, key))


MONEY = [(t, path) for t in TYPES for path, _ in money_fields(registry.get(t).schema())]
NOT_FEN = st.one_of(st.floats(), st.booleans(), st.integers(min_value=MAX_FEN + 1),
                    st.integers(max_value=-1), st.text(max_size=20).filter(lambda s: s.strip() != ""),
                    st.just("100"), st.just(100.0), st.just(1e3), st.just("1e3"), st.lists(st.integers(0, 9), max_size=2))


def test_every_money_field_is_found():
    assert {t for t, _ in MONEY} >= {"org.aidflow.payout.disbursed.v1", "org.aidflow.review.decision.recorded.v1"}


@pytest.mark.parametrize("type_, path", MONEY, ids=[f"{t.split('.', 2)[2]}:{'.'.join(map(str, p))}" for t, p in MONEY])
@hostile
@given(data=st.data(), amount=NOT_FEN)
def test_money_is_integer_fen(type_, path, data, amount):
    payload = data.draw(valid(type_))
    target = payload
    for step in path[:-1]:
        if target is None or isinstance(target, list) and not target or isinstance(target, dict) and step not in target:
            return  # an optional part left out, or an empty list: nothing to put money in
        target = target[step]
    if target is None:
        return
    target[path[-1]] = amount
    with pytest.raises(ValidationError) as refused:
        registry.get(type_).schema().load(payload)
    assert path[0] in refused.value.messages


@pytest.mark.parametrize("amount", [0, 1, MAX_FEN])
def test_money_at_the_bounds_is_kept_exactly(amount):
    schema = registry.get("org.aidflow.payout.disbursed.v1").schema()
    payload = {"payout_id": "p", "decision_id": "d", "case_id": "c", "beneficiary_id": "b", "amount_fen": amount,
               "fund_id": "f", "method": "cash", "disbursed_at": "2026-11-29T08:00:00+00:00"}
    assert schema.load(payload)["amount_fen"] == amount and type(schema.load(payload)["amount_fen"]) is int


# -- the envelope parser -----------------------------------------------------------------------------

PROPERTY_VALUES = st.one_of(st.none(), st.text(max_size=40), st.just(CONTENT_TYPE), st.sampled_from(TYPES))


def parse_or_reject(body, **props) -> None:
    try:
        parse(body, **props)
    except MessageRejected as rejected:
        assert rejected.reason and isinstance(rejected.detail, str)


@settings(hostile, max_examples=EXAMPLES * 10)
@given(body=st.binary(max_size=400), content_type=PROPERTY_VALUES, message_id=PROPERTY_VALUES,
       type_=PROPERTY_VALUES, user_id=PROPERTY_VALUES, routing_key=PROPERTY_VALUES)
def test_any_bytes_and_properties_are_parsed_or_rejected(body, content_type, message_id, type_, user_id, routing_key):
    parse_or_reject(body, content_type=content_type, message_id=message_id, type=type_, correlation_id=None,
                    user_id=user_id, routing_key=routing_key)


@st.composite
def envelopes(draw):
    """A CloudEvents document built from plausible and implausible parts."""
    type_ = draw(st.sampled_from(TYPES))
    document = {"specversion": draw(st.sampled_from(["1.0", "0.3", 1.0, None])),
                "id": draw(st.one_of(st.uuids().map(str), json_values)),
                "source": draw(st.one_of(st.just("/partner"), json_values)),
                "type": draw(st.one_of(st.just(type_), json_values)),
                "time": draw(st.one_of(st.just("2026-11-29T08:00:00Z"), st.text(max_size=30), json_values)),
                "datacontenttype": draw(st.sampled_from(["application/json", "text/plain", None, 5])),
                "subject": draw(json_values),
                "data": draw(st.one_of(valid(type_), mutated(type_), json_values))}
    for key in draw(st.lists(st.sampled_from(sorted(document)), max_size=3)):
        document.pop(key, None)
    return document


@settings(hostile, max_examples=EXAMPLES * 4)
@given(document=envelopes(), same_id=st.booleans())
def test_any_envelope_is_parsed_or_rejected(document, same_id):
    body = json.dumps(document).encode()
    message_id = document.get("id") if same_id and isinstance(document.get("id"), str) else str(uuid.uuid4())
    parse_or_reject(body, content_type=CONTENT_TYPE, message_id=message_id, type=None)


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than the JSON reader's recursion
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"1" * 10_000,  # an integer with more digits than Python converts
    "\udcff".encode("utf-8", "surrogatepass"),
    b"\xef\xbb\xbf{}",  # a byte-order mark
    b"\x00" * 64,
])
def test_pathological_bodies_are_rejected_with_a_reason(body):
    with pytest.raises(MessageRejected) as rejected:
        parse(body, content_type=CONTENT_TYPE, message_id=None, type=None)
    assert rejected.value.reason in ("invalid-json", "invalid-envelope", "too-large")


def test_an_oversize_body_is_rejected_before_it_is_read():
    body = json.dumps({"padding": "x" * (2 * 1024 * 1024)}).encode()
    with pytest.raises(MessageRejected) as rejected:
        parse(body, content_type=CONTENT_TYPE, message_id=None, type=None)
    assert rejected.value.reason == "too-large"


@pytest.mark.parametrize("change", [{"id": "x" * 300}, {"subject": {"case": 1}}, {"subject": 5}])
def test_an_overlong_id_or_a_subject_that_is_no_string_is_rejected(change):
    document = {"specversion": "1.0", "id": "x" * 300, "source": "/partner", "type": TYPES[0],
                "time": "2026-11-29T08:00:00Z", "data": {}, **change}
    with pytest.raises(MessageRejected) as rejected:
        parse(json.dumps(document).encode(), content_type=CONTENT_TYPE, message_id=None, type=None)
    assert rejected.value.reason == "invalid-envelope"
