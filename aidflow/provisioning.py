"""``aidflow partner add|remove``: a partner agency on the broker and in the services' registries.

    aidflow partner add tax-bureau --name 税务局 --password-file tax-bureau.password
    aidflow partner remove tax-bureau [--delete-queue]

``add`` is idempotent (run it again to change the password or the name); in order it:

1. creates (or re-passwords) the broker user named by the agency code, the password read from
   a file or standard input, never from the command line;
2. grants it exactly what the design allows in the vhost: write only ``aidflow.inbound``, and
   there only routing keys ``<agency>.…`` (a topic permission); read only its own queue
   ``aidflow.partner.<agency>`` and that queue's dead letters; configure nothing; at most 10
   connections and 50 channels;
3. declares the queue (quorum, as the services declare it) bound to ``aidflow.partners`` with
   ``<agency>.#``, its dead-letter queue, and a policy giving the queue a delivery limit, so a
   client that keeps failing on a message moves it aside instead of losing it;
4. registers the agency with intake (``PUT /api/v1/agencies/<code>``: the broker user it
   publishes as) and with follow-up (``PUT /api/v1/agencies/<code>``: hand-offs go to it over
   the broker). Follow-up hands off only to agencies of its service catalogue; for any other
   agency it says so and that step is skipped.

``remove`` deactivates the agency in both registries, closes its connections and deletes the
broker user; the queue, with whatever is still waiting in it, is deleted only with
``--delete-queue``.

The broker is driven with ``rabbitmqctl`` (``--rabbitmqctl`` names the command, e.g.
``docker compose exec -T rabbitmq rabbitmqctl``) and AMQP with an administrator's URL
(``AIDFLOW_ADMIN_AMQP_URL``); it needs no management plugin. The services' APIs are called with
an ``ops`` token (``AIDFLOW_TOKEN``, or one signed with ``AIDFLOW_JWT_SECRET``).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kombu import Connection

from aidflow_shared.bus.topology import Topology
from aidflow_shared.contracts import INBOUND, PARTNERS
from aidflow_shared.settings import DEFAULT_PORTS

AGENCY_CODE = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
# As in the broker definitions the deployment loads (deploy/rabbitmq).
PARTNER_DEAD_LETTERS = "aidflow.partners.dead"
PARTNER_DELIVERY_LIMIT = 20
USER_LIMITS = {"max-connections": 10, "max-channels": 50}
QUORUM = {"x-queue-type": "quorum"}


class ProvisioningError(Exception):
    pass


def _literal(name: str) -> str:
    return name.replace(".", r"\.")


def permissions(agency: str) -> dict[str, str]:
    """The broker permissions of an agency's user in the vhost (and its topic permission)."""
    queue = Topology.partner_queue(agency)
    return {"configure": "^$", "write": f"^({_literal(INBOUND)})$",
            "read": f"^({_literal(queue)}|{_literal(queue)}\\.dead)$",
            "topic_write": f"^{_literal(agency)}\\.", "topic_read": "^$"}


