"""The published message contract: an AsyncAPI 3.0 document generated from the registry.

Everything in it comes from :mod:`aidflow_shared.contracts`, the registry the services validate
with, so the document cannot say anything the services do not do:

- one server, the RabbitMQ broker (AMQP 0-9-1), whose users log in with a user name and password;
- one channel per exchange and routing key, with its AMQP binding (a durable topic exchange);
  partner routing keys start with the agency's code, the ``{agency}`` parameter;
- one message per registered type: the CloudEvents 1.0 envelope in structured mode
  (``application/cloudevents+json``) whose ``data`` is the type's marshmallow schema turned into
  JSON Schema by apispec's marshmallow plugin, the converter the services' OpenAPI documents use;
  its ``headers`` are the AMQP properties every message carries;
- operations from the system's point of view: it *sends* what a service publishes and
  *receives* what partner agencies publish on ``aidflow.inbound`` and what its services
  consume from ``aidflow.events``.

Write it with ``python -m aidflow_shared.asyncapi --output docs/contract/asyncapi.yaml``.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from aidflow_shared.auth import AGENCIES
from aidflow_shared.contracts import EVENTS, INBOUND, PARTNERS, MessageType, Registry, registry as default_registry
from aidflow_shared.envelope import CONTENT_TYPE, DATA_CONTENT_TYPE, SPECVERSION

ASYNCAPI_VERSION = "3.0.0"
# The version of the document as a whole; each message type carries its own in its name.
CONTRACT_VERSION = "1.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SERVER = "broker"
SECURITY_SCHEME = "brokerUser"
ENVELOPE_SCHEMA = "CloudEvent"
AGENCY_PARAMETER = "agency"
DELIVERY_MODE_PERSISTENT = 2
SCHEMA_REF = "#/components/schemas/"

IDENTITY_RULE = (
    "A partner agency is identified by its broker user, never by what the message says. Every "
    "message it publishes on `aidflow.inbound` sets the AMQP property `user_id` to the user it "
    "logged in with; RabbitMQ refuses a `user_id` that differs from the login, and the consuming "
    "service acts only for the active agency registered with that broker user. A message without "
    "`user_id`, or from a user that is no active agency, is parked as `unauthorized-publisher`. "
    "The agency code that starts the routing key must be that same agency's, or the command is "
    "answered as refused, with the routing key named as the field at fault."
)

_EXCHANGES = {
    EVENTS: "Domain events between the services of the procuratorate.",
    INBOUND: "Commands and answers that partner agencies publish to the system.",
    PARTNERS: "What the system sends to partner agencies; each agency reads its own durable queue "
              "`aidflow.partner.{agency}`, bound with `{agency}.#`.",
}

_DESCRIPTION = "\n\n".join([
    f"Every message that travels on the aidflow broker: the domain events between the services (`{EVENTS}`), "
    f"the commands partner agencies send (`{INBOUND}`) and what the system sends to them (`{PARTNERS}`). "
    "Generated from the message registry the services validate with.",
    f"**Envelope.** Each message body is a CloudEvents {SPECVERSION} event in structured mode (content type "
    f"`{CONTENT_TYPE}`); its `data` is the payload described per message. The AMQP properties repeat the "
    "event's `id` as `message_id` and its `type` as `type`; a message whose properties and body disagree is "
    "parked. Messages are persistent (`delivery_mode` 2) and published `mandatory`. An answer carries the id "
    "of the message it answers as `correlation_id`.",
    "**Message ids.** An `id` names one message. Sent again under its `id` (a retry), a message is a "
    "duplicate and has no second effect, provided its `type`, `source`, `subject` and `data` are the same "
    "(JSON values, whatever the key order or white space; `time` and extension attributes may differ). "
    "Another message under an `id` the consumer already handled is not dropped: it is parked as `id-reused`, "
    "with no effect and no answer. Send a new message under a new `id`.",
    f"**Identity.** {IDENTITY_RULE}",
    "**Versions.** A type ends in its version (`.v1`). A change that would break a published version is a new "
    "version registered beside the old one; the old one is marked deprecated with a sunset date and keeps "
    "flowing until then. Adding an optional field is not a new version: readers ignore fields they do not know.",
    "**Money** is integer fen. Payloads carry identifiers, never names, ID numbers or phone numbers, except the "
    "partners' transfer command, which is how a person's data reaches intake.",
]) + "\n"


def build_asyncapi(registry: Registry = default_registry) -> dict[str, Any]:
    """The AsyncAPI document of every registered message type."""
    types = sorted(registry, key=lambda t: (t.exchange, t.type))
    schema_names, schemas = payload_schemas(registry)
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:org:aidflow:messages",
        "info": {
            "title": "aidflow messages",
            "version": CONTRACT_VERSION,
            "description": _DESCRIPTION,
            "tags": [{"name": exchange, "description": text} for exchange, text in _EXCHANGES.items()],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {SERVER: _server()},
        "channels": {},
        "operations": {},
        "components": {
            "schemas": {ENVELOPE_SCHEMA: _envelope_schema(), **schemas},
            "messages": {},
            "parameters": {AGENCY_PARAMETER: _agency_parameter()},
            "securitySchemes": {SECURITY_SCHEME: {
                "type": "userPassword",
                "description": "The broker user and password an operator issued to the service or agency. "
                               "A partner agency's user may write only to `aidflow.inbound` and read only "
                               "its own queue `aidflow.partner.{agency}`.",
            }},
        },
    }
    channels, operations, messages = document["channels"], document["operations"], document["components"]["messages"]
    for message_type in types:
        message_id = message_type.short
        messages[message_id] = _message(message_type, schema_names[message_type.schema])
        channel_id = _channel_id(message_type)
        channel = channels.setdefault(channel_id, _channel(message_type))
        channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
        for action, services in _actions(message_type):
            operations[f"{action}.{message_id}"] = _operation(message_type, action, services, channel_id, message_id)
    return document


def payload_schemas(registry: Registry = default_registry) -> tuple[dict[type, str], dict[str, dict]]:
    """JSON Schema of every registered payload, by apispec's marshmallow plugin.

    Returns the component name of each payload schema class and every component schema (the
    payloads and the schemas nested in them); references point into ``#/components/schemas/``.
    """
    spec = APISpec(title="aidflow messages", version=CONTRACT_VERSION, openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin()])
    names: dict[type, str] = {}
    for message_type in sorted(registry, key=lambda t: t.type):
        schema = message_type.schema
        if schema in names:
            continue
        name = schema.__name__
        if name in spec.components.schemas:
            raise ValueError(f"two payload schemas are named {name}; rename one")
        spec.components.schema(name, schema=schema)
        names[schema] = name
    return names, spec.to_dict()["components"]["schemas"]


def _server() -> dict[str, Any]:
    return {
        "host": "{host}:{port}",
        "protocol": "amqp",
        "protocolVersion": "0.9.1",
        "pathname": "/{vhost}",
        "description": "The RabbitMQ broker. Services and partner agencies each log in with their own user.",
        "variables": {
            "host": {"default": "rabbitmq", "description": "The broker's host name."},
            "port": {"default": "5672", "description": "5672 for AMQP, 5671 for AMQP over TLS."},
            "vhost": {"default": "aidflow", "description": "The virtual host of the deployment."},
        },
        "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
    }


def _agency_parameter() -> dict[str, Any]:
    return {
        "description": "The partner agency's code: whom a message on `aidflow.partners` is for, and "
                       "who a command on `aidflow.inbound` is from (it must match the publishing "
                       "broker user's agency, see the identity rule).",
        "examples": [agency for agency in AGENCIES if agency != "procuratorate"],
    }


def _envelope_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"A CloudEvents {SPECVERSION} event in structured mode. Other top-level members are "
                       "CloudEvents extension attributes.",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": SPECVERSION},
            "id": {"type": "string", "minLength": 1, "description": "Unique per message; repeated as the "
                                                                      "AMQP property message_id."},
            "source": {"type": "string", "minLength": 1, "format": "uri-reference",
                       "description": "Who published: /aidflow/<service> or /partners/<agency>."},
            "type": {"type": "string", "minLength": 1, "description": "The message type with its version; "
                                                                        "repeated as the AMQP property type."},
            "time": {"type": "string", "format": "date-time", "description": "RFC 3339, with an offset."},
            "subject": {"type": "string"},
            "datacontenttype": {"const": DATA_CONTENT_TYPE},
            "data": {"type": "object"},
        },
    }


def _channel_id(message_type: MessageType) -> str:
    return f"{message_type.exchange.removeprefix('aidflow.')}.{_address(message_type).replace('{agency}', 'agency')}"


def _address(message_type: MessageType) -> str:
    if message_type.exchange == EVENTS:
        return message_type.routing_key()
    return f"{{{AGENCY_PARAMETER}}}.{message_type.partner_suffix}"


def _channel(message_type: MessageType) -> dict[str, Any]:
    exchange = message_type.exchange
    channel: dict[str, Any] = {
        "address": _address(message_type),
        "title": f"{exchange} {_address(message_type)}",
        "description": f"Routing key `{_address(message_type)}` on the exchange `{exchange}`. {_EXCHANGES[exchange]}",
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "messages": {},
        "bindings": {"amqp": {
            "is": "routingKey",
            "exchange": {"name": exchange, "type": "topic", "durable": True, "autoDelete": False},
            "bindingVersion": AMQP_BINDING_VERSION,
        }},
    }
    if exchange != EVENTS:
        channel["parameters"] = {AGENCY_PARAMETER: {"$ref": f"#/components/parameters/{AGENCY_PARAMETER}"}}
    return channel


def _actions(message_type: MessageType) -> list[tuple[str, tuple[str, ...]]]:
    """(action, services) from the system's point of view."""
    actions = []
    if message_type.producer != "partner":
        actions.append(("send", (message_type.producer,)))
    if message_type.consumers:
        actions.append(("receive", message_type.consumers))
    return actions


