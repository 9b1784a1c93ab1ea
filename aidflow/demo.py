"""A realistic stream of demo referrals, and a live view of the cases moving.

The feeder plays three roles over the public HTTP APIs, with tokens it mints from the same
secret the services use: an intake clerk submitting referrals (ex officio from every stage of
criminal work, transfers from the poverty-alleviation bureau, written and oral applications)
with their documents and accepting them (受理), a reviewer proposing each decision with its
reasoning and the department head and chief procurator approving it, and a finance officer
making sure the year's fund holds money. It prints each case's progress as intake learns it
from the other services' events.
"""
from __future__ import annotations

import random
import threading
import time
from datetime import date, timedelta

import requests

from aidflow.reviewing import DECIDING_ROLES, approved_proposal, decide, rejected_proposal
from aidflow_intake.checklist import complete_file
from aidflow_intake.identity import check_character
from aidflow_shared.auth import mint_token
from aidflow_shared.settings import SERVICES, Settings

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "秀英桂芳建华国强志明红梅丽娟海燕德明玉兰春生永福晓东文静小红家豪子涵梓萱浩然欣怡宇轩雨桐俊杰思远"
# Sichuan divisions (the seed county's province): Chengdu districts, Mianyang, Nanchong, Liangshan.
REGIONS = ("510104", "510107", "510112", "510703", "510722", "511302", "511321", "513401", "513430")
STAGES = ("arrest_review", "prosecution_review", "criminal_appeal", "other_procuratorial")
SUMMARIES = (
    "被害人遭故意伤害致重伤，犯罪嫌疑人无赔偿能力，家庭因案致贫。",
    "被害人在交通肇事中受伤，急需手术治疗，无力支付医疗费用。",
    "被害人遇害身亡，其近亲属依靠其收入生活，生活陷入困境。",
    "被害人遭诈骗损失全部积蓄，案件尚未侦破，家庭生活困难。",
    "证人因作证遭受打击报复，身体受伤，生活困难。",
)
PROGRESS_WORDS = {"registered": "registered", "accepted": "accepted", "under_review": "under review", "approved": "approved", "rejected": "rejected",
                  "paid": "paid", "in_followup": "follow-up plan open"}


def resident_id(rng: random.Random, birth: date) -> str:
    first17 = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_character(first17)


def person(rng: random.Random, relationship: str, *, minor: bool = False) -> dict:
    today = date.today()
    age = rng.randrange(3, 17) if minor else rng.randrange(19, 80)
    birth = today - timedelta(days=age * 365 + rng.randrange(300))
    markers = [m for m, share in (("registered_poor_household", 0.3), ("impoverished_by_case", 0.4))
               if rng.random() < share]
    return {"name": rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2)))),
            "id_type": "resident_id", "id_number": resident_id(rng, birth),
            "phone": f"1{rng.choice('3578')}{rng.randrange(10**9):09d}", "relationship": relationship,
            "poverty_markers": markers}


def referral(rng: random.Random, n: int) -> dict:
    year = date.today().year
    kind = rng.choices(("ex_officio", "partner_transfer", "application"), weights=(6, 3, 1))[0]
    body = {"source": kind, "summary": rng.choice(SUMMARIES), "urgent_medical": rng.random() < 0.2,
            "criminal_case_ref": f"川检刑{rng.choice(('捕', '诉', '申'))}〔{year}〕{n + 100}号"}
    if kind == "ex_officio":
        body["stage"] = rng.choice(STAGES)
    if kind == "partner_transfer":
        body["source_agency"] = "poverty-bureau"
        body["partner_reference"] = f"扶移〔{year}〕{n + 1}号"
    if kind == "application":
        body["application"] = {"applicant": "self", "form": rng.choice(("written", "oral"))}
    if rng.random() < 0.2:  # a deceased victim: the close relatives apply jointly, as one case
        body.update(victim_deceased=True, eligibility_situation="death_or_incapacity")
        body["beneficiaries"] = [person(rng, "spouse"), person(rng, "child", minor=True), person(rng, "parent")]
    else:
        body["beneficiaries"] = [person(rng, "victim", minor=rng.random() < 0.15)]
    # The paperwork arrives with the referral, so the clerk accepts the case (受理) at once.
    body["documents"] = complete_file(body)
    body["accept"] = True
    return body


