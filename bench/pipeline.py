#!/usr/bin/env python3
"""Measure the referral-to-plan pipeline on RabbitMQ against a bare kombu baseline.

One round of the pipeline:

1. a fresh RabbitMQ vhost (``rabbitmqctl add_vhost``) and a fresh PostgreSQL database per
   service (or SQLite files with ``--sqlite``), all removed afterwards;
2. the services as separate OS processes, started the way a deployment starts them:
   ``aidflow-<svc> migrate``, then ``aidflow-<svc> worker --port P`` for all four, plus
   ``aidflow-intake api``, ``aidflow-review api`` and ``aidflow-payout api`` (gunicorn), each
   waited on through ``/readyz``;
3. a fund opened and allocated over payout's API, as a finance officer;
4. N referrals POSTed to intake by ``--clients`` threads; the bench plays the reviewer: it taps
   ``review.review.opened.v1`` on ``aidflow.events`` with its own exclusive queue and, for each,
   POSTs a reviewer's proposal and the department head's and chief procurator's approvals to
   review's API; it taps ``followup.plan.opened.v1`` to stamp each case's
   end (correlated by the CloudEvents ``subject``, the case id). The other events of the chain
   are tapped too, for a per-stage breakdown (``--no-stages`` turns that off).

Latency of a case = plan opened seen on the bus − start of its referral POST.
Throughput = cases / (last plan seen − first POST start).

One round of the baseline: bare kombu, the same number of ~1 KB persistent JSON messages
through four consume → publish-with-confirm → ack hops (quorum queues q0 → … → q4, each hop
its own process), timestamped at publish and stamped again when they leave q4.

``--repeat K`` alternates the two K times and reports medians; the ratio is taken per round
(pipeline round i against baseline round i) and its median reported. Beside the table it prints
the median time of each step of a case, the CPU each service process spent per case (from
/proc, gunicorn's workers included) and any warning the services logged.

Exit status: 0; 1 if any case did not reach a plan (or a baseline message did not arrive) within
``--timeout`` seconds, or a request failed; 2 if a round could not be set up (a service did not
start, no broker or database); 130 when interrupted. Whatever happens, the processes, the vhosts
and the databases it made are removed.

Needs ``rabbitmqctl`` on the PATH (vhosts) and, without ``--sqlite``, a PostgreSQL role allowed
to create databases. Run it from the project's virtual environment:
``python bench/pipeline.py --n 300 --repeat 3``.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import multiprocessing as mp
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import amqp
import requests
from kombu import Connection

from aidflow.ports import free_port

SERVICES = ("intake", "review", "payout", "followup")
API_SERVICES = ("intake", "review", "payout")
EVENTS = "aidflow.events"
PLAN_OPENED = "followup.plan.opened.v1"
REVIEW_OPENED = "review.review.opened.v1"
# The chain of one approved case, in order. review.opened (to decide) and plan.opened (the end)
# are what the bench needs; the others give the per-stage breakdown.
STAGE_KEYS = ("intake.case.opened.v1", REVIEW_OPENED, "review.decision.recorded.v1",
              "payout.disbursed.v1", PLAN_OPENED)
AWARD_FEN = 20_000_00
BASELINE_PAYLOAD = 1024
# What counts as a problem in a service's log: our JSON lines at WARNING and above, gunicorn's
# own, and tracebacks.
PROBLEM = re.compile(r'"level": "(WARNING|ERROR|CRITICAL)"|\[(WARNING|ERROR|CRITICAL)\]|Traceback')
PREFETCH = 32  # the services' default prefetch, used by the baseline hops too


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """The bench could not set up or run a round."""


# -- statistics ---------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """The p-th percentile, nearest rank (no interpolation); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else math.nan


# -- the broker and the databases ---------------------------------------------------------------

def rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120, check=check)


class Vhost:
    """A fresh vhost with full rights for the URL's user; deleted on exit."""

    def __init__(self, base_url: str, label: str):
        self.base_url = base_url
        self.name = f"aidflow-bench-{label}-{uuid.uuid4().hex[:8]}"
        parts = urlsplit(base_url)
        self.user = parts.username or "guest"
        self.url = f"{parts.scheme}://{parts.netloc}/{quote(self.name, safe='')}"

    def __enter__(self) -> "Vhost":
        try:
            rabbitmqctl("add_vhost", self.name)
            rabbitmqctl("set_permissions", "-p", self.name, self.user, ".*", ".*", ".*")
        except subprocess.CalledProcessError as exc:
            rabbitmqctl("delete_vhost", self.name, check=False)
            raise BenchError(f"rabbitmqctl {exc.cmd[1]} failed: {exc.stderr.strip()[:300]}") from None
        return self

    def __exit__(self, *exc) -> None:
        rabbitmqctl("delete_vhost", self.name, check=False)


