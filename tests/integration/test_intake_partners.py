"""Transfers from partner agencies: over the real broker, with a pika client acting as the
agency under its own broker user, and over HTTP with the agency's token.

On the broker the agency is who RabbitMQ says published (the validated ``user_id``), never what
the body or the routing key claims; the answer comes back on the agency's own queue,
correlated to its message id, and carries no personal data.
"""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

import pika
import pika.exceptions
import pytest

from aidflow_intake.identity import check_character
from aidflow_shared.contracts import INBOUND
from aidflow_shared.contracts.catalogue import REFERRAL_SUBMIT
from aidflow_shared.envelope import CONTENT_TYPE
from support import IntakeApp, referral, resident_id, settings_for, wait_until

SERVICES = ("intake", "review", "payout", "followup")
AGENCY = "poverty-bureau"


def rabbitmqctl(*args: str, check: bool = True):
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=check)


@pytest.fixture
def intake(tmp_path, broker, pg_database):
    """Intake on RabbitMQ and PostgreSQL, consuming, with a test client of its API."""
    url = pg_database("intake")
    app = IntakeApp(settings_for(tmp_path, amqp_url=broker.url, db_urls={n: url for n in SERVICES})["intake"])
    app.runtime.start()
    yield app
    app.close()


@pytest.fixture
def agency_users(broker, intake):
    """A broker user per agency, as an operator sets one up: it may write to the inbound
    exchange and read the agency's own queue, configure nothing, and intake's registry maps it
    to the agency. Broker users are global to the node, so each test run has its own names."""
    created = []

    def create(agency: str) -> tuple[str, str]:
        user, password = f"{agency}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        rabbitmqctl("add_user", user, password)
        rabbitmqctl("set_permissions", "-p", broker.vhost, user, "^$", r"^aidflow\.inbound$",
                    rf"^aidflow\.partner\.{agency}$")
        created.append(user)
        registered = intake.call("PUT", f"/agencies/{agency}", "ops",
                                 json={"name": agency, "broker_user": user, "active": True})
        assert registered.status_code == 200, registered.get_json()
        return f"amqp://{user}:{password}@127.0.0.1:5672/{quote(broker.vhost, safe='')}", user

    yield create
    for user in created:
        rabbitmqctl("delete_user", user, check=False)


class Agency:
    """A partner agency's own client: publishes transfers, reads the answers on its queue."""

    def __init__(self, credentials: tuple[str, str], name: str):
        url, self.user = credentials
        self.name = name
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def submit(self, data: dict, *, routing_agency: str | None = None, user_id: str | None = "self",
               message_id: str | None = None, indent: int | None = None) -> str:
        message_id = message_id or str(uuid.uuid4())
        body = {"specversion": "1.0", "id": message_id, "source": f"/partners/{self.name}",
                "type": REFERRAL_SUBMIT.type, "time": datetime.now(timezone.utc).isoformat(),
                "datacontenttype": "application/json", "data": data}
        properties = pika.BasicProperties(content_type=CONTENT_TYPE, message_id=message_id, type=REFERRAL_SUBMIT.type,
                                          delivery_mode=2, user_id=self.user if user_id == "self" else user_id)
        self.channel.basic_publish(INBOUND, f"{routing_agency or self.name}.referral.submit.v1",
                                   json.dumps(body, ensure_ascii=False, indent=indent).encode(), properties)
        return message_id

    def answer(self, timeout: float = 20) -> tuple[pika.BasicProperties, dict, str]:
        def fetch():
            method, properties, body = self.channel.basic_get(f"aidflow.partner.{self.name}", auto_ack=True)
            return (properties, json.loads(body), method.routing_key) if method else None
        return wait_until(fetch, timeout, f"an answer on {self.name}'s queue", interval=0.1)

    def close(self):
        if self.connection.is_open:
            self.connection.close()


@pytest.fixture
def agency(intake, agency_users):
    client = Agency(agency_users(AGENCY), AGENCY)
    yield client
    client.close()


