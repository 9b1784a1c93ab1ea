"""Faults on the real broker: connections dropped mid-flow lose nothing and duplicate nothing."""
from __future__ import annotations

import threading

from support import settings_for, start_system, wait_until

CASES = 12


def test_broker_connections_dropping_mid_flow_lose_nothing(tmp_path, broker, pg_database):
    db_urls = {name: pg_database(name) for name in ("intake", "review", "payout", "followup")}
    system = start_system(settings_for(tmp_path, amqp_url=broker.url, db_urls=db_urls))
    try:
        system.fund()
        stop = threading.Event()

        dropped = []

        def keep_dropping():  # what a broker restart or a network cut does to every client
            while not stop.wait(0.7):
                dropped.append(broker.close_connections())

        dropper = threading.Thread(target=keep_dropping, daemon=True)
        dropper.start()
        cases = []
        for n in range(CASES):  # besides the background cuts, one right after every third referral
            cases.append(system.refer(n))
            if n % 3 == 2:
                dropped.append(broker.close_connections())
        reviews = [system.open_review(c["case_id"], timeout=60) for c in cases]
        for n, review in enumerate(reviews):
            system.approve(review, amount_fen=1_000_00)
            if n % 3 == 2:
                dropped.append(broker.close_connections())
        for case in cases:
            wait_until(lambda: system.plans(case["case_id"]), timeout=60, what="every plan despite the drops")
        stop.set()
        dropper.join()
        assert system.call("GET", "review", "/api/v1/reviews?limit=500", "reviewer").get_json()["total"] == CASES
        payouts = system.call("GET", "payout", "/api/v1/payouts?limit=500", "finance_officer").get_json()
        assert payouts["total"] == CASES  # one per decision and beneficiary, never two
        plans = system.call("GET", "followup", "/api/v1/plans?limit=500", "followup_worker").get_json()
        assert plans["total"] == CASES
        funds = system.call("GET", "payout", "/api/v1/funds", "finance_officer").get_json()["items"]
        assert funds[0]["paid_fen"] == CASES * 1_000_00
        for case in cases:
            wait_until(lambda: system.case_status(case["case_id"]) == "in_followup", timeout=30,
                       what="intake to see every case through")
        # The connections really were cut, repeatedly, while cases were in flight.
        assert len([n for n in dropped if n]) >= 8, dropped
    finally:
        system.stop()
