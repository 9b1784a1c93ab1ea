"""Goal 3: the referral POST under gunicorn against a bare Flask JSON endpoint, same server, same client.

Each round starts intake's API exactly as a deployment runs it (``aidflow-intake api``: gunicorn,
2 workers x 4 threads, gthread) on a fresh PostgreSQL database and RabbitMQ vhost, and the bare
Flask app of ``bench/bare_flask.py`` under gunicorn with the same workers, threads and worker
class. The same Python client (``--clients`` threads, a keep-alive session each, the intake
clerk's bearer token) POSTs the same referral bodies to each for ``--seconds`` after a short
warm-up, one server at a time. A referral POST is the whole thing: validation, sealing the
person's data, the case and its documents, the transfer clock and the outbox row, one
transaction. Only intake's API runs: no worker consumes its events (they wait in the vhost).

    .venv/bin/python bench/http_intake.py --repeat 3
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from pipeline import (WHOLE_MACHINE, BenchError, CpuMeter, Databases, Http, System, Vhost, free_port, log, median,
                      ms, percentile, referral, server_arguments, tokens)

HERE = Path(__file__).resolve().parent


def drive(url: str, token: str, clients: int, seconds: float, warmup: float, numbers, meter: CpuMeter) -> dict:
    """POST referrals to ``url`` from ``clients`` threads for ``seconds``; rate, latency, and the
    CPU each process (the server, the database, the client) spent per request meanwhile."""
    http = Http(token)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    measuring = threading.Event()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            with lock:
                n = next(numbers)
            body = referral(n)
            started = time.perf_counter()
            try:
                response = http.post(url, body)
                ok = response.status_code == 201
                detail = f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as exc:
                ok, detail = False, f"{exc.__class__.__name__}: {exc}"
            elapsed = time.perf_counter() - started
            if measuring.is_set() and not stop.is_set():
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors.append(detail)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    cpu_before = meter.snapshot()
    measuring.set()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    spent = time.perf_counter() - began
    cpu_after = meter.snapshot()  # requests still in flight count in the CPU, not in the rate
    for thread in threads:
        thread.join(30)
    cpu, busy = meter.per_case(cpu_before, cpu_after, max(1, len(latencies)))
    rate = len(latencies) / spent
    return {"rate": rate, "requests": len(latencies), "errors": len(errors),
            "first_errors": errors[:5], "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "cpu_per_request": cpu, "machine_busy": busy, "ceiling": meter.ceiling(cpu, rate)}


def bare_flask(port: int, workdir: Path, workers: int, threads: int) -> subprocess.Popen:
    """The bare app under gunicorn as ``aidflow-<service> api`` runs: gthread when threads > 1, else sync."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    logfile = open(workdir / "bare-flask.log", "wb")
    return subprocess.Popen([str(gunicorn if gunicorn.exists() else "gunicorn"), "--workers", str(workers),
                             "--threads", str(threads), "--worker-class", "gthread" if threads > 1 else "sync",
                             "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE), "bare_flask:app"],
                            stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{url}: the server exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise BenchError(f"{url} not ready after {timeout:.0f} s")


def stop_group(proc: subprocess.Popen) -> None:
    import signal
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_round(args, round_no: int, numbers) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="aidflow-http-bench-"))
    try:
        with Vhost(args.amqp_url, "http") as vhost, \
                Databases(args.pg_url, workdir, services=("intake",)) as dbs:
            secret = secrets.token_urlsafe(48)
            system = System(vhost.url, dbs.urls, workdir, secret, workers=(), apis=("intake",),
                            api_args=("--workers", str(args.workers), "--threads", str(args.threads)))
            token = tokens(secret)["intake_clerk"]
            port = free_port()
            bare = bare_flask(port, workdir, args.workers, args.threads)
            try:
                system.start()
                wait_ready(f"http://127.0.0.1:{port}/readyz", bare)
                results = {}
                # Alternate which goes first, so neither always meets a warmer machine.
                order = ["bare", "intake"] if round_no % 2 else ["intake", "bare"]
                meters = {"bare": CpuMeter({"bare Flask server": bare.pid}, bench_label="bench (the client)"),
                          "intake": CpuMeter({f"intake API server ({p.name})": p.popen.pid for p in system.procs}, dbs,
                                             bench_label="bench (the client)")}
                for name in order:
                    url = (f"http://127.0.0.1:{port}/api/v1/referrals" if name == "bare"
                           else system.url("intake") + "/api/v1/referrals")
                    results[name] = drive(url, token, args.clients, args.seconds, args.warmup, numbers, meters[name])
                    r = results[name]
                    log(f"round {round_no}: {name:6} {r['rate']:7.1f} req/s  p50 {r['p50'] * 1000:6.1f} ms  "
                        f"p99 {r['p99'] * 1000:6.1f} ms  errors {r['errors']}")
                return results
            finally:
                stop_group(bare)
                system.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def report(args, rounds: list[dict]) -> str:
    ours = median(r["intake"]["rate"] for r in rounds)
    bare = median(r["bare"]["rate"] for r in rounds)
    ratios = [r["intake"]["rate"] / r["bare"]["rate"] for r in rounds if r["bare"]["rate"]]
    ms = lambda key, name: median(r[name][key] for r in rounds) * 1000  # noqa: E731
    return "\n".join([
        f"referral POST vs bare Flask JSON, gunicorn {args.workers} workers x {args.threads} threads "
        f"({'gthread' if args.threads > 1 else 'sync'}), {args.clients} client threads, "
        f"{args.seconds:g} s each, medians of {len(rounds)} rounds",
        f"  intake POST /api/v1/referrals  {ours:8.1f} req/s   p50 {ms('p50', 'intake'):6.1f} ms   "
        f"p99 {ms('p99', 'intake'):6.1f} ms",
        f"  bare Flask JSON endpoint        {bare:8.1f} req/s   p50 {ms('p50', 'bare'):6.1f} ms   "
        f"p99 {ms('p99', 'bare'):6.1f} ms",
        f"  ratio intake / bare (median of rounds) {median(ratios):.1%}   (goal: at least 50%)",
        "",
        "CPU per request while each server was driven (median of rounds):",
        *cpu_lines(rounds),
    ])