def transfer(n: int, **changes) -> dict:
    body = referral(n, **changes)
    data = {k: body[k] for k in ("criminal_case_ref", "summary", "beneficiaries", "documents")}
    data["partner_reference"] = f"扶移〔2026〕{n}号"
    data["beneficiaries"][0]["phone"] = "13811112222"
    data["beneficiaries"][0]["poverty_markers"] = ["registered_poor_household"]
    return data


def no_personal_data(document, data: dict) -> bool:
    text = json.dumps(document, ensure_ascii=False)
    person = data["beneficiaries"][0]
    return all(value not in text for value in (person["name"], person["id_number"], person["phone"]))


# -- over the broker -----------------------------------------------------------------------------------


def test_a_transfer_over_the_broker_becomes_a_case_and_is_answered_on_the_agencys_queue(intake, agency):
    data = transfer(1)
    message_id = agency.submit(data)
    properties, envelope, routing_key = agency.answer()
    assert properties.correlation_id == message_id and properties.type.endswith("referral.accepted.v1")
    assert routing_key == f"{AGENCY}.referral.accepted.v1" and properties.content_type == CONTENT_TYPE
    answer = envelope["data"]
    assert answer["partner_reference"] == data["partner_reference"] and answer["already_received"] is False
    assert no_personal_data(envelope, data)

    cases = intake.get("/cases")["items"]
    assert [c["case_number"] for c in cases] == [answer["case_number"]]
    case = intake.get(f"/cases/{cases[0]['case_id']}")
    assert (case["source"], case["source_agency"], case["registered_by"]) == (
        "partner_transfer", AGENCY, f"partner:{AGENCY}")
    assert case["partner_reference"] == data["partner_reference"] and case["status"] == "registered"
    [received] = case["transfers"]
    assert received["channel"] == "broker" and received["outcome"] == "accepted"
    assert received["received_at"] <= received["answered_at"]  # what the transfer clock will measure
    assert case["beneficiaries"][0]["poverty_markers"] == ["registered_poor_household"]
    assert "checklist.transfer_letter" in case["checklist"]["missing"]  # the letter itself is still due

    # Sent again (the agency's own retry), it is the same case, said so.
    again_id = agency.submit(data)
    properties, envelope, _ = agency.answer()
    assert properties.correlation_id == again_id
    assert envelope["data"]["case_number"] == answer["case_number"] and envelope["data"]["already_received"]
    assert intake.count("aid_case") == 1


def test_a_bad_transfer_is_rejected_field_by_field_and_nothing_is_registered(intake, agency):
    data = transfer(2)
    good = data["beneficiaries"][0]["id_number"]
    data["beneficiaries"][0]["id_number"] = good[:17] + ("0" if good[17] != "0" else "1")
    data["beneficiaries"].append({"name": "同案", "id_number": resident_id(3), "relationship": "witness"})
    message_id = agency.submit(data)
    properties, envelope, routing_key = agency.answer()
    assert properties.correlation_id == message_id and routing_key == f"{AGENCY}.referral.rejected.v1"
    rejected = envelope["data"]
    assert rejected["reason"] == "validation_failed" and rejected["partner_reference"] == data["partner_reference"]
    problems = {(e["field"], e["code"]) for e in rejected["errors"]}
    assert ("beneficiaries.0.id_number", "invalid_id_checksum") in problems
    assert all(e["message"] for e in rejected["errors"])
    assert no_personal_data(envelope, data) and data["beneficiaries"][0]["id_number"] not in json.dumps(envelope)
    assert intake.count("aid_case") == 0 and intake.count("person") == 0
    assert [e["type"].split(".")[-2] for e in intake.events()] == ["rejected"]

    rules = {**transfer(4), "victim_deceased": True}  # a deceased victim cannot be a beneficiary
    agency.submit(rules)
    assert {(e["field"], e["code"]) for e in agency.answer()[1]["data"]["errors"]} == {
        ("beneficiaries.0.relationship", "relative_required")}
    agency.submit({"summary": "no reference, no people"})
    missing = agency.answer()[1]["data"]
    assert missing["partner_reference"] is None
    assert {(e["field"], e["code"]) for e in missing["errors"]} == {("partner_reference", "required"),
                                                                   ("beneficiaries", "required")}

    # The procuratorate already has this person's case in the same criminal case: not a second one.
    intake.refer(referral(8))
    agency.submit(transfer(8))
    duplicate = agency.answer()[1]["data"]
    assert duplicate["reason"] == "duplicate_case"
    assert [(e["field"], e["code"]) for e in duplicate["errors"]] == [("beneficiaries.0", "duplicate_case")]
    assert intake.count("aid_case") == 1