def password_hash(password: str) -> str:
    """RabbitMQ's salted SHA-256 (``rabbit_password_hashing_sha256``): the broker gets no password."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode("ascii")


def definitions(agency: str, password: str, vhost: str) -> dict:
    """Everything the broker keeps for one agency, in the format of the deployment's definitions."""
    queue = Topology.partner_queue(agency)
    p = permissions(agency)
    quorum_queue = {"vhost": vhost, "durable": True, "auto_delete": False, "arguments": dict(QUORUM)}
    return {
        "users": [{"name": agency, "password_hash": password_hash(password), "tags": [],
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "limits": USER_LIMITS}],
        "permissions": [{"user": agency, "vhost": vhost, "configure": p["configure"], "write": p["write"],
                         "read": p["read"]}],
        "topic_permissions": [{"user": agency, "vhost": vhost, "exchange": INBOUND, "write": p["topic_write"],
                               "read": p["topic_read"]}],
        # Queue arguments a service would declare differently stay out of the queue: a policy
        # sets them (above the deployment's own partner policy, with the same definition).
        "policies": [{"vhost": vhost, "name": _policy(agency), "pattern": f"^{_literal(queue)}$",
                      "apply-to": "queues", "priority": 1,
                      "definition": {"delivery-limit": PARTNER_DELIVERY_LIMIT,
                                     "dead-letter-exchange": PARTNER_DEAD_LETTERS,
                                     "dead-letter-strategy": "at-least-once", "overflow": "reject-publish"}}],
        "exchanges": [{"name": name, "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}} for name in (PARTNERS, PARTNER_DEAD_LETTERS)],
        "queues": [{"name": queue, **quorum_queue}, {"name": f"{queue}.dead", **quorum_queue}],
        "bindings": [{"source": exchange, "vhost": vhost, "destination": name, "destination_type": "queue",
                      "routing_key": f"{agency}.#", "arguments": {}}
                     for exchange, name in ((PARTNERS, queue), (PARTNER_DEAD_LETTERS, f"{queue}.dead"))],
    }


@dataclass
class Broker:
    """The broker as an operator drives it: ``rabbitmqctl`` (one definitions import per agency)
    and, to delete a queue, AMQP as an administrator."""

    amqp_url: str
    rabbitmqctl: tuple[str, ...] = ("rabbitmqctl",)

    @property
    def vhost(self) -> str:
        path = urlsplit(self.amqp_url).path
        return unquote(path[1:]) if len(path) > 1 else "/"

    def ctl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.rabbitmqctl, *args], input=stdin, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise ProvisioningError(f"rabbitmqctl {args[0]}: {(done.stderr or done.stdout).strip()}")
        return done

    def add(self, agency: str, password: str) -> None:
        """The user (its password replaced if it exists), its permissions, queues and policy."""
        self.ctl("import_definitions", "--format", "json",
                 stdin=json.dumps(definitions(agency, password, self.vhost)))

    def remove(self, agency: str, *, delete_queue: bool) -> list[str]:
        deleted = self.ctl("delete_user", agency, check=False)
        if deleted.returncode == 0:
            self.ctl("close_all_user_connections", agency, "the partner agency was removed", check=False)
        done = ["broker user deleted, its connections closed" if deleted.returncode == 0 else "no broker user"]
        self.ctl("clear_policy", "-p", self.vhost, _policy(agency), check=False)
        if delete_queue:
            queue = Topology.partner_queue(agency)
            with Connection(self.amqp_url, connect_timeout=10) as connection:
                channel = connection.channel()
                for name in (queue, f"{queue}.dead"):
                    channel.queue_delete(name)
            done.append(f"{queue} and its dead letters deleted")
        return done


def _policy(agency: str) -> str:
    return f"aidflow-partner-{agency}"


@dataclass
class Registries:
    """The services' registries of agencies, through their HTTP APIs with an ``ops`` token."""

    intake_url: str
    followup_url: str
    token: str

    def _call(self, method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except urllib.error.URLError as error:
            raise ProvisioningError(f"{url}: {error.reason}") from None

    def _expect(self, what: str, status: int, body: dict) -> None:
        if status != 200:
            raise ProvisioningError(f"{what}: HTTP {status} {json.dumps(body.get('error', body), ensure_ascii=False)}")

    def intake_name(self, agency: str) -> str | None:
        status, body = self._call("GET", f"{self.intake_url}/api/v1/agencies")
        self._expect("intake registry", status, body)
        return next((a["name"] for a in body["items"] if a["code"] == agency), None)

    def register(self, agency: str, name: str | None, *, active: bool = True) -> list[str]:
        name = name or self.intake_name(agency) or agency
        status, body = self._call("PUT", f"{self.intake_url}/api/v1/agencies/{agency}",
                                  {"name": name, "broker_user": agency, "active": active})
        self._expect("intake registry", status, body)
        done = [f"intake: {'active' if active else 'inactive'}, publishes as broker user {agency}"]
        change = {"channel": "broker", "active": True} if active else {"active": False}
        status, body = self._call("PUT", f"{self.followup_url}/api/v1/agencies/{agency}", change)
        if status == 404:
            done.append("follow-up: not one of its hand-off agencies (no service of its catalogue); skipped")
        else:
            self._expect("follow-up registry", status, body)
            done.append(f"follow-up: {'hand-offs over the broker' if active else 'no more hand-offs'}")
        return done


def add(broker: Broker, registries: Registries, agency: str, password: str, name: str | None) -> list[str]:
    _check(agency)
    if not password:
        raise ProvisioningError("an empty password")
    broker.add(agency, password)
    done = [f"broker user {agency} in vhost {broker.vhost}: writes {INBOUND} ({agency}.* only), "
            f"reads {Topology.partner_queue(agency)}, configures nothing",
            f"queue {Topology.partner_queue(agency)} bound to {PARTNERS} with {agency}.#"]
    return done + registries.register(agency, name)


def remove(broker: Broker, registries: Registries, agency: str, *, delete_queue: bool) -> list[str]:
    _check(agency)
    done = registries.register(agency, None, active=False)
    return done + broker.remove(agency, delete_queue=delete_queue)


def _check(agency: str) -> None:
    if not AGENCY_CODE.match(agency):
        raise ProvisioningError(f"agency code must match [a-z][a-z0-9-]* (2 to 64 characters), got {agency!r}")


# -- command line ----------------------------------------------------------------------------------


def add_parser(sub) -> None:
    partner = sub.add_parser("partner", help="add or remove a partner agency (broker user, queue, registries)",
                             description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = partner.add_subparsers(dest="action", required=True)
    add_ = actions.add_parser("add", help="add an agency, or change its password or name")
    add_.add_argument("agency")
    add_.add_argument("--name", help="the agency's name for the registry (default: as registered, or the code)")
    add_.add_argument("--password-file", type=Path, help="file with the broker password (default: standard input)")
    remove_ = actions.add_parser("remove", help="deactivate an agency and delete its broker user")
    remove_.add_argument("agency")
    remove_.add_argument("--delete-queue", action="store_true", help="also delete its queue and what waits in it")
    for parser in (add_, remove_):
        parser.add_argument("--amqp-url", default=os.environ.get("AIDFLOW_ADMIN_AMQP_URL"),
                            help="an administrator's AMQP URL with the vhost (AIDFLOW_ADMIN_AMQP_URL)")
        parser.add_argument("--rabbitmqctl", default=os.environ.get("AIDFLOW_RABBITMQCTL", "rabbitmqctl"),
                            help="the rabbitmqctl command (AIDFLOW_RABBITMQCTL)")
        parser.add_argument("--intake-url", default=os.environ.get(
            "AIDFLOW_INTAKE_URL", f"http://127.0.0.1:{DEFAULT_PORTS['intake']}"))
        parser.add_argument("--followup-url", default=os.environ.get(
            "AIDFLOW_FOLLOWUP_URL", f"http://127.0.0.1:{DEFAULT_PORTS['followup']}"))
    partner.set_defaults(run=run)


def run(args) -> int:
    if not args.amqp_url:
        print("aidflow partner: give --amqp-url or set AIDFLOW_ADMIN_AMQP_URL", file=sys.stderr)
        return 2
    broker = Broker(args.amqp_url, tuple(shlex.split(args.rabbitmqctl)))
    registries = Registries(args.intake_url.rstrip("/"), args.followup_url.rstrip("/"), _token())
    try:
        if args.action == "add":
            password = (args.password_file.read_text("utf-8") if args.password_file else sys.stdin.read()).strip()
            done = add(broker, registries, args.agency, password, args.name)
        else:
            done = remove(broker, registries, args.agency, delete_queue=args.delete_queue)
    except ProvisioningError as exc:
        print(f"aidflow partner {args.action} {args.agency}: {exc}", file=sys.stderr)
        return 1
    for line in done:
        print(line)
    return 0


def _token() -> str:
    token = os.environ.get("AIDFLOW_TOKEN")
    if token:
        return token
    from aidflow_shared.auth import mint_token
    from aidflow_shared.settings import Settings
    return mint_token(Settings.from_env("intake"), "partner-provisioning", ["ops"], agency="procuratorate",
                      ttl=timedelta(minutes=10))

