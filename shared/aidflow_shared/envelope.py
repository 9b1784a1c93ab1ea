"""The CloudEvents 1.0 envelope (structured mode) and its AMQP mapping.

The body is one JSON object with ``specversion``, ``id``, ``source``, ``type``, ``time``,
``subject``, ``datacontenttype`` and ``data``; the AMQP properties repeat ``id`` as
``message_id`` and ``type`` as ``type`` so brokers and tools can route and trace without
parsing the body. Parsing checks both agree: a message whose parts disagree is parked.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from marshmallow import EXCLUDE, ValidationError

from aidflow_shared.contracts import UnknownMessageType, registry as default_registry
from aidflow_shared.schema import flatten_errors, instance

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
# The largest valid message (a transfer with 20 people and 100 documents) is far below this;
# a larger body is refused before it is parsed.
MAX_BODY_BYTES = 1024 * 1024
# The inbox keeps message ids in a column of this width.
MAX_ID_LENGTH = 255


class MessageRejected(Exception):
    """A message that can never be handled as it is; it goes to the parking queue.

    ``reason`` is a stable code (used in the parking headers and in metric labels),
    ``detail`` a short human explanation without payload values.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Envelope:
    id: str
    source: str
    type: str
    time: datetime
    data: dict
    subject: str | None = None
    correlation_id: str | None = None  # AMQP property: the message that caused this one
    user_id: str | None = None  # AMQP property: the broker-validated publishing user
    routing_key: str | None = None  # as published (for partner commands: <agency>.<command>)
    extensions: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        body = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": format_time(self.time),
            "datacontenttype": DATA_CONTENT_TYPE,
            "data": self.data,
        }
        if self.subject is not None:
            body["subject"] = self.subject
        body.update(self.extensions)
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """What the message says, as a hex SHA-256: the inbox keeps it beside the message's id.

        It covers ``type``, ``source``, ``subject`` and ``data``, read as JSON values and written
        canonically (keys sorted at every level, no white space, UTF-8 without escapes), so the
        same message re-serialised (another key order, other white space, ``\\u`` escapes) has
        the same digest. It leaves out:

        - ``id``: the inbox's key; the digest tells apart two messages under one id;
        - ``time``: a sender that builds an honest resend again stamps it anew;
        - ``specversion`` and ``datacontenttype``: fixed, parsing refuses any other value;
        - extension attributes (tracing and the like): about the sending, not the message;
        - the AMQP properties (``correlation_id``, ``user_id``, the routing key): how it
          travelled; a copy published again may carry other ones (an operator's copy has no
          ``user_id``), and a partner's identity is checked on its own.

        ``source`` is in because CloudEvents makes ``source`` and ``id`` together the event's
        identity: one id from two sources is two messages. Numbers are compared as parsed, so
        ``1`` and ``1.0`` differ, as they do to the schemas. Changing what is covered changes every
        digest, and inbox rows written before would park honest redeliveries: such a change needs
        a new column, not a new definition of this one.
        """
        meaning = {"type": self.type, "source": self.source, "subject": self.subject, "data": self.data}
        try:
            canonical = json.dumps(meaning, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:  # parsed just under the limit, written from deeper in the stack
            raise MessageRejected("invalid-json", "body is nested too deep") from None
        # surrogatepass: a lone surrogate the parser let through still gives a digest, not an error.
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def new_event(type: str, data: dict, *, source: str, subject: str | None = None,
              correlation_id: str | None = None, registry=default_registry) -> Envelope:
    """Build an outgoing message, validating its payload against the registered schema.

    The payload is dumped through the schema first (so datetimes become RFC 3339 strings)
    and then validated: an invalid outgoing message is a programming error and never leaves.
    """
    message_type = registry.get(type)
    schema = instance(message_type.schema)
    payload = schema.dump(data)
    errors = schema.validate(payload)
    if errors:
        raise ValueError(f"outgoing {type} violates its schema: {errors}")
    return Envelope(
        id=str(uuid.uuid4()), source=source, type=type, time=datetime.now(timezone.utc),
        data=payload, subject=subject, correlation_id=correlation_id,
    )


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps on the wire are timezone-aware UTC")
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(body: bytes | str, *, content_type: str | None, message_id: str | None, type: str | None,
          correlation_id: str | None = None, user_id: str | None = None, routing_key: str | None = None,
          registry=default_registry) -> Envelope:
    """Turn an incoming AMQP message into a validated Envelope, or raise MessageRejected."""
    if content_type != CONTENT_TYPE:
        raise MessageRejected("wrong-content-type", f"content_type must be {CONTENT_TYPE}")
    if len(body) > MAX_BODY_BYTES:
        raise MessageRejected("too-large", f"body is over {MAX_BODY_BYTES} bytes")
    try:
        # UTF-8 only (RFC 8259); json.loads would guess UTF-16 and UTF-32 from the bytes.
        document = json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise MessageRejected("invalid-json", "body is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise MessageRejected("invalid-envelope", "body is not a JSON object")
    missing = [k for k in ("specversion", "id", "source", "type", "time", "data") if k not in document]
    if missing:
        raise MessageRejected("invalid-envelope", "missing " + ", ".join(missing))
    if document["specversion"] != SPECVERSION:
        raise MessageRejected("invalid-envelope", "specversion must be 1.0")
    if document.get("datacontenttype", DATA_CONTENT_TYPE) != DATA_CONTENT_TYPE:
        raise MessageRejected("invalid-envelope", "datacontenttype must be application/json")
    for key in ("id", "source", "type", "time"):
        if not isinstance(document[key], str) or not document[key]:
            raise MessageRejected("invalid-envelope", f"{key} must be a non-empty string")
    if len(document["id"]) > MAX_ID_LENGTH:
        raise MessageRejected("invalid-envelope", f"id is longer than {MAX_ID_LENGTH} characters")
    if not isinstance(document.get("subject", ""), str):
        raise MessageRejected("invalid-envelope", "subject must be a string")
    if message_id == "":  # a consumer always passes the property: "" when the message had none
        raise MessageRejected("invalid-envelope", "message_id property is missing")
    if message_id is not None and message_id != document["id"]:
        raise MessageRejected("invalid-envelope", "message_id property differs from id")
    if type is not None and type != document["type"]:
        raise MessageRejected("invalid-envelope", "type property differs from type")
    try:
        moment = datetime.fromisoformat(document["time"].replace("Z", "+00:00"))
    except ValueError:
        raise MessageRejected("invalid-envelope", "time is not RFC 3339") from None
    if moment.tzinfo is None:
        raise MessageRejected("invalid-envelope", "time has no offset")
    try:
        message_type = registry.get(document["type"])
    except UnknownMessageType:
        raise MessageRejected("unknown-type", "type or version not in the registry") from None
    if not isinstance(document["data"], dict):
        raise MessageRejected("schema-violation", "data must be an object")
    if not message_type.answers_invalid:
        try:
            # A tolerant reader: a field added to a published version (an additive, compatible
            # change) must not park messages at consumers deployed before it.
            instance(message_type.schema, unknown=EXCLUDE).load(document["data"])
        except ValidationError as exc:
            raise MessageRejected("schema-violation", describe_errors(exc.messages)) from None
    extensions = {k: v for k, v in document.items()
                  if k not in ("specversion", "id", "source", "type", "time", "datacontenttype", "data", "subject")}
    return Envelope(
        id=document["id"], source=document["source"], type=document["type"], time=moment,
        data=document["data"], subject=document.get("subject"), correlation_id=correlation_id,
        user_id=user_id, routing_key=routing_key, extensions=extensions,
    )



def describe_errors(messages) -> str:
    """Field paths and error codes only: the values may hold personal data."""
    return "; ".join(f"{path}: {'/'.join(map(str, codes))}" for path, codes in flatten_errors(messages).items())[:500]
