"""``aidflow report``: the published figures of a period, from every service's summary, in one report.

Each service answers ``GET /api/v1/reports/summary?from=...&to=...`` with aggregate, anonymised
figures (see ``aidflow_shared.reporting``); this command fetches the four over HTTP and writes
into ``--out``:

- ``report.txt``: the headline in Chinese and English ("25 cases, 27 persons, ¥220,000 …"),
  then the figures of each service and the deadline compliance per stage;
- ``report.csv``: one row per figure (service, figure, value), UTF-8 with a byte-order mark so
  that spreadsheet programs read it;
- ``report.png``: a chart of the cases by source, the money and the compliance per stage.

Service addresses come from ``--<service>-url``, else ``AIDFLOW_<SERVICE>_URL``, else the host
and port the service itself would use (``make run``'s 8001-8004). The token is ``--token`` or
``AIDFLOW_REPORT_TOKEN``, else one for an auditor minted from the configured JWT secret.
"""
from __future__ import annotations

import csv
import io
import os
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import requests

from aidflow_shared.auth import mint_token
from aidflow_shared.settings import SERVICES, Settings

SUMMARY_PATH = "/api/v1/reports/summary"
FILES = ("report.txt", "report.csv", "report.png")
STAGES = ("transfer", "review", "payout", "handoff", "visit")
SOURCE_NAMES = {"ex_officio": ("依职权", "ex officio"), "partner_transfer": ("部门移送", "partner transfer"),
                "application": ("当事人申请", "application"), "lead": ("线索核实", "lead")}
STAGE_NAMES = {"transfer": ("移送受理", "transfer"), "review": ("审查决定", "review"), "payout": ("资金发放", "payout"),
               "handoff": ("帮扶转介", "hand-off"), "visit": ("回访", "return visit")}


class ReportError(Exception):
    """Why the report could not be made, in words for the operator."""


@dataclass(frozen=True)
class Source:
    service: str
    url: str


def sources(overrides: dict[str, str | None], environ=None) -> list[Source]:
    """Where each service is: the flag, ``AIDFLOW_<SERVICE>_URL``, or its own host and port."""
    environ = os.environ if environ is None else environ
    out = []
    for name in SERVICES:
        url = overrides.get(name) or environ.get(f"AIDFLOW_{name.upper()}_URL")
        if not url:
            settings = Settings.from_env(name, environ)
            url = f"http://{settings.http_host}:{settings.http_port}"
        out.append(Source(name, url.rstrip("/")))
    return out


def auditor_token(environ=None) -> str:
    """A short-lived auditor's token from the configured secret (the services' own)."""
    return mint_token(Settings.from_env(SERVICES[0], environ), "aidflow-report", ["auditor"], "procuratorate",
                      ttl=timedelta(minutes=10))


