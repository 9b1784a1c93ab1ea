"""``aidflow-partner``: the command line for agencies without developers.

    aidflow-partner submit referrals.csv          # or referral.json; waits for intake's answers
    aidflow-partner sync                          # take new messages off the queue into the store
    aidflow-partner handoffs list [--all] [--json]
    aidflow-partner handoffs show HANDOFF_ID
    aidflow-partner handoffs answer HANDOFF_ID --accept | --in-service | --complete ... | --decline REASON

Credentials: ``--url`` or ``AIDFLOW_PARTNER_URL`` (``amqps://user@host:5671/vhost``), the password
in the URL or, better, in ``--password-file`` / ``AIDFLOW_PARTNER_PASSWORD``; the agency code
with ``--agency`` or ``AIDFLOW_PARTNER_AGENCY``. Messages taken off the queue are kept in a local
store (``--state``, default ``~/.local/state/aidflow-partner/<agency>.sqlite3``).

Exit status: 0 done; 1 broker unreachable or a command not confirmed; 2 wrong usage or an
unreadable file; 3 something was rejected or refused (each one is reported); 4 sent and
confirmed, but an answer did not come in time (it will wait on the queue: run ``sync`` later).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from urllib.parse import quote, urlsplit, urlunsplit

from aidflow_partner.client import BrokerRefused, ConnectionFailed, PartnerClient
from aidflow_partner.envelope import check_agency
from aidflow_partner.referrals import read_referrals
from aidflow_partner.store import Store, default_path

# The day an outcome was received is a day in Beijing, as aidflow counts days, whatever the time
# zone of the machine the agency runs this on.
BEIJING = ZoneInfo("Asia/Shanghai")

OK, FAILED, USAGE, REFUSED, NO_ANSWER = 0, 1, 2, 3, 4
DECLINE_REASONS = ("not_eligible", "cannot_contact", "person_refused", "out_of_area", "no_capacity", "other")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        url = _url(args)
        agency = check_agency(args.agency or "")
    except ValueError as exc:
        print(f"aidflow-partner: {exc}", file=sys.stderr)
        return USAGE
    store = Store(args.state or default_path(agency))
    try:
        with PartnerClient(url, agency, ca_file=args.ca_file, reconnect_attempts=args.retries) as client:
            return args.run(client, store, args)
    except ConnectionFailed as exc:
        print(f"aidflow-partner: {exc}", file=sys.stderr)
        return FAILED
    except BrokerRefused as exc:
        print(f"aidflow-partner: refused: {exc}", file=sys.stderr)
        return REFUSED
    finally:
        store.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aidflow-partner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("AIDFLOW_PARTNER_URL"), help="amqp:// or amqps:// URL")
    parser.add_argument("--agency", default=os.environ.get("AIDFLOW_PARTNER_AGENCY"), help="the agency's code")
    parser.add_argument("--password-file", type=Path, help="file holding the broker password")
    parser.add_argument("--ca-file", default=os.environ.get("AIDFLOW_PARTNER_CA_FILE"),
                        help="certificate authority of the broker's TLS certificate, if not publicly signed")
    parser.add_argument("--state", type=Path, help="the local store's file")
    parser.add_argument("--retries", type=int, default=3,
                        help="reconnection attempts, with back-off, before giving up (default 3)")
    sub = parser.add_subparsers(dest="command", required=True)

    submit = sub.add_parser("submit", help="submit referrals from a JSON or CSV file")
    submit.add_argument("file", type=Path)
    submit.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the answers (0: do not wait)")
    submit.set_defaults(run=_submit)

    sync = sub.add_parser("sync", help="take new messages off the queue into the local store")
    sync.add_argument("--idle", type=float, default=1.0, help="stop after this many seconds without a message")
    sync.set_defaults(run=_sync)

    handoffs = sub.add_parser("handoffs", help="hand-offs to the agency").add_subparsers(dest="action", required=True)
    listing = handoffs.add_parser("list", help="hand-offs waiting for the agency (after a sync)")
    listing.add_argument("--all", action="store_true", help="closed ones too")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=_list)
    show = handoffs.add_parser("show", help="the hand-off request as it was received")
    show.add_argument("handoff_id")
    show.set_defaults(run=_show)
    answer = handoffs.add_parser("answer", help="answer a hand-off")
    answer.add_argument("handoff_id")
    status = answer.add_mutually_exclusive_group(required=True)
    status.add_argument("--accept", dest="status", action="store_const", const="accepted")
    status.add_argument("--in-service", dest="status", action="store_const", const="in-service")
    status.add_argument("--complete", dest="status", action="store_const", const="completed")
    status.add_argument("--decline", metavar="REASON", choices=DECLINE_REASONS, help=", ".join(DECLINE_REASONS))
    answer.add_argument("--note")
    answer.add_argument("--summary", help="with --complete: what the person received")
    answer.add_argument("--received-on", type=date.fromisoformat, help="with --complete: YYYY-MM-DD (default today in Beijing)")
    answer.add_argument("--amount-fen", type=int, help="with --complete: an amount in fen, e.g. 60000 for 600 yuan")
    answer.add_argument("--sessions", type=int, help="with --complete: how many sessions")
    answer.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the answer (0: do not wait)")
    answer.set_defaults(run=_answer)
    return parser


def _url(args) -> str:
    if not args.url:
        raise ValueError("no broker URL: give --url or set AIDFLOW_PARTNER_URL")
    password = os.environ.get("AIDFLOW_PARTNER_PASSWORD")
    if args.password_file:
        password = args.password_file.read_text("utf-8").strip()
    if password is None:
        return args.url
    parts = urlsplit(args.url)
    if not parts.username:
        raise ValueError("the URL names no user")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{quote(password, safe='')}@{host}"))


# -- commands --------------------------------------------------------------------------------------


def _submit(client: PartnerClient, store: Store, args) -> int:
    try:
        items = read_referrals(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"aidflow-partner: cannot read {args.file}: {exc}", file=sys.stderr)
        return USAGE
    status, sent = OK, []
    for position, item in enumerate(items):
        if item.problems:
            print(f"{item.label}: not sent: " + "; ".join(item.problems))
            status = REFUSED
            continue
        try:
            message_id = client.submit_referral(item.referral)
        except BrokerRefused as exc:
            print(f"{item.label}: not sent: {exc}")
            status = REFUSED
            continue
        except ConnectionFailed as exc:
            for unsent in items[position:]:
                print(f"{unsent.label}: not sent: {exc}")
            return FAILED
        store.sent(message_id, "referral.submit", partner_reference=item.reference)
        sent.append((item, message_id))
        print(f"{item.label}: sent {item.reference} as {message_id}")
    if not sent or args.wait <= 0:
        return status
    answers = _collect(client, store, [m for _, m in sent], args.wait)
    pending = False
    for item, message_id in sent:
        answer = answers.get(message_id)
        if answer is None:
            print(f"{item.label}: {item.reference}: no answer yet")
            pending = True
        elif answer["type"].endswith("referral.accepted.v1"):
            data = answer["data"]
            again = " (already received)" if data["already_received"] else ""
            print(f"{item.label}: {item.reference}: accepted as case {data['case_number']}{again}")
        else:
            data = answer["data"]
            fields = "; ".join(f"{e['field']}: {e['code']}" for e in data["errors"])
            print(f"{item.label}: {item.reference}: rejected ({data['reason']}) {fields}")
            status = REFUSED
    return NO_ANSWER if status == OK and pending else status


def _collect(client: PartnerClient, store: Store, message_ids: list[str], wait: float) -> dict[str, dict]:
    """Store every message from the queue until each of ``message_ids`` has its answer."""
    deadline = time.monotonic() + wait
    answers = {}
    while True:
        answers = {m: a for m in message_ids if (a := store.answer_to(m)) is not None}
        remaining = deadline - time.monotonic()
        if len(answers) == len(message_ids) or remaining <= 0:
            return answers
        client.receive(store.add, timeout=remaining, max_messages=1)


def _sync(client: PartnerClient, store: Store, args) -> int:
    taken = client.receive(store.add, idle_timeout=args.idle)
    print(f"{taken} new message(s); {len(store.waiting())} hand-off(s) waiting")
    return OK


def _list(client: PartnerClient, store: Store, args) -> int:
    client.receive(store.add, idle_timeout=1.0)
    handoffs = store.handoffs() if args.all else store.waiting()
    for h in handoffs:
        if args.json:
            print(json.dumps(h, ensure_ascii=False))
        else:
            late = " OVERDUE" if h["overdue"] else ""
            print(f"{h['handoff_id']}  {h['service']:<26} {h['status']:<11} acknowledge by {h['acknowledge_by']}{late}")
    if not args.json:
        print(f"{len(handoffs)} hand-off(s)")
    return OK


def _show(client: PartnerClient, store: Store, args) -> int:
    request = store.handoff_request(args.handoff_id)
    if request is None:
        print(f"aidflow-partner: no hand-off {args.handoff_id} in the store (run sync)", file=sys.stderr)
        return USAGE
    print(json.dumps(request[1], ensure_ascii=False, indent=2))
    return OK


def _answer(client: PartnerClient, store: Store, args) -> int:
    status = args.status or "declined"
    outcome = None
    if status == "completed":
        if not args.summary:
            print("aidflow-partner: --complete needs --summary", file=sys.stderr)
            return USAGE
        outcome = {"received_on": (args.received_on or datetime.now(BEIJING).date()).isoformat(),
                   "summary": args.summary}
        if args.amount_fen is not None:
            outcome["amount_fen"] = args.amount_fen
        if args.sessions is not None:
            outcome["sessions"] = args.sessions
    request = store.handoff_request(args.handoff_id)
    try:
        message_id = client.answer_handoff(args.handoff_id, status, note=args.note, reason=args.decline,
                                           outcome=outcome, correlation_id=request[0] if request else None)
    except BrokerRefused as exc:
        print(f"not sent: {exc}")
        return REFUSED
    store.sent(message_id, f"handoff.{status}", handoff_id=args.handoff_id)
    print(f"sent {status} for {args.handoff_id} as {message_id}")
    if args.wait <= 0:
        return OK
    answer = _collect(client, store, [message_id], args.wait).get(message_id)
    if answer is None:
        print("no answer yet")
        return NO_ANSWER
    data = answer["data"]
    if answer["type"].endswith("handoff.recorded.v1"):
        print(f"recorded: {data['status']}" + (" (already recorded)" if data["already_recorded"] else ""))
        return OK
    fields = "; ".join(f"{e['field']}: {e['code']}" for e in data["errors"])
    print(f"refused ({data['reason']}, now {data.get('current_status') or '-'}) {fields}")
    return REFUSED

