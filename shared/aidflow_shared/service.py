"""A service at a glance: what it handles, what it emits, its API and its tables.

Each service module reads like this::

    service = Service("review", metadata=metadata, emits=[REVIEW_OPENED, DECISION_RECORDED])

    @service.handles(CASE_OPENED)
    def open_review(event, uow): ...

    @service.api
    def blueprints(runtime): return [reviews_blueprint(runtime)]

The subscriptions themselves are declared once, in the message registry; ``check`` refuses to
start a service whose handlers and declared subscriptions disagree.

Every service has an audit log (``aidflow_shared.audit``): its table joins the service's metadata
and its hook and export join the service's API, so no service can leave them out.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import MetaData

from aidflow_shared.audit import audit_blueprint, audit_table
from aidflow_shared.contracts import MessageType, Registry, registry as default_registry
from aidflow_shared.envelope import Envelope
from aidflow_shared.permissions import is_pii_route
from aidflow_shared.storage import UnitOfWork

Handler = Callable[[Envelope, UnitOfWork], None]


class Service:
    def __init__(self, name: str, *, metadata: MetaData, migrations: str, title: str,
                 emits: list[MessageType] = (), version: str = "1.0.0", breach: MessageType | None = None):
        self.name = name
        self.metadata = metadata
        audit_table(metadata)
        self.migrations = migrations  # "package:folder" of the Alembic scripts
        self.title = title
        self.version = version
        self.emits = tuple(emits) + ((breach,) if breach else ())
        self.breach_type = breach.type if breach else None  # announced when one of its deadlines passes
        self.handlers: dict[str, Handler] = {}
        self.setups: list[Callable] = []
        self.tasks: dict[str, Callable] = {}
        self._api: Callable | None = None

    def handles(self, message_type: MessageType):
        def register(handler: Handler) -> Handler:
            if message_type.type in self.handlers:
                raise ValueError(f"{self.name} handles {message_type.type} twice")
            self.handlers[message_type.type] = handler
            return handler
        return register

    def setup(self, wire: Callable):
        """Register ``wire(runtime)``, run once per runtime as it is built: what handlers and views
        share (adapters, service metrics) is made here, not at import time."""
        self.setups.append(wire)
        return wire

    def background(self, name: str):
        """Register ``task(runtime, stop)``, run in its own thread by every worker (the runtimes that
        consume) until ``stop`` is set: periodic work that no message starts."""
        def register(task: Callable) -> Callable:
            if name in self.tasks:
                raise ValueError(f"{self.name} has two background tasks named {name}")
            self.tasks[name] = task
            return task
        return register

    def api(self, factory: Callable):
        """Register the function that builds this service's blueprints from its runtime."""
        self._api = factory
        return factory

    def blueprints(self, runtime) -> list:
        if not self._api:
            return []
        return [*self._api(runtime), audit_blueprint(runtime, is_pii_route=is_pii_route(self.name))]

    def check(self, registry: Registry = default_registry) -> None:
        declared = {t.type for t in registry.consumed_by(self.name)}
        handled = set(self.handlers)
        if declared != handled:
            raise RuntimeError(
                f"{self.name}: handlers {sorted(handled - declared)} are not declared as subscriptions, "
                f"subscriptions {sorted(declared - handled)} have no handler")
        for message_type in self.emits:
            if message_type.producer != self.name:
                raise RuntimeError(f"{self.name} emits {message_type.type}, registered as {message_type.producer}'s")