def _operation(message_type: MessageType, action: str, services: tuple[str, ...], channel_id: str,
               message_id: str) -> dict[str, Any]:
    who = ", ".join(services)
    if action == "send":
        description = f"{who} publishes it (confirmed, persistent, mandatory) through its outbox."
        binding = {"deliveryMode": DELIVERY_MODE_PERSISTENT, "mandatory": True}
    else:
        queues = ", ".join(f"`aidflow.{service}`" for service in services)
        description = f"Consumed by {who} from {queues}; acknowledged once handled, parked if it can never be."
        binding = {"ack": True}
    if message_type.exchange == INBOUND:
        description += f" Published by a partner agency. {IDENTITY_RULE}"
        binding.update(deliveryMode=DELIVERY_MODE_PERSISTENT, userId="{broker_user}")
    if message_type.deprecated:
        description += f" {_deprecation(message_type)}"
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "title": f"{action} {message_type.short}",
        "summary": message_type.summary,
        "description": description,
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
        "tags": [{"name": service} for service in services],
        "bindings": {"amqp": {**binding, "bindingVersion": AMQP_BINDING_VERSION}},
    }
    if message_type.exchange != EVENTS:
        operation["security"] = [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}]
    return operation


def _message(message_type: MessageType, schema_name: str) -> dict[str, Any]:
    sent_by_system = message_type.producer != "partner"
    envelope_part: dict[str, Any] = {
        "type": "object",
        "required": ["type", "data"] + (["datacontenttype"] if sent_by_system else []),
        "properties": {
            "type": {"const": message_type.type},
            "data": {"$ref": SCHEMA_REF + schema_name},
        },
    }
    payload: dict[str, Any] = {"allOf": [{"$ref": SCHEMA_REF + ENVELOPE_SCHEMA}, envelope_part]}
    message: dict[str, Any] = {
        "name": message_type.type,
        "title": message_type.short,
        "summary": message_type.summary,
        "contentType": CONTENT_TYPE,
        "headers": _headers(message_type),
        "payload": payload,
        "correlationId": {"location": "$message.header#/correlation_id",
                          "description": "The id of the message this one answers or was caused by."},
        "bindings": {"amqp": {"messageType": message_type.type, "bindingVersion": AMQP_BINDING_VERSION}},
        "tags": [{"name": message_type.exchange}],
        "x-producer": message_type.producer,
        "x-consumers": list(message_type.consumers),
    }
    if message_type.schema.__doc__:
        message["description"] = " ".join(message_type.schema.__doc__.split())
    if message_type.deprecated:
        payload["deprecated"] = True
        message["description"] = f"{_deprecation(message_type)} {message.get('description', '')}".strip()
        message["x-deprecated"] = True
        message["x-sunset"] = message_type.sunset.isoformat()
        message["x-superseded-by"] = message_type.superseded_by
    return message