def test_a_partner_naming_another_agency_in_the_routing_key_is_answered_agency_mismatch(intake, agency,
                                                                                       agency_users):
    other = Agency(agency_users("civil-affairs"), "civil-affairs")
    try:
        message_id = agency.submit(transfer(5), routing_agency="civil-affairs")
        properties, envelope, routing_key = agency.answer()
        assert properties.correlation_id == message_id and routing_key == f"{AGENCY}.referral.rejected.v1"
        assert envelope["data"]["reason"] == "agency_mismatch"
        assert envelope["data"]["errors"][0]["code"] == "agency_mismatch"
        assert other.channel.basic_get("aidflow.partner.civil-affairs", auto_ack=True)[0] is None
        assert intake.count("aid_case") == 0
        # Nor can it read another agency's queue, or claim another broker user.
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            agency.channel.basic_get("aidflow.partner.civil-affairs", auto_ack=True)
        assert refused.value.reply_code == 403
    finally:
        other.close()
    forger = Agency(agency_users(AGENCY), AGENCY)
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as forged:
            forger.submit(transfer(6), routing_agency="civil-affairs", user_id=other.user)
        assert forged.value.reply_code == 406  # RabbitMQ: user_id is not the connection's user
    finally:
        forger.close()
    time.sleep(0.5)
    assert intake.count("aid_case") == 0


def test_a_message_id_reused_for_another_transfer_is_parked_unanswered_without_personal_data(intake, agency,
                                                                                            broker, caplog):
    """The agency's bug: a second transfer under the id of the first. Not dropped as a duplicate:
    parked, with a reason and a detail that carry none of the people's data, and nothing registered.
    The first transfer sent again under its id (re-serialised, stamped anew) stays a duplicate."""
    first = transfer(20)
    message_id = agency.submit(first)
    properties, answer, _ = agency.answer()
    assert properties.correlation_id == message_id
    second = transfer(21)
    agency.submit(second, message_id=message_id)
    agency.submit(first, message_id=message_id, indent=2)  # the agency's honest retry of the first
    after = agency.submit(transfer(22))
    properties, answer_after, _ = agency.answer()
    assert properties.correlation_id == after  # the one after is handled; nothing answered between
    queue = intake.runtime.topology.consumer("intake").parking
    [parked] = wait_until(lambda: intake.runtime.transport.parked(queue), what="the second transfer to be parked")
    assert (parked.message_id, parked.reason) == (message_id, "id-reused")
    assert json.loads(parked.body)["data"] == second  # the message itself is kept, for the operator to judge
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        _, properties, _ = connection.channel().basic_get(queue, auto_ack=False)  # a look, handed back on close
    finally:
        connection.close()
    person = second["beneficiaries"][0]
    assert any(getattr(record, "reason", None) == "id-reused" for record in caplog.records)
    logged = " ".join(str(vars(record)) for record in caplog.records)
    said = json.dumps(properties.headers, ensure_ascii=False, default=str) + logged
    assert "id-reused" in said and all(v not in said for v in (person["name"], person["id_number"], person["phone"]))
    assert sorted(c["case_number"] for c in intake.get("/cases")["items"]) == sorted(
        [answer["data"]["case_number"], answer_after["data"]["case_number"]])  # the second never registered


def test_a_transfer_without_a_known_publisher_is_parked_not_answered(intake, broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))  # guest: a user, but no agency
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for user_id in (None, "guest"):
            body = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/somebody", "type": REFERRAL_SUBMIT.type,
                    "time": datetime.now(timezone.utc).isoformat(), "data": transfer(7)}
            channel.basic_publish(INBOUND, f"{AGENCY}.referral.submit.v1", json.dumps(body).encode(),
                                  pika.BasicProperties(content_type=CONTENT_TYPE, message_id=body["id"],
                                                       type=REFERRAL_SUBMIT.type, user_id=user_id))
    finally:
        connection.close()
    queue = intake.runtime.topology.consumer("intake").parking
    parked = wait_until(lambda: (p := intake.runtime.transport.parked(queue)) and len(p) == 2 and p,
                        what="both to be parked")
    assert {p.reason for p in parked} == {"unauthorized-publisher"}
    assert intake.count("aid_case") == 0 and intake.events() == []


