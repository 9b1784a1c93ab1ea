"""Settings from the environment: one typed, frozen object per service.

Every default runs the embedded mode (SQLite files under ``AIDFLOW_DATA_DIR`` and the
SQLite-backed embedded transport), so a laptop needs no server. Setting ``AMQP_URL`` and
``DATABASE_URL`` moves the same code onto RabbitMQ and PostgreSQL.

A per-service variable (``AIDFLOW_INTAKE_DATABASE_URL``) wins over the general one
(``DATABASE_URL``), so one environment file can describe a whole deployment.

Secrets (the JWT keys, the keys that seal personal data, the database and broker passwords) may
instead be read from a file named by the same variable with ``_FILE`` appended
(``AIDFLOW_JWT_SECRET_FILE=/run/secrets/jwt``), the way container secret stores mount them.
Outside the embedded mode :meth:`Settings.check_secrets` refuses development secrets.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, urlsplit

SERVICES = ("intake", "review", "payout", "followup")
DEFAULT_PORTS = {"intake": 8001, "review": 8002, "payout": 8003, "followup": 8004}
DEV_JWT_SECRET = "aidflow-dev-secret-change-me-in-production-0123456789"
MIN_SECRET_BYTES = 32  # HS256 keys shorter than its hash are guessable offline
# Secret variables that may come from a file (NAME_FILE); with or without a service prefix.
SECRET_NAMES = ("JWT_SECRET", "JWT_PREVIOUS_SECRETS", "DATABASE_PASSWORD", "AMQP_PASSWORD",
                "INTAKE_PII_KEY", "PAYOUT_PAYEE_KEY", "FOLLOWUP_CONTACT_KEY")
# The keys that seal personal data, by service; a deployment outside the embedded mode sets them.
SEALING_KEYS = {"intake": "AIDFLOW_INTAKE_PII_KEY", "payout": "AIDFLOW_PAYOUT_PAYEE_KEY",
                "followup": "AIDFLOW_FOLLOWUP_CONTACT_KEY"}
# Local development and the test suite may run on a broker with development secrets, if they say so.
ALLOW_DEV_SECRETS = "AIDFLOW_ALLOW_DEV_SECRETS"


class InsecureSettings(ValueError):
    """A deployment outside the embedded mode configured with development or missing secrets."""


@dataclass(frozen=True)
class Settings:
    service: str
    data_dir: Path = Path("data")
    database_url: str = ""
    amqp_url: str = ""  # empty: the embedded transport
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jwt_secret: str = DEV_JWT_SECRET  # signs new tokens and verifies them
    # Keys being rotated out: tokens they signed still verify until they expire.
    jwt_previous_secrets: tuple[str, ...] = ()
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
    # Housekeeping (workers): sent outbox rows and inbox rows older than these are pruned, every
    # housekeeping_interval seconds. The inbox's retention must far exceed any redelivery window.
    outbox_retention_days: int = 7
    inbox_retention_days: int = 30
    housekeeping_interval: float = 3600.0
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service!r}; one of {', '.join(SERVICES)}")
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / (self.service + '.sqlite3')}")
        if len(self.retry_delays) < self.max_retries:
            raise ValueError("retry_delays needs one delay per retry")
        for name in ("outbox_retention_days", "inbox_retention_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"AIDFLOW_{name.upper()} must be at least 1 day, got {getattr(self, name)}")
        if self.housekeeping_interval <= 0:
            raise ValueError(f"AIDFLOW_HOUSEKEEPING_INTERVAL must be a positive number of seconds, "
                             f"got {self.housekeeping_interval}")

    @property
    def embedded(self) -> bool:
        return not self.amqp_url

    @property
    def embedded_bus_path(self) -> Path:
        return self.data_dir / "bus.sqlite3"

    @property
    def using_dev_secret(self) -> bool:
        return self.jwt_secret == DEV_JWT_SECRET

    @property
    def jwt_verification_secrets(self) -> tuple[str, ...]:
        return (self.jwt_secret, *self.jwt_previous_secrets)

    def check_secrets(self, environ: Mapping[str, str] | None = None) -> None:
        """Refuse, with every reason at once, to run on a broker with development secrets.

        The embedded mode is a laptop's: it keeps its development keys. Anything on a broker
        must bring its own JWT secret, its keys for personal data and broker credentials other
        than RabbitMQ's ``guest`` on a remote host, unless ``AIDFLOW_ALLOW_DEV_SECRETS`` is set
        (local development and tests).
        """
        environ = os.environ if environ is None else environ
        if self.embedded or _bool(environ.get(ALLOW_DEV_SECRETS, "")):
            return
        problems = []
        for secret in self.jwt_verification_secrets:
            if secret == DEV_JWT_SECRET:
                problems.append("AIDFLOW_JWT_SECRET is the development secret")
            elif len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
                problems.append(f"a JWT secret is shorter than {MIN_SECRET_BYTES} bytes")
        key = SEALING_KEYS.get(self.service)
        if key and not (self.extra.get(key) or environ.get(key)):
            problems.append(f"{key} is not set: personal data would be sealed with no deployment key")
        broker = urlsplit(self.amqp_url)
        if broker.username in (None, "", "guest") and not _local(broker.hostname):
            problems.append("AMQP_URL uses RabbitMQ's guest account on a remote host")
        if problems:
            raise InsecureSettings(f"{self.service} refuses to start: " + "; ".join(problems)
                                   + f" (set {ALLOW_DEV_SECRETS}=1 only for local development)")

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> "Settings":
        if environ is None:
            environ = os.environ
        source = _with_secret_files(environ, service)
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
            database_url=_with_password(pick("DATABASE_URL", "DATABASE_URL") or "", pick("DATABASE_PASSWORD")),
            amqp_url=_with_password(pick("AMQP_URL", "AMQP_URL") or "", pick("AMQP_PASSWORD")),
            http_host=pick("HOST") or "127.0.0.1",
            http_port=int(pick("PORT") or DEFAULT_PORTS[service]),
            jwt_secret=pick("JWT_SECRET") or DEV_JWT_SECRET,
            jwt_previous_secrets=tuple(part.strip() for part in (pick("JWT_PREVIOUS_SECRETS") or "").replace(
                "\n", ",").split(",") if part.strip()),
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
            outbox_retention_days=int(pick("OUTBOX_RETENTION_DAYS") or 7),
            inbox_retention_days=int(pick("INBOX_RETENTION_DAYS") or 30),
            housekeeping_interval=float(pick("HOUSEKEEPING_INTERVAL") or 3600.0),
            extra={k: v for k, v in source.items() if k.startswith(prefix)},
        )
        return cls(**values)


def read_secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of ``name``, or the contents of the file ``name_FILE`` names; empty if neither."""
    environ = os.environ if environ is None else environ
    value, path = environ.get(name, ""), environ.get(name + "_FILE", "")
    if value and path:
        raise ValueError(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return value


def _with_secret_files(environ: Mapping[str, str], service: str) -> dict[str, str]:
    """``environ`` with every secret given as a file read into its plain variable."""
    source = dict(environ)
    for name in SECRET_NAMES:
        for key in (f"AIDFLOW_{name}", f"AIDFLOW_{service.upper()}_{name}"):
            value = read_secret(key, source)
            if value:
                source[key] = value
    return source


def _with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` put in (a password kept apart, e.g. in a secret file)."""
    if not url or not password:
        return url
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}").geturl()


def _local(host: str | None) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"AIDFLOW_RETRY_DELAYS must be comma-separated seconds, got {text!r}") from exc


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")
