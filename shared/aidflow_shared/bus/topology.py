"""The broker topology, derived from the message registry.

Three fixed topic exchanges (``aidflow.events``, ``aidflow.inbound``, ``aidflow.partners``) and,
for every consuming service:

- ``aidflow.<service>``: its durable queue, bound to each type it consumes. On RabbitMQ a quorum
  queue with an explicit delivery limit: a message that keeps crashing its consumer is
  dead-lettered (at-least-once) to the parking queue instead of looping forever;
- ``aidflow.<service>.retry.<ms>ms``: one queue per back-off step; a failed message waits there
  for its TTL and is dead-lettered back to the service queue;
- ``aidflow.<service>.parking``: messages that cannot be handled, with the reason in headers.

and one queue per partner agency, ``aidflow.partner.<agency>`` bound to ``<agency>.#`` on
``aidflow.partners``, so nothing sent to an agency is lost before it connects.

Every service declares the whole topology at start (declaring is idempotent), so an event is
routable even while its consumer is not yet deployed: it waits in that consumer's queue.
"""
from __future__ import annotations

from dataclasses import dataclass

from aidflow_shared.auth import AGENCIES
from aidflow_shared.contracts import EXCHANGES, PARTNERS, Registry, registry as default_registry


@dataclass(frozen=True)
class ConsumerQueue:
    service: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, binding key)

    @property
    def name(self) -> str:
        return f"aidflow.{self.service}"

    @property
    def parking(self) -> str:
        return f"{self.name}.parking"

    def retry_queue(self, delay_seconds: float) -> str:
        return f"{self.name}.retry.{int(round(delay_seconds * 1000))}ms"


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[str, ...]
    consumers: tuple[ConsumerQueue, ...]
    partner_agencies: tuple[str, ...]
    retry_delays: tuple[float, ...]
    delivery_limit: int

    def consumer(self, service: str) -> ConsumerQueue:
        for queue in self.consumers:
            if queue.service == service:
                return queue
        raise LookupError(f"{service} consumes nothing")

    @staticmethod
    def partner_queue(agency: str) -> str:
        return f"aidflow.partner.{agency}"

    def partner_bindings(self):
        for agency in self.partner_agencies:
            yield self.partner_queue(agency), PARTNERS, f"{agency}.#"


def build_topology(*, retry_delays: tuple[float, ...], delivery_limit: int,
                   registry: Registry = default_registry, agencies=AGENCIES) -> Topology:
    services = sorted({s for t in registry for s in t.consumers})
    consumers = tuple(
        ConsumerQueue(service, tuple(sorted({(t.exchange, t.binding_key()) for t in registry.consumed_by(service)})))
        for service in services
    )
    return Topology(EXCHANGES, consumers, tuple(agencies), tuple(retry_delays), delivery_limit)


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more words."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