def _headers(message_type: MessageType) -> dict[str, Any]:
    """The AMQP properties of the message, as a JSON object."""
    required = ["content_type", "message_id", "type", "delivery_mode"]
    user_id: dict[str, Any] = {"type": "string", "minLength": 1}
    if message_type.exchange == INBOUND:
        required.append("user_id")
        user_id["description"] = "The agency's own broker user, the one it logged in with."
    return {
        "type": "object",
        "description": "The AMQP basic properties of the message.",
        "required": required,
        "properties": {
            "content_type": {"const": CONTENT_TYPE},
            "message_id": {"type": "string", "minLength": 1, "description": "The envelope's id."},
            "type": {"const": message_type.type},
            "correlation_id": {"type": "string", "minLength": 1},
            "user_id": user_id,
            "delivery_mode": {"const": DELIVERY_MODE_PERSISTENT},
        },
    }


def _deprecation(message_type: MessageType) -> str:
    return (f"Deprecated: superseded by {message_type.superseded_by}; emitted beside it until "
            f"{message_type.sunset.isoformat()}, then no more.")


def render(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    import yaml  # a development dependency: writing the document is a development task

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value):
        style = "|" if "\n" in value else None  # paragraphs stay readable in the file
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aidflow_shared.asyncapi", description=__doc__.split("\n")[0])
    parser.add_argument("--output", "-o", help="write to this file (default: standard output)")
    parser.add_argument("--format", choices=("yaml", "json"),
                        help="default: json for a .json output file, yaml otherwise")
    args = parser.parse_args(argv)
    fmt = args.format or ("json" if (args.output or "").endswith(".json") else "yaml")
    text = render(build_asyncapi(), fmt)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
