"""Settings from the environment: one typed, frozen object per service.

Every default runs the embedded mode (SQLite files under ``AIDFLOW_DATA_DIR`` and the
SQLite-backed embedded transport), so a laptop needs no server. Setting ``AMQP_URL`` and
``DATABASE_URL`` moves the same code onto RabbitMQ and PostgreSQL.

A per-service variable (``AIDFLOW_INTAKE_DATABASE_URL``) wins over the general one
(``DATABASE_URL``), so one environment file can describe a whole deployment.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

SERVICES = ("intake", "review", "payout", "followup")
DEFAULT_PORTS = {"intake": 8001, "review": 8002, "payout": 8003, "followup": 8004}
DEV_JWT_SECRET = "aidflow-dev-secret-change-me-in-production-0123456789"


@dataclass(frozen=True)
class Settings:
    service: str
    data_dir: Path = Path("data")
    database_url: str = ""
    amqp_url: str = ""  # empty: the embedded transport
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "aidflow"
    jwt_audience: str = "aidflow"
    # Handler failures are retried this many times, waiting retry_delays[i] before try i+1,
    # then parked. The broker's own delivery limit catches consumers that crash mid-message.
    max_retries: int = 3
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    delivery_limit: int = 5
    prefetch: int = 32
    relay_batch: int = 200
    relay_interval: float = 0.5
    log_level: str = "INFO"
    log_json: bool = True
    # Deadlines: the calendar override file, the policy profile variables (AIDFLOW_POLICY,
    # AIDFLOW_POLICY_FILE, AIDFLOW_POLICY_<NAME>) and how often workers look for breaches.
    calendar_overrides: str = ""
    policy_environ: Mapping[str, str] = field(default_factory=dict)
    deadline_scan_interval: float = 30.0
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service!r}; one of {', '.join(SERVICES)}")
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / (self.service + '.sqlite3')}")
        if len(self.retry_delays) < self.max_retries:
            raise ValueError("retry_delays needs one delay per retry")

    @property
    def embedded(self) -> bool:
        return not self.amqp_url

    @property
    def embedded_bus_path(self) -> Path:
        return self.data_dir / "bus.sqlite3"

    @property
    def using_dev_secret(self) -> bool:
        return self.jwt_secret == DEV_JWT_SECRET

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> "Settings":
        if environ is None:
            environ = os.environ
        source = dict(environ)
        prefix = f"AIDFLOW_{service.upper()}_"

        def pick(name: str, general: str | None = None) -> str | None:
            """The service-specific variable first, then the general one."""
            for key in (prefix + name, general or f"AIDFLOW_{name}"):
                if key in source and source[key] != "":
                    return source[key]
            return None

        data_dir = Path(pick("DATA_DIR") or "data")
        values = dict(
            service=service,
            data_dir=data_dir,
            database_url=pick("DATABASE_URL", "DATABASE_URL") or "",
            amqp_url=pick("AMQP_URL", "AMQP_URL") or "",
            http_host=pick("HOST") or "127.0.0.1",
            http_port=int(pick("PORT") or DEFAULT_PORTS[service]),
            jwt_secret=pick("JWT_SECRET") or DEV_JWT_SECRET,
            jwt_issuer=pick("JWT_ISSUER") or "aidflow",
            jwt_audience=pick("JWT_AUDIENCE") or "aidflow",
            max_retries=int(pick("MAX_RETRIES") or 3),
            retry_delays=_floats(pick("RETRY_DELAYS") or "1,5,30"),
            delivery_limit=int(pick("DELIVERY_LIMIT") or 5),
            prefetch=int(pick("PREFETCH") or 32),
            relay_batch=int(pick("RELAY_BATCH") or 200),
            relay_interval=float(pick("RELAY_INTERVAL") or 0.5),
            log_level=(pick("LOG_LEVEL") or "INFO").upper(),
            log_json=_bool(pick("LOG_JSON") or "true"),
            calendar_overrides=pick("CALENDAR_OVERRIDES") or "",
            policy_environ={k: v for k, v in source.items() if k.startswith("AIDFLOW_POLICY")},
            deadline_scan_interval=float(pick("DEADLINE_SCAN_INTERVAL") or 30.0),
            extra={k: v for k, v in source.items() if k.startswith(prefix)},
        )
        return cls(**values)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"AIDFLOW_RETRY_DELAYS must be comma-separated seconds, got {text!r}") from exc


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")
