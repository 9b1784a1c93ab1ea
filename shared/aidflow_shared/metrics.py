"""Prometheus metrics of the bus, one registry per service.

Each service gets its own CollectorRegistry so that, in the single-process embedded mode,
every service's ``/metrics`` still shows only its own figures. Labels are bounded sets
(service, exchange, registered type, reason code): never a case id, a person or a raw value
taken from a message.
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class BusMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None):
        self.service = service
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.published = Counter("aidflow_bus_published_total", "Messages the outbox relay published, confirmed.",
                                 ["service", "exchange"], registry=r)
        self.unroutable = Counter("aidflow_bus_unroutable_total",
                                  "Publishes no queue would take; kept in the outbox and tried again.",
                                  ["service", "exchange"], registry=r)
        self.publish_failures = Counter("aidflow_bus_publish_failures_total",
                                        "Relay batches the broker did not confirm (published again later).",
                                        ["service"], registry=r)
        self.consumed = Counter("aidflow_bus_consumed_total", "Messages consumed, by outcome.",
                                ["service", "outcome"], registry=r)
        self.retried = Counter("aidflow_bus_retried_total", "Handler failures sent back for a delayed retry.",
                               ["service"], registry=r)
        self.parked = Counter("aidflow_bus_parked_total", "Messages moved to the parking queue, by reason.",
                              ["service", "reason"], registry=r)
        self.handler_seconds = Histogram("aidflow_bus_handler_seconds", "Time to handle one message, commit included.",
                                         ["service", "type"], buckets=HANDLER_BUCKETS, registry=r)
        self.housekeeping_deleted = Counter("aidflow_housekeeping_deleted_total",
                                            "Rows housekeeping pruned: sent outbox rows and old inbox rows.",
                                            ["service", "table"], registry=r)
        self.connected = Gauge("aidflow_bus_connected", "1 while the service holds a broker connection.",
                               ["service"], registry=r)
        self.connected.labels(service).set(0)

    def set_connected(self, connected: bool) -> None:
        self.connected.labels(self.service).set(1 if connected else 0)

    def watch_outbox(self, stats) -> None:
        """Report outbox backlog and the age of its oldest row, read at scrape time."""
        self.registry.register(_OutboxCollector(self.service, stats))


class _OutboxCollector:
    def __init__(self, service, stats):
        self.service = service
        self.stats = stats
        self._cache = (0.0, (0, 0.0))

    def describe(self):
        return []

    def collect(self):
        at, values = self._cache
        if time.monotonic() - at > 1.0:  # scrapes from several Prometheus servers share one query
            try:
                values = self.stats()
            except Exception:  # the database is down: readiness reports it; keep the last figures
                pass
            self._cache = (time.monotonic(), values)
        backlog, age = values
        g = GaugeMetricFamily("aidflow_outbox_backlog", "Outbox rows not yet confirmed by the broker.", labels=["service"])
        g.add_metric([self.service], backlog)
        yield g
        g = GaugeMetricFamily("aidflow_outbox_oldest_age_seconds", "Age of the oldest unsent outbox row.",
                              labels=["service"])
        g.add_metric([self.service], age)
        yield g
