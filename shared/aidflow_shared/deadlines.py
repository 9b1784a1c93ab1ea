"""Deadline clocks: the legal and policy deadlines of every stage, and their metrics.

A clock starts when work is accepted (a transfer received, a case accepted, a payout approved, a
hand-off sent, a visit due), may pause while the case waits for the applicant (the waiting does
not count: the working days paused are added to the allowance), and stops when the work is
done, as ``met`` or ``missed``. While it runs, its band is ``ok``, ``warning`` (its last
``warning_days``), ``critical`` (its last ``critical_days``) or ``breached`` (past due). A breach
is recorded and announced once, by whichever instance gets there first, in the same
transaction as its event.

Deadlines are computed by the working-day calendar and remember the calendar's fingerprint:
when the calendar changes (a newly announced year, a local adjustment), ``recompute`` moves every
open deadline and records each change.

The metrics are the fixed ones of the design card: ``aidflow_deadline_met_total`` and
``aidflow_deadline_missed_total`` {stage, track}, ``aidflow_deadline_open`` {stage, band} and
``aidflow_stage_working_days`` {stage, track}; plus ``aidflow_deadline_provisional`` {stage}
and ``aidflow_deadline_paused`` {stage}.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time as clock_time, timedelta, timezone

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import (Boolean, Column, Date, Integer, MetaData, String, Table, bindparam, case, func, insert,
                        literal_column, select, text, update)

from aidflow_shared.calendar import BEIJING, Deadline, WorkingCalendar
from aidflow_shared.policy import Policy
from aidflow_shared.storage import Database, UnitOfWork, UTCDateTime, claim_into, insert_into, utcnow

log = logging.getLogger(__name__)

STAGES = ("transfer", "review", "payout", "handoff", "visit")
TRACKS = ("standard", "urgent_medical")
BANDS = ("ok", "warning", "critical", "breached")
# Where a transaction keeps the clocks it paused, resumed or stopped (its session's info).
_WRITTEN = "aidflow.deadline_clocks.written"
WORKING_DAY_BUCKETS = (0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 60)


class ClockError(Exception):
    """A clock operation that does not fit the clock's state (e.g. resuming a running clock)."""


@dataclass(frozen=True)
class Schedule:
    """What a clock's allowance comes to from a given start."""

    due_at: datetime
    warning_at: datetime
    critical_at: datetime
    provisional: bool
    calendar: str


