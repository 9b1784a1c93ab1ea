"""The command line every service shares: ``aidflow-<service> migrate | api | worker | serve``.

- ``migrate``: bring the database schema to the latest version and exit.
- ``api``: the HTTP API under gunicorn (plus the outbox relay, so API writes go out at once).
- ``worker``: bus consumers and the outbox relay, with /healthz, /readyz and /metrics.
- ``serve``: both in one process, for a small deployment or a laptop.
- ``parked``: list the messages this service parked, with their reasons; replay them once fixed.
- ``audit verify``: check the audit log's hash chain (exit status 1 if it is broken);
  ``audit export``: the entries as JSON lines, for oversight, from a sequence number on.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import threading

from werkzeug.serving import make_server

from aidflow_shared.logging import configure_logging
from aidflow_shared.settings import InsecureSettings, Settings

log = logging.getLogger(__name__)


def service_main(service, argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"aidflow-{service.name}", description=service.title)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    api = sub.add_parser("api", help="serve the HTTP API with gunicorn")
    api.add_argument("--workers", type=int, default=2)
    api.add_argument("--threads", type=int, default=4)
    worker = sub.add_parser("worker", help="consume and relay, with health and metrics endpoints")
    worker.add_argument("--port", type=int, help="health/metrics port (default: the API port + 1000)")
    serve = sub.add_parser("serve", help="API, consumers and relay in one process")
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema at start")
    parked = sub.add_parser("parked", help="list parked messages, or replay them to the service")
    replay = parked.add_mutually_exclusive_group()
    replay.add_argument("--replay", nargs="+", metavar="MESSAGE_ID", help="send these back to the service")
    replay.add_argument("--replay-all", action="store_true", help="send every parked message back")
    parked.add_argument("--json", action="store_true", help="one JSON object per message")
    audit = sub.add_parser("audit", help="verify or export the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the hash chain; exit status 1 if broken")
    export = audit_sub.add_parser("export", help="entries as JSON lines, oldest first")
    export.add_argument("--after", type=int, default=0, metavar="SEQ", help="only entries after this one")
    args = parser.parse_args(argv)

    settings = Settings.from_env(service.name)
    configure_logging(settings)
    try:
        settings.check_secrets()
    except InsecureSettings as exc:
        parser.exit(2, f"aidflow-{service.name}: {exc}\n")
    if args.command == "migrate":
        runtime = _runtime(service, settings)
        runtime.migrate()
        log.info("database schema is current", extra={"service": service.name})
        return 0
    if args.command == "parked":
        return _parked(_runtime(service, settings), args)
    if args.command == "audit":
        return _audit(service, settings, args)
    if args.command == "api":
        return _gunicorn(service, settings, args.workers, args.threads)
    if args.command == "worker":
        runtime = _runtime(service, settings)
        runtime.start()
        port = args.port or settings.http_port + 1000
        return _serve_until_signal([(runtime.create_health_app(), settings.http_host, port)], [runtime])
    runtime = _runtime(service, settings)
    if not args.no_migrate:
        runtime.migrate()
    runtime.start()
    return _serve_until_signal([(runtime.create_app(), settings.http_host, settings.http_port)], [runtime])


def _parked(runtime, args) -> int:
    queue = runtime.topology.consumer(runtime.name)
    runtime.declare()
    if args.replay or args.replay_all:
        moved = runtime.transport.replay(queue.parking, queue.name, None if args.replay_all else set(args.replay))
        print(f"replayed {moved} message(s) from {queue.parking} to {queue.name}")
        return 0
    messages = runtime.transport.parked(queue.parking)
    for m in messages:
        # Bodies stay out of the listing: a partner's command may carry personal data.
        row = {"message_id": m.message_id, "type": m.type, "reason": m.reason, "parked_at": m.parked_at,
               "retries": m.retries, "bytes": len(m.body), "detail": m.detail}
        print(json.dumps(row, ensure_ascii=False) if args.json else
              f"{m.parked_at or '-':<25} {m.reason:<22} {m.type or '-':<45} {m.message_id or '-'}  {m.detail}")
    if not args.json:
        print(f"{len(messages)} parked in {queue.parking}")
    return 0


def _audit(service, settings, args) -> int:
    from aidflow_shared.audit import AuditLog, exported
    from aidflow_shared.storage import Database
    db = Database(settings.database_url, service.metadata)
    try:
        log = AuditLog(db)
        if args.audit_command == "verify":
            result = log.verify()
            print(json.dumps(result.as_dict()))
            return 0 if result.ok else 1
        for row in log.iterate(after=args.after):
            print(json.dumps(exported(row), ensure_ascii=False))
        return 0
    finally:
        db.dispose()


def _runtime(service, settings):
    from aidflow_shared.runtime import ServiceRuntime
    return ServiceRuntime(service, settings)


def serve_apps(apps) -> list:
    """Start a threaded HTTP server per (app, host, port); returns the servers."""
    servers = []
    for app, host, port in apps:
        server = make_server(host, port, app, threaded=True)
        threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True).start()
        servers.append(server)
    return servers


def _serve_until_signal(apps, runtimes) -> int:
    servers = serve_apps(apps)
    for server in servers:
        log.info("listening", extra={"url": f"http://{server.host}:{server.port}"})
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    log.info("stopping")
    for server in servers:
        server.shutdown()
    for runtime in runtimes:
        runtime.stop()
    return 0


def _gunicorn(service, settings, workers: int, threads: int) -> int:
    from gunicorn.app.base import BaseApplication

    class Api(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{settings.http_host}:{settings.http_port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread" if threads > 1 else "sync")
            self.cfg.set("accesslog", None)
            self.cfg.set("graceful_timeout", 20)
            # One control socket per user by default: several APIs on one host would fight over it.
            self.cfg.set("control_socket_disable", True)
            # gunicorn's own lines go through our handlers (JSON, PII masked) like everything else.
            self.cfg.set("logconfig_dict", {"version": 1, "disable_existing_loggers": False, "root": {},
                                            "loggers": {"gunicorn.error": {"propagate": True},
                                                        "gunicorn.access": {"propagate": True}}})

        def load(self):
            # Runs in each worker after the fork: connections and threads are the worker's own.
            runtime = _runtime(service, settings)
            runtime.start(consume=False)
            return runtime.create_app()

    Api().run()
    return 0
