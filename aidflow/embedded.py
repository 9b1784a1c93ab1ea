"""All four services in one process: the embedded default of ``make run``.

Each service keeps its own SQLite database under the data directory; they share one embedded
transport (a SQLite file too), so every accepted referral, and every message in flight,
survives a restart of the process. With ``AMQP_URL`` and ``DATABASE_URL`` set, the same
command runs the four services in one process on RabbitMQ and PostgreSQL instead.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal
import threading

from aidflow_shared.bus.embedded import EmbeddedTransport
from aidflow_shared.cli import serve_apps
from aidflow_shared.logging import configure_logging
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.settings import SERVICES, Settings

log = logging.getLogger("aidflow")


def load_service(name: str):
    return importlib.import_module(f"aidflow_{name}.service").service


class System:
    """The four runtimes, started and stopped together."""

    def __init__(self, settings: dict[str, Settings]):
        self.settings = settings
        first = settings[SERVICES[0]]
        self.transport = EmbeddedTransport(first.embedded_bus_path, reclaim_leases=True) if first.embedded else None
        self.runtimes = {name: ServiceRuntime(load_service(name), settings[name], transport=self.transport)
                         for name in SERVICES}
        self.servers = []

    @classmethod
    def from_env(cls, environ=None) -> "System":
        return cls({name: Settings.from_env(name, environ) for name in SERVICES})

    def start(self, *, http: bool = True) -> None:
        for runtime in self.runtimes.values():
            runtime.migrate()
        for runtime in self.runtimes.values():
            runtime.start()
        if http:
            self.servers = serve_apps([(rt.create_app(), rt.settings.http_host, rt.settings.http_port)
                                       for rt in self.runtimes.values()])

    def urls(self) -> dict[str, str]:
        return {name: f"http://{rt.settings.http_host}:{rt.settings.http_port}" for name, rt in self.runtimes.items()}

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
        for runtime in self.runtimes.values():
            runtime.stop()
        if self.transport:
            self.transport.close()


def run(environ=None) -> int:
    environ = dict(os.environ if environ is None else environ)
    # A person at a terminal reads plain lines; JSON stays the default for services in production.
    environ.setdefault("AIDFLOW_LOG_JSON", "false")
    settings = {name: Settings.from_env(name, environ) for name in SERVICES}
    configure_logging(settings["intake"])
    logging.getLogger("alembic").setLevel(logging.WARNING)
    system = System(settings)
    system.start()
    mode = "embedded (SQLite, no servers)" if system.transport else "RabbitMQ + databases from the environment"
    print(f"\naidflow is running: all four services in one process, {mode}.")
    print(f"data directory: {settings['intake'].data_dir.resolve()}\n")
    for name, url in system.urls().items():
        print(f"  {name:<9} {url}/api/v1   {url}/openapi.json   {url}/healthz   {url}/metrics")
    print("\nFeed demo referrals from another terminal:  make demo")
    print("Mint a token for your own requests:          .venv/bin/aidflow-token --subject me --role intake_clerk\n",
          flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    print("stopping…", flush=True)
    system.stop()
    return 0