class DeadlineClocks:
    """The clocks of one service, over its database, calendar and policy."""

    def __init__(self, service: str, db: Database, calendar: WorkingCalendar, policy: Policy,
                 registry: CollectorRegistry, *, breach_type: str | None = None):
        self.service = service
        self.db = db
        self.calendar = calendar
        self.policy = policy
        self.breach_type = breach_type
        self.table = db.metadata.tables["deadline_clock"]
        self.changes = db.metadata.tables["deadline_change"]
        # Built once (a clock is read and changed on every case's path): the clock of a stage
        # and subject, locked on PostgreSQL; and a change of one clock by id, whose new values
        # go with the execution as parameters named after their columns.
        t = self.table
        read = select(t).where(t.c.stage == bindparam("of_stage"), t.c.subject_id == bindparam("of_subject"))
        self._read = read.with_for_update() if db.dialect == "postgresql" else read
        self._change = update(t).where(t.c.id == bindparam("clock_id"))
        self.met = Counter("aidflow_deadline_met_total", "Clocks stopped in time.", ["stage", "track"],
                           registry=registry)
        self.missed = Counter("aidflow_deadline_missed_total", "Clocks stopped after their deadline.",
                              ["stage", "track"], registry=registry)
        self.used = Histogram("aidflow_stage_working_days", "Working days a stage took (pauses excluded).",
                              ["stage", "track"], buckets=WORKING_DAY_BUCKETS, registry=registry)
        registry.register(_OpenClocks(self))

    # -- computing ------------------------------------------------------------------------------

    def schedule(self, started_at: datetime, days: int, unit: str) -> Schedule:
        due = self._end_after(started_at, days, unit)
        warning = self._end_after(started_at, days - self.policy.warning_days, unit)
        critical = self._end_after(started_at, days - self.policy.critical_days, unit)
        return Schedule(due.due_at, warning.due_at if warning else started_at,
                        critical.due_at if critical else started_at, due.provisional, due.calendar)

    def _end_after(self, started_at: datetime, days: int, unit: str):
        if days < 1:
            return None
        if unit == "working":
            return self.calendar.deadline(started_at, days)
        last = started_at.astimezone(BEIJING).date() + timedelta(days=days)
        due_at = datetime.combine(last + timedelta(days=1), clock_time(0), BEIJING).astimezone(timezone.utc)
        return Deadline(due_at, last, False, self.calendar.fingerprint)

    def band(self, clock, now: datetime | None = None) -> str:
        now = now or utcnow()
        if clock.status == "paused":
            return "paused"
        if now >= clock.due_at:
            return "breached"
        if now >= clock.critical_at:
            return "critical"
        if now >= clock.warning_at:
            return "warning"
        return "ok"

    # -- the clock's life -----------------------------------------------------------------------

    def start(self, uow: UnitOfWork, *, stage: str, subject_id: str, started_at: datetime,
              track: str = "standard", case_id: str | None = None, days: int | None = None) -> dict:
        """Start the clock of ``stage`` for ``subject_id``; starting it again is a no-op."""
        if stage not in STAGES or track not in TRACKS:
            raise ClockError(f"unknown stage or track: {stage}/{track}")
        allowance, unit = self.policy.allowance(stage, track)
        allowance = days or allowance
        plan = self.schedule(started_at, allowance, unit)
        values = dict(id=str(uuid.uuid4()), stage=stage, subject_id=subject_id, case_id=case_id, track=track,
                      unit=unit, allowance=allowance, extension=0, started_at=started_at, due_at=plan.due_at,
                      warning_at=plan.warning_at, critical_at=plan.critical_at, provisional=plan.provisional,
                      calendar=plan.calendar, status="running")
        # Inserted unless the clock exists (a second start, or another instance's a moment ago,
        # which this waits for): one statement where a read and an insert took two.
        started = uow.session.execute(claim_into(self.table, self.db.dialect, "id", ("stage", "subject_id")),
                                      values).first()
        if started is None:
            return self.get(uow, stage, subject_id)
        self._record(uow, values["id"], "started", started_at, plan.due_at, plan.provisional)
        return values

    def get(self, uow_or_session, stage: str, subject_id: str):
        session = getattr(uow_or_session, "session", uow_or_session)
        row = session.execute(self._read, {"of_stage": stage, "of_subject": subject_id}).mappings().first()
        return dict(row) if row else None

    def pause(self, uow: UnitOfWork, stage: str, subject_id: str, at: datetime, reason: str) -> dict:
        clock = self._require(uow, stage, subject_id)
        if clock["status"] != "running":
            raise ClockError(f"the {stage} clock is {clock['status']}, not running")
        uow.session.execute(self._change, dict(clock_id=clock["id"], status="paused", paused_at=at))
        self._record(uow, clock["id"], "paused", at, clock["due_at"], clock["provisional"], reason)
        return self._remember(uow, dict(clock, status="paused", paused_at=at))

    def resume(self, uow: UnitOfWork, stage: str, subject_id: str, at: datetime) -> dict:
        clock = self._require(uow, stage, subject_id)
        if clock["status"] != "paused":
            raise ClockError(f"the {stage} clock is {clock['status']}, not paused")
        extension = clock["extension"] + self._days_between(clock["paused_at"], at, clock["unit"])
        plan = self.schedule(clock["started_at"], clock["allowance"] + extension, clock["unit"])
        values = dict(status="running", paused_at=None, extension=extension, due_at=plan.due_at,
                      warning_at=plan.warning_at, critical_at=plan.critical_at, provisional=plan.provisional,
                      calendar=plan.calendar)
        uow.session.execute(self._change, dict(values, clock_id=clock["id"]))
        self._record(uow, clock["id"], "resumed", at, plan.due_at, plan.provisional)
        return self._remember(uow, dict(clock, **values))

    def stop(self, uow: UnitOfWork, stage: str, subject_id: str, at: datetime, *,
             missing_ok: bool = False) -> str | None:
        """Stop the clock; ``met`` or ``missed`` (None if it was already stopped, or, with
        ``missing_ok``, if there is no such clock: one read where a check and a stop took two)."""
        clock = self.get(uow, stage, subject_id) if missing_ok else self._require(uow, stage, subject_id)
        if clock is None or clock["status"] == "stopped":
            return None
        if clock["status"] == "paused":  # decided while waiting: the wait until now does not count
            clock = self.resume(uow, stage, subject_id, at)
        outcome = "met" if at < clock["due_at"] else "missed"
        used = max(0, self._days_between(clock["started_at"], at, "working") - clock["extension"])
        uow.session.execute(self._change, dict(clock_id=clock["id"], status="stopped", stopped_at=at, outcome=outcome,
                                               working_days_used=used))
        self._record(uow, clock["id"], "stopped", at, clock["due_at"], clock["provisional"], outcome)
        self._remember(uow, dict(clock, status="stopped", stopped_at=at, outcome=outcome, working_days_used=used))
        counter = self.met if outcome == "met" else self.missed
        labels = (clock["stage"], clock["track"])
        uow.after_commit(lambda: (counter.labels(*labels).inc(), self.used.labels(*labels).observe(used)))
        return outcome

    def as_written(self, uow: UnitOfWork, stage: str, subject_id: str) -> dict | None:
        """The clock as this transaction last paused, resumed or stopped it (it holds the row's
        lock), or None if it did not: the answer to a change needs no second read of the clock."""
        return uow.session.info.get(_WRITTEN, {}).get((stage, subject_id))

    @staticmethod
    def _remember(uow, clock: dict) -> dict:
        uow.session.info.setdefault(_WRITTEN, {})[(clock["stage"], clock["subject_id"])] = clock
        return clock

    def _require(self, uow, stage, subject_id) -> dict:
        clock = self.get(uow, stage, subject_id)
        if clock is None:
            raise ClockError(f"no {stage} clock for {subject_id}")
        return clock

    def _days_between(self, start: datetime, end: datetime, unit: str) -> int:
        if end <= start:
            return 0
        if unit == "working":
            return self.calendar.working_days_between(start, end)
        return (end.astimezone(BEIJING).date() - start.astimezone(BEIJING).date()).days

    def _record(self, uow, clock_id, kind, at, due_at, provisional, reason=None):
        uow.session.execute(insert_into(self.changes), dict(clock_id=clock_id, kind=kind, at=at, due_at=due_at,
                                                            provisional=provisional, reason=reason))

    # -- breaches and recomputation -------------------------------------------------------------

    def scan(self, unit_of_work, now: datetime | None = None, limit: int = 500) -> int:
        """Announce every running clock past due that has not been announced; returns how many.

        Each breach is claimed with a conditional update in its own transaction, together with
        its event: two instances scanning at once announce it once between them.
        """
        now = now or utcnow()
        t = self.table
        with self.db.engine.connect() as conn:
            due = conn.execute(select(t.c.id).where(t.c.status == "running", t.c.due_at <= now,
                                                    t.c.breached_at.is_(None)).limit(limit)).scalars().all()
        announced = 0
        for clock_id in due:
            with unit_of_work() as uow:
                claimed = uow.session.execute(
                    update(t).where(t.c.id == clock_id, t.c.breached_at.is_(None), t.c.status == "running")
                    .values(breached_at=now).returning(*t.c)).mappings().first()
                if claimed is None:
                    continue  # another instance, or the clock stopped meanwhile
                self._record(uow, clock_id, "breached", now, claimed["due_at"], claimed["provisional"])
                if self.breach_type:
                    uow.emit(self.breach_type, {
                        "clock_id": clock_id, "stage": claimed["stage"], "track": claimed["track"],
                        "subject_id": claimed["subject_id"], "case_id": claimed["case_id"],
                        "started_at": claimed["started_at"], "due_at": claimed["due_at"],
                        "breached_at": now, "provisional": claimed["provisional"]}, subject=claimed["case_id"])
                uow.commit()
                announced += 1
        return announced

    def recompute(self, unit_of_work=None, batch: int = 20_000) -> int:
        """Move every open deadline computed by another calendar; returns how many changed.

        Set-based, not clock by clock: a schedule depends only on the Beijing day a clock
        started, its days (allowance plus pauses) and its unit, so each distinct combination
        among the stale clocks is computed once with the calendar and loaded into a temporary
        table; the clocks are then moved by joined statements over consecutive ranges of the
        table in its physical order, about ``batch`` clocks per transaction. Each moved clock whose due date or provisional
        flag changed gets its ``recomputed`` change row in the same transaction as the move.
        A row is checked again once locked for its move, so two instances starting at once
        record each change once.

        ``unit_of_work`` is accepted for the callers that pass it; the recompute opens its own
        transactions on the database.
        """
        changed = 0
        fingerprint = self.calendar.fingerprint
        with self.db.writer.connect() as conn:
            _RecomputeTables.create(conn)
            conn.commit()
            try:
                while True:
                    with conn.begin():
                        combos = conn.execute(text(
                            f"SELECT DISTINCT {self._start_day('c')}, c.allowance + c.extension, c.unit "
                            "FROM deadline_clock c WHERE c.status <> 'stopped' AND c.calendar <> :fp"),
                            {"fp": fingerprint}).all()
                        if not combos:
                            return changed
                        conn.execute(_RecomputeTables.plan.delete())
                        conn.execute(insert(_RecomputeTables.plan), [self._plan_row(*combo) for combo in combos])
                        _RecomputeTables.analyze(conn, _RecomputeTables.plan)
                    moved_in_pass = 0
                    for start, end in self._ranges(conn, batch):
                        with conn.begin():
                            moved, recorded = self._recompute_range(conn, fingerprint, start, end)
                        changed += recorded
                        moved_in_pass += moved
                    if moved_in_pass == 0:  # nothing movable is left (another instance moved it)
                        return changed
            finally:
                _RecomputeTables.drop(conn)
                conn.commit()

    def _start_day(self, alias: str) -> str:
        """SQL for the Beijing day a clock started (China keeps UTC+8 all year since 1991)."""
        if self.db.dialect == "postgresql":
            return f"CAST(({alias}.started_at AT TIME ZONE 'Asia/Shanghai') AS DATE)"
        return f"date({alias}.started_at, '+8 hours')"

    def _plan_row(self, start_day, days: int, unit: str) -> dict:
        if isinstance(start_day, str):
            start_day = date.fromisoformat(start_day)
        # Noon Beijing time on the start day: only the day counts for every schedule but the
        # too-short warning and critical marks, which fall on the clock's own start (NULL here).
        started_at = datetime.combine(start_day, clock_time(12), BEIJING)
        plan = self.schedule(started_at, days, unit)
        return dict(start_day=start_day, days=days, unit=unit, due_at=plan.due_at,
                    warning_at=None if plan.warning_at == started_at else plan.warning_at,
                    critical_at=None if plan.critical_at == started_at else plan.critical_at,
                    provisional=plan.provisional)

    def _ranges(self, conn, batch: int):
        """Consecutive ranges of the table in its physical order, about ``batch`` rows each.

        Physical, not by id: the ids are random, so a range of ids is scattered over the whole
        table and every batch would read most of its pages. On PostgreSQL the ranges are of
        pages (a TID range scan each, ``batch / 40`` pages: a clock row takes about 1/40 of a
        page); on SQLite of rowids. Rows moved by the update land beyond the ranges already
        done and are no longer stale.
        """
        with conn.begin():
            if self.db.dialect == "postgresql":
                size = conn.execute(text("SELECT pg_relation_size('deadline_clock') / "
                                         "current_setting('block_size')::int")).scalar()
                step = max(1, batch // 40)
                bounds = [(f"({page},0)", f"({page + step},0)") for page in range(0, size + 1, step)]
            else:
                last = conn.execute(text("SELECT max(rowid) FROM deadline_clock")).scalar() or 0
                bounds = [(row, row + batch) for row in range(0, last + 1, batch)]
        yield from bounds

    def _recompute_range(self, conn, fingerprint: str, start, end) -> tuple[int, int]:
        """Move the stale clocks of one range; (moved, changes recorded)."""
        within = ("c.ctid >= CAST(:start AS tid) AND c.ctid < CAST(:end AS tid)" if self.db.dialect == "postgresql"
                  else "c.rowid > :start AND c.rowid <= :end")
        stale = f"{within} AND c.status <> 'stopped' AND c.calendar <> :fp"
        planned = (f"p.start_day = {self._start_day('c')} AND p.days = c.allowance + c.extension "
                   "AND p.unit = c.unit")
        moves = ("due_at = p.due_at, warning_at = COALESCE(p.warning_at, c.started_at), "
                 "critical_at = COALESCE(p.critical_at, c.started_at), provisional = p.provisional, calendar = :fp")
        reason = "'calendar ' || {old} || ' -> ' || :fp"
        params = {"start": start, "end": end, "fp": fingerprint, "now": utcnow()}
        now = bindparam("now", type_=UTCDateTime())
        if self.db.dialect == "postgresql":
            # The update locks each row it moves; a clock another instance moved meanwhile is read
            # again once that instance committed, is no longer stale, and is skipped. ``o`` is the
            # row as it was, for the change record.
            row = conn.execute(text(
                f"WITH moved AS (UPDATE deadline_clock c SET {moves} FROM deadline_clock o, aidflow_recompute_plan p "
                f"WHERE {stale} AND o.id = c.id AND {within.replace('c.', 'o.')} AND {planned} "
                "RETURNING c.id, p.due_at, p.provisional, o.due_at AS old_due_at, "
                "o.provisional AS old_provisional, o.calendar AS old_calendar), "
                "recorded AS (INSERT INTO deadline_change (clock_id, kind, at, due_at, provisional, reason) "
                f"SELECT id, 'recomputed', :now, due_at, provisional, {reason.format(old='old_calendar')} FROM moved "
                "WHERE due_at <> old_due_at OR provisional <> old_provisional RETURNING 1) "
                "SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM recorded)").bindparams(now), params).one()
            return row[0], row[1]
        # SQLite: the transaction holds the database's write lock from its BEGIN.
        recorded = conn.execute(text(
            "INSERT INTO deadline_change (clock_id, kind, at, due_at, provisional, reason) "
            f"SELECT c.id, 'recomputed', :now, p.due_at, p.provisional, {reason.format(old='c.calendar')} "
            f"FROM deadline_clock c, aidflow_recompute_plan p WHERE {stale} AND {planned} "
            "AND (c.due_at <> p.due_at OR c.provisional <> p.provisional)").bindparams(now), params).rowcount
        moved = conn.execute(text(
            f"UPDATE deadline_clock AS c SET {moves} FROM aidflow_recompute_plan p WHERE {stale} AND {planned}"),
            params).rowcount
        return moved, recorded

    def run_scanner(self, unit_of_work, stop: threading.Event, interval: float) -> None:
        """Scan for breaches every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.scan(unit_of_work)
            except Exception:  # the database is away: the next round tries again
                log.warning("deadline scan failed; will retry", exc_info=True)
            stop.wait(interval)


class _RecomputeTables:
    """The temporary table of one recompute: the schedule of each combination of start day, days and unit."""

    metadata = MetaData()
    plan = Table("aidflow_recompute_plan", metadata,
                 Column("start_day", Date, primary_key=True), Column("days", Integer, primary_key=True),
                 Column("unit", String(16), primary_key=True), Column("due_at", UTCDateTime(), nullable=False),
                 Column("warning_at", UTCDateTime()), Column("critical_at", UTCDateTime()),
                 Column("provisional", Boolean, nullable=False), prefixes=["TEMPORARY"])

    @classmethod
    def create(cls, conn) -> None:
        cls.drop(conn)
        cls.metadata.create_all(conn)

    @staticmethod
    def analyze(conn, table) -> None:
        """Give the planner the temporary table's size: joined blind, PostgreSQL loops over it."""
        conn.execute(text(f"ANALYZE {table.name}"))

    @classmethod
    def drop(cls, conn) -> None:
        schema = "pg_temp" if conn.dialect.name == "postgresql" else "temp"
        conn.execute(text(f"DROP TABLE IF EXISTS {schema}.{cls.plan.name}"))


class _OpenClocks:
    """Open clocks by stage and band, provisional and paused ones, read from the database at scrape."""

    def __init__(self, clocks: DeadlineClocks):
        self.clocks = clocks
        self._cache: tuple[float, list] = (0.0, [])

    def describe(self):
        return []

    def collect(self):
        at, rows = self._cache
        if time.monotonic() - at > 5.0:
            try:
                rows = self._query()
            except Exception:  # database away: readiness says so; keep the last figures
                pass
            self._cache = (time.monotonic(), rows)
        open_ = GaugeMetricFamily("aidflow_deadline_open", "Open deadline clocks by band.", labels=["stage", "band"])
        provisional = GaugeMetricFamily("aidflow_deadline_provisional",
                                        "Open clocks whose deadline counts days of a year with no official "
                                        "holiday schedule yet.", labels=["stage"])
        paused = GaugeMetricFamily("aidflow_deadline_paused", "Clocks paused while the case waits for the applicant.",
                                   labels=["stage"])
        counts = {(stage, band): 0 for stage in STAGES for band in BANDS}
        provisional_counts = {stage: 0 for stage in STAGES}
        paused_counts = {stage: 0 for stage in STAGES}
        for stage, band, is_provisional, n in rows:
            if band == "paused":
                paused_counts[stage] = paused_counts.get(stage, 0) + n
                continue
            counts[(stage, band)] = counts.get((stage, band), 0) + n
            if is_provisional:
                provisional_counts[stage] = provisional_counts.get(stage, 0) + n
        for (stage, band), n in counts.items():
            open_.add_metric([stage, band], n)
        for stage, n in provisional_counts.items():
            provisional.add_metric([stage], n)
        for stage, n in paused_counts.items():
            paused.add_metric([stage], n)
        yield open_
        yield provisional
        yield paused

    def _query(self):
        t = self.clocks.table
        now = utcnow()
        band = case((t.c.status == "paused", literal_column("'paused'")), (t.c.due_at <= now, literal_column("'breached'")),
                    (t.c.critical_at <= now, literal_column("'critical'")),
                    (t.c.warning_at <= now, literal_column("'warning'")), else_=literal_column("'ok'")).label("band")
        open_clocks = select(t.c.stage, band, t.c.provisional).where(t.c.status != "stopped").subquery()
        query = (select(open_clocks.c.stage, open_clocks.c.band, open_clocks.c.provisional, func.count())
                 .group_by(open_clocks.c.stage, open_clocks.c.band, open_clocks.c.provisional))
        with self.clocks.db.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]
