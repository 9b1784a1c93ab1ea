"""The wire format, without a broker: CloudEvents 1.0 in structured mode over AMQP 0-9-1.

A command an agency sends is one JSON object (``specversion``, ``id``, ``source``, ``type``,
``time``, ``datacontenttype``, ``data`` and, where there is one, ``subject``) published to
``aidflow.inbound`` with routing key ``<agency>.<command>.v<N>`` and these AMQP properties:
``content_type`` ``application/cloudevents+json``, ``message_id`` = ``id``, ``type`` = ``type``,
``delivery_mode`` 2 (persistent), ``user_id`` = the agency's broker user (the broker refuses any
other) and ``correlation_id`` = the message this one answers, if any.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

INBOUND = "aidflow.inbound"
PARTNERS = "aidflow.partners"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
SPECVERSION = "1.0"
TYPE_PREFIX = "org.aidflow."
AGENCY_CODE = re.compile(r"^[a-z][a-z0-9-]*$")

#: Commands an agency sends, by the name used in routing keys, and their CloudEvents type.
COMMANDS = {
    "referral.submit": "org.aidflow.partner.referral.submit.v1",
    "handoff.accepted": "org.aidflow.partner.handoff.accepted.v1",
    "handoff.in-service": "org.aidflow.partner.handoff.in-service.v1",
    "handoff.completed": "org.aidflow.partner.handoff.completed.v1",
    "handoff.declined": "org.aidflow.partner.handoff.declined.v1",
}
ANSWER_STATUSES = ("accepted", "in-service", "completed", "declined")


class BadMessage(ValueError):
    """A message on the agency's queue that is not a CloudEvent of aidflow's."""


def check_agency(agency: str) -> str:
    if not isinstance(agency, str) or not AGENCY_CODE.match(agency):
        raise ValueError(f"agency code must match [a-z][a-z0-9-]*, got {agency!r}")
    return agency


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps on the wire are timezone-aware (UTC)")
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Outgoing:
    """A command ready to publish: where it goes, its body and its AMQP properties."""

    message_id: str
    type: str
    routing_key: str
    body: bytes
    properties: dict  # content_type, message_id, type, delivery_mode, user_id, correlation_id

    @property
    def exchange(self) -> str:
        return INBOUND


def build_command(agency: str, user: str, command: str, data: dict, *, message_id: str | None = None,
                  subject: str | None = None, correlation_id: str | None = None,
                  now: datetime | None = None) -> Outgoing:
    """The envelope and properties of one command from ``agency`` published as broker ``user``."""
    check_agency(agency)
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; one of {', '.join(COMMANDS)}")
    if not isinstance(data, dict):
        raise ValueError("data must be a JSON object")
    type_ = COMMANDS[command]
    message_id = message_id or str(uuid.uuid4())
    document = {
        "specversion": SPECVERSION,
        "id": message_id,
        "source": f"/partners/{agency}",
        "type": type_,
        "time": format_time(now or datetime.now(timezone.utc)),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": data,
    }
    if subject is not None:
        document["subject"] = subject
    properties = {"content_type": CONTENT_TYPE, "message_id": message_id, "type": type_, "delivery_mode": 2,
                  "user_id": user}
    if correlation_id is not None:
        properties["correlation_id"] = correlation_id
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Outgoing(message_id, type_, f"{agency}.{command}.{_version(type_)}", body, properties)


def _version(type_: str) -> str:
    return type_.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Incoming:
    """A message the system sent to the agency, read from its queue.

    ``kind`` is the event without service and version, e.g. ``handoff.requested`` or
    ``referral.accepted``; ``correlation_id`` is the id of the agency's command it answers.
    """

    message_id: str
    type: str
    kind: str
    routing_key: str
    time: str
    data: dict
    subject: str | None = None
    correlation_id: str | None = None
    redelivered: bool = False
    document: dict = field(default_factory=dict, repr=False)


def parse_incoming(routing_key: str, content_type: str | None, message_id: str | None, type_: str | None,
                   correlation_id: str | None, body: bytes, *, redelivered: bool = False) -> Incoming:
    if content_type != CONTENT_TYPE:
        raise BadMessage(f"content_type {content_type!r}, expected {CONTENT_TYPE}")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise BadMessage("body is not a CloudEvent with an object in data")
    event_type = document.get("type")
    if not isinstance(event_type, str) or not event_type.startswith(TYPE_PREFIX):
        raise BadMessage(f"type {event_type!r} is not an aidflow type")
    if message_id is not None and message_id != document.get("id"):
        raise BadMessage("message_id property differs from id")
    if type_ is not None and type_ != event_type:
        raise BadMessage("type property differs from type")
    words = event_type[len(TYPE_PREFIX):].split(".")  # followup.handoff.requested.v1
    return Incoming(message_id=document.get("id"), type=event_type, kind=".".join(words[-3:-1]),
                    routing_key=routing_key, time=document.get("time"), data=document["data"],
                    subject=document.get("subject"), correlation_id=correlation_id, redelivered=redelivered,
                    document=document)
