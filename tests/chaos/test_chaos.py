"""Fault injection: a steady stream of cases through all four services while everything fails.

On a private RabbitMQ node and a private PostgreSQL cluster (see ``harness.py``), the services
run as separate processes with their real command (``aidflow-<svc> serve``; two replicas of
review and payout). Referrals arrive all the time, over three channels: staff over HTTP,
partner transfers over HTTP and partner transfers over the broker. The test plays the clerks
who accept transfers and the reviewers who approve; payout pays; follow-up opens the plans.

Meanwhile a fault schedule injects, one after the other: SIGKILL of a process of each service
(restarted a moment later), a RabbitMQ restart, a PostgreSQL restart (immediate: a crash),
broker connections closed, captured events published again with their ids (redelivery), a
malformed message (parked) replayed from the parking queue; and every handler may be slow or
fail before its commit (the ``aidflow_shared.faults`` hook, on for these processes only).

Then the faults stop, the system drains, and the invariant checker (``invariants.py``)
compares every service's state: nothing lost, no payout twice, ledger balanced, no clock lost,
no outbox row unsent, parked messages only the expected one, with its reason.

Bounded by default (one run of about a minute of load, what CI runs); ``make test-chaos``
sets ``AIDFLOW_CHAOS_RUNS`` and ``AIDFLOW_CHAOS_SECONDS`` for the long form. Figures are
printed and written to ``AIDFLOW_CHAOS_FIGURES`` (JSON) when set.
"""
from __future__ import annotations

import json
import os
import random
import signal
import statistics
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack
from datetime import date, datetime, timezone
from pathlib import Path

import pika
import pytest

from aidflow.reviewing import approve_chain, approved_proposal, decide, next_level
from harness import Cluster, PrivatePostgres, PrivateRabbitMQ, Unavailable
from invariants import SERVICES, check, collect
from support import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(3600)]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RUNS = int(os.environ.get("AIDFLOW_CHAOS_RUNS", "1"))
SECONDS = float(os.environ.get("AIDFLOW_CHAOS_SECONDS", "60"))
FEED_INTERVAL = float(os.environ.get("AIDFLOW_CHAOS_FEED_INTERVAL", "0.8"))
FIGURES = os.environ.get("AIDFLOW_CHAOS_FIGURES", "")
# Competing replicas of review and payout: 2 in the long form, 1 by default (CI's machine is small).
_REPLICAS = int(os.environ.get("AIDFLOW_CHAOS_REPLICAS", "1"))
REPLICAS = {"intake": 1, "review": _REPLICAS, "payout": _REPLICAS, "followup": 1}
FAULT_ENV = {"AIDFLOW_FAULT_ERROR_RATE": "0.03", "AIDFLOW_FAULT_SLOW_RATE": "0.03", "AIDFLOW_FAULT_SLOW_SECONDS": "1.5"}
AGENCY = "poverty-bureau"
AWARD_FEN = 1_000_00
POISON_KEY = "intake.case.opened.v1"  # consumed by review alone: the malformed message parks there
DRAIN_SECONDS = float(os.environ.get("AIDFLOW_CHAOS_DRAIN_SECONDS", "240"))


@pytest.fixture(scope="module")
def servers():
    """A private RabbitMQ node and PostgreSQL cluster for the module; removed whatever happens."""
    with ExitStack() as stack:
        try:
            rabbit = PrivateRabbitMQ()
            stack.callback(rabbit.destroy)
            rabbit.start()
            postgres = PrivatePostgres()
            stack.callback(postgres.destroy)
            postgres.start()
        except Unavailable as exc:
            if IN_CI:
                pytest.fail(f"a private server for the fault-injection suite could not start: {exc}")
            pytest.skip(f"a private server for the fault-injection suite could not start: {exc}")
        password = uuid.uuid4().hex
        rabbit.ctl("add_user", AGENCY, password)
        yield rabbit, postgres, password


def test_faults_lose_no_case_and_pay_nothing_twice(servers, tmp_path, capsys):
    rabbit, postgres, agency_password = servers
    figures = []
    for run_no in range(1, RUNS + 1):
        workdir = tmp_path / f"run-{run_no}"
        workdir.mkdir()
        figures.append(ChaosRun(rabbit, postgres, agency_password, workdir, run_no).run())
    summary = summarise(figures)
    with capsys.disabled():
        print("\n" + render(summary))
    if FIGURES:
        Path(FIGURES).write_text(json.dumps({"summary": summary, "runs": figures}, indent=2, ensure_ascii=False))
    for figure in figures:
        assert figure["lost"] == 0 and figure["duplicated_payouts"] == 0 and not figure["violations"], \
            json.dumps(figure, indent=1, ensure_ascii=False)[:6000]
        assert figure["faults"]["total"] >= 8 and figure["cases_completed"] >= 10, figure


