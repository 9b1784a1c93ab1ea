"""Summaries for publication and oversight: each service's aggregate figures for a period.

Every service serves ``GET /api/v1/reports/summary?from=YYYY-MM-DD&to=YYYY-MM-DD``: counts,
sums in fen and shares over the period, never an id, a name or a free-text note, so the answer
can be handed on as it is. ``aidflow report`` combines the four into one report.

The period is a pair of Beijing days, both included; a figure counts what happened in it (a
case accepted, a decision taken, money paid, a visit made). Counts are exact: the published
figures of judicial aid ("25 cases, 27 persons") are exact counts, and an aggregate over a
county's year names no one, so no small count is suppressed.

Deadline compliance per stage comes from the services' deadline clocks (``deadline_clock``):
a stage finished in the period was ``met`` or ``missed``; ``overdue_open`` counts the clocks
still open past their deadline at the period's end (or now, if that is earlier).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable, Mapping

from flask import Blueprint, request
from marshmallow import Schema, fields
from sqlalchemy import Table, func, select

from aidflow_shared.calendar import BEIJING
from aidflow_shared.deadlines import TRACKS
from aidflow_shared.http.auth import require
from aidflow_shared.http.errors import ApiError
from aidflow_shared.http.openapi import doc
from aidflow_shared.storage import utcnow

# Who reads the published figures: oversight (auditors), the leadership, and operations.
READERS = ("auditor", "chief_procurator", "department_head", "ops")
SUMMARY_PATH = "/reports/summary"
MAX_DAYS = 3700  # ten years and some: a longer period is most likely a typing error


@dataclass(frozen=True)
class Period:
    """Beijing days ``since`` to ``until``, both included."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(0), BEIJING).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.until + timedelta(days=1), time(0), BEIJING).astimezone(timezone.utc)

    def within(self, column) -> list:
        """Conditions that ``column`` (an instant) falls in the period."""
        return [column >= self.start, column < self.end]

    def days_within(self, column) -> list:
        """Conditions that ``column`` (a Beijing date) falls in the period."""
        return [column >= self.since, column <= self.until]


def parse_period(args: Mapping[str, str]) -> Period:
    """``from`` and ``to`` of a query string; 400 with field errors when missing, bad or reversed."""
    errors: dict[str, list[str]] = {}
    days: dict[str, date] = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        if not raw:
            errors[name] = ["required"]
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = ["invalid_date"]
    if not errors:
        if days["to"] < days["from"]:
            errors["to"] = ["range"]
        elif (days["to"] - days["from"]).days > MAX_DAYS:
            errors["to"] = ["range"]
    if errors:
        raise ApiError(400, "validation_failed", errors)
    return Period(days["from"], days["to"])


def share(part: int, whole: int) -> float | None:
    """``part / whole`` to four places; None when there is nothing to divide."""
    return round(part / whole, 4) if whole else None


def compliance(session, clocks: Table, stages: Iterable[str], period: Period, now: datetime | None = None) -> dict:
    """Per stage: clocks stopped in the period ``met`` and ``missed`` (also by track), the share met,
    and the clocks still open past their deadline at the period's end."""
    now = now or utcnow()
    cutoff = min(now, period.end)
    stages = tuple(stages)
    out = {stage: {"met": 0, "missed": 0, "met_share": None, "overdue_open": 0,
                   "by_track": {track: {"met": 0, "missed": 0} for track in TRACKS}} for stage in stages}
    stopped = session.execute(
        select(clocks.c.stage, clocks.c.track, clocks.c.outcome, func.count())
        .where(clocks.c.stage.in_(stages), clocks.c.status == "stopped", *period.within(clocks.c.stopped_at))
        .group_by(clocks.c.stage, clocks.c.track, clocks.c.outcome))
    for stage, track, outcome, n in stopped:
        if outcome in ("met", "missed"):
            out[stage][outcome] += n
            out[stage]["by_track"].setdefault(track, {"met": 0, "missed": 0})[outcome] += n
    # Open at the cutoff: not stopped yet, or stopped after it.
    open_then = (clocks.c.status != "stopped") | (clocks.c.stopped_at >= cutoff)
    overdue = session.execute(
        select(clocks.c.stage, func.count())
        .where(clocks.c.stage.in_(stages), clocks.c.started_at < cutoff, clocks.c.due_at <= cutoff, open_then)
        .group_by(clocks.c.stage))
    for stage, n in overdue:
        out[stage]["overdue_open"] = n
    for figures in out.values():
        figures["met_share"] = share(figures["met"], figures["met"] + figures["missed"])
    return out


def counts(session, query) -> dict:
    """``{key: n}`` of a two-column ``select(key, count)`` query."""
    return {key: n for key, n in session.execute(query)}


# -- the shape every summary shares -------------------------------------------------------------------


class TrackComplianceOut(Schema):
    met = fields.Integer()
    missed = fields.Integer()


class StageComplianceOut(Schema):
    met = fields.Integer()
    missed = fields.Integer()
    met_share = fields.Float(allow_none=True)
    overdue_open = fields.Integer()
    by_track = fields.Dict(keys=fields.String(), values=fields.Nested(TrackComplianceOut))


class SummaryOut(Schema):
    """What every service's summary has; each service adds its own figures."""

    service = fields.String()
    since = fields.Date(data_key="from")
    until = fields.Date(data_key="to")
    generated_at = fields.DateTime(format="iso")
    compliance = fields.Dict(keys=fields.String(), values=fields.Nested(StageComplianceOut))


def summary_blueprint(runtime, figures: Callable[[object, Period], dict], response: type[SummaryOut], *,
                      stages: tuple[str, ...], description: str) -> Blueprint:
    """The blueprint of ``GET /api/v1/reports/summary``: ``figures(session, period)`` gives the service's
    own figures, the compliance of its deadline ``stages`` is added; ``description`` goes into the
    OpenAPI document."""
    bp = Blueprint("summary", __name__, url_prefix="/api/v1")

    def report_summary():
        period = parse_period(request.args)
        with runtime.db.sessions() as session:
            body = figures(session, period)
            body["compliance"] = compliance(session, runtime.clocks.table, stages, period)
        return response().dump({"service": runtime.settings.service, "since": period.since, "until": period.until,
                                "generated_at": utcnow(), **body})

    report_summary.__doc__ = ("Aggregate, anonymised figures for a period, for publication and oversight.\n\n"
                              + description + "\n\n``from`` and ``to`` (required) are Beijing dates, both included.")
    view = require(*READERS)(doc(response=response, tags=["reports"])(report_summary))
    bp.add_url_rule(SUMMARY_PATH, view_func=view, methods=["GET"])
    return bp
