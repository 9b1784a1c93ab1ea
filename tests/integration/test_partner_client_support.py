"""Helpers for the partner client's tests: intake and follow-up consuming on a real RabbitMQ vhost,
and agencies set up on the broker the way ``aidflow partner add`` does it.

Imported by the ``test_partner_client*`` and ``test_provisioning`` modules; no tests of its own.
"""
from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from aidflow.provisioning import Broker
from aidflow_partner import PartnerClient
from support import IntakeApp, settings_for
from test_followup_support import start_followup  # noqa: F401 - a fixture, re-exported

SERVICES = ("intake", "review", "payout", "followup")


def new_agency() -> str:
    """An agency code of this test run only: broker users are global to the node."""
    return f"tb-{uuid.uuid4().hex[:8]}"


def agency_url(broker, user: str, password: str) -> str:
    return f"amqp://{user}:{password}@127.0.0.1:5672/{quote(broker.vhost, safe='')}"


@pytest.fixture
def intake(tmp_path, broker):
    """Intake consuming on the broker (SQLite: the database is not what is tested here)."""
    app = IntakeApp(settings_for(tmp_path, amqp_url=broker.url)["intake"])
    app.runtime.start()
    yield app
    app.close()


@pytest.fixture
def broker_admin(broker):
    return Broker(broker.url)


@pytest.fixture
def partner_clients(broker, broker_admin):
    """``partner_clients(code)``: the broker user, permissions and queue of an agency as
    provisioning sets them up; returns a connected :class:`PartnerClient` (closed, and the user
    deleted, afterwards). The client's ``url`` is kept on it for tests that need the credentials."""
    made, clients = [], []

    def make(agency: str | None = None) -> PartnerClient:
        agency = agency or new_agency()
        password = uuid.uuid4().hex
        broker_admin.add(agency, password)
        made.append(agency)
        url = agency_url(broker, agency, password)
        client = PartnerClient(url, agency, backoff=0.1, retry_pause=0.1)
        client.url = url
        clients.append(client)
        return client.connect()

    yield make
    for client in clients:
        client.close()
    for agency in made:
        broker_admin.remove(agency, delete_queue=False)


@pytest.fixture
def agencies(intake, partner_clients):
    """Like ``partner_clients``, and the agency registered with intake as an operator does."""

    def make(agency: str | None = None) -> PartnerClient:
        client = partner_clients(agency)
        registered = intake.call("PUT", f"/agencies/{client.agency}", "ops",
                                 json={"name": client.agency, "broker_user": client.user, "active": True})
        assert registered.status_code == 200, registered.get_json()
        return client

    return make


__all__ = ["intake", "broker_admin", "partner_clients", "agencies", "start_followup", "new_agency", "agency_url"]