class ChaosRun:
    def __init__(self, rabbit: PrivateRabbitMQ, postgres: PrivatePostgres, agency_password: str, workdir: Path,
                 run_no: int):
        self.rabbit = rabbit
        self.postgres = postgres
        self.workdir = workdir
        self.run_no = run_no
        label = uuid.uuid4().hex[:8]
        self.vhost = f"chaos-{run_no}-{label}"
        rabbit.add_vhost(self.vhost)
        rabbit.ctl("set_permissions", "-p", self.vhost, AGENCY, "^$", r"^aidflow\.inbound$",
                   rf"^aidflow\.partner\.{AGENCY}$")
        self.agency_url = rabbit.url(self.vhost, AGENCY, agency_password)
        db_urls = {s: postgres.create_database(f"chaos_{label}_{s}") for s in SERVICES}
        self.cluster = Cluster(workdir, rabbit.url(self.vhost), db_urls, replicas=REPLICAS, extra_env=FAULT_ENV)
        self.stop_feeding = threading.Event()
        self.stop_all = threading.Event()
        self.lock = threading.Lock()
        self.counter = 0
        self.refs: dict[str, str] = {}  # criminal case reference → channel, for each referral intake took
        self.submitted = Counter()
        self.refused: list[str] = []
        self.refusal_samples: list[str] = []
        self.refusals = Counter()  # steps the API refused, mostly retried POSTs that had gone through
        self.faults = Counter()
        self.recovery = defaultdict(list)
        self.poison: dict[str, str] = {}
        self.errors: list[str] = []

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> dict:
        started = time.monotonic()
        try:
            self.cluster.start()
            self.fund()
            self.tap()
            workers = [threading.Thread(target=self.guard(self.feed), name="feed"),
                       threading.Thread(target=self.guard(self.accept_transfers), name="registrar"),
                       threading.Thread(target=self.guard(self.decide), name="reviewer")]
            for worker in workers:
                worker.start()
            load_started = time.monotonic()
            self.inject_faults(load_started + SECONDS)
            self.stop_feeding.set()
            workers[0].join()
            load_seconds = time.monotonic() - load_started
            self.cluster.wait_ready(180)
            wait_until(self.consuming, 180, "a consumer per replica on every service queue", interval=1.0)
            drain_started = time.monotonic()
            report = self.drain()
            drain_seconds = time.monotonic() - drain_started
            self.stop_all.set()
            for worker in workers:
                worker.join(60)
            state = self.state()
            report = check(state, expected_cases=self.expected_cases(state), expected_parked=self.poison)
            handler_faults = self.cluster.fault_counts()
            self.faults["handler_exception"] = handler_faults["error"]
            self.faults["slow_handler"] = handler_faults["slow"]
            return self.figures(report, state, load_seconds, drain_seconds, time.monotonic() - started)
        except Exception:
            print(self.cluster.logs_tail())
            raise
        finally:
            self.stop_all.set()
            self.stop_feeding.set()
            self.cluster.stop()

    def guard(self, target):
        """Run a client loop; an error (an API away for longer than its retries) is noted and the
        loop goes on, as the people it plays would."""
        def run():
            while not self.stop_all.is_set():
                try:
                    return target()
                except Exception:
                    self.errors.append(traceback.format_exc()[-1500:])
                    self.stop_all.wait(1.0)
        return run

    def fund(self) -> None:
        fund = self.cluster.call("POST", "payout", "/api/v1/funds", "finance_officer",
                                 json={"name": f"chaos fund {self.run_no}", "source": "finance_bureau",
                                       "year": date.today().year}).json()
        allocated = self.cluster.call("POST", "payout", f"/api/v1/funds/{fund['fund_id']}/allocations",
                                      "finance_officer", json={"amount_fen": 100_000_000_00})
        assert allocated.status_code == 201, allocated.text

    # -- the load ---------------------------------------------------------------------------------

    def feed(self) -> None:
        """One referral every FEED_INTERVAL: staff over HTTP, transfers over HTTP and the broker."""
        channels = ("staff", "staff", "staff", "partner_http", "partner_broker")
        while not self.stop_feeding.wait(FEED_INTERVAL):
            self.counter += 1
            n = self.counter
            channel = channels[n % len(channels)]
            self.submitted[channel] += 1
            body = referral(n)
            ref = body["criminal_case_ref"]
            if channel == "staff":
                response = self.cluster.call("POST", "intake", "/api/v1/referrals", "intake_clerk", json=body)
                if response.status_code in (201, 409):  # 409: a retried POST that had gone through
                    self.refs[ref] = channel
                else:
                    self.refused.append(f"{channel} {n}: {response.status_code} {response.text[:200]}")
            elif channel == "partner_http":
                response = self.cluster.call("POST", "intake", "/api/v1/partner-referrals", "partner_agency",
                                             json=transfer(body, n))
                if response.status_code in (200, 201):
                    self.refs[ref] = channel
                else:
                    self.refused.append(f"{channel} {n}: {response.status_code} {response.text[:200]}")
            else:
                if self.publish_transfer(transfer(body, n)):
                    self.refs[ref] = channel
                else:
                    self.refused.append(f"{channel} {n}: the broker did not confirm within 90 s")

    def publish_transfer(self, data: dict) -> bool:
        message_id = str(uuid.uuid4())
        envelope = {"specversion": "1.0", "id": message_id, "source": f"/partners/{AGENCY}",
                    "type": "org.aidflow.partner.referral.submit.v1", "time": datetime.now(timezone.utc).isoformat(),
                    "datacontenttype": "application/json", "data": data}
        properties = pika.BasicProperties(content_type="application/cloudevents+json", message_id=message_id,
                                          type=envelope["type"], delivery_mode=2, user_id=AGENCY)
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return self.with_channel(self.agency_url, lambda ch: ch.basic_publish(
            "aidflow.inbound", f"{AGENCY}.referral.submit.v1", body, properties, mandatory=True))

    def accept_transfers(self) -> None:
        """The clerk: accepts every transfer once registered (its letter to follow)."""
        while not self.stop_all.wait(1.0):
            cases = self.cluster.call("GET", "intake", "/api/v1/cases?status=registered&limit=200",
                                      "intake_clerk").json()["items"]
            for case in cases:
                accepted = self.cluster.call("POST", "intake", f"/api/v1/cases/{case['case_id']}/acceptance",
                                             "intake_clerk", json={"override_reason": "移送函随后补交"})
                if accepted.status_code not in (201, 409) and len(self.refused) < 20:
                    self.refused.append(f"acceptance: {accepted.status_code} {accepted.text[:300]}")

    def decide(self) -> None:
        """The reviewer and the approvers: every open review proposed for approval and approved up
        its chain. A step refused (a retried POST that had gone through) is picked up next round."""
        def post(path: str, role: str, body: dict) -> dict:
            response = self.cluster.call("POST", "review", f"/api/v1{path}", role, json=body)
            if response.status_code != 201:
                raise Refused(f"{path.split('/')[-1]}: {response.status_code} {response.text[:300]}")
            return response.json()

        while not self.stop_all.wait(1.0):
            reviews = self.cluster.call("GET", "review", "/api/v1/reviews?status=open&limit=200",
                                        "reviewer").json()["items"]
            for review in reviews:
                if "proposals" not in review:
                    review = self.cluster.call("GET", "review", f"/api/v1/reviews/{review['review_id']}",
                                               "reviewer").json()
                awards = [{"beneficiary_id": b["beneficiary_id"], "amount_fen": AWARD_FEN}
                          for b in review["beneficiaries"]]
                try:
                    if next_level(review) is None:
                        decide(post, review["review_id"], approved_proposal(awards))
                    else:
                        approve_chain(post, review)
                except Refused as refused:
                    self.refusals[str(refused).split(":")[0]] += 1
                    if len(self.refusal_samples) < 10:
                        self.refusal_samples.append(str(refused))

    # -- the faults -------------------------------------------------------------------------------

    def inject_faults(self, until: float) -> None:
        """One fault every few seconds, in a fixed order, until ``until``. Faults may overlap: the
        next one does not wait for the system to recover from the last."""
        kill = {s: (lambda s=s: self.kill(s)) for s in SERVICES}
        schedule = [kill["intake"], self.poison_message, self.restart_rabbitmq, kill["review"], self.close_connections,
                    self.restart_postgres, kill["payout"], self.redeliver, self.replay_parked, kill["followup"],
                    kill["review"], self.redeliver, kill["payout"], self.close_connections]
        step = 0
        while time.monotonic() < until or step < len(schedule):  # every kind at least once
            fault = schedule[step % len(schedule)]
            step += 1
            started = time.monotonic()
            kind = fault()
            if kind:
                threading.Thread(target=self.measure_recovery, args=(kind, started), daemon=True).start()
            if self.stop_feeding.wait(random.uniform(2.0, 4.0)):
                return

    def measure_recovery(self, kind: str, started: float) -> None:
        """Time to recover: from the fault until every service process answers /readyz again
        (its database and broker reachable)."""
        try:
            self.cluster.wait_ready(300)
            wait_until(self.consuming, 300, "a consumer per replica on every service queue", interval=1.0)
        except AssertionError:
            self.errors.append(f"not recovered from {kind} within 300 s")
            return
        with self.lock:
            self.recovery[kind].append(time.monotonic() - started)

    def consuming(self) -> bool:
        """Every replica holds its consumer on its service's queue (readiness alone does not say)."""
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.rabbit.url(self.vhost)))
        except (pika.exceptions.AMQPError, OSError):
            return False
        try:
            channel = connection.channel()
            return all(channel.queue_declare(f"aidflow.{s}", passive=True).method.consumer_count >= n
                       for s, n in REPLICAS.items())
        except (pika.exceptions.AMQPError, OSError):
            return False
        finally:
            if connection.is_open:
                connection.close()

    def kill(self, service: str) -> str:
        """SIGKILL one process of ``service`` (whatever it was doing), started again a moment later."""
        alive = [p for p in self.cluster.replicas(service) if p.alive]
        if not alive:
            return ""
        random.choice(alive).kill(signal.SIGKILL)
        self.faults[f"sigkill_{service}"] += 1
        time.sleep(random.uniform(0.5, 2.0))
        self.cluster.restart_dead()
        return f"sigkill_{service}"

    def restart_rabbitmq(self) -> str:
        self.rabbit.stop()
        self.faults["rabbitmq_restart"] += 1
        time.sleep(1.0)
        self.rabbit.start()
        return "rabbitmq_restart"

    def restart_postgres(self) -> str:
        """An immediate stop (a crash: recovery from the WAL at start), then started again."""
        self.postgres.stop("immediate")
        self.faults["postgresql_restart"] += 1
        time.sleep(1.0)
        self.postgres.start()
        return "postgresql_restart"

    def close_connections(self) -> str:
        self.faults["connections_closed"] += 1
        self.faults["connections_cut"] += self.rabbit.close_connections(self.vhost)
        return "connections_closed"

    def tap(self) -> None:
        """A queue of our own that receives a copy of every event, to publish some again later."""
        def declare(ch):
            ch.queue_declare("chaos.tap", durable=True)
            ch.queue_bind("chaos.tap", "aidflow.events", "#")
        assert self.with_channel(self.rabbit.url(self.vhost), declare)

    def redeliver(self) -> str:
        """Publish again, with the same ids, up to 20 events the services already exchanged."""
        def again(ch):
            for _ in range(20):
                method, properties, body = ch.basic_get("chaos.tap", auto_ack=True)
                if method is None:
                    break
                properties.user_id = None
                ch.basic_publish("aidflow.events", method.routing_key, body, properties)
                self.faults["messages_redelivered"] += 1
        self.with_channel(self.rabbit.url(self.vhost), again)
        return ""

    def poison_message(self) -> str:
        """A malformed message: the service parks it, with its reason."""
        message_id = str(uuid.uuid4())
        properties = pika.BasicProperties(content_type="application/cloudevents+json", message_id=message_id,
                                          type="org.aidflow.intake.case.opened.v1", delivery_mode=2)
        if self.with_channel(self.rabbit.url(self.vhost), lambda ch: ch.basic_publish(
                "aidflow.events", POISON_KEY, b"{not json", properties)):
            self.poison[message_id] = "invalid-json"
            self.faults["malformed_messages"] += 1
        return ""

    def replay_parked(self) -> str:
        """The parking queue replayed, as an operator does: the malformed message comes back to
        the service and is parked again, the same id, the same reason."""
        out = self.cluster.replay("review", list(self.poison) or None)
        if out.startswith("replayed"):
            self.faults["parked_replays"] += 1
        return ""

    def with_channel(self, url: str, work, timeout: float = 90) -> bool:
        """Run ``work(channel)`` on a confirming channel, again until it succeeds or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop_all.is_set():
            try:
                connection = pika.BlockingConnection(pika.URLParameters(url))
                try:
                    channel = connection.channel()
                    channel.confirm_delivery()
                    work(channel)
                    return True
                finally:
                    if connection.is_open:
                        connection.close()
            except (pika.exceptions.AMQPError, OSError):
                time.sleep(0.5)
        return False

    # -- the end ----------------------------------------------------------------------------------

    def state(self):
        parked = {service: self.cluster.parked(service) for service in SERVICES}
        return collect(self.cluster.db_urls, parked)

    def expected_cases(self, state) -> set[str]:
        """The cases intake said it took (by their criminal case reference); a reference with no
        case at all counts as lost under its own name."""
        by_ref = {c["criminal_case_ref"]: c["id"] for c in state.rows("intake", "cases")}
        return {by_ref.get(ref, f"missing:{ref}") for ref in self.refs}

    def drain(self):
        """Wait for every case to reach its end; handler failures the fault hook made park a
        message only after every retry failed too: those are replayed, as an operator would."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            state = self.state()
            injected = {service: [m["message_id"] for m in messages if "InjectedFault" in str(m.get("detail"))]
                        for service, messages in state.parked.items()}
            for service, ids in injected.items():
                if ids:
                    self.cluster.replay_in_process(service, ids)
                    self.faults["exhausted_retries_replayed"] += len(ids)
            report = check(state, expected_cases=self.expected_cases(state), expected_parked=self.poison)
            if report.ok or time.monotonic() > deadline:
                return report
            time.sleep(3)

    def figures(self, report, state, load_seconds: float, drain_seconds: float, total_seconds: float) -> dict:
        faults = dict(sorted(self.faults.items()))
        faults["total"] = sum(v for k, v in self.faults.items() if k not in ("messages_redelivered", "connections_cut"))
        return {
            "run": self.run_no, "load_seconds": round(load_seconds, 1), "drain_seconds": round(drain_seconds, 1),
            "total_seconds": round(total_seconds, 1), "submitted": dict(self.submitted),
            "refused": self.refused, "refusals": dict(self.refusals), "refusal_samples": self.refusal_samples,
            "cases_accepted": report.accepted, "cases_completed": report.completed,
            "lost": len(report.lost), "duplicated_payouts": len(report.duplicated_payouts),
            "payouts": len(state.rows("payout", "payouts")),
            "paid_fen": sum(p["paid_fen"] for p in state.rows("payout", "payouts")),
            "parked": {s: len(m) for s, m in state.parked.items()},
            "faults": faults,
            "recovery_seconds": {k: {"median": round(statistics.median(v), 2), "max": round(max(v), 2), "n": len(v)}
                                 for k, v in sorted(self.recovery.items())},
            "violations": report.violations[:50], "driver_errors": self.errors,
        }


