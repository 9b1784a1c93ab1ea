"""Wires one service once: database, transport, relay, consumer, metrics and HTTP app.

The consumer's rule is the inbox rule: the message id is recorded in the same transaction as
the handler's effect and the message is acknowledged only after that transaction committed. A
copy of a message handled already is acknowledged with no effect; another message under a used
id (its digest differs) is parked as ``id-reused``.
What cannot be handled is parked with its reason; what fails is retried with back-off a
bounded number of times, then parked; a database outage pauses the consumer instead of
burning retries.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from aidflow_shared.bus.embedded import EmbeddedTransport
from aidflow_shared.calendar import WorkingCalendar
from aidflow_shared.deadlines import DeadlineClocks
from aidflow_shared.bus.relay import OutboxRelay
from aidflow_shared.bus.topology import build_topology
from aidflow_shared.bus.transport import Delivery, Transport, TransportError
from aidflow_shared.envelope import MessageRejected, parse
from aidflow_shared import faults
from aidflow_shared.metrics import BusMetrics
from aidflow_shared.migrations import upgrade
from aidflow_shared.policy import load_policy
from aidflow_shared.service import Service
from aidflow_shared.settings import Settings
from aidflow_shared.storage import Database, UnitOfWork, outbox_stats, prune

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 3  # immediate re-runs of a handler whose insert met a concurrent one


def make_transport(settings: Settings, *, on_connection_change=None, name: str = "aidflow") -> Transport:
    if settings.embedded:
        if on_connection_change:
            on_connection_change(True)
        return EmbeddedTransport(settings.embedded_bus_path)
    from aidflow_shared.bus.amqp import AmqpTransport
    return AmqpTransport(settings.amqp_url, on_connection_change=on_connection_change, name=name)


class ServiceRuntime:
    def __init__(self, service: Service, settings: Settings, *, transport: Transport | None = None):
        service.check()
        self.service = service
        self.settings = settings
        self.name = service.name
        self.source = f"/aidflow/{service.name}"
        self.db = Database(settings.database_url, service.metadata)
        self.metrics = BusMetrics(service.name)
        self.metrics.watch_outbox(lambda: outbox_stats(self.db))
        if transport is None:
            transport = make_transport(settings, on_connection_change=self.metrics.set_connected,
                                       name=f"aidflow-{service.name}")
        else:
            self.metrics.set_connected(True)
        self.transport = transport
        self.topology = build_topology(retry_delays=settings.retry_delays[:settings.max_retries],
                                       delivery_limit=settings.delivery_limit)
        self.relay = OutboxRelay(self.db, transport, self.metrics, batch_size=settings.relay_batch,
                                 interval=settings.relay_interval)
        self.calendar = WorkingCalendar.load(settings.calendar_overrides or None)
        self.policy = load_policy(settings.policy_environ)
        self.clocks = DeadlineClocks(service.name, self.db, self.calendar, self.policy, self.metrics.registry,
                                     breach_type=service.breach_type)
        self.queue = f"aidflow.{service.name}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Called with every new unit of work (the audit log joins a request's transaction).
        self.uow_hooks: list = []
        for wire in service.setups:
            wire(self)

    # -- wiring ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        upgrade(self.db, self.service.migrations)

    def unit_of_work(self, correlation_id: str | None = None) -> UnitOfWork:
        uow = UnitOfWork(self.db, source=self.source, correlation_id=correlation_id, on_commit=self.relay.notify)
        uow.clocks = self.clocks
        for hook in self.uow_hooks:
            hook(uow)
        return uow

    def readiness(self) -> dict:
        return {"database": self.db.ping, "broker": self.transport.ping}

    def liveness(self) -> dict:
        return {"background": self.check_background}

    def check_background(self) -> None:
        """Raise when a background thread (consumer, relay, scanner, task) ended while running.

        Each thread recovers from broker and database outages by itself; one that ended anyway
        means this process no longer does its work, so its liveness probe fails and the process
        is restarted instead of looking healthy with nobody consuming its queue.
        """
        if self._stop.is_set():
            return
        dead = [t.name for t in self._threads if not t.is_alive()]
        if dead:
            raise RuntimeError(f"background work stopped: {', '.join(sorted(dead))}")

    def create_app(self):
        from aidflow_shared.http.app import create_api_app
        return create_api_app(self.settings, title=self.service.title, version=self.service.version,
                              blueprints=self.service.blueprints(self), readiness=self.readiness(),
                              liveness=self.liveness(), metrics_registry=self.metrics.registry)

    def create_health_app(self):
        """Only /healthz, /readyz, /metrics and /openapi.json: the worker process's HTTP face."""
        from aidflow_shared.http.app import create_api_app
        return create_api_app(self.settings, title=f"{self.service.title} (worker)", version=self.service.version,
                              blueprints=[], readiness=self.readiness(), liveness=self.liveness(),
                              metrics_registry=self.metrics.registry)

    # -- running --------------------------------------------------------------------------------

    def declare(self) -> None:
        """Declare the topology, waiting for the broker if it is not up yet."""
        delay = 0.5
        while True:
            try:
                self.transport.declare(self.topology)
                return
            except (TransportError, OSError) as exc:
                if self._stop.is_set():
                    raise
                log.warning("broker not reachable; waiting to declare the topology",
                            extra={"error": str(exc)[:200], "retry_in": delay})
                self._stop.wait(delay)
                delay = min(delay * 2, 15.0)

    def start(self, *, consume: bool = True, relay: bool = True) -> None:
        """Start the background work. ``consume`` marks a worker: it also keeps the deadlines."""
        self.declare()
        if relay:
            self._spawn("relay", self.relay.run, self._stop)
        if consume:
            moved = self.clocks.recompute(self.unit_of_work)
            if moved:
                log.warning("deadlines recomputed for a changed calendar", extra={"clocks": moved})
            self._spawn("deadlines", self.clocks.run_scanner, self.unit_of_work, self._stop,
                        self.settings.deadline_scan_interval)
            self._spawn("housekeeping", self._housekeeping)
        if consume:
            for name, task in self.service.tasks.items():
                self._spawn(name, task, self, self._stop)
        if consume and self.service.handlers:
            batching = {"handle_batch": self.handle_batch} if getattr(self.transport, "batches", False) else {}
            self._spawn("consumer", self.transport.consume, self.queue, self.handle,
                        stop=self._stop, prefetch=self.settings.prefetch, **batching)

    def _housekeeping(self) -> None:
        """Prune sent outbox rows and old inbox rows every ``housekeeping_interval`` until stopped.

        The first run waits a little (at most a minute) so a fresh start does not prune during
        startup. A failure is logged and tried again next time: this thread never ends on one.
        """
        for table in ("outbox", "inbox"):  # exported at 0 from the start
            self.metrics.housekeeping_deleted.labels(self.name, table)
        interval = self.settings.housekeeping_interval
        wait = min(60.0, interval)
        while not self._stop.wait(wait):
            wait = interval
            try:
                deleted = prune(self.db, outbox_older_than=timedelta(days=self.settings.outbox_retention_days),
                                inbox_older_than=timedelta(days=self.settings.inbox_retention_days))
                for table, count in deleted.items():
                    if count:
                        self.metrics.housekeeping_deleted.labels(self.name, table).inc(count)
                if any(deleted.values()):
                    log.info("housekeeping pruned %d outbox and %d inbox rows", deleted["outbox"], deleted["inbox"],
                             extra={"outbox_deleted": deleted["outbox"], "inbox_deleted": deleted["inbox"]})
            except Exception as exc:
                log.warning("housekeeping failed; trying again at the next interval",
                            extra={"error": f"{exc.__class__.__name__}: {str(exc)[:200]}"})

    def _spawn(self, role: str, target, *args, **kwargs) -> None:
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, name=f"{self.name}-{role}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.relay.notify()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self.transport.close()
        self.db.dispose()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- consuming ------------------------------------------------------------------------------

    def handle(self, delivery: Delivery) -> None:
        """Handle one delivery and settle it: ack, retry or park. Never raises."""
        started = time.perf_counter()
        outcome = "handled"
        type_label = "unknown"
        try:
            envelope, handler = self._envelope(delivery)
            type_label = envelope.type
            if not self._handle_in_transaction(handler, envelope):
                outcome = "duplicate"
            delivery.ack()
        except MessageRejected as rejected:
            outcome = "parked"
            self._park(delivery, rejected.reason, rejected.detail)
        except _Stopping:
            return  # unacknowledged: the broker delivers it again
        except Exception as exc:
            outcome = self._retry_or_park(delivery, exc)
        finally:
            self.metrics.consumed.labels(self.name, outcome).inc()
            if type_label != "unknown":
                self.metrics.handler_seconds.labels(self.name, type_label).observe(time.perf_counter() - started)

    def handle_batch(self, deliveries: list[Delivery]) -> None:
        """Handle deliveries that arrived together in one transaction, then ack them all. Never raises.

        The inbox rule holds for each message: its inbox row commits with its effect, and no
        message is acknowledged before that commit. One commit (and one pool checkout, BEGIN
        and WAL flush) serves the whole batch. Anything that goes wrong in the batch (a message
        to park, a failing handler, an insert conflict, the database away) rolls the batch back
        and the messages are handled again one by one, so a bad message is parked alone, with
        its reason, and the others commit without it. That includes another message under an id
        the inbox already has, or that an earlier message of the same batch just claimed: the
        claim raises ``id-reused`` and, one by one, the first commits and the other is parked.
        """
        if len(deliveries) == 1:
            self.handle(deliveries[0])
            return
        started = time.perf_counter()
        try:
            ready = [(delivery, *self._envelope(delivery)) for delivery in deliveries]
            with self.unit_of_work() as uow:
                handled = []
                for _, envelope, handler in ready:
                    uow.correlation_id = envelope.id
                    claimed = uow.claim_inbox(self.queue, envelope.id, envelope.type, envelope.digest)
                    if claimed:
                        handler(envelope, uow)
                        faults.before_commit(envelope.type)  # off unless the fault-injection suite sets it
                    handled.append(claimed)
                uow.commit()
        except Exception:  # one by one: each message is settled on its own
            log.debug("batch of %d rolled back; handling one by one", len(deliveries), exc_info=True)
            for delivery in deliveries:
                self.handle(delivery)
            return
        elapsed = (time.perf_counter() - started) / len(ready)
        for (delivery, envelope, _), claimed in zip(ready, handled):
            outcome = "handled" if claimed else "duplicate"
            try:
                delivery.ack()
            except Exception:  # the channel broke after the commit: redelivered, the inbox drops it
                log.warning("could not acknowledge a handled message; it will be delivered again", exc_info=True)
                outcome = "unsettled"
            self.metrics.consumed.labels(self.name, outcome).inc()
            self.metrics.handler_seconds.labels(self.name, envelope.type).observe(elapsed)

    def _envelope(self, delivery: Delivery):
        """The delivery's envelope and this service's handler for it; MessageRejected if none."""
        envelope = parse(delivery.body, content_type=delivery.content_type, message_id=delivery.message_id or "",
                         type=delivery.type, correlation_id=delivery.correlation_id, user_id=delivery.publisher,
                         routing_key=delivery.original_routing_key)
        handler = self.service.handlers.get(envelope.type)
        if handler is None:
            raise MessageRejected("no-handler", f"{self.name} does not handle this type")
        return envelope, handler

    def _handle_in_transaction(self, handler, envelope) -> bool:
        delay = 0.5
        conflicts = 0
        while True:
            try:
                with self.unit_of_work(correlation_id=envelope.id) as uow:
                    if not uow.claim_inbox(self.queue, envelope.id, envelope.type, envelope.digest):
                        return False
                    handler(envelope, uow)
                    faults.before_commit(envelope.type)  # off unless the fault-injection suite sets it
                    uow.commit()
                    return True
            except IntegrityError:
                # Another instance inserted the same row a moment ago (two events of one case
                # handled side by side): run the handler again at once, it now finds that row.
                conflicts += 1
                if conflicts > CONFLICT_RETRIES:
                    raise
            except (OperationalError, InterfaceError) as exc:
                # The database is away (restart, failover): wait for it rather than spend retries.
                log.warning("database unavailable; holding the message",
                            extra={"type": envelope.type, "error": exc.__class__.__name__, "retry_in": delay})
                if self._stop.wait(delay):
                    raise _Stopping() from exc
                delay = min(delay * 2, 10.0)

    def _retry_or_park(self, delivery: Delivery, exc: Exception) -> str:
        attempt = delivery.retries
        error = f"{exc.__class__.__name__}: {str(exc)[:300]}"
        try:
            if attempt < self.settings.max_retries:
                log.warning("handler failed; retrying later", exc_info=True,
                            extra={"attempt": attempt + 1, "retry_in": self.settings.retry_delays[attempt]})
                delivery.retry(attempt + 1, self.settings.retry_delays[attempt], error)
                self.metrics.retried.labels(self.name).inc()
                return "retried"
            log.error("handler failed after retries; parking", exc_info=True, extra={"attempts": attempt + 1})
            self._park(delivery, "handler-failed", error)
            return "parked"
        except Exception:  # the broker went away mid-move: unacked, so it comes back
            log.warning("could not settle a failed message; it will be delivered again", exc_info=True)
            return "unsettled"

    def _park(self, delivery: Delivery, reason: str, detail: str) -> None:
        log.warning("message parked", extra={"reason": reason, "detail": detail[:200]})
        delivery.park(reason, detail, self.queue)
        self.metrics.parked.labels(self.name, reason).inc()


class _Stopping(Exception):
    """Shutting down while a message waits for the database."""
