"""The message contract: every event and command type, its schema, version and route.

One registry is the single source of truth for what travels on the bus: the services validate
with it on both sides, the topology is derived from it, and the published contract for partner
agencies is generated from it. A type that is not registered here is never guessed at: a
consumer parks it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from marshmallow import Schema

TYPE_PREFIX = "org.aidflow."
_TYPE_RE = re.compile(r"^org\.aidflow\.(?P<name>[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+)\.v(?P<version>[1-9]\d*)$")

#: The three fixed exchanges of the design.
EVENTS = "aidflow.events"  # domain events between services
INBOUND = "aidflow.inbound"  # commands from partner agencies
PARTNERS = "aidflow.partners"  # what the system sends to partner agencies
EXCHANGES = (EVENTS, INBOUND, PARTNERS)


class UnknownMessageType(LookupError):
    """The type (or this version of it) is not in the registry."""


@dataclass(frozen=True)
class MessageType:
    """One versioned message type: ``org.aidflow.<name>.v<version>``."""

    type: str
    schema: type[Schema]
    exchange: str
    summary: str
    producer: str  # the service (or "partner") that publishes it
    consumers: tuple[str, ...] = ()
    deprecated: bool = False
    # A command whose sender must get an answer naming each bad field: its payload is validated
    # by the handler, which replies, instead of being parked by the envelope check.
    answers_invalid: bool = False

    @property
    def short(self) -> str:
        """The type without the ``org.aidflow.`` prefix: the routing key on ``aidflow.events``."""
        return self.type[len(TYPE_PREFIX):]

    @property
    def version(self) -> int:
        return int(_TYPE_RE.match(self.type).group("version"))

    @property
    def partner_suffix(self) -> str:
        """What follows ``<agency>.`` in a partner routing key: the last two words and version,
        e.g. ``referral.accepted.v1`` for ``org.aidflow.intake.referral.accepted.v1``."""
        words = self.short.split(".")
        return ".".join(words[-3:])

    def routing_key(self, agency: str | None = None) -> str:
        if self.exchange == EVENTS:
            return self.short
        if not agency:
            raise ValueError(f"{self.type} on {self.exchange} needs an agency for its routing key")
        return f"{agency}.{self.partner_suffix}"

    def binding_key(self) -> str:
        """The key a consumer binds with: the exact type on events, any agency otherwise."""
        return self.short if self.exchange == EVENTS else f"*.{self.partner_suffix}"


@dataclass
class Registry:
    types: dict[str, MessageType] = field(default_factory=dict)

    def register(self, type: str, schema: type[Schema], *, exchange: str, summary: str,
                 producer: str, consumers: tuple[str, ...] = (), deprecated: bool = False,
                 answers_invalid: bool = False) -> MessageType:
        if not _TYPE_RE.match(type):
            raise ValueError(f"{type!r} is not org.aidflow.<name>.v<N>")
        if exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {exchange!r}")
        if type in self.types:
            raise ValueError(f"{type} registered twice")
        message_type = MessageType(type, schema, exchange, summary, producer, tuple(consumers), deprecated,
                                   answers_invalid)
        self.types[type] = message_type
        return message_type

    def get(self, type: str) -> MessageType:
        try:
            return self.types[type]
        except KeyError:
            raise UnknownMessageType(type) from None

    def __iter__(self):
        return iter(self.types.values())

    def consumed_by(self, service: str) -> list[MessageType]:
        return [t for t in self.types.values() if service in t.consumers]


registry = Registry()

# Importing the catalogue fills the registry.
from aidflow_shared.contracts import catalogue as _catalogue  # noqa: E402,F401
