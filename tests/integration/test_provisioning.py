"""Provisioning a partner agency in one command, and removing it in one, on the real broker and
the services' HTTP APIs: the agency works after ``add`` and is refused after ``remove``."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pika
import pika.exceptions
import pytest

from aidflow_partner import ConnectionFailed, PartnerClient, ReadRefused
from aidflow_shared.cli import serve_apps
from support import TEST_SECRET
from test_intake_partners import transfer
from test_partner_client_support import agency_url, intake, new_agency, start_followup  # noqa: F401


@pytest.fixture
def apis(broker, intake, start_followup):  # noqa: F811
    """Intake's and follow-up's HTTP APIs on local ports, as an operator reaches them."""
    followup = start_followup(amqp_url=broker.url)
    servers = serve_apps([(intake.runtime.create_app(), "127.0.0.1", 0),
                          (followup.runtime.create_app(), "127.0.0.1", 0)])
    yield intake, followup, {"AIDFLOW_INTAKE_URL": f"http://127.0.0.1:{servers[0].port}",
                             "AIDFLOW_FOLLOWUP_URL": f"http://127.0.0.1:{servers[1].port}"}
    for server in servers:
        server.shutdown()


@pytest.fixture
def partner(broker, apis, tmp_path):
    """Runs ``aidflow partner <args>`` the way an operator does; removes what it added."""
    env = {**os.environ, **apis[2], "AIDFLOW_ADMIN_AMQP_URL": broker.url, "AIDFLOW_JWT_SECRET": TEST_SECRET}
    added = []

    def run(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
        if args[0] == "add":
            added.append(args[1])
        return subprocess.run([sys.executable, "-m", "aidflow", "partner", *args], input=password, env=env,
                              capture_output=True, text=True, timeout=300)

    yield run
    for agency in added:
        run("remove", agency)


def queue_exists(broker, name: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        connection.channel().queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as closed:
        assert closed.reply_code == 404
        return False
    finally:
        if connection.is_open:
            connection.close()


def test_add_makes_an_agency_that_works_and_remove_makes_it_refused(broker, apis, partner):
    intake, _, _ = apis
    agency, password = new_agency(), uuid.uuid4().hex
    added = partner("add", agency, "--name", "税务局", password=password)
    assert added.returncode == 0, added.stderr
    assert "not one of its hand-off agencies" in added.stdout  # follow-up has no service of it
    [entry] = [a for a in intake.get("/agencies", "ops")["items"] if a["code"] == agency]
    assert entry == {"code": agency, "name": "税务局", "broker_user": agency, "active": True}

    with PartnerClient(agency_url(broker, agency, password), agency) as client:
        answer = client.wait_for_answer(client.submit_referral(transfer(201)), timeout=30)
        assert answer.kind == "referral.accepted"
        with pytest.raises(ReadRefused):  # its own queue only
            PartnerClient(agency_url(broker, agency, password), "legal-aid").receive(print, timeout=1)

    # Again, with a new password: the same agency, the old password no longer works.
    new_password = uuid.uuid4().hex
    assert partner("add", agency, password=new_password).returncode == 0
    with pytest.raises(ConnectionFailed):
        PartnerClient(agency_url(broker, agency, password), agency, reconnect_attempts=0).connect()
    assert [a["name"] for a in intake.get("/agencies", "ops")["items"] if a["code"] == agency] == ["税务局"]

    removed = partner("remove", agency)
    assert removed.returncode == 0, removed.stderr
    with pytest.raises(ConnectionFailed):
        PartnerClient(agency_url(broker, agency, new_password), agency, reconnect_attempts=0).connect()
    assert [a["active"] for a in intake.get("/agencies", "ops")["items"] if a["code"] == agency] == [False]
    assert queue_exists(broker, f"aidflow.partner.{agency}")  # what waits for the agency is kept ...
    assert partner("remove", agency, "--delete-queue").returncode == 0  # ... unless asked
    assert not queue_exists(broker, f"aidflow.partner.{agency}")

    bad = partner("add", "Tax_Bureau", password="x")
    assert bad.returncode == 1 and "agency code must match" in bad.stderr


def test_an_agency_of_followups_catalogue_takes_handoffs_over_the_broker_until_removed(apis, partner):
    _, followup, _ = apis
    assert followup.call("PUT", "/agencies/youth-league", "ops", json={"channel": "staff"}).status_code == 200
    added = partner("add", "youth-league", password=uuid.uuid4().hex)
    assert added.returncode == 0, added.stderr
    assert "follow-up: hand-offs over the broker" in added.stdout

    def registered():
        return next(a for a in followup.get("/agencies")["items"] if a["code"] == "youth-league")

    assert (registered()["channel"], registered()["active"]) == ("broker", True)
    assert partner("remove", "youth-league").returncode == 0
    assert registered()["active"] is False
