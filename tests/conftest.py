"""Real parts for the tests: a fresh RabbitMQ vhost and fresh PostgreSQL databases per test.

Nothing here mocks the broker or the database. Where RabbitMQ or PostgreSQL is not reachable the
tests that need it are skipped, except under ``CI=true``, where they fail: CI must not pass by
skipping what it was meant to check.

Addresses come from ``AIDFLOW_TEST_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672/``)
and ``AIDFLOW_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, settings

# The machine running the suite may be busy: judge generated inputs on their results, not their speed.
settings.register_profile("aidflow", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("aidflow")

AMQP_BASE = os.environ.get("AIDFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_ADMIN = os.environ.get("AIDFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _unavailable(what: str):
    if IN_CI:
        pytest.fail(f"{what} is not reachable, and CI=true demands the real thing")
    pytest.skip(f"{what} is not reachable")


def rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=check)


@dataclass(frozen=True)
class Broker:
    url: str
    vhost: str

    def connections(self) -> int:
        listing = rabbitmqctl("list_connections", "-q", "vhost").stdout.split()
        return listing.count(self.vhost)

    def close_connections(self) -> int:
        """Drop every client connection to this vhost, as a broker restart or network cut would.

        Returns how many connections there were to drop."""
        open_now = self.connections()
        rabbitmqctl("close_all_connections", "-p", self.vhost, "test: dropping connections")
        return open_now


@pytest.fixture(autouse=True)
def _restore_logging():
    """A command run in-process (``service_main``...) configures logging for a process: its
    handler writes to the stream of the test that ran it and masks records for every handler
    after it. Put the root logger back as it was after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


@pytest.fixture
def broker():
    """A fresh RabbitMQ vhost (guest has full rights in it), deleted afterwards."""
    if not _reachable(AMQP_BASE, 5672):
        _unavailable("RabbitMQ")
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl (to create a test vhost)")
    vhost = f"aidflow-test-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    parts = urlsplit(AMQP_BASE)
    yield Broker(f"{parts.scheme}://{parts.netloc}/{quote(vhost, safe='')}", vhost)
    rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture
def pg_database():
    """A factory of fresh PostgreSQL databases; every one is dropped afterwards."""
    if not _reachable(PG_ADMIN.replace("postgresql+psycopg", "postgresql"), 5432):
        _unavailable("PostgreSQL")
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN)
    conninfo = dict(host=admin.host or "127.0.0.1", port=admin.port or 5432, user=admin.username or "postgres",
                    dbname=admin.database or "postgres", autocommit=True)
    if admin.password:
        conninfo["password"] = admin.password
    created = []

    def create(label: str = "db") -> str:
        name = f"aidflow_test_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(**conninfo) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return admin.set(database=name).render_as_string(hide_password=False)

    yield create
    with psycopg.connect(**conninfo) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """Each storage test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("pg_database")("storage")