# -- over HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
def intake_http(tmp_path):
    app = IntakeApp(settings_for(tmp_path)["intake"])
    yield app
    app.close()


def partner_post(app, body, agency: str | None = AGENCY):
    return app.post("/partner-referrals", body, role="partner_agency", agency=agency)


def test_a_transfer_over_http_takes_the_agency_from_the_token(intake_http):
    data = transfer(10)
    response = partner_post(intake_http, data)
    assert response.status_code == 201
    answer = response.get_json()
    assert set(answer) == {"partner_reference", "case_number", "already_received", "received_at", "answered_at"}
    assert no_personal_data(answer, data)
    case = intake_http.get("/cases")["items"][0]
    assert case["source_agency"] == AGENCY and case["case_number"] == answer["case_number"]
    transfers = intake_http.get(f"/cases/{case['case_id']}")["transfers"]
    assert [(t["agency"], t["channel"], t["outcome"]) for t in transfers] == [(AGENCY, "http", "accepted")]
    assert [e["type"].split(".")[-2] for e in intake_http.events()] == ["opened"]  # the HTTP reply is the answer

    again = partner_post(intake_http, data)
    assert again.status_code == 200 and again.get_json()["already_received"] is True
    assert again.get_json()["case_number"] == answer["case_number"] and intake_http.count("aid_case") == 1


def test_over_http_the_body_never_decides_the_agency(intake_http):
    mismatch = partner_post(intake_http, {**transfer(11), "source_agency": "civil-affairs"})
    assert mismatch.status_code == 403 and mismatch.get_json()["error"]["code"] == "agency_mismatch"
    same = partner_post(intake_http, {**transfer(11), "source_agency": AGENCY})
    assert same.status_code == 201
    agencyless = partner_post(intake_http, transfer(12), agency=None)
    assert agencyless.status_code == 403 and agencyless.get_json()["error"]["code"] == "agency_required"
    staff = intake_http.post("/partner-referrals", transfer(13))
    assert staff.status_code == 403
    bad = transfer(14)
    first17 = "51010420300101001"
    bad["beneficiaries"][0]["id_number"] = first17 + check_character(first17)
    refused = partner_post(intake_http, bad)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["beneficiaries.0.id_number"][0]["code"] == "invalid_id_birth_date"
    assert intake_http.count("aid_case") == 1
    # A partner cannot read cases at all.
    assert intake_http.call("GET", "/cases", "partner_agency", agency=AGENCY).status_code == 403


def test_the_registry_lists_the_agencies_of_the_design(intake_http):
    agencies = intake_http.get("/agencies")["items"]
    assert {a["code"] for a in agencies} == {"procuratorate", "poverty-bureau", "civil-affairs", "youth-league",
                                             "womens-federation", "psych-center", "legal-aid",
                                             "village-committee", "finance-bureau"}
    assert all(a["broker_user"] == a["code"] and a["active"] for a in agencies)

    # Operators extend it, or give an agency another broker user; one user speaks for one agency.
    added = intake_http.call("PUT", "/agencies/tax-bureau", "ops", json={"name": "税务局", "broker_user": "tax"})
    assert added.status_code == 200 and added.get_json() == {"code": "tax-bureau", "name": "税务局",
                                                             "broker_user": "tax", "active": True}
    taken = intake_http.call("PUT", "/agencies/legal-aid", "ops", json={"name": "法律援助中心", "broker_user": "tax"})
    assert taken.status_code == 409 and taken.get_json()["error"]["fields"]["broker_user"][0]["code"] == "duplicate"
    assert intake_http.call("PUT", "/agencies/tax-bureau", "intake_clerk",
                            json={"name": "x", "broker_user": "y"}).status_code == 403
    assert intake_http.call("PUT", "/agencies/Not_A_Code", "ops",
                            json={"name": "x", "broker_user": "y"}).status_code == 404