def cpu_lines(rounds: list[dict]) -> list[str]:
    """Each process's CPU per request, for the referral POST and the bare endpoint side by side."""
    names = {name: None for r in rounds for server in ("intake", "bare") for name in r[server]["cpu_per_request"]}
    names = [name for name in names if name != WHOLE_MACHINE] + [WHOLE_MACHINE]

    def cell(server: str, name: str) -> str:
        values = [r[server]["cpu_per_request"][name] for r in rounds if name in r[server]["cpu_per_request"]]
        return ms(median(values)) if values else "—"

    lines = [f"  {'':50} {'referral POST':>14} {'bare endpoint':>14}"]
    lines += [f"  {name:50} {cell('intake', name):>14} {cell('bare', name):>14}" for name in names]
    busy = {server: median(r[server]["machine_busy"] for r in rounds) for server in ("intake", "bare")}
    lines.append(f"  {'share of the machine busy':50} {busy['intake']:>14.0%} {busy['bare']:>14.0%}")
    # What the POST's database writes and events cost the rest of the machine bounds the rate
    # whatever the API process does: its ratio if that process took no CPU at all.
    ceiling = median(r["intake"]["ceiling"] / r["bare"]["rate"] for r in rounds if r["bare"]["rate"])
    lines.append(f"  if intake's API process took no CPU at all, at the same machine load: at most "
                 f"{median(r['intake']['ceiling'] for r in rounds):.0f} req/s, {ceiling:.0%} of the bare endpoint")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per server and round")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, for both servers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker, for both servers")
    parser.add_argument("--repeat", type=int, default=3)
    server_arguments(parser)
    args = parser.parse_args(argv)
    numbers = itertools.count(1)
    rounds = []
    try:
        for round_no in range(1, args.repeat + 1):
            rounds.append(run_round(args, round_no, numbers))
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 2
    print(report(args, rounds))
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2))
    errors = sum(r[name]["errors"] for r in rounds for name in r)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