def fetch(where: list[Source], token: str, since: date, until: date, timeout: float = 30.0) -> dict[str, dict]:
    """Each service's summary; a service away or refusing is a :class:`ReportError` naming it."""
    summaries = {}
    with requests.Session() as http:
        for source in where:
            url = source.url + SUMMARY_PATH
            try:
                response = http.get(url, params={"from": since.isoformat(), "to": until.isoformat()}, timeout=timeout,
                                    headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
            except requests.RequestException as exc:
                raise ReportError(f"the {source.service} service at {source.url} did not answer "
                                  f"({type(exc).__name__}); is it running?") from None
            if response.status_code != 200:
                raise ReportError(f"the {source.service} service at {source.url} refused the summary: "
                                  f"HTTP {response.status_code} {_error_of(response)}")
            summaries[source.service] = response.json()
    return summaries


def _error_of(response) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
    fields = "; ".join(f"{path}: {', '.join(e['code'] for e in errors)}" for path, errors in
                       error.get("fields", {}).items())
    return f"{error.get('code')}" + (f" ({fields})" if fields else "")


# -- what the report says ------------------------------------------------------------------------------


def yuan(fen: int) -> str:
    """``¥220,000`` for whole yuan, ``¥220,000.50`` otherwise; integer arithmetic only."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}" + (f".{cents:02d}" if cents else "")


def pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` columns, a Chinese character taking two."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - used)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def headline(summaries: dict[str, dict], since: date, until: date) -> tuple[str, str]:
    intake, payout = summaries["intake"], summaries["payout"]
    cases, persons, paid = intake["cases"]["accepted"], intake["persons"], yuan(payout["paid_fen"])
    share = percent(intake["ex_officio_share"])
    zh = (f"{since.isoformat()} 至 {until.isoformat()}：受理司法救助案件 {cases} 件，救助 {persons} 人，"
          f"发放救助金 {paid}；依职权启动占 {share}。")
    en = (f"{since.isoformat()} to {until.isoformat()}: {cases} cases, {persons} persons, {paid} paid; "
          f"{share} started ex officio.")
    return zh, en


def text_report(summaries: dict[str, dict], since: date, until: date) -> str:
    intake, review, payout, followup = (summaries[name] for name in SERVICES)
    zh, en = headline(summaries, since, until)
    lines = ["司法救助工作报告 / Judicial aid report", "", zh, en, ""]

    def section(title: str, rows: list[tuple[str, object]]):
        lines.append(title)
        lines.extend(f"  {pad(label, 48)}{value}" for label, value in rows)
        lines.append("")

    section("受理 / Intake", [
        ("立案登记 / cases opened", intake["cases"]["opened"]),
        ("受理 / cases accepted", intake["cases"]["accepted"]),
        ("救助人数 / persons", intake["persons"]),
        ("其中未成年人 / of them minors", intake["minors"]),
        *((f"{zh_name} / {en_name}", intake["by_source"].get(key, 0)) for key, (zh_name, en_name) in
          SOURCE_NAMES.items()),
        ("依职权占比 / ex officio share", percent(intake["ex_officio_share"])),
        ("急需医疗 / urgent medical", intake["cases"]["urgent_medical"]),
        ("对接渠道移送 / transfers sent by agencies", intake["transfers"]["received"]),
    ])
    section("审查 / Review", [
        ("决定 / decisions", review["decisions"]["total"]),
        ("批准 / approved", review["decisions"]["approved"]),
        ("不予救助 / rejected", review["decisions"]["rejected"]),
        ("决定金额 / amount decided", yuan(review["amount_decided_fen"])),
        ("获救助人 / beneficiaries awarded", review["beneficiaries_awarded"]),
        ("急需医疗决定 / urgent-medical decisions", review["urgent_medical"]["decided"]),
    ])
    section("发放 / Payout", [
        ("已发放 / paid", yuan(payout["paid_fen"])),
        ("已追回 / recovered", yuan(payout["recovered_fen"])),
        ("受领人 / beneficiaries paid", payout["beneficiaries_paid"]),
        ("案件 / cases paid", payout["cases_paid"]),
        ("先行救助 / advance payments", payout["payouts_paid"].get("advance", 0)),
    ])
    handoffs, visits, satisfaction = followup["handoffs"], followup["visits"], followup["satisfaction"]
    section("帮扶 / Follow-up", [
        ("帮扶计划 / plans opened", followup["plans"]["opened"]),
        ("转介 / hand-offs requested", handoffs["sent"]),
        ("转介完成 / hand-offs completed", handoffs["completed"]),
        *((f"  {agency}", f"{entry.get('completed', 0)}/{entry['requested']}")
          for agency, entry in sorted(handoffs.get("by_agency", {}).items())),
        ("回访 / visits made", visits["made"]),
        ("逾期未访 / visits overdue", visits["overdue"]),
        ("满意度 / satisfaction (mean of 1-5)", "–" if satisfaction["mean"] is None else satisfaction["mean"]),
        ("满意率 / satisfied (4-5)", percent(satisfaction["satisfied_share"])),
        ("返困再救助 / re-referrals", followup["rereferrals"].get("requested", 0)),
    ])
    lines.append("时限 / Deadlines met per stage")
    lines.append(f"  {pad('阶段 / stage', 26)}{'met':>6} {'missed':>7} {'share':>8} {'overdue':>8}")
    for stage, figures in compliance_of(summaries).items():
        zh_name, en_name = STAGE_NAMES[stage]
        lines.append(f"  {pad(zh_name + ' / ' + en_name, 26)}{figures['met']:>6} {figures['missed']:>7} "
                     f"{percent(figures['met_share']):>8} {figures['overdue_open']:>8}")
    lines += ["", "汇总数据，不含个人信息 / Aggregate figures; no personal data."]
    return "\n".join(lines) + "\n"


def compliance_of(summaries: dict[str, dict]) -> dict[str, dict]:
    merged = {}
    for name in SERVICES:
        merged.update(summaries[name].get("compliance", {}))
    return {stage: merged[stage] for stage in STAGES if stage in merged}


def flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [row for key in sorted(value) for row in flatten(value[key], f"{prefix}.{key}" if prefix else key)]
    return [(prefix, "" if value is None else value)]


def csv_report(summaries: dict[str, dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["service", "figure", "value"])
    for name in SERVICES:
        figures = {k: v for k, v in summaries[name].items() if k not in ("service", "generated_at")}
        for figure, value in flatten(figures):
            writer.writerow([name, figure, value])
    return out.getvalue().encode("utf-8-sig")


def chart(summaries: dict[str, dict], since: date, until: date) -> bytes:
    """A PNG: cases by source, money decided, paid and recovered, and the deadlines met per stage."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(12, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    left, middle, right = figure.subplots(1, 3)
    by_source = summaries["intake"]["by_source"]
    names = [SOURCE_NAMES[key][1] for key in SOURCE_NAMES]
    left.bar_label(left.bar(names, [by_source.get(key, 0) for key in SOURCE_NAMES], color="#4472c4"))
    left.set_title("Cases accepted by source")
    left.tick_params(axis="x", labelrotation=20)
    money = [summaries["review"]["amount_decided_fen"], summaries["payout"]["paid_fen"],
             summaries["payout"]["recovered_fen"]]
    middle.bar_label(middle.bar(["decided", "paid", "recovered"], [fen / 100 for fen in money],
                                color=["#a5a5a5", "#70ad47", "#ed7d31"]), labels=[yuan(fen) for fen in money])
    middle.set_title("Money (yuan)")
    stages = compliance_of(summaries)
    labels = [STAGE_NAMES[stage][1] for stage in stages]
    met = [stages[s]["met"] for s in stages]
    missed = [stages[s]["missed"] for s in stages]
    right.bar(labels, met, color="#70ad47", label="met")
    right.bar(labels, missed, bottom=met, color="#c00000", label="missed")
    right.set_title("Deadlines per stage")
    right.legend()
    right.set_ylim(0, max([m + x for m, x in zip(met, missed)] + [0]) + 1)
    for axes in (left, right):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (left, middle):
        axes.margins(y=0.15)
    right.tick_params(axis="x", labelrotation=20)
    figure.suptitle(f"Judicial aid {since.isoformat()} to {until.isoformat()}")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def write_report(summaries: dict[str, dict], since: date, until: date, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    contents = (text_report(summaries, since, until).encode("utf-8"), csv_report(summaries),
                chart(summaries, since, until))
    written = []
    for name, content in zip(FILES, contents):
        (out / name).write_bytes(content)
        written.append(out / name)
    return written


def run_report(*, since: date, until: date, out: Path, urls: dict[str, str | None], token: str | None,
               timeout: float = 30.0) -> int:
    if until < since:
        print("aidflow report: --to is before --from")
        return 2
    try:
        token = token or os.environ.get("AIDFLOW_REPORT_TOKEN") or auditor_token()
        summaries = fetch(sources(urls), token, since, until, timeout)
    except ReportError as exc:
        print(f"aidflow report: {exc}")
        return 1
    written = write_report(summaries, since, until, out)
    zh, en = headline(summaries, since, until)
    print(zh)
    print(en)
    for path in written:
        print(f"wrote {path}")
    return 0
