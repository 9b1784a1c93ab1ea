#!/usr/bin/env python3
"""Write the RabbitMQ definitions the broker loads at boot: vhost, users, permissions, policies.

    python deploy/rabbitmq/make-definitions.py                      # development passwords
    python deploy/rabbitmq/make-definitions.py --env-file prod.env --output /secure/definitions.json

Run it with the project's Python environment: the exchange names, the agency codes and the
partner queue names come from ``aidflow_shared``, so the broker cannot drift from the code.

Passwords are read from ``AIDFLOW_AMQP_PASSWORD_<USER>`` variables (deploy/production.env.example
lists them), from ``--env-file`` or else the process environment. The file holds only salted SHA-256 hashes
(RabbitMQ's ``rabbit_password_hashing_sha256``), never the passwords; the services get theirs
in their ``AMQP_URL``. A password not given falls back to its development value, with a warning;
``--require-all`` refuses that, and any development value given explicitly.

Who may do what, in the vhost ``aidflow``:

- ``aidflow-admin``: administrator, for the management UI and operators.
- ``aidflow-<service>``, one per service: declares the topology (every service declares all of
  it at start; declaring a queue that dead-letters needs read on it, so each may read the service
  queues), publishes to ``aidflow.events``, ``aidflow.partners`` and the default exchange (retry,
  park, replay). No service may write to ``aidflow.inbound`` or read a partner's queue: only
  partners send commands and read what is sent to them.
- ``<agency>``, one per partner agency, named by its code (intake maps the broker user to the
  agency): writes only to ``aidflow.inbound`` with routing keys ``<agency>.…`` (a topic
  permission), reads only ``aidflow.partner.<agency>`` and its dead-letter queue, configures
  nothing. RabbitMQ refuses a ``user_id`` property that is not the connection's user, and no user
  has the ``impersonator`` tag, so a partner cannot publish in another agency's name.

Service work queues are declared by the services with their own arguments (delivery limit,
dead-lettering to parking; they follow the services' settings), so they are not in this file and
no policy sets those keys. Partner queues are declared here and by the services with the same
arguments; a policy gives them a delivery limit and a dead-letter queue per agency, so a partner
client that crashes on a message does not receive it forever and loses nothing.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
from pathlib import Path

from aidflow_shared.auth import AGENCIES
from aidflow_shared.bus.topology import Topology
from aidflow_shared.contracts import EVENTS, EXCHANGES, INBOUND, PARTNERS
from aidflow_shared.settings import SERVICES

VHOST = "aidflow"
ADMIN = "aidflow-admin"
PARTNER_DEAD_LETTERS = "aidflow.partners.dead"
PARTNER_DELIVERY_LIMIT = 20
PASSWORD_PREFIX = "AIDFLOW_AMQP_PASSWORD_"
HASHING = "rabbit_password_hashing_sha256"
QUORUM = {"x-queue-type": "quorum"}


def service_user(service: str) -> str:
    return f"aidflow-{service}"


def password_variable(user: str) -> str:
    """``aidflow-intake`` → ``AIDFLOW_AMQP_PASSWORD_INTAKE``, ``poverty-bureau`` → ``…_POVERTY_BUREAU``."""
    return PASSWORD_PREFIX + user.removeprefix("aidflow-").upper().replace("-", "_")


def dev_password(user: str) -> str:
    return "dev-" + user.removeprefix("aidflow-")


def users() -> list[str]:
    return [ADMIN, *(service_user(s) for s in SERVICES), *AGENCIES]


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's salted SHA-256: base64(salt + sha256(salt + password)), with a 4-byte salt."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode("ascii")


def check_password(password: str, hashed: str) -> bool:
    raw = base64.b64decode(hashed)
    return password_hash(password, raw[:4]) == hashed


def _literal(name: str) -> str:
    """A name as a regular expression (names hold only letters, digits, dots and hyphens)."""
    return name.replace(".", r"\.")


def _exact(*names: str) -> str:
    return "^(" + "|".join(_literal(n) for n in names) + ")$"


def definitions(passwords: dict[str, str]) -> dict:
    services = "|".join(SERVICES)
    agencies = "|".join(AGENCIES)
    service_queues = rf"aidflow\.({services})(\..+)?"
    partner_queues = rf"aidflow\.partner\.({agencies})"
    out = {
        "vhosts": [{"name": VHOST}],
        "users": [],
        "permissions": [],
        "topic_permissions": [],
        "parameters": [],
        "global_parameters": [],
        "policies": [
            {"vhost": VHOST, "name": "aidflow-service-queues", "pattern": rf"^{service_queues}$",
             "apply-to": "queues", "priority": 0,
             # Arguments set by the services win over a policy; this one adds only what they leave
             # open: quorum leaders spread over the cluster's nodes.
             "definition": {"queue-leader-locator": "balanced"}},
            {"vhost": VHOST, "name": "aidflow-partner-queues", "pattern": rf"^{partner_queues}$",
             "apply-to": "queues", "priority": 0,
             # At-least-once dead-lettering needs reject-publish overflow (there is no length limit).
             "definition": {"queue-leader-locator": "balanced", "delivery-limit": PARTNER_DELIVERY_LIMIT,
                            "dead-letter-exchange": PARTNER_DEAD_LETTERS,
                            "dead-letter-strategy": "at-least-once", "overflow": "reject-publish"}},
        ],
        "queues": [],
        "exchanges": [{"name": name, "vhost": VHOST, "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}} for name in (*EXCHANGES, PARTNER_DEAD_LETTERS)],
        "bindings": [],
    }
    for user in users():
        tags = ["administrator"] if user == ADMIN else []
        entry = {"name": user, "password_hash": password_hash(passwords[user]), "hashing_algorithm": HASHING,
                 "tags": tags}
        if user in AGENCIES:
            entry["limits"] = {"max-connections": 10, "max-channels": 50}
        out["users"].append(entry)
    out["permissions"].append({"user": ADMIN, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"})
    for service in SERVICES:
        out["permissions"].append({
            "user": service_user(service), "vhost": VHOST,
            "configure": r"^aidflow\.",
            # Binding a queue needs write on the queue; retries and parking go through amq.default.
            "write": rf"^(amq\.default|{_literal(EVENTS)}|{_literal(PARTNERS)}|{service_queues}|{partner_queues})$",
            # Declaring a queue that dead-letters needs read on it, and every service declares all
            # of them: read covers the service queues (never the partners').
            "read": rf"^({'|'.join(_literal(e) for e in EXCHANGES)}|{service_queues})$",
        })
    for agency in AGENCIES:
        queue = Topology.partner_queue(agency)
        dead = f"{queue}.dead"
        out["permissions"].append({"user": agency, "vhost": VHOST, "configure": "^$",
                                   "write": _exact(INBOUND), "read": _exact(queue, dead)})
        out["topic_permissions"].append({"user": agency, "vhost": VHOST, "exchange": INBOUND,
                                         "write": f"^{_literal(agency)}\\.", "read": "^$"})
        for name, exchange in ((queue, PARTNERS), (dead, PARTNER_DEAD_LETTERS)):
            out["queues"].append({"name": name, "vhost": VHOST, "durable": True, "auto_delete": False,
                                  "arguments": dict(QUORUM)})
            out["bindings"].append({"source": exchange, "vhost": VHOST, "destination": name,
                                    "destination_type": "queue", "routing_key": f"{agency}.#", "arguments": {}})
    return out


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise SystemExit(f"{path}:{number}: expected NAME=VALUE")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def passwords_from(source: dict[str, str], *, require_all: bool) -> dict[str, str]:
    passwords, defaulted = {}, []
    for user in users():
        value = source.get(password_variable(user), "")
        if require_all and value == dev_password(user):
            raise SystemExit(f"{password_variable(user)} is still the development password")
        if not value:
            if require_all:
                raise SystemExit(f"{password_variable(user)} is not set")
            defaulted.append(password_variable(user))
            value = dev_password(user)
        if not re.fullmatch(r"[A-Za-z0-9._~-]+", value):
            raise SystemExit(f"{password_variable(user)}: use URL-safe characters only (A-Z a-z 0-9 . _ ~ -); "
                             "the services carry it in AMQP_URL")
        passwords[user] = value
    if defaulted:
        print(f"warning: development passwords for {', '.join(defaulted)}", file=sys.stderr)
    return passwords


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, help="NAME=VALUE lines with AIDFLOW_AMQP_PASSWORD_* (default: environment)")
    parser.add_argument("--output", type=Path, help="where to write (default: standard output)")
    parser.add_argument("--require-all", action="store_true",
                        help="fail unless every password is given and none is a development one")
    args = parser.parse_args(argv)
    source = read_env_file(args.env_file) if args.env_file else dict(os.environ)
    text = json.dumps(definitions(passwords_from(source, require_all=args.require_all)), indent=2) + "\n"
    if args.output:
        args.output.write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
