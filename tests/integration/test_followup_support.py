"""Helpers for follow-up's tests: a real follow-up runtime, the events of intake, review and payout
published on its bus as they would publish them, a partner agency as a pika client under its own
broker user, and a tap on the bus that sees every event and every message to agencies.

Imported by the ``test_followup_*`` modules; it has no tests of its own.
"""
from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pika
import pytest
from sqlalchemy import func, select

from aidflow_followup.bootstrap import context
from aidflow_followup.escalation import sweep
from aidflow_followup.service import service as followup_service
from aidflow_shared.auth import mint_token
from aidflow_shared.bus.transport import Outgoing
from aidflow_shared.contracts import EVENTS, INBOUND, PARTNERS
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED, DECISION_RECORDED, PAYOUT_DISBURSED
from aidflow_shared.contracts.followup import HANDOFF_ANSWERS
from aidflow_shared.envelope import CONTENT_TYPE, new_event
from aidflow_shared.logging import mask_pii
from aidflow_shared.runtime import ServiceRuntime
from aidflow_shared.settings import Settings
from aidflow_shared.storage import utcnow
from aidflow_shared.vault import new_key
from support import FAST_RETRIES, TEST_SECRET, wait_until

CONTACT_KEY = new_key()
PHONE = "13912345678"
GUARDIAN_PHONE = "13787654321"


class FollowupUnderTest:
    """One follow-up runtime (API, consumer, relay) on real parts; the sweep is run by the test."""

    def __init__(self, tmp_path, *, database_url: str, amqp_url: str = "", start: bool = True,
                 contact_key: str | None = CONTACT_KEY):
        extra = {"AIDFLOW_FOLLOWUP_SWEEP_INTERVAL": "3600"}
        if contact_key:
            extra["AIDFLOW_FOLLOWUP_CONTACT_KEY"] = contact_key
        self.settings = Settings(**FAST_RETRIES, service="followup", data_dir=tmp_path, database_url=database_url,
                                 amqp_url=amqp_url, jwt_secret=TEST_SECRET, log_json=False,
                                 deadline_scan_interval=3600, extra=extra)
        self.runtime = ServiceRuntime(followup_service, self.settings)
        self.runtime.migrate()
        self.followup = context(self.runtime.db)
        self.client = self.runtime.create_app().test_client()
        if start:
            self.runtime.start()

    # -- HTTP -----------------------------------------------------------------------------------

    def call(self, method: str, path: str, role: str = "followup_worker", *, agency: str | None = "procuratorate",
             **kw):
        token = mint_token(self.settings, f"test-{role}", [role], agency, ttl=timedelta(minutes=10))
        return self.client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {token}"}, **kw)

    def get(self, path: str, role: str = "followup_worker", **kw) -> dict:
        response = self.call("GET", path, role, **kw)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def post(self, path: str, body: dict, role: str = "followup_worker", expect: int | None = 201, **kw) -> dict:
        response = self.call("POST", path, role, json=body, **kw)
        if expect is not None:
            assert response.status_code == expect, response.get_json()
        return response.get_json()

    # -- what the other services publish --------------------------------------------------------

    def publish(self, message_type, data: dict, *, extra: dict | None = None):
        envelope = new_event(message_type.type, data, source="/aidflow/test", subject=data.get("case_id"))
        body = json.loads(envelope.to_json())
        body["data"].update(extra or {})
        self.runtime.transport.publish([Outgoing(
            exchange=EVENTS, routing_key=message_type.routing_key(), body=json.dumps(body, ensure_ascii=False),
            message_id=envelope.id, type=envelope.type, content_type=CONTENT_TYPE)])
        return envelope

    def accepted(self, case_id: str, beneficiaries: list[dict], *, situation: str | None = "serious_injury",
                 criminal_case_ref: str = "川检刑诉〔2026〕1号", deceased: bool = False):
        """Intake's acceptance of a case, with beneficiaries given as {beneficiary_id, is_minor, markers}."""
        now = utcnow()
        return self.publish(CASE_ACCEPTED, {
            "case_id": case_id, "case_number": f"JZ-{case_id[:6]}", "source": "ex_officio", "source_agency": None,
            "track": "standard", "criminal_case_ref": criminal_case_ref, "eligibility_situation": situation,
            "victim_deceased": deceased,
            "beneficiaries": [{"beneficiary_id": b["beneficiary_id"],
                               "person_ref": b.get("person_ref", f"p-{b['beneficiary_id']}"),
                               "is_minor": b.get("is_minor", False), "relationship": b.get("relationship", "victim"),
                               "poverty_markers": b.get("markers", []), "urgent_medical_need": False}
                              for b in beneficiaries],
            "documents_complete": True, "received_at": now, "accepted_at": now, "migrated": False})

    def paid(self, case_id: str, beneficiary_id: str, payout_id: str | None = None):
        return self.publish(PAYOUT_DISBURSED, {
            "payout_id": payout_id or str(uuid.uuid4()), "decision_id": str(uuid.uuid4()), "case_id": case_id,
            "beneficiary_id": beneficiary_id, "amount_fen": 20_000_00, "fund_id": "f1", "method": "bank_transfer",
            "disbursed_at": utcnow()})

    def approved_advance(self, case_id: str, beneficiary_id: str):
        return self.publish(DECISION_RECORDED, {
            "decision_id": str(uuid.uuid4()), "case_id": case_id, "outcome": "approved",
            "awards": [{"beneficiary_id": beneficiary_id, "amount_fen": 5_000_00}], "total_fen": 5_000_00,
            "reason_code": None, "decided_at": utcnow()}, extra={"advance": True})

    # -- reading --------------------------------------------------------------------------------

    def plan_of(self, case_id: str, *, assessed: bool = True, timeout: float = 30) -> dict:
        def find():
            items = self.get(f"/plans?case_id={case_id}")["items"]
            if items and (items[0]["assessed_at"] or not assessed):
                return self.get(f"/plans/{items[0]['plan_id']}")
            return None
        return wait_until(find, timeout, f"the plan of case {case_id}")

    def plan(self, plan_id: str) -> dict:
        return self.get(f"/plans/{plan_id}")

    def outbox(self, type_suffix: str) -> list[dict]:
        outbox = self.runtime.db.metadata.tables["outbox"]
        with self.runtime.db.engine.connect() as conn:
            rows = conn.execute(outbox.select().where(outbox.c.type.like(f"%{type_suffix}")).order_by(outbox.c.id))
            return [{**json.loads(r.body), "routing_key": r.routing_key, "correlation_id": r.correlation_id}
                    for r in rows]

    def count(self, model, **where) -> int:
        with self.runtime.db.sessions() as session:
            return session.scalar(select(func.count()).select_from(model).filter_by(**where))

    def sweep(self, now: datetime) -> dict:
        return sweep(self.followup, now)

    def stop(self) -> None:
        self.runtime.stop()


