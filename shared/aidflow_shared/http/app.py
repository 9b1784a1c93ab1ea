"""The app factory every service uses: its blueprints inside the same shell.

The shell is what operators and clients rely on across services: one error format, the bearer
token check, ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``, a body size limit and
request metrics. A service passes its blueprints and readiness checks and writes nothing else.
"""
from __future__ import annotations

import logging
import time
from typing import Callable
from weakref import WeakKeyDictionary

from flask import Blueprint, Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from aidflow_shared.http.auth import install_auth
from aidflow_shared.http.errors import register_error_handlers
from aidflow_shared.http.openapi import install_openapi
from aidflow_shared.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # referrals are small JSON documents; scans go elsewhere
# Label values stand in for what clients made up (paths, methods), so labels stay few.
UNMATCHED_ROUTE = "<unmatched>"
OTHER_METHOD = "OTHER"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def create_api_app(
    settings: Settings,
    *,
    title: str,
    version: str,
    blueprints: list[Blueprint],
    readiness: dict[str, Callable[[], None]],
    metrics_registry: CollectorRegistry,
    liveness: dict[str, Callable[[], None]] | None = None,
) -> Flask:
    """A Flask app serving ``blueprints`` under the shared shell.

    ``readiness`` maps a name (``database``, ``broker``) to a check that raises when that
    dependency cannot be used; each check must bound its own wait. ``liveness`` maps a name to a
    cheap check of the process itself (no I/O) that raises when the process can no longer do its
    work and should be restarted; ``/healthz`` fails with it. Request metrics go into
    ``metrics_registry``, which ``/metrics`` serves with everything else registered there.
    """
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # Metrics first, so that requests refused by the token check are timed and counted too.
    _install_request_metrics(app, settings.service, metrics_registry)
    register_error_handlers(app)
    install_auth(app, settings)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    _install_probes(app, readiness, metrics_registry, liveness or {})
    install_openapi(app, title=title, version=version)
    if settings.using_dev_secret:
        logger.warning(
            "%s accepts tokens signed with the development JWT secret; set AIDFLOW_JWT_SECRET",
            settings.service,
        )
    return app


def _install_probes(
    app: Flask, readiness: dict[str, Callable[[], None]], registry: CollectorRegistry,
    liveness: dict[str, Callable[[], None]],
) -> None:
    @app.get("/healthz")
    def healthz():
        """Alive: the process answers requests and its background work still runs."""
        for name, check in liveness.items():
            try:
                check()
            except Exception as exc:  # a dead consumer or relay: restart the process
                logger.error("liveness check %s failed: %s", name, exc)
                return jsonify(status="failed", checks={name: f"failed: {exc}"}), 503
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        """Ready: every dependency answered its check."""
        checks, ready = {}, True
        for name, check in readiness.items():
            try:
                check()
            except Exception as exc:  # any failure means not ready; the reason goes to the log
                logger.warning("readiness check %s failed: %s", name, exc)
                # The exception's class only: its text can hold a connection URL with a password.
                checks[name], ready = f"failed: {type(exc).__name__}", False
            else:
                checks[name] = "ok"
        if ready:
            return jsonify(status="ready", checks=checks)
        return jsonify(status="not_ready", checks=checks), 503

    @app.get("/metrics")
    def metrics():
        """Prometheus metrics of this service."""
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _install_request_metrics(app: Flask, service: str, registry: CollectorRegistry) -> None:
    """Count and time requests by route template, never by raw path (ids would explode labels)."""
    requests_total, request_seconds = _request_metrics(registry)

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        method = request.method if request.method in _METHODS else OTHER_METHOD
        requests_total.labels(service, method, route, str(response.status_code)).inc()
        request_seconds.labels(service, route).observe(time.perf_counter() - g.request_started)
        return response


# A registry refuses a second metric of the same name, yet a process may build several apps
# reporting into one registry (the API and the worker's health app, tests): they share the pair.
_METRICS_BY_REGISTRY: WeakKeyDictionary[CollectorRegistry, tuple[Counter, Histogram]] = WeakKeyDictionary()


def _request_metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    if registry not in _METRICS_BY_REGISTRY:
        _METRICS_BY_REGISTRY[registry] = (
            Counter(
                "aidflow_http_requests",
                "HTTP requests answered, by route and status.",
                ["service", "method", "route", "status"],
                registry=registry,
            ),
            Histogram(
                "aidflow_http_request_seconds",
                "Time to answer an HTTP request, by route.",
                ["service", "route"],
                registry=registry,
            ),
        )
    return _METRICS_BY_REGISTRY[registry]
