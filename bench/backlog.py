"""Goal 4: a backlog of queued referrals drains, with every service's memory bounded and nothing lost.

On a fresh RabbitMQ vhost and fresh PostgreSQL databases, with the topology declared and the
databases migrated but no service running yet, the bench registers a partner agency (the
broker's own user publishes as it) and publishes ``--n`` referral transfers
(``<agency>.referral.submit.v1`` on ``aidflow.inbound``, persistent, confirmed) into intake's
queue. Then the four workers start, as a deployment runs them, and drain it: intake registers
each transfer as a case and answers the agency; review registers each case for its review.
The bench samples every worker's resident memory (RSS, from ``/proc``) every half second and
waits until intake holds ``--n`` transfers and review ``--n`` reviews, and every outbox is
empty.

    .venv/bin/python bench/backlog.py                  # 10 000 referrals
    .venv/bin/python bench/backlog.py --n 100000       # the goal's figure; takes a while
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

from pipeline import (SERVICES, BenchError, Databases, System, Vhost, log, process_table, referral,
                      server_arguments)

AGENCY = "poverty-bureau"
PAGE = os.sysconf("SC_PAGE_SIZE")


def transfer(n: int) -> dict:
    body = referral(n)
    data = {k: body[k] for k in ("criminal_case_ref", "summary", "beneficiaries")}
    data["partner_reference"] = f"扶移〔2026〕B{n}号"
    data["beneficiaries"][0]["poverty_markers"] = ["registered_poor_household"]
    return data


def declare(amqp_url: str) -> None:
    """The topology the services declare themselves, declared before any of them runs."""
    from aidflow_shared.bus.amqp import AmqpTransport
    from aidflow_shared.bus.topology import build_topology
    from aidflow_shared.settings import Settings
    settings = Settings(service="intake")
    AmqpTransport(amqp_url).declare(build_topology(retry_delays=settings.retry_delays[:settings.max_retries],
                                                   delivery_limit=settings.delivery_limit))


def fill(amqp_url: str, n: int, batch: int = 500) -> float:
    """Publish ``n`` transfers as the agency, confirmed in batches; returns the seconds it took."""
    from aidflow_shared.bus.amqp import AmqpTransport
    from aidflow_shared.bus.transport import Outgoing
    user = urlsplit(amqp_url).username or "guest"
    transport = AmqpTransport(amqp_url)
    started = time.perf_counter()
    kind = "org.aidflow.partner.referral.submit.v1"
    try:
        for first in range(0, n, batch):
            messages = []
            for i in range(first, min(n, first + batch)):
                message_id = str(uuid.uuid4())
                envelope = {"specversion": "1.0", "id": message_id, "source": f"/partners/{AGENCY}", "type": kind,
                            "time": datetime.now(timezone.utc).isoformat(), "datacontenttype": "application/json",
                            "data": transfer(i)}
                messages.append(Outgoing(exchange="aidflow.inbound", routing_key=f"{AGENCY}.referral.submit.v1",
                                         body=json.dumps(envelope, ensure_ascii=False), message_id=message_id,
                                         type=kind, content_type="application/cloudevents+json", user_id=user))
            if transport.publish(messages):
                raise BenchError("transfers were unroutable: is intake's queue bound?")
            if first and first % 10_000 == 0:
                log(f"  {first} transfers queued")
    finally:
        transport.close()
    return time.perf_counter() - started


def rss(pid: int) -> int:
    """Resident memory of one process, in bytes (0 once it is gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/statm") as f:
            total += int(f.read().split()[1]) * PAGE
    except OSError:
        pass
    return total


class MemorySampler:
    def __init__(self, procs, interval: float = 0.5):
        self.procs = procs
        self.interval = interval
        self.peak = {p.name: 0 for p in procs}
        self.first = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            for proc in self.procs:
                value = rss(proc.popen.pid)
                self.first.setdefault(proc.name, value)
                self.peak[proc.name] = max(self.peak[proc.name], value)
            self.stop.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def worker_cpu(system: System) -> dict[str, float]:
    """CPU seconds (user + system) each worker process has used so far."""
    table = process_table()
    return {p.name: table[p.popen.pid][2] for p in system.procs if p.popen.pid in table}


def count(url: str, sql: str) -> int:
    engine = create_engine(url, poolclass=None)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def run(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="aidflow-backlog-"))
    try:
        with Vhost(args.amqp_url, "backlog") as vhost, Databases(args.pg_url, workdir) as dbs:
            system = System(vhost.url, dbs.urls, workdir, secrets.token_urlsafe(48), workers=SERVICES, apis=())
            try:
                system.migrate()
                declare(vhost.url)
                user = urlsplit(vhost.url).username or "guest"
                with create_engine(dbs.urls["intake"]).begin() as conn:
                    conn.execute(text("INSERT INTO partner_agency (code, name, broker_user, active) "
                                      "VALUES (:code, '扶贫办（性能测试）', :user, true) ON CONFLICT (code) "
                                      "DO UPDATE SET broker_user = :user, active = true"), {"code": AGENCY, "user": user})
                log(f"queueing {args.n} transfers")
                fill_seconds = fill(vhost.url, args.n)
                log(f"queued in {fill_seconds:.0f} s; starting the workers")
                started = time.perf_counter()
                system.spawn()
                checks = {
                    "intake transfers": (dbs.urls["intake"], "SELECT count(*) FROM partner_transfer"),
                    "review reviews": (dbs.urls["review"], "SELECT count(*) FROM review"),
                }
                unsent = [(dbs.urls[s], "SELECT count(*) FROM outbox WHERE sent_at IS NULL") for s in SERVICES]
                cpu_before = worker_cpu(system)
                with MemorySampler(system.procs) as memory:
                    deadline = time.monotonic() + args.timeout
                    last_log = 0.0
                    while True:
                        system.check_alive()
                        figures = {name: count(*query) for name, query in checks.items()}
                        pending = sum(count(*query) for query in unsent)
                        if all(v >= args.n for v in figures.values()) and pending == 0:
                            break
                        if time.monotonic() > deadline:
                            raise BenchError(f"not drained after {args.timeout:.0f} s: {figures}, unsent {pending}")
                        if time.monotonic() - last_log > 15:
                            last_log = time.monotonic()
                            log(f"  {figures}, unsent {pending}")
                        time.sleep(1.0)
                    drained = time.perf_counter() - started
                cpu_after = worker_cpu(system)
                problems = system.problems()
            finally:
                system.stop()
            return {"n": args.n, "fill_seconds": fill_seconds, "drain_seconds": drained,
                    "rate": args.n / drained, "counts": figures,
                    "cpu_ms_per_referral": {k: (cpu_after[k] - cpu_before.get(k, 0.0)) * 1000 / args.n for k in cpu_after},
                    "rss_start_mb": {k: v / 2**20 for k, v in memory.first.items()},
                    "rss_peak_mb": {k: v / 2**20 for k, v in memory.peak.items()}, "log_problems": problems}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def report(result: dict) -> str:
    lines = [f"backlog of {result['n']:,} queued referral transfers (PostgreSQL, RabbitMQ)",
             f"  queued in {result['fill_seconds']:.0f} s; drained by the four workers in {result['drain_seconds']:.0f} s "
             f"({result['rate']:.1f} referrals/s)",
             f"  at the end: {result['counts']} (lost: {result['n'] - min(result['counts'].values())})",
             "  per worker: resident memory at start -> peak, and CPU per referral while draining:"]
    for name, peak in result["rss_peak_mb"].items():
        lines.append(f"    {name:18} {result['rss_start_mb'][name]:7.1f} MB -> {peak:7.1f} MB   "
                     f"{result['cpu_ms_per_referral'].get(name, float('nan')):6.1f} ms CPU")
    if result["log_problems"]:
        lines.append("  the services logged warnings or errors:")
        lines += [f"    {line}" for line in result["log_problems"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="queued referrals (default 10 000; the goal: 100 000)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds to wait for the drain")
    server_arguments(parser)
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 2
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if min(result["counts"].values()) >= args.n else 1


if __name__ == "__main__":
    sys.exit(main())