def ready_plan(followup: FollowupUnderTest, *, minor: bool = False, markers=("impoverished_by_case",),
               consents: dict | None = None, case_id: str | None = None) -> dict:
    """A case accepted and paid, its plan assessed by the rules, contact details recorded, and the
    consents given (agency -> categories)."""
    case_id = case_id or str(uuid.uuid4())
    beneficiary = f"b-{case_id[:8]}"
    followup.accepted(case_id, [{"beneficiary_id": beneficiary, "is_minor": minor, "markers": list(markers)}])
    followup.paid(case_id, beneficiary)
    plan = followup.plan_of(case_id)
    contact = {"name": "李小华", "phone": PHONE, "address": "某县某镇某村三组"}
    if minor:
        contact.update(guardian_name="李大山", guardian_phone=GUARDIAN_PHONE)
    assert followup.call("PUT", f"/plans/{plan['plan_id']}/contact", json=contact).status_code == 200
    for agency, categories in (consents or {}).items():
        followup.post(f"/plans/{plan['plan_id']}/consents",
                      {"agency": agency, "categories": categories, "given_by": "guardian" if minor else "person"})
    return followup.plan(plan["plan_id"])


def answer_data(handoff_id: str, **changes) -> dict:
    return {"handoff_id": handoff_id, "at": datetime.now(timezone.utc).isoformat(), **changes}


