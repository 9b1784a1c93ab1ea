"""Private servers and the services as processes, for runs that kill and restart them.

The fault-injection suite restarts RabbitMQ and PostgreSQL, so it never uses the shared ones:
it starts a RabbitMQ node and a PostgreSQL cluster of its own, on free ports, in temporary
directories, and removes them afterwards whatever happened.

- :class:`PrivateRabbitMQ`: ``rabbitmq-server`` with its own node name, ports, database, logs
  and configuration; stopped with ``rabbitmqctl -n <node> stop``. Run as the ``rabbitmq`` OS
  user when we are root (the packaged scripts switch to it, sharing its Erlang cookie).
- :class:`PrivatePostgres`: ``initdb`` + ``pg_ctl`` on a port and socket directory of its own,
  as the ``postgres`` OS user when we are root (PostgreSQL refuses to run as root).
- :class:`Cluster`: the four services as separate processes with their real command
  (``aidflow-<svc> migrate``, then ``aidflow-<svc> serve --no-migrate`` per replica), each in its
  own process group, killable with SIGKILL and restartable; an HTTP client that spreads calls
  over the live replicas and retries while one is away.
"""
from __future__ import annotations

import base64
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import requests

from aidflow_shared.auth import mint_token
from aidflow_shared.settings import SERVICES, Settings
from support import free_port, wait_until

BIN = Path(sys.executable).parent
SECRET = "chaos-secret-for-aidflow-fault-injection-0123456789"


