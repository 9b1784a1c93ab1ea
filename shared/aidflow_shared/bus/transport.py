"""What every transport offers: declare, publish with confirmation, consume with ack/retry/park.

Two implementations share this contract and the same tests: RabbitMQ (``amqp.py``, kombu's
connection handling with publisher confirms) and the embedded transport (``embedded.py``, a
SQLite file, for laptops and the single-process mode).
"""
from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

# Headers the bus adds to messages it moves between queues.
RETRIES = "x-aidflow-retries"
LAST_ERROR = "x-aidflow-last-error"
PARK_REASON = "x-aidflow-park-reason"
PARK_DETAIL = "x-aidflow-park-detail"
PARKED_AT = "x-aidflow-parked-at"
PARKED_BY = "x-aidflow-consumer"
ORIGINAL_EXCHANGE = "x-aidflow-original-exchange"
ORIGINAL_ROUTING_KEY = "x-aidflow-original-routing-key"
# A republished message cannot keep its AMQP user_id (the broker only accepts the publishing
# connection's own user), so the partner's identity travels in this header. It is trusted only
# on messages that come back from our own retry queues, which partners cannot write to.
ORIGINAL_USER = "x-aidflow-original-user-id"


class TransportError(Exception):
    """The broker could not be reached or did not confirm; the caller retries later."""


@dataclass
class Outgoing:
    exchange: str
    routing_key: str
    body: str
    message_id: str
    type: str
    content_type: str = "application/cloudevents+json"
    correlation_id: str | None = None
    user_id: str | None = None
    headers: dict = field(default_factory=dict)


class Delivery(abc.ABC):
    """One received message; exactly one of ack, retry or park settles it."""

    body: bytes
    exchange: str
    routing_key: str
    content_type: str | None
    message_id: str | None
    type: str | None
    correlation_id: str | None
    user_id: str | None
    headers: dict
    redelivered: bool

    @property
    def retries(self) -> int:
        try:
            return int(self.headers.get(RETRIES, 0))
        except (TypeError, ValueError):
            return 0

    @property
    def publisher(self) -> str | None:
        """The broker-validated user that published this message, if any."""
        if self.user_id:
            return self.user_id
        if self.came_from_retry:
            return self.headers.get(ORIGINAL_USER)
        return None

    @property
    def original_routing_key(self) -> str:
        """The key it was published with, also after a trip through a retry queue."""
        if self.came_from_retry:
            return self.headers.get(ORIGINAL_ROUTING_KEY, self.routing_key)
        return self.routing_key

    @property
    def came_from_retry(self) -> bool:
        return self.exchange == ""

    @abc.abstractmethod
    def ack(self) -> None: ...

    @abc.abstractmethod
    def retry(self, attempt: int, delay: float, error: str) -> None:
        """Hand the message back after ``delay`` seconds with ``attempt`` recorded."""

    @abc.abstractmethod
    def park(self, reason: str, detail: str, consumer: str) -> None:
        """Move the message to the consumer's parking queue with the reason in its headers."""

    def moved_headers(self, **extra) -> dict:
        headers = {k: v for k, v in self.headers.items() if k != "x-death"}
        headers.setdefault(ORIGINAL_EXCHANGE, self.exchange)
        headers.setdefault(ORIGINAL_ROUTING_KEY, self.routing_key)
        if self.publisher:
            headers[ORIGINAL_USER] = self.publisher
        headers.update({k: v for k, v in extra.items() if v is not None})
        return headers


def park_headers(reason: str, detail: str, consumer: str) -> dict:
    return {PARK_REASON: reason, PARK_DETAIL: detail[:500], PARKED_BY: consumer,
            PARKED_AT: datetime.now(timezone.utc).isoformat(timespec="seconds")}


Handler = Callable[[Delivery], None]


@dataclass
class Parked:
    """A message in a parking queue, as an operator sees it."""

    message_id: str | None
    type: str | None
    reason: str
    detail: str
    parked_at: str | None
    retries: int
    body: bytes

    @classmethod
    def from_headers(cls, message_id, type, headers: dict, body: bytes) -> "Parked":
        death = (headers.get("x-death") or [{}])[0]
        return cls(message_id=message_id, type=type,
                   # The broker's own dead-lettering (delivery limit) carries x-death, not our headers.
                   reason=headers.get(PARK_REASON) or str(death.get("reason", "dead-lettered")),
                   detail=str(headers.get(PARK_DETAIL, "")), parked_at=headers.get(PARKED_AT),
                   retries=int(headers.get(RETRIES, 0) or 0), body=body)


def replay_headers(headers: dict) -> dict:
    """A parked message going back to its consumer: a fresh start, its origin kept."""
    dropped = {PARK_REASON, PARK_DETAIL, PARKED_AT, PARKED_BY, RETRIES, LAST_ERROR, "x-death",
               "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason", "x-delivery-count"}
    return {k: v for k, v in headers.items() if k not in dropped}


class Transport(abc.ABC):
    @abc.abstractmethod
    def declare(self, topology) -> None: ...

    @abc.abstractmethod
    def publish(self, messages: list[Outgoing]) -> list[str]:
        """Publish and wait until the broker has taken responsibility for every message.

        Returns the ids of messages no queue would take (unroutable); raises TransportError
        when confirmation is not certain, in which case the caller must publish again.
        """

    @abc.abstractmethod
    def consume(self, queue: str, handler: Handler, *, stop: threading.Event, prefetch: int) -> None:
        """Deliver messages to ``handler`` one at a time until ``stop`` is set; reconnects."""

    @abc.abstractmethod
    def ping(self) -> None: ...

    @abc.abstractmethod
    def parked(self, queue: str) -> list[Parked]:
        """The messages in parking queue ``queue``, left where they are."""

    @abc.abstractmethod
    def replay(self, parking: str, target: str, message_ids: set[str] | None = None) -> int:
        """Move parked messages (all, or those with the given ids) back to queue ``target``."""

    def close(self) -> None:
        pass