class Client:
    def __init__(self, settings: dict[str, Settings]):
        self.base = {name: f"http://{s.http_host}:{s.http_port}/api/v1" for name, s in settings.items()}
        s = settings["intake"]
        self.tokens = {role: mint_token(s, f"demo-{role}", [role], "procuratorate", ttl=timedelta(hours=2))
                       for role in ("intake_clerk", "finance_officer") + DECIDING_ROLES}
        self.http = requests.Session()

    def call(self, method: str, service: str, path: str, role: str, **kw):
        response = self.http.request(method, self.base[service] + path, timeout=10,
                                     headers={"Authorization": f"Bearer {self.tokens[role]}",
                                              "Accept-Language": "en"}, **kw)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {service}{path}: {response.status_code} {response.text[:300]}")
        return response.json()


def ensure_fund(client: Client, amount_fen: int) -> None:
    year = date.today().year
    funds = client.call("GET", "payout", "/funds", "finance_officer")["items"]
    fund = next((f for f in funds if f["year"] == year), None)
    if fund is None:
        fund = client.call("POST", "payout", "/funds", "finance_officer",
                           json={"name": f"{year}年度国家司法救助资金", "source": "finance_bureau", "year": year})
    if fund["available_fen"] < amount_fen:
        client.call("POST", "payout", f"/funds/{fund['fund_id']}/allocations", "finance_officer",
                    json={"amount_fen": amount_fen, "reference": "财政局拨付（演示）"})


def review_pending(client: Client, rng: random.Random, reject_share: float) -> int:
    decided = 0
    for review in client.call("GET", "review", "/reviews?status=open&limit=100", "reviewer")["items"]:
        if review["proposals"] and review["proposals"][-1]["status"] == "pending":
            continue  # proposed on an earlier round, waiting for its approvals
        if rng.random() < reject_share:
            proposal = rejected_proposal(explanation="已获得赔偿，不符合救助条件。")
        else:
            proposal = approved_proposal([
                {"beneficiary_id": b["beneficiary_id"], "amount_fen": rng.randrange(3_000, 40_001, 500) * 100}
                for b in review["beneficiaries"]])
        decide(lambda path, role, body: client.call("POST", "review", path, role, json=body),
               review["review_id"], proposal)
        decided += 1
    return decided


def run_demo(*, count: int, rate: float, reject_share: float, timeout: float, seed: int | None) -> int:
    rng = random.Random(seed)
    settings = {name: Settings.from_env(name) for name in SERVICES}
    client = Client(settings)
    try:
        ensure_fund(client, 2_000_000_00)
    except requests.ConnectionError:
        print("aidflow is not running here; start it first with:  make run")
        return 1
    print(f"submitting {count} referrals at {rate}/s; reviewing as they arrive\n")
    submitted: dict[str, dict] = {}
    done = threading.Event()

    def feed():
        for n in range(count):
            case = client.call("POST", "intake", "/referrals", "intake_clerk", json=referral(rng, n))
            submitted[case["case_id"]] = {"number": case["case_number"], "status": None}
            time.sleep(1 / rate)
        done.set()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    deadline = time.monotonic() + count / rate + timeout
    final = ("rejected", "in_followup")
    while time.monotonic() < deadline:
        review_pending(client, rng, reject_share)
        for case in client.call("GET", "intake", "/cases?limit=500", "intake_clerk")["items"]:
            seen = submitted.get(case["case_id"])
            if seen and seen["status"] != case["status"]:
                seen["status"] = case["status"]
                people = len(case["beneficiaries"])
                print(f"  {seen['number']}  {case['track']:<14} {people} person(s)  → "
                      f"{PROGRESS_WORDS.get(case['status'], case['status'])}", flush=True)
        if done.is_set() and all(s["status"] in final for s in submitted.values()):
            break
        time.sleep(0.5)
    settled = sum(1 for s in submitted.values() if s["status"] in final)
    by_status: dict[str, int] = {}
    for s in submitted.values():
        by_status[s["status"]] = by_status.get(s["status"], 0) + 1
    print(f"\n{settled}/{len(submitted)} cases settled: " +
          ", ".join(f"{n} {PROGRESS_WORDS.get(k, k)}" for k, n in sorted(by_status.items(), key=str)))
    return 0 if settled == len(submitted) == count else 1