class Unavailable(Exception):
    """A private server could not be started here."""


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _owned_dir(prefix: str, user: str) -> Path:
    """A fresh directory under the system temp dir that ``user`` owns when we are root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise Unavailable(f"no {user} OS user to run the private server as") from None
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


class PrivateRabbitMQ:
    def __init__(self):
        if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
            raise Unavailable("rabbitmq-server and rabbitmqctl are not installed")
        self.dir = _owned_dir("aidflow-chaos-rabbitmq-", "rabbitmq")
        self.node = f"aidflow-chaos-{os.getpid()}-{uuid.uuid4().hex[:6]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.process: subprocess.Popen | None = None
        files = {"rabbitmq.conf": f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n",
                 "enabled_plugins": "[].\n"}
        for name, text in files.items():
            (self.dir / name).write_text(text)
            if os.geteuid() == 0:
                shutil.chown(self.dir / name, "rabbitmq", "rabbitmq")

    @property
    def env(self) -> dict:
        d = self.dir
        return dict(os.environ, RABBITMQ_NODENAME=self.node, RABBITMQ_DIST_PORT=str(self.dist_port),
                    RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
                    RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
                    RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"), RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
                    RABBITMQ_LOG_BASE=str(d / "log"), RABBITMQ_PID_FILE=str(d / "pid"),
                    RABBITMQ_FEATURE_FLAGS_FILE=str(d / "feature_flags"),
                    RABBITMQ_PLUGINS_EXPAND_DIR=str(d / "plugins-expand"))

    def url(self, vhost: str = "", user: str = "guest", password: str = "guest") -> str:
        from urllib.parse import quote
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/{quote(vhost, safe='')}"

    def ctl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["rabbitmqctl", "-n", self.node, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=check, cwd="/")

    def start(self, timeout: float = 90) -> None:
        out = open(self.dir / "server.out", "ab")
        self.process = subprocess.Popen(["rabbitmq-server"], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd="/")
        try:
            wait_until(lambda: self.process.poll() is not None or port_open(self.port), timeout,
                       "the private RabbitMQ node", interval=0.25)
            if self.process.poll() is not None:
                raise Unavailable(f"rabbitmq-server exited with {self.process.returncode}: "
                                  f"{(self.dir / 'server.out').read_text(errors='replace')[-800:]}")
            self.ctl("await_startup", timeout=timeout)
        except (AssertionError, subprocess.SubprocessError) as exc:
            raise Unavailable(f"the private RabbitMQ node did not start: {exc}") from None

    def stop(self) -> None:
        if self.process is None:
            return
        self.ctl("stop", check=False, timeout=60)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def close_connections(self, vhost: str) -> int:
        listed = self.ctl("list_connections", "-q", "vhost", check=False).stdout.split()
        self.ctl("close_all_connections", "-p", vhost, "fault injection: connections closed", check=False)
        return listed.count(vhost)

    def add_vhost(self, vhost: str) -> None:
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivatePostgres:
    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: [
            int(x) if x.isdigit() else 0 for x in p.split("/")])
        initdb = found[-1] if found else shutil.which("initdb")
        if not initdb:
            raise Unavailable("PostgreSQL's initdb is not installed")
        self.bindir = Path(initdb).parent
        self.dir = _owned_dir("aidflow-chaos-postgres-", "postgres")
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                         "-E", "UTF8", "--locale=C")
        if done.returncode != 0:
            raise Unavailable(f"initdb failed: {done.stderr[-500:]}")

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=timeout, cwd="/")

    def start(self) -> None:
        # fsync off: the suite crashes PostgreSQL's processes, never the machine, and what was
        # written survives in the page cache. synchronous_commit stays on: a commit PostgreSQL
        # acknowledged must survive the crash (off, the suite rightly finds acknowledged messages lost).
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=300")
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options,
                         "-w", "-t", "60", "start")
        if done.returncode != 0:
            raise Unavailable(f"pg_ctl start failed: {done.stdout[-300:]} {done.stderr[-300:]}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class ServiceProcess:
    """One ``aidflow-<service> serve`` process; its API answers on ``port``."""

    def __init__(self, service: str, replica: int, env: dict, workdir: Path):
        self.service = service
        self.name = f"{service}-{replica}"
        self.port = free_port()
        self.env = dict(env, **{f"AIDFLOW_{service.upper()}_PORT": str(self.port)})
        self.log = workdir / f"{self.name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen([str(BIN / f"aidflow-{self.service}"), "serve", "--no-migrate"],
                                          env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def ready(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


class Cluster:
    """The four services as processes on the private RabbitMQ vhost and PostgreSQL databases."""

    def __init__(self, workdir: Path, amqp_url: str, db_urls: dict[str, str], *, replicas: dict[str, int],
                 extra_env: dict | None = None):
        self.workdir = workdir
        self.db_urls = db_urls
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIDFLOW_", "DATABASE_URL", "AMQP_URL"))}
        env.update(AMQP_URL=amqp_url, AIDFLOW_JWT_SECRET=SECRET, AIDFLOW_DATA_DIR=str(workdir / "data"),
                   AIDFLOW_LOG_LEVEL="WARNING", AIDFLOW_RELAY_INTERVAL="0.1", AIDFLOW_RETRY_DELAYS="0.5,1,2",
                   AIDFLOW_MAX_RETRIES="3", AIDFLOW_DEADLINE_SCAN_INTERVAL="5",
                   # A payout instance killed while sending leaves its order in doubt until the lease
                   # ends, then asks the bank and resends: minutes in production, seconds here.
                   AIDFLOW_PAYOUT_SWEEP_INTERVAL="1", AIDFLOW_PAYOUT_LEASE_SECONDS="10",
                   AIDFLOW_PAYOUT_RESEND_AFTER="15")
        for variable in ("AIDFLOW_INTAKE_PII_KEY", "AIDFLOW_PAYOUT_PAYEE_KEY", "AIDFLOW_FOLLOWUP_CONTACT_KEY"):
            env[variable] = base64.b64encode(secrets.token_bytes(32)).decode()
        for service, url in db_urls.items():
            env[f"AIDFLOW_{service.upper()}_DATABASE_URL"] = url
        env.update(extra_env or {})
        self.env = env
        self.procs = [ServiceProcess(s, r, env, workdir) for s in SERVICES for r in range(replicas.get(s, 1))]
        settings = Settings.from_env("intake", env)
        self.tokens = {role: mint_token(settings, f"chaos-{role}", [role], "procuratorate", ttl=timedelta(hours=2))
                       for role in ("intake_clerk", "reviewer", "department_head", "chief_procurator",
                                    "finance_officer", "followup_worker", "ops")}
        self.tokens["partner_agency"] = mint_token(settings, "chaos-partner", ["partner_agency"], "poverty-bureau",
                                                   ttl=timedelta(hours=2))
        self._next = 0
        self._lock = threading.Lock()

    def command(self, service: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / f"aidflow-{service}"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.workdir)

    def start(self, timeout: float = 180) -> None:
        migrations = {service: subprocess.Popen([str(BIN / f"aidflow-{service}"), "migrate"], env=self.env,
                                                cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                text=True) for service in SERVICES}
        for service, process in migrations.items():
            output, _ = process.communicate(timeout=300)
            if process.returncode != 0:
                raise RuntimeError(f"aidflow-{service} migrate failed:\n{output[-2000:]}")
        for proc in self.procs:
            proc.start()
        self.wait_ready(timeout)

    def restart_dead(self) -> list[ServiceProcess]:
        """Start again every process that is not running; returns them."""
        with self._lock:
            dead = [p for p in self.procs if not p.alive]
            for proc in dead:
                proc.start()
            return dead

    def wait_ready(self, timeout: float = 180) -> float:
        """Seconds until every process answers /readyz (restarting any that died)."""
        started = time.monotonic()
        self.restart_dead()
        wait_until(lambda: self.restart_dead() is not None and all(p.ready() for p in self.procs), timeout,
                   "every service process ready", interval=0.2)
        return time.monotonic() - started

    def replicas(self, service: str) -> list[ServiceProcess]:
        return [p for p in self.procs if p.service == service]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.alive:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        for proc in self.procs:
            proc.kill(signal.SIGTERM)

    def transport(self):
        from aidflow_shared.bus.amqp import AmqpTransport
        return AmqpTransport(self.env["AMQP_URL"], name="aidflow-chaos")

    def parked(self, service: str) -> list[dict]:
        """What ``aidflow-<service> parked --json`` lists, read in this process (a look, not a take)."""
        transport = self.transport()
        try:
            return [{"message_id": m.message_id, "type": m.type, "reason": m.reason, "detail": m.detail}
                    for m in transport.parked(f"aidflow.{service}.parking")]
        finally:
            transport.close()

    def replay_in_process(self, service: str, message_ids: list[str]) -> int:
        transport = self.transport()
        try:
            return transport.replay(f"aidflow.{service}.parking", f"aidflow.{service}", set(message_ids))
        finally:
            transport.close()

    def replay(self, service: str, message_ids: list[str] | None = None) -> str:
        args = ["--replay", *message_ids] if message_ids else ["--replay-all"]
        return self.command(service, "parked", *args, timeout=60).stdout.strip()

    def fault_counts(self) -> dict[str, int]:
        """The faults the services injected into their own handlers, counted from their logs."""
        counts = {"slow": 0, "error": 0}
        for proc in self.procs:
            try:
                text = proc.log.read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                if "fault injected" in line:
                    for kind in counts:
                        if f'"fault": "{kind}"' in line:
                            counts[kind] += 1
        return counts

    def call(self, method: str, service: str, path: str, role: str, *, timeout: float = 90, ok=(200, 201),
             **kw) -> requests.Response:
        """Call any live replica of ``service``; retry while none answers or the answer is a 5xx."""
        deadline = time.monotonic() + timeout
        replicas = self.replicas(service)
        while True:
            self._next += 1
            proc = replicas[self._next % len(replicas)]
            try:
                response = requests.request(method, f"http://127.0.0.1:{proc.port}{path}", timeout=15,
                                            headers={"Authorization": f"Bearer {self.tokens[role]}"}, **kw)
                if response.status_code < 500:
                    return response
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {service} {path}: no answer within {timeout:g}s")
            time.sleep(0.3)

    def logs_tail(self, lines: int = 40) -> str:
        out = []
        for proc in self.procs:
            try:
                out.append(f"--- {proc.name}\n" + "\n".join(proc.log.read_text(errors="replace")
                                                              .splitlines()[-lines:]))
            except OSError:
                pass
        return "\n".join(out)