@pytest.fixture
def start_followup(tmp_path):
    started: list[FollowupUnderTest] = []

    def start(database_url: str | None = None, **kw) -> FollowupUnderTest:
        url = database_url or f"sqlite:///{tmp_path / 'followup.sqlite3'}"
        running = FollowupUnderTest(tmp_path, database_url=url, **kw)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


# -- the broker: partner agencies and a tap ------------------------------------------------------------


def rabbitmqctl(*args: str, check: bool = True):
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=check)


@pytest.fixture
def partner_users(broker):
    """Broker users for agencies, set up as an operator would: write ``aidflow.inbound`` only,
    read the agency's own queue only, configure nothing."""
    made = []

    def make(agency: str) -> str:
        password = uuid.uuid4().hex
        rabbitmqctl("add_user", agency, password, check=False)  # left over from an interrupted run
        rabbitmqctl("change_password", agency, password)
        rabbitmqctl("set_permissions", "-p", broker.vhost, agency, "^$", r"^aidflow\.inbound$",
                    rf"^aidflow\.partner\.{agency}$")
        made.append(agency)
        return f"amqp://{agency}:{password}@127.0.0.1:5672/{quote(broker.vhost, safe='')}"

    yield make
    for agency in made:
        rabbitmqctl("delete_user", agency, check=False)


class Partner:
    """A partner agency's own client: reads its queue, answers hand-offs on ``aidflow.inbound``."""

    def __init__(self, url: str, agency: str):
        self.agency = agency
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def answer(self, status: str, data: dict, *, routing_agency: str | None = None) -> str:
        message_type = HANDOFF_ANSWERS[status]
        message_id = str(uuid.uuid4())
        body = {"specversion": "1.0", "id": message_id, "source": f"/partners/{self.agency}",
                "type": message_type.type, "time": datetime.now(timezone.utc).isoformat(),
                "datacontenttype": "application/json", "data": data}
        self.channel.basic_publish(
            INBOUND, f"{routing_agency or self.agency}.{message_type.partner_suffix}",
            json.dumps(body, ensure_ascii=False).encode(),
            pika.BasicProperties(content_type=CONTENT_TYPE, message_id=message_id, type=message_type.type,
                                 delivery_mode=2, user_id=self.agency))
        return message_id

    def receive(self, timeout: float = 20) -> tuple[pika.BasicProperties, dict, str]:
        def fetch():
            method, properties, body = self.channel.basic_get(f"aidflow.partner.{self.agency}", auto_ack=True)
            return (properties, json.loads(body), method.routing_key) if method else None
        return wait_until(fetch, timeout, f"a message on {self.agency}'s queue", interval=0.1)

    def nothing_waiting(self) -> bool:
        return self.channel.basic_get(f"aidflow.partner.{self.agency}", auto_ack=True)[0] is None

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


@pytest.fixture
def partners(partner_users):
    opened: list[Partner] = []

    def connect(agency: str) -> Partner:
        client = Partner(partner_users(agency), agency)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


class BusTap:
    """Sees a copy of every event on ``aidflow.events`` and every message to agencies."""

    def __init__(self, url: str):
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.queue = f"test-tap-{uuid.uuid4().hex[:8]}"
        self.channel.queue_declare(self.queue, exclusive=True)
        for exchange in (EVENTS, PARTNERS):
            self.channel.exchange_declare(exchange, "topic", durable=True)
            self.channel.queue_bind(self.queue, exchange, "#")
        self.seen: list[tuple[str, str]] = []

    def drain(self) -> list[tuple[str, str]]:
        while True:
            method, _properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.seen
            self.seen.append((method.routing_key, body.decode()))

    def personal_numbers(self) -> list[str]:
        """Routing keys of messages carrying a resident ID number or a mobile number in clear."""
        return [key for key, body in self.drain() if mask_pii(body) != body]

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


@pytest.fixture
def tap(broker):
    running = BusTap(broker.url)
    yield running
    running.close()


__all__ = ["FollowupUnderTest", "Partner", "BusTap", "ready_plan", "answer_data", "start_followup", "partner_users",
           "partners", "tap", "PHONE", "GUARDIAN_PHONE"]