class Databases:
    """One fresh database per service: PostgreSQL databases, or SQLite files in ``workdir``."""

    def __init__(self, admin_url: str | None, workdir: Path, services: tuple[str, ...] = SERVICES):
        self.admin_url = admin_url
        self.workdir = workdir
        self.services = services
        self.created: list[str] = []
        self.urls: dict[str, str] = {}

    def _connect(self):
        import psycopg
        from sqlalchemy.engine import make_url
        admin = make_url(self.admin_url)
        info = dict(host=admin.host or "127.0.0.1", port=admin.port or 5432, user=admin.username or "postgres",
                    dbname=admin.database or "postgres", autocommit=True)
        if admin.password:
            info["password"] = admin.password
        return psycopg.connect(**info), admin

    def __enter__(self) -> "Databases":
        if self.admin_url is None:
            self.urls = {svc: f"sqlite:///{self.workdir / (svc + '.sqlite3')}" for svc in self.services}
            return self
        label = uuid.uuid4().hex[:8]
        try:
            conn, admin = self._connect()
        except Exception as exc:
            raise BenchError(f"PostgreSQL not reachable at {self.admin_url}: {exc}") from None
        with conn:
            for svc in self.services:
                name = f"aidflow_bench_{label}_{svc}"
                conn.execute(f'CREATE DATABASE "{name}"')
                self.created.append(name)
                self.urls[svc] = (admin.set(drivername="postgresql+psycopg", database=name)
                                  .render_as_string(hide_password=False))
        return self

    def backend_pids(self) -> list[int]:
        """The PostgreSQL server processes connected to our databases (none for SQLite)."""
        if not self.created:
            return []
        conn, _ = self._connect()
        with conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)", (self.created,))
            return [row[0] for row in rows]

    def __exit__(self, *exc) -> None:
        if not self.created:
            return
        conn, _ = self._connect()
        with conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, tuple[int, str, float]]:
    """Every live process: pid → (process group, command name, user + system CPU seconds)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        table[int(entry.name)] = (int(fields[2]), comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return table


WHOLE_MACHINE = "whole machine (every process, the kernel)"


class CpuMeter:
    """CPU seconds spent between two snapshots by named process groups (a service and its
    gunicorn workers are one group), by the PostgreSQL backends serving the bench's databases,
    by the RabbitMQ broker (beam.smp) and by the bench's own process."""

    def __init__(self, groups: dict[str, int], databases: "Databases | None" = None,
                 bench_label: str = "bench (clients, reviewer, tap)"):
        self.groups = groups
        self.databases = databases
        self.bench_label = bench_label

    @classmethod
    def of(cls, system: "System", databases: "Databases") -> "CpuMeter":
        return cls({p.name: p.popen.pid for p in system.procs}, databases)

    def snapshot(self) -> dict:
        table = process_table()
        groups: dict[int, float] = {}
        for pgid, _, cpu in table.values():
            groups[pgid] = groups.get(pgid, 0.0) + cpu
        backends = self.databases.backend_pids() if self.databases else []
        return {
            "services": {name: groups.get(pgid, 0.0) for name, pgid in self.groups.items()},
            "postgres": {pid: table[pid][2] for pid in backends if pid in table},
            "broker": sum(cpu for _, comm, cpu in table.values() if comm == "beam.smp"),
            "bench": sum(os.times()[:2]),
            "machine": machine_busy_seconds(),
        }

    def per_case(self, before: dict, after: dict, cases: int) -> tuple[dict[str, float], float]:
        """CPU seconds per case (or request) by consumer, and the share of the machine that was busy."""
        out = {name: (cpu - before["services"].get(name, 0.0)) / cases for name, cpu in after["services"].items()}
        out[self.bench_label] = (after["bench"] - before["bench"]) / cases
        if after["postgres"] or before["postgres"]:
            # Backends that started during the load count whole; those that ended are missed.
            spent = sum(cpu - before["postgres"].get(pid, 0.0) for pid, cpu in after["postgres"].items())
            out["PostgreSQL backends (the bench's databases)"] = spent / cases
        out["RabbitMQ broker (whole node, shared)"] = (after["broker"] - before["broker"]) / cases
        busy = after["machine"][0] - before["machine"][0]
        total = after["machine"][1] - before["machine"][1]
        out[WHOLE_MACHINE] = busy / cases
        return out, (busy / total if total else math.nan)

    def ceiling(self, spent: dict[str, float], rate: float) -> float:
        """The rate the same machine load would carry if the measured groups (our own processes)
        took no CPU at all: only the database, the broker, the bench and the kernel, each at what
        it spent per case at this load (a little less at higher rates, where writes share a
        flush). What tuning our code could reach at most, not a law."""
        ours = sum(spent.get(name, 0.0) for name in self.groups)
        rest = spent[WHOLE_MACHINE] - ours
        return rate * spent[WHOLE_MACHINE] / rest if rest > 0 else math.nan


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def answers_ready(url: str) -> bool:
    """``url`` (a service's /readyz) answers ready, and it is one of ours that answers: our
    readiness lists its checks, which another server on the port would not."""
    response = requests.get(url, timeout=2)
    try:
        return response.status_code == 200 and "checks" in response.json()
    except ValueError:
        return False


# -- the services as processes ------------------------------------------------------------------

def service_command(svc: str) -> str:
    """The ``aidflow-<svc>`` console script beside this interpreter, else the one on the PATH."""
    beside = Path(sys.executable).parent / f"aidflow-{svc}"
    if beside.exists():
        return str(beside)
    found = shutil.which(f"aidflow-{svc}")
    if not found:
        raise BenchError(f"aidflow-{svc} is not installed; run `make venv` and use .venv/bin/python")
    return found


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    logfile: Path
    ready_url: str | None = None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