class Refused(Exception):
    """The API answered a POST with a 4xx."""


def referral(n: int) -> dict:
    from support import referral as complete_referral
    return complete_referral(n)


def transfer(body: dict, n: int) -> dict:
    data = {k: body[k] for k in ("criminal_case_ref", "summary", "beneficiaries")}
    data["partner_reference"] = f"扶移〔2026〕{n}号"
    data["beneficiaries"][0]["poverty_markers"] = ["registered_poor_household"]
    return data


def summarise(figures: list[dict]) -> dict:
    faults = Counter()
    recovery = defaultdict(list)
    for figure in figures:
        faults.update(figure["faults"])
        for kind, values in figure["recovery_seconds"].items():
            recovery[kind].append(values["max"])
    return {
        "runs": len(figures), "load_seconds": sum(f["load_seconds"] for f in figures),
        "cases_submitted": sum(sum(f["submitted"].values()) for f in figures),
        "cases_accepted": sum(f["cases_accepted"] for f in figures),
        "cases_completed": sum(f["cases_completed"] for f in figures),
        "lost": sum(f["lost"] for f in figures),
        "duplicated_payouts": sum(f["duplicated_payouts"] for f in figures),
        "violations": sum(len(f["violations"]) for f in figures),
        "faults": dict(faults), "worst_recovery_seconds": {k: max(v) for k, v in sorted(recovery.items())},
        "drain_seconds_max": max(f["drain_seconds"] for f in figures),
    }


def render(summary: dict) -> str:
    lines = [f"fault injection: {summary['runs']} run(s), {summary['load_seconds']:.0f} s of load, "
             f"{summary['cases_submitted']} referrals submitted, {summary['cases_accepted']} accepted, "
             f"{summary['cases_completed']} completed; lost = {summary['lost']}, "
             f"duplicated payouts = {summary['duplicated_payouts']}, other violations = {summary['violations']}",
             "faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["faults"].items())),
             "worst time to recover (s): " + ", ".join(f"{k} {v:.1f}"
                                                        for k, v in summary["worst_recovery_seconds"].items()),
             f"slowest drain after the faults stopped: {summary['drain_seconds_max']:.1f} s"]
    return "\n".join(lines)
