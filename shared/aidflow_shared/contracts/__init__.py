"""The message contract: every event and command type, its schema, version and route.

One registry is the single source of truth for what travels on the bus: the services validate
with it on both sides, the topology is derived from it, and the published contract for partner
agencies is generated from it. A type that is not registered here is never guessed at: a
consumer parks it.

Versions: a change that would break a published type is a new version registered beside the
old one (``...v2`` next to ``...v1``). The old one is then registered ``deprecated`` with a
``sunset`` date and the version that ``superseded_by`` it; until the sunset its producer emits
both and its consumers move to the new one (see docs/contract.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

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
    # For a deprecated version: the last day it is emitted, and the version that replaces it.
    sunset: date | None = None
    superseded_by: str | None = None

    @property
    def name(self) -> str:
        """The type without its version: what every version of one message shares."""
        return _TYPE_RE.match(self.type).group("name")

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
                 answers_invalid: bool = False, sunset: date | None = None,
                 superseded_by: str | None = None) -> MessageType:
        if not _TYPE_RE.match(type):
            raise ValueError(f"{type!r} is not org.aidflow.<name>.v<N>")
        if exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {exchange!r}")
        if type in self.types:
            raise ValueError(f"{type} registered twice")
        if (sunset is not None or superseded_by is not None) and not deprecated:
            raise ValueError(f"{type}: a sunset or a successor only goes with deprecated=True")
        if deprecated and (sunset is None or superseded_by is None):
            raise ValueError(f"{type}: a deprecated version needs its sunset date and the version superseding it")
        message_type = MessageType(type, schema, exchange, summary, producer, tuple(consumers), deprecated,
                                   answers_invalid, sunset, superseded_by)
        if superseded_by is not None:
            successor = _TYPE_RE.match(superseded_by)
            if not successor or successor.group("name") != message_type.name \
                    or int(successor.group("version")) <= message_type.version:
                raise ValueError(f"{type} can only be superseded by a later version of itself, not {superseded_by}")
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

    def versions(self, name: str) -> list[MessageType]:
        """Every registered version of one message (``intake.case.accepted``), oldest first."""
        return sorted((t for t in self.types.values() if t.name == name), key=lambda t: t.version)

    def flowing(self, type: str, on: date) -> list[MessageType]:
        """What a producer emits for ``type`` on a day: the type itself and, while their sunset has
        not passed, the deprecated versions it supersedes, so consumers of either keep working."""
        current = self.get(type)
        older = [t for t in self.versions(current.name)
                 if t.version < current.version and t.deprecated and t.sunset >= on]
        return [current, *older]

    def check(self) -> None:
        """Every successor named by a deprecated version is registered."""
        for message_type in self.types.values():
            if message_type.superseded_by is not None and message_type.superseded_by not in self.types:
                raise ValueError(f"{message_type.type} is superseded by {message_type.superseded_by}, "
                                 "which is not registered")


registry = Registry()

# Importing the catalogue fills the registry.
from aidflow_shared.contracts import catalogue as _catalogue  # noqa: E402,F401