class System:
    """The services as OS processes, each in its own process group so gunicorn's workers go too."""

    def __init__(self, amqp_url: str, db_urls: dict[str, str], workdir: Path, secret: str, *,
                 workers: tuple[str, ...] = SERVICES, apis: tuple[str, ...] = API_SERVICES,
                 api_args: tuple[str, ...] = ()):
        self.workdir = workdir
        self.api_args = api_args
        self.secret = secret
        self.workers = workers
        self.apis = apis
        self.api_ports = {svc: free_port() for svc in SERVICES}
        self.worker_ports = {svc: free_port() for svc in SERVICES}
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("AIDFLOW_") or k in ("DATABASE_URL", "AMQP_URL"))}
        env.update(AMQP_URL=amqp_url, AIDFLOW_JWT_SECRET=secret, AIDFLOW_LOG_LEVEL="WARNING",
                   AIDFLOW_DATA_DIR=str(workdir))
        # Keys that seal personal data at rest: fresh for every run, like the databases.
        for variable in ("AIDFLOW_INTAKE_PII_KEY", "AIDFLOW_PAYOUT_PAYEE_KEY", "AIDFLOW_FOLLOWUP_CONTACT_KEY"):
            env[variable] = base64.b64encode(secrets.token_bytes(32)).decode()
        for svc in db_urls:
            env[f"AIDFLOW_{svc.upper()}_PORT"] = str(self.api_ports[svc])
            env[f"AIDFLOW_{svc.upper()}_DATABASE_URL"] = db_urls[svc]
        self.env = env
        self.procs: list[Proc] = []
        self.logs: list[Path] = []

    def url(self, svc: str) -> str:
        return f"http://127.0.0.1:{self.api_ports[svc]}"

    def _spawn(self, name: str, svc: str, *args: str, ready_port: int | None = None) -> Proc:
        logfile = self.workdir / f"{name}.log"
        with open(logfile, "wb") as out:
            popen = subprocess.Popen([service_command(svc), *args], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Proc(name, popen, logfile, f"http://127.0.0.1:{ready_port}/readyz" if ready_port else None)
        self.procs.append(proc)
        self.logs.append(logfile)
        return proc

    def start(self, ready_timeout: float = 90.0) -> None:
        self.migrate()
        self.spawn(ready_timeout)

    def migrate(self, services: tuple[str, ...] | None = None) -> None:
        services = sorted({*self.workers, *self.apis}) if services is None else services
        migrations = [self._spawn(f"{svc}-migrate", svc, "migrate") for svc in services]
        for proc in migrations:
            try:
                code = proc.popen.wait(timeout=120)
            except subprocess.TimeoutExpired:
                raise BenchError(f"{proc.name} did not finish in 120 s:\n{proc.tail()}") from None
            if code != 0:
                raise BenchError(f"{proc.name} exited with {code}:\n{proc.tail()}")
        self.procs = [p for p in self.procs if p not in migrations]

    def spawn(self, ready_timeout: float = 90.0) -> None:
        """Start the workers and APIs and wait until every one answers its /readyz."""
        for svc in self.workers:
            self._spawn(f"{svc}-worker", svc, "worker", "--port", str(self.worker_ports[svc]),
                        ready_port=self.worker_ports[svc])
        for svc in self.apis:
            self._spawn(f"{svc}-api", svc, "api", *self.api_args, ready_port=self.api_ports[svc])
        deadline = time.monotonic() + ready_timeout
        pending = list(self.procs)
        while pending:
            self.check_alive()
            for proc in list(pending):
                try:
                    if answers_ready(proc.ready_url):
                        pending.remove(proc)
                except requests.RequestException:
                    pass
            if pending and time.monotonic() > deadline:
                names = ", ".join(p.name for p in pending)
                raise BenchError(f"not ready after {ready_timeout:.0f} s: {names}\n{pending[0].tail()}")
            if pending:
                time.sleep(0.2)

    def check_alive(self) -> None:
        for proc in self.procs:
            code = proc.popen.poll()
            if code is not None:
                raise BenchError(f"{proc.name} exited with {code}:\n{proc.tail()}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                try:
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # the group: gunicorn's workers, anything left behind
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()

    def problems(self, limit: int = 10) -> list[str]:
        """Warnings, errors and tracebacks the services logged (the level is WARNING)."""
        found = []
        for path in self.logs:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            found += [f"{path.stem}: {line[:400]}" for line in lines if PROBLEM.search(line)]
        return found[:limit] + ([f"… and {len(found) - limit} more"] if len(found) > limit else [])


# -- the pipeline round -------------------------------------------------------------------------

def check_character(first17: str) -> str:
    from aidflow_intake.identity import check_character as check
    return check(first17)


def resident_id(n: int) -> str:
    """A valid resident ID number, unique per n (a new birth date every 1000)."""
    birth = date(1960, 1, 1) + timedelta(days=n // 1000)
    first17 = f"510104{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + check_character(first17)


def referral(n: int) -> dict:
    """An ex officio referral with its paperwork complete, accepted (受理) as it is registered."""
    from aidflow_intake.checklist import complete_file
    body = {
        "source": "ex_officio", "stage": "prosecution_review", "criminal_case_ref": f"川检刑诉〔2026〕B{n}号",
        "urgent_medical": False, "summary": "被害人遭故意伤害致重伤，家庭因案致贫。",
        "beneficiaries": [{"name": f"测试{n}", "id_type": "resident_id", "id_number": resident_id(n),
                           "relationship": "victim"}],
        "accept": True,
    }
    body["documents"] = complete_file(body)
    return body


@dataclass
class CaseRecord:
    n: int
    post_start: float
    post_end: float = 0.0
    beneficiaries: list[str] = field(default_factory=list)
    decision_start: float | None = None
    decision_end: float | None = None


class Tap:
    """Our own exclusive queue on ``aidflow.events``: when each event of a case was seen."""

    def __init__(self, url: str, keys: tuple[str, ...], on_review_opened):
        self.url = url
        self.keys = keys
        self.on_review_opened = on_review_opened
        self.seen: dict[str, dict[str, float]] = {}  # case id → routing key → first time seen
        self.plans = 0
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="tap", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(30) or self.error:
            raise BenchError(f"could not bind the tap queue: {self.error}")

    def _on_message(self, message: amqp.Message) -> None:
        now = time.time()
        key = message.delivery_info.get("routing_key", "")
        event = json.loads(message.body)
        case_id = event.get("subject") or event.get("data", {}).get("case_id")
        with self.lock:
            stamps = self.seen.setdefault(case_id, {})
            if key in stamps:
                return
            stamps[key] = now
            if key == PLAN_OPENED:
                self.plans += 1
        if key == REVIEW_OPENED:
            self.on_review_opened(case_id, event["data"]["review_id"], now)

    def _run(self) -> None:
        try:
            with Connection(self.url, heartbeat=0) as conn:
                conn.ensure_connection(max_retries=3)
                channel = conn.channel()
                channel.exchange_declare(EVENTS, "topic", passive=True)
                name, _, _ = channel.queue_declare("", exclusive=True, auto_delete=True)
                for key in self.keys:
                    channel.queue_bind(name, EVENTS, key)
                channel.basic_consume(name, callback=self._on_message, no_ack=True)
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except socket.timeout:
                        pass
        except BaseException as exc:  # reported by the round
            self.error = exc
            self.ready.set()

    def stamp(self, case_id: str, key: str) -> float | None:
        with self.lock:
            return self.seen.get(case_id, {}).get(key)

    def last_seen(self, case_id: str) -> str | None:
        """The routing key of the latest event of ``case_id`` seen, or None."""
        with self.lock:
            stamps = self.seen.get(case_id, {})
            return max(stamps, key=stamps.get) if stamps else None

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


class Http:
    """A requests session per thread, with the role's bearer token."""

    def __init__(self, token: str):
        self.token = token
        self.local = threading.local()

    def post(self, url: str, body: dict, timeout: float = 60) -> requests.Response:
        try:
            return self._session().post(url, json=body, timeout=timeout)
        except requests.ConnectionError:
            # The server closed an idle keep-alive connection as the request went out on it (the
            # approvers' sessions sit idle between cases): the request never reached the API.
            # Once more on a fresh connection.
            self.local.session = None
            return self._session().post(url, json=body, timeout=timeout)

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.headers.update({"Authorization": f"Bearer {self.token}", "Accept-Language": "en"})
        return session


def tokens(secret: str) -> dict[str, str]:
    from aidflow_shared.auth import mint_token
    from aidflow_shared.settings import Settings
    settings = Settings(service="intake", jwt_secret=secret)
    return {role: mint_token(settings, f"bench-{role}", [role], "procuratorate", ttl=timedelta(hours=4))
            for role in ("intake_clerk", "reviewer", "department_head", "chief_procurator", "finance_officer")}


def open_fund(system: System, token: str, amount_fen: int) -> None:
    http = Http(token)
    base = system.url("payout") + "/api/v1"
    response = http.post(f"{base}/funds", {"name": "性能测试资金", "source": "finance_bureau",
                                           "year": date.today().year})
    if response.status_code != 201:
        raise BenchError(f"POST /funds: {response.status_code} {response.text[:300]}")
    fund_id = response.json()["fund_id"]
    response = http.post(f"{base}/funds/{fund_id}/allocations", {"amount_fen": amount_fen, "reference": "bench"})
    if response.status_code != 201:
        raise BenchError(f"POST /funds/{fund_id}/allocations: {response.status_code} {response.text[:300]}")


def run_pipeline(args, round_no: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="aidflow-bench-"))
    lost = False
    try:
        with Vhost(args.amqp_url, "pipeline") as vhost, \
                Databases(None if args.sqlite else args.pg_url, workdir) as dbs:
            secret = secrets.token_urlsafe(48)
            system = System(vhost.url, dbs.urls, workdir, secret)
            log(f"round {round_no}: pipeline — starting the services "
                f"({'SQLite' if args.sqlite else 'PostgreSQL'}, vhost {vhost.name})")
            try:
                system.start()
                roles = tokens(secret)
                open_fund(system, roles["finance_officer"], AWARD_FEN * (args.n + 10))
                result = _load(args, system, vhost.url, roles, CpuMeter.of(system, dbs))
            finally:
                system.stop()
            result["log_problems"] = system.problems()
            lost = bool(result["lost"])
            return result
    finally:
        if args.keep_logs or lost:  # a lost case is looked for in the services' logs
            log(f"service logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _load(args, system: System, amqp_url: str, roles: dict[str, str], meter: CpuMeter) -> dict:
    n = args.n
    cases: dict[str, CaseRecord] = {}
    cases_changed = threading.Condition()
    reviews: queue.Queue = queue.Queue()
    errors: list[str] = []
    stop = threading.Event()

    keys = STAGE_KEYS if args.stages else (REVIEW_OPENED, PLAN_OPENED)
    tap = Tap(amqp_url, keys, lambda case_id, review_id, _: reviews.put((case_id, review_id)))
    tap.start()

    from aidflow.reviewing import DECIDING_ROLES, approved_proposal, decide
    clerk = Http(roles["intake_clerk"])
    deciders = {role: Http(roles[role]) for role in DECIDING_ROLES}
    referrals_url = system.url("intake") + "/api/v1/referrals"
    review_api = system.url("review") + "/api/v1"

    def post_review(path: str, role: str, body: dict) -> dict:
        response = deciders[role].post(review_api + path, body)
        if response.status_code != 201:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        return response.json()
    next_n = iter(range(n))
    next_lock = threading.Lock()
    interval = 1.0 / args.rate if args.rate else 0.0
    t_begin = time.time()

    def submit() -> None:
        while not stop.is_set():
            with next_lock:
                i = next(next_n, None)
            if i is None:
                return
            if interval:  # open loop: referral i is due at t_begin + i/rate
                delay = t_begin + i * interval - time.time()
                if delay > 0:
                    time.sleep(delay)
            start = time.time()
            try:
                response = clerk.post(referrals_url, referral(i))
            except requests.RequestException as exc:
                errors.append(f"referral {i}: {exc.__class__.__name__}: {exc}")
                continue
            if response.status_code != 201:
                errors.append(f"referral {i}: {response.status_code} {response.text[:200]}")
                continue
            body = response.json()
            record = CaseRecord(i, start, time.time(), [b["beneficiary_id"] for b in body["beneficiaries"]])
            with cases_changed:
                cases[body["case_id"]] = record
                cases_changed.notify_all()

    def review() -> None:
        while not stop.is_set():
            try:
                case_id, review_id = reviews.get(timeout=0.2)
            except queue.Empty:
                continue
            with cases_changed:  # the event can overtake the POST's response
                if not cases_changed.wait_for(lambda: case_id in cases or stop.is_set(), timeout=args.timeout):
                    errors.append(f"review {review_id}: case {case_id} was never answered by intake")
                    continue
                record = cases.get(case_id)
            if record is None:
                continue
            proposal = approved_proposal([{"beneficiary_id": b, "amount_fen": AWARD_FEN} for b in record.beneficiaries])
            start = time.time()
            try:  # the reviewer's proposal, then the approvals its amount needs
                decide(post_review, review_id, proposal)
            except (requests.RequestException, RuntimeError) as exc:
                errors.append(f"decision {review_id}: {exc.__class__.__name__}: {exc}")
                continue
            record.decision_start, record.decision_end = start, time.time()

    clients = [threading.Thread(target=submit, name=f"client-{i}", daemon=True) for i in range(args.clients)]
    reviewers = [threading.Thread(target=review, name=f"reviewer-{i}", daemon=True) for i in range(args.reviewers)]
    log(f"submitting {n} referrals with {args.clients} clients"
        + (f" at {args.rate}/s" if args.rate else "") + f", reviewing with {args.reviewers} threads")
    cpu_before = meter.snapshot()
    for thread in clients + reviewers:
        thread.start()
    try:
        for thread in clients:
            while thread.is_alive():
                thread.join(0.5)
                system.check_alive()
        submitted_at = time.time()
        log(f"submitted {len(cases)} in {submitted_at - t_begin:.1f} s; waiting for the plans")
        deadline = submitted_at + args.timeout
        last_report = time.time()
        while tap.plans < len(cases) and time.time() < deadline:
            system.check_alive()
            if tap.error:
                raise BenchError(f"tap failed: {tap.error!r}")
            time.sleep(0.1)
            if time.time() - last_report > 10:
                last_report = time.time()
                log(f"  {tap.plans}/{len(cases)} plans opened")
        cpu_after = meter.snapshot()
    finally:
        stop.set()
        with cases_changed:
            cases_changed.notify_all()
        for thread in clients + reviewers:
            thread.join(5)
        tap.close()

    records = list(cases.values())
    ends = {cid: tap.stamp(cid, PLAN_OPENED) for cid in cases}
    done = [(cid, r) for cid, r in cases.items() if ends[cid] is not None]
    lost_cases = []  # where each case that reached no plan was last seen: where to look
    for cid, r in cases.items():
        if ends[cid] is None:
            last = tap.last_seen(cid) or "nothing on the bus"
            decided = "decided by the bench" if r.decision_end else "not decided by the bench"
            lost_cases.append(f"case {cid} (referral {r.n}): last seen {last}; {decided}")
    latencies = [ends[cid] - r.post_start for cid, r in done]
    # The same without the time a case waited for the bench's reviewer threads to pick it up:
    # what the services themselves took (a real reviewer takes days, not milliseconds).
    unattended = [ends[cid] - r.post_start - (r.decision_start - tap.stamp(cid, REVIEW_OPENED))
                  for cid, r in done if r.decision_start and tap.stamp(cid, REVIEW_OPENED)]
    first = min((r.post_start for r in records), default=math.nan)
    last = max((ends[cid] for cid, _ in done), default=math.nan)
    result = {
        "n": n, "done": len(done), "lost": n - len(done), "errors": errors[:20], "error_count": len(errors),
        "lost_cases": lost_cases[:20], "seconds": last - first if done else math.nan,
        "throughput": len(done) / (last - first) if done and last > first else math.nan,
        "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
        "system_p50": percentile(unattended, 50), "system_p95": percentile(unattended, 95),
        "system_p99": percentile(unattended, 99),
        "referral_post_p50": percentile([r.post_end - r.post_start for r in records], 50),
        "referral_post_p95": percentile([r.post_end - r.post_start for r in records], 95),
        "decision_post_p50": percentile([r.decision_end - r.decision_start for r in records if r.decision_end], 50),
        "decision_post_p95": percentile([r.decision_end - r.decision_start for r in records if r.decision_end], 95),
    }
    if args.stages:
        result["stages"] = stage_breakdown(cases, tap)
        result["stages_p99"] = stage_breakdown(cases, tap, 99)
    if done:  # CPU seconds per finished case, by process; and how busy the whole machine was
        result["cpu_per_case"], result["machine_busy"] = meter.per_case(cpu_before, cpu_after, len(done))
        result["ceiling"] = meter.ceiling(result["cpu_per_case"], result["throughput"])
    return result


def stage_breakdown(cases: dict[str, CaseRecord], tap: Tap, p: float = 50) -> dict[str, float]:
    """The ``p``-th percentile (the median by default) of the seconds each step of a case took,
    from the POST and the tapped events."""
    steps: dict[str, list[float]] = {name: [] for name in STAGE_NAMES}
    for cid, r in cases.items():
        s = {key: tap.stamp(cid, key) for key in STAGE_KEYS}
        points = [
            ("intake: POST → case.opened on the bus", r.post_start, s[STAGE_KEYS[0]]),
            ("review: case.opened → review.opened", s[STAGE_KEYS[0]], s[STAGE_KEYS[1]]),
            ("bench reviewer: review.opened → decision POST", s[STAGE_KEYS[1]], r.decision_start),
            ("review API: decision POST → decision.recorded", r.decision_start, s[STAGE_KEYS[2]]),
            ("payout: decision.recorded → disbursed", s[STAGE_KEYS[2]], s[STAGE_KEYS[3]]),
            ("followup: disbursed → plan.opened", s[STAGE_KEYS[3]], s[STAGE_KEYS[4]]),
        ]
        for name, a, b in points:
            if a is not None and b is not None:
                steps[name].append(b - a)
    return {name: median(values) if p == 50 else percentile(values, p) for name, values in steps.items()}


STAGE_NAMES = ("intake: POST → case.opened on the bus", "review: case.opened → review.opened",
               "bench reviewer: review.opened → decision POST", "review API: decision POST → decision.recorded",
               "payout: decision.recorded → disbursed", "followup: disbursed → plan.opened")


# -- the baseline round -------------------------------------------------------------------------

def _declare_baseline(url: str) -> None:
    with Connection(url) as conn:
        channel = conn.channel()
        for i in range(5):
            channel.queue_declare(f"q{i}", durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"})


def _hop(url: str, source: str, target: str, ready, stop, confirm: bool = True) -> None:
    """One hop: consume ``source``, publish each message to ``target`` (with a confirm), then ack."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through ``stop``
    with Connection(url) as consuming, \
            Connection(url, transport_options={"confirm_publish": confirm}) as publishing:
        out = publishing.channel()

        def forward(message: amqp.Message) -> None:
            props = message.properties
            # basic_publish on a confirm_publish connection waits for the broker's ack.
            out.basic_publish(amqp.Message(message.body, content_type=props.get("content_type"),
                                           message_id=props.get("message_id"), delivery_mode=2),
                              exchange="", routing_key=target, confirm_timeout=30)
            message.channel.basic_ack(message.delivery_tag)

        channel = consuming.channel()
        channel.basic_qos(0, PREFETCH, False)
        channel.basic_consume(source, callback=forward, no_ack=False)
        ready.set()
        while not stop.is_set():
            try:
                consuming.drain_events(timeout=0.5)
            except socket.timeout:
                pass


def run_baseline(args, round_no: int, confirm: bool = True) -> dict:
    """The four bare hops; ``confirm=False`` is the broker's no-confirm rate (hops and producers
    publish without waiting for the broker's ack, still persistent messages on quorum queues)."""
    n = args.baseline_n or args.n
    ctx = mp.get_context("spawn")
    with Vhost(args.amqp_url, "baseline") as vhost:
        log(f"round {round_no}: baseline{'' if confirm else ' without confirms'} — {n} messages through "
            f"4 kombu hops (vhost {vhost.name})")
        _declare_baseline(vhost.url)
        stop = ctx.Event()
        readies = [ctx.Event() for _ in range(4)]
        hops = [ctx.Process(target=_hop, args=(vhost.url, f"q{i}", f"q{i + 1}", readies[i], stop, confirm),
                            name=f"hop-{i}", daemon=True) for i in range(4)]
        for hop in hops:
            hop.start()
        try:
            for i, ready in enumerate(readies):
                if not ready.wait(30):
                    raise BenchError(f"baseline hop {i} did not start")
            return _baseline_load(args, vhost.url, n, hops, confirm)
        finally:
            stop.set()
            for hop in hops:
                hop.join(5)
                if hop.is_alive():
                    hop.terminate()
                    hop.join(5)


def _baseline_load(args, url: str, n: int, hops, confirm: bool = True) -> dict:
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    lock = threading.Lock()
    collector_ready = threading.Event()
    collector_stop = threading.Event()

    def collect() -> None:
        def on_message(message: amqp.Message) -> None:
            now = time.time()
            body = json.loads(message.body)
            with lock:
                arrived.setdefault(body["seq"], now)

        with Connection(url) as conn:
            channel = conn.channel()
            channel.basic_consume("q4", callback=on_message, no_ack=True)
            collector_ready.set()
            while not collector_stop.is_set():
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass

    collector = threading.Thread(target=collect, name="collector", daemon=True)
    collector.start()
    if not collector_ready.wait(30):
        raise BenchError("the baseline collector could not consume q4")
    errors: list[str] = []

    next_n = iter(range(n))
    next_lock = threading.Lock()
    interval = 1.0 / args.rate if args.rate else 0.0
    t_begin = time.time()
    pad = "x" * (BASELINE_PAYLOAD - 60)  # the whole body is about 1 KB, like a case.opened event

    def produce() -> None:
        try:
            _produce()
        except Exception as exc:  # counted: its messages never arrive
            errors.append(f"baseline producer: {exc.__class__.__name__}: {exc}")

    def _produce() -> None:
        with Connection(url, transport_options={"confirm_publish": confirm}) as conn:
            channel = conn.channel()
            while True:
                with next_lock:
                    i = next(next_n, None)
                if i is None:
                    return
                if interval:
                    delay = t_begin + i * interval - time.time()
                    if delay > 0:
                        time.sleep(delay)
                start = time.time()
                body = json.dumps({"seq": i, "t0": start, "pad": pad}).encode()
                channel.basic_publish(amqp.Message(body, content_type="application/json",
                                                   message_id=str(uuid.uuid4()), delivery_mode=2),
                                      exchange="", routing_key="q0", confirm_timeout=30)
                with lock:
                    sent[i] = start

    def cpu() -> tuple[float, float, float]:
        table = process_table()
        return (sum(table[h.pid][2] for h in hops if h.pid in table),
                sum(c for _, comm, c in table.values() if comm == "beam.smp"), sum(os.times()[:2]))

    producers = [threading.Thread(target=produce, name=f"producer-{i}", daemon=True) for i in range(args.clients)]
    cpu_before = cpu()
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    deadline = time.time() + args.timeout
    while len(arrived) < n and time.time() < deadline:
        if not all(hop.is_alive() for hop in hops):
            raise BenchError("a baseline hop died")
        time.sleep(0.05)
    cpu_after = cpu()
    collector_stop.set()
    collector.join(5)

    latencies = [arrived[i] - sent[i] for i in arrived if i in sent]
    first = min(sent.values(), default=math.nan)
    last = max(arrived.values(), default=math.nan)
    spent = [(a - b) / max(1, len(arrived)) for a, b in zip(cpu_after, cpu_before)]
    return {"cpu_per_message": {"hops": spent[0], "broker": spent[1], "bench (producers, collector)": spent[2]},
            "n": n, "done": len(arrived), "lost": n - len(arrived), "errors": errors[:20],
            "error_count": len(errors), "seconds": last - first if arrived else math.nan,
            "throughput": len(arrived) / (last - first) if arrived and last > first else math.nan,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99)}


# -- report -------------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    if seconds is None or math.isnan(seconds):
        return "—"
    return f"{seconds * 1000:.1f} ms" if abs(seconds) < 0.01 else f"{seconds * 1000:,.0f} ms"


def rate(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:,.1f}/s"


def report(args, pipelines: list[dict], baselines: list[dict]) -> str:
    ratios = [p["throughput"] / b["throughput"] for p, b in zip(pipelines, baselines)
              if b["throughput"] and not math.isnan(b["throughput"])]
    k = len(pipelines)
    storage = "SQLite" if args.sqlite else "PostgreSQL"
    lines = [
        "",
        f"aidflow pipeline vs bare kombu: N={args.n}, baseline N={args.baseline_n or args.n}, "
        f"clients={args.clients}, reviewers={args.reviewers}, {storage}, "
        f"{'open loop at %s/s' % args.rate if args.rate else 'closed loop'}, "
        f"{k} round{'s' if k > 1 else ''} ({'medians' if k > 1 else 'single run'})",
        "",
        "round   pipeline cases/s   p50       p95       p99      | baseline msgs/s   p50      p95      p99     | ratio",
    ]
    for i, (p, b) in enumerate(zip(pipelines, baselines), 1):
        ratio = p["throughput"] / b["throughput"] if b["throughput"] else math.nan
        lines.append(f"{i:<7} {rate(p['throughput']):>16}  {ms(p['p50']):>9} {ms(p['p95']):>9} {ms(p['p99']):>9} |"
                     f" {rate(b['throughput']):>15}  {ms(b['p50']):>7}  {ms(b['p95']):>7}  {ms(b['p99']):>7} |"
                     f" {ratio:.2%}")
    m = lambda rows, key: median(r[key] for r in rows)  # noqa: E731
    lines += [
        "",
        f"{'':34}{'pipeline':>14}{'baseline':>14}",
        f"{'throughput (median)':34}{rate(m(pipelines, 'throughput')) + ' cases':>14}"
        f"{rate(m(baselines, 'throughput')) + ' msgs':>14}",
        f"{'latency p50 (median)':34}{ms(m(pipelines, 'p50')):>14}{ms(m(baselines, 'p50')):>14}",
        f"{'latency p95 (median)':34}{ms(m(pipelines, 'p95')):>14}{ms(m(baselines, 'p95')):>14}",
        f"{'latency p99 (median)':34}{ms(m(pipelines, 'p99')):>14}{ms(m(baselines, 'p99')):>14}",
        f"{'ratio pipeline/baseline (median)':34}{median(ratios):>14.2%}"
        + ("   (open loop: both run at the offered rate, compare latencies)" if args.rate else ""),
    ]
    if all("no_confirm" in b for b in baselines):
        free = [b["no_confirm"]["throughput"] for b in baselines]
        lines += [
            f"{'baseline without confirms (median)':34}{rate(median(free)) + ' msgs':>14}"
            f"   p50 {ms(median(b['no_confirm']['p50'] for b in baselines))}",
            f"{'ratio pipeline/no-confirm (median)':34}"
            f"{median(p['throughput'] / f for p, f in zip(pipelines, free) if f):>14.2%}",
            f"{'ratio confirmed/no-confirm baseline':34}"
            f"{median(b['throughput'] / f for b, f in zip(baselines, free) if f):>14.2%}",
        ]
    lines += [
        "",
        f"pipeline latency without the wait for the bench's reviewer threads, p50/p95/p99 (median): "
        f"{ms(m(pipelines, 'system_p50'))} / {ms(m(pipelines, 'system_p95'))} / {ms(m(pipelines, 'system_p99'))}",
        f"referral POST p50/p95 (median): {ms(m(pipelines, 'referral_post_p50'))} / "
        f"{ms(m(pipelines, 'referral_post_p95'))}",
        f"reviewer's decision POST p50/p95 (median): {ms(m(pipelines, 'decision_post_p50'))} / "
        f"{ms(m(pipelines, 'decision_post_p95'))}",
    ]
    if args.stages and all("stages" in p for p in pipelines):
        lines += ["", "where a case's time goes (per case: p50 and p99, median over rounds):"]
        for name in STAGE_NAMES:
            lines.append(f"  {name:50} {ms(median(p['stages'][name] for p in pipelines)):>10} "
                         f"{ms(median(p['stages_p99'][name] for p in pipelines)):>10}")
    if all("cpu_per_case" in p for p in pipelines):
        lines += ["", "CPU per case (median over rounds), while the load ran:"]
        names = [name for name in pipelines[0]["cpu_per_case"] if name != WHOLE_MACHINE]
        total = 0.0
        for name in names:
            value = median(p["cpu_per_case"].get(name, math.nan) for p in pipelines)
            total += value
            lines.append(f"  {name:50} {ms(value):>10}")
        lines.append(f"  {'total of the above':50} {ms(total):>10}")
        whole = median(p["cpu_per_case"].get(WHOLE_MACHINE, math.nan) for p in pipelines)
        lines.append(f"  {WHOLE_MACHINE:50} {ms(whole):>10}")
        if all("cpu_per_message" in b for b in baselines):
            spent = {k: median(b["cpu_per_message"][k] for b in baselines) for k in baselines[0]["cpu_per_message"]}
            lines.append("  baseline, per message: " + ", ".join(f"{k} {ms(v)}" for k, v in spent.items()))
        lines.append(f"  whole machine busy (all processes, {os.cpu_count()} cores): "
                     f"{median(p['machine_busy'] for p in pipelines):.0%}")
        if all("ceiling" in p for p in pipelines):
            ceilings = [p["ceiling"] for p in pipelines]
            line = (f"  if the services' processes took no CPU at all (the database, the broker, the bench "
                    f"and the kernel alone), at the same machine load: at most {rate(median(ceilings))} cases")
            shares = [c / b["throughput"] for c, b in zip(ceilings, baselines)
                      if b["throughput"] and not math.isnan(b["throughput"])]
            if shares and not args.rate:
                line += f", {median(shares):.1%} of the baseline"
            lines.append(line)
    problems = [line for p in pipelines for line in p.get("log_problems", [])]
    if problems:
        lines += ["", "the services logged warnings or errors (first lines per round):"]
        lines += [f"  {line}" for line in problems]
    lost = sum(p["lost"] for p in pipelines)
    lost_messages = sum(b["lost"] + b.get("no_confirm", {}).get("lost", 0) for b in baselines)
    errors = sum(r.get("error_count", 0) for r in pipelines + baselines)
    if lost or lost_messages or errors:
        lines += ["", f"LOST: {lost} case(s) reached no plan and {lost_messages} baseline message(s) did not "
                      f"arrive within {args.timeout:g} s; {errors} request(s) failed"]
        for r in pipelines + baselines:
            for error in r.get("errors", []) + r.get("lost_cases", []):
                lines.append(f"  {error}")
    return "\n".join(lines)


def server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every bench shares: the servers, and where to keep the raw numbers."""
    parser.add_argument("--json", type=Path, help="also write every round's raw results here")
    parser.add_argument("--amqp-url", default=os.environ.get("AIDFLOW_BENCH_AMQP_URL",
                                                             "amqp://guest:guest@127.0.0.1:5672/"),
                        help="broker (its vhost is ignored: the bench makes its own)")
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL",
                                                           "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL role that may CREATE DATABASE")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="referrals per round (default 500)")
    parser.add_argument("--baseline-n", type=int, default=0, help="messages per baseline round (default: --n)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent intake clients / baseline producers")
    parser.add_argument("--reviewers", type=int, default=4, help="concurrent reviewer threads")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="referrals per second, open loop (default 0: as fast as the clients go)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of pipeline + baseline, alternating")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds after the last POST for every case to reach a plan (default 300)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite files instead of PostgreSQL databases")
    parser.add_argument("--no-stages", dest="stages", action="store_false",
                        help="tap only review.opened and plan.opened (no per-stage breakdown)")
    parser.add_argument("--skip-baseline", action="store_true", help="run the pipeline only")
    parser.add_argument("--no-confirm", action="store_true",
                        help="also run the four hops without publisher confirms: the broker's no-confirm rate")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the services' logs (their directory is printed); kept anyway when a case is lost")
    server_arguments(parser)
    args = parser.parse_args(argv)
    if shutil.which("rabbitmqctl") is None:
        parser.error("rabbitmqctl must be on the PATH: the bench makes its own vhost")

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    pipelines: list[dict] = []
    baselines: list[dict] = []
    try:
        for round_no in range(1, args.repeat + 1):
            pipelines.append(run_pipeline(args, round_no))
            p = pipelines[-1]
            log(f"round {round_no}: pipeline {rate(p['throughput'])} cases, p50 {ms(p['p50'])}, lost {p['lost']}")
            if args.skip_baseline:
                baselines.append({"throughput": math.nan, "p50": math.nan, "p95": math.nan, "p99": math.nan,
                                  "lost": 0})
                continue
            baselines.append(run_baseline(args, round_no))
            b = baselines[-1]
            log(f"round {round_no}: baseline {rate(b['throughput'])} msgs, p50 {ms(b['p50'])}, lost {b['lost']}")
            if args.no_confirm:
                b["no_confirm"] = run_baseline(args, round_no, confirm=False)
                log(f"round {round_no}: baseline without confirms {rate(b['no_confirm']['throughput'])} msgs")
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped and removed")
        return 130
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 2
    print(report(args, pipelines, baselines), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "pipeline": pipelines, "baseline": baselines}, indent=2, default=str))
    lost = sum(r["lost"] for r in pipelines + baselines)
    errors = sum(r.get("error_count", 0) for r in pipelines + baselines)
    return 1 if lost or errors else 0


if __name__ == "__main__":
    sys.exit(main())
