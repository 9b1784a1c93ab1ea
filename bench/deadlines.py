"""Goal 5: recompute a million open deadline clocks after a calendar update.

A fresh PostgreSQL database (or a SQLite file with ``--sqlite``) is filled with ``--n`` open
clocks (default 1 000 000) of every stage and track, started over the two years up to and into
the first year the library only estimates, some paused, some with pause days added; their
deadlines are computed by the library's calendar, so the clocks in the estimated year are
provisional. Then the State Council "announces" that year (an override file with its official
holidays moved and a make-up working day), and ``DeadlineClocks.recompute`` moves every open
clock to the new calendar.

Measured side by side, each from the same starting table (restored before every run):

- ``recompute``: the service's own path (set-based: one schedule per distinct start day,
  days and unit; joined UPDATE and change rows in batches);
- ``bare UPDATE``: one statement rewriting every open clock's due date and calendar, computing
  nothing: what the database needs to write the rows at all, the floor of any recompute;
- ``row by row``: the previous implementation, kept here: read a batch of clocks, compute each
  with the calendar, UPDATE it and INSERT its change row one statement each;
- ``day-by-day loop``: the same, with each deadline found by walking the calendar one day at a
  time (the textbook loop).

The two baselines run on a sample (``--sample``, default 20 000 clocks) and are scaled to
``--n``; both are linear in the number of clocks. Every run is checked: the changes recorded,
and a random sample of clocks recomputed independently in Python.

    .venv/bin/python bench/deadlines.py                # PostgreSQL, 1 000 000 clocks, 3 rounds
    .venv/bin/python bench/deadlines.py --sqlite --n 200000
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, time as clock_time, timedelta, timezone
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select, text, update

from aidflow_shared.calendar import BEIJING, WorkingCalendar
from aidflow_shared.deadlines import STAGES, TRACKS, DeadlineClocks
from aidflow_shared.policy import load_policy
from aidflow_shared.storage import Database, UnitOfWork, new_metadata, utcnow

from pipeline import BenchError, Databases, log, median, server_arguments

COLUMNS = ("id", "stage", "subject_id", "case_id", "track", "unit", "allowance", "extension", "started_at",
           "due_at", "warning_at", "critical_at", "provisional", "calendar", "status", "paused_at")


def calendars(workdir: Path) -> tuple[WorkingCalendar, WorkingCalendar, int]:
    """The library's calendar, and the same with its first estimated year announced."""
    old = WorkingCalendar()
    year = max(old.official_years()) + 1
    # The notice: Spring Festival a week off from the second Monday of February, paid for by a
    # Saturday make-up day; Labour Day extended to three days.
    first_monday = date(year, 2, 1) + timedelta(days=(7 - date(year, 2, 1).weekday()) % 7)
    holidays = {(first_monday + timedelta(days=7 + i)).isoformat(): "春节" for i in range(5)}
    holidays.update({date(year, 5, d).isoformat(): "劳动节" for d in (2, 5) if date(year, 5, d).weekday() < 5})
    saturday = first_monday + timedelta(days=5)
    path = workdir / "calendar.json"
    path.write_text(json.dumps({"official_years": [year], "holidays": holidays,
                                "workdays": {saturday.isoformat(): "春节调休"}}, ensure_ascii=False))
    return old, WorkingCalendar.load(path), year


def clocks_for(db: Database, calendar: WorkingCalendar) -> DeadlineClocks:
    return DeadlineClocks("bench", db, calendar, load_policy({}), CollectorRegistry())


def generate(clocks: DeadlineClocks, n: int, year: int, seed: int = 7):
    """``n`` open clocks started over the two years before ``year`` and its first half."""
    rng = random.Random(seed)
    first = datetime(year - 2, 1, 2, tzinfo=BEIJING)
    span_days = (datetime(year, 7, 1, tzinfo=BEIJING) - first).days
    kinds = [(stage, track) + clocks.policy.allowance(stage, track) for stage in STAGES for track in TRACKS]
    plans: dict = {}
    for i in range(n):
        stage, track, allowance, unit = kinds[i % len(kinds)]
        started_at = first + timedelta(days=rng.randrange(span_days), seconds=rng.randrange(9 * 3600) + 8 * 3600)
        extension = rng.choice((0, 0, 0, 1, 2, 5))
        paused = rng.random() < 0.1
        key = (started_at.date(), allowance + extension, unit)
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = clocks.schedule(started_at, allowance + extension, unit)
        yield (str(uuid.UUID(int=rng.getrandbits(128), version=4)), stage, f"subject-{i}", f"case-{i}", track, unit,
               allowance, extension, started_at, plan.due_at, plan.warning_at, plan.critical_at, plan.provisional,
               plan.calendar, "paused" if paused else "running", started_at + timedelta(days=1) if paused else None)


def populate(db: Database, clocks: DeadlineClocks, n: int, year: int) -> None:
    started = time.perf_counter()
    table = db.metadata.tables["deadline_clock"]
    if db.dialect == "postgresql":
        raw = db.engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY deadline_clock ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in generate(clocks, n, year):
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    else:
        rows = (dict(zip(COLUMNS, row)) for row in generate(clocks, n, year))
        with db.writer.begin() as conn:
            chunk = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == 20_000:
                    conn.execute(insert(table), chunk)
                    chunk = []
            if chunk:
                conn.execute(insert(table), chunk)
    with db.writer.begin() as conn:  # the starting point every run is restored from
        conn.execute(text(f"CREATE TABLE clock_template AS SELECT {', '.join(COLUMNS)} FROM deadline_clock"))
    log(f"{n} clocks generated and stored in {time.perf_counter() - started:.1f}s")


def restore(db: Database, limit: int | None = None) -> None:
    """Put the starting clocks back (all, or the first ``limit``), with no change rows."""
    with db.writer.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("TRUNCATE deadline_change, deadline_clock"))
        else:
            conn.execute(text("DELETE FROM deadline_change"))
            conn.execute(text("DELETE FROM deadline_clock"))
        cols = ", ".join(COLUMNS)
        conn.execute(text(f"INSERT INTO deadline_clock ({cols}) SELECT {cols} FROM clock_template"
                          + (f" ORDER BY id LIMIT {int(limit)}" if limit else "")))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE deadline_clock" if db.dialect == "postgresql" else "ANALYZE"))


# -- the baselines --------------------------------------------------------------------------------

def rewrite_all(db: Database) -> None:
    """The floor: one bare UPDATE that rewrites every open clock and computes nothing."""
    with db.writer.begin() as conn:
        conn.execute(text("UPDATE deadline_clock SET due_at = due_at + interval '1 second', calendar = 'floor' "
                          "WHERE status <> 'stopped'" if db.dialect == "postgresql" else
                          "UPDATE deadline_clock SET due_at = due_at || '', calendar = 'floor' "
                          "WHERE status <> 'stopped'"))


def row_by_row(clocks: DeadlineClocks, schedule, batch: int = 1000) -> int:
    """The previous ``recompute``: each clock read, computed, updated and recorded on its own."""
    t, db = clocks.table, clocks.db
    changed = 0
    while True:
        with UnitOfWork(db, source="/bench") as uow:
            rows = uow.session.execute(select(t).where(t.c.status != "stopped",
                                                       t.c.calendar != clocks.calendar.fingerprint)
                                       .limit(batch)).mappings().all()
            if not rows:
                return changed
            now = utcnow()
            for clock in rows:
                plan = schedule(clock["started_at"], clock["allowance"] + clock["extension"], clock["unit"])
                uow.session.execute(update(t).where(t.c.id == clock["id"]).values(
                    due_at=plan.due_at, warning_at=plan.warning_at, critical_at=plan.critical_at,
                    provisional=plan.provisional, calendar=plan.calendar))
                if plan.due_at != clock["due_at"] or plan.provisional != clock["provisional"]:
                    clocks._record(uow, clock["id"], "recomputed", now, plan.due_at, plan.provisional,
                                   f"calendar {clock['calendar']} -> {plan.calendar}")
                    changed += 1
            uow.commit()


def day_by_day(clocks: DeadlineClocks):
    """``schedule`` with every deadline found by walking the calendar a day at a time."""
    calendar, policy = clocks.calendar, clocks.policy
    official = set(calendar.official_years())

    def end_after(started_at: datetime, days: int, unit: str):
        day = started_at.astimezone(BEIJING).date()
        provisional, counted = False, 0
        while counted < days:
            day += timedelta(days=1)
            provisional = provisional or day.year not in official
            if unit != "working" or calendar.is_workday(day):
                counted += 1
        due_at = datetime.combine(day + timedelta(days=1), clock_time(0), BEIJING).astimezone(timezone.utc)
        return due_at, provisional and unit == "working"

    def schedule(started_at: datetime, days: int, unit: str):
        due_at, provisional = end_after(started_at, days, unit)
        warning = end_after(started_at, days - policy.warning_days, unit)[0] if days > policy.warning_days \
            else started_at
        critical = end_after(started_at, days - policy.critical_days, unit)[0] if days > policy.critical_days \
            else started_at
        return _Plan(due_at, warning, critical, provisional, calendar.fingerprint)

    return schedule


class _Plan:
    __slots__ = ("due_at", "warning_at", "critical_at", "provisional", "calendar")

    def __init__(self, due_at, warning_at, critical_at, provisional, calendar):
        self.due_at, self.warning_at, self.critical_at = due_at, warning_at, critical_at
        self.provisional, self.calendar = provisional, calendar


# -- checking ---------------------------------------------------------------------------------------

def check(db: Database, clocks: DeadlineClocks, changed: int, sample: int = 2000) -> None:
    t = clocks.table
    with db.engine.connect() as conn:
        stale = conn.execute(text("SELECT count(*) FROM deadline_clock WHERE status <> 'stopped' "
                                  "AND calendar <> :fp"), {"fp": clocks.calendar.fingerprint}).scalar()
        recorded = conn.execute(text("SELECT count(*) FROM deadline_change WHERE kind = 'recomputed'")).scalar()
        rows = conn.execute(select(t).order_by(t.c.subject_id).limit(sample)).mappings().all()
    if stale or recorded != changed:
        raise BenchError(f"recompute left {stale} stale clocks; {recorded} changes recorded, {changed} reported")
    for row in rows:
        plan = clocks.schedule(row["started_at"], row["allowance"] + row["extension"], row["unit"])
        got = (row["due_at"], row["warning_at"], row["critical_at"], row["provisional"], row["calendar"])
        if got != (plan.due_at, plan.warning_at, plan.critical_at, plan.provisional, plan.calendar):
            raise BenchError(f"clock {row['id']}: {got} != {plan}")


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="aidflow-deadlines-") as tmp:
        workdir = Path(tmp)
        old, new, year = calendars(workdir)
        admin = None if args.sqlite else args.pg_url
        with Databases(admin, workdir, services=("deadlines",)) as databases:
            db = Database(databases.urls["deadlines"], new_metadata())
            try:
                db.metadata.create_all(db.engine)
                populate(db, clocks_for(db, old), args.n, year)
                fresh = clocks_for(db, new)
                results = {"n": args.n, "sample": args.sample, "year": year, "dialect": db.dialect, "rounds": []}
                for round_no in range(1, args.repeat + 1):
                    restore(db)
                    seconds, changed = timed(fresh.recompute)
                    check(db, fresh, changed)
                    scale = args.n / args.sample
                    restore(db)
                    floor_seconds, _ = timed(lambda: rewrite_all(db))
                    restore(db, args.sample)
                    row_seconds, _ = timed(lambda: row_by_row(fresh, fresh.schedule))
                    restore(db, args.sample)
                    day_seconds, _ = timed(lambda: row_by_row(fresh, day_by_day(fresh)))
                    check(db, fresh, _count_changes(db))
                    entry = {"recompute_s": seconds, "changed": changed, "rewrite_all_s": floor_seconds,
                             "row_by_row_s": row_seconds * scale,
                             "day_by_day_s": day_seconds * scale}
                    results["rounds"].append(entry)
                    log(f"round {round_no}: recompute {seconds:.1f}s ({changed} changed); bare rewrite "
                        f"{floor_seconds:.1f}s; "
                        f"row by row {entry['row_by_row_s']:.0f}s, day-by-day {entry['day_by_day_s']:.0f}s "
                        f"(scaled from {args.sample})")
                return results
            finally:
                db.dispose()


def _count_changes(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM deadline_change WHERE kind = 'recomputed'")).scalar()


def report(results: dict) -> str:
    rounds = results["rounds"]
    ours = median(r["recompute_s"] for r in rounds)
    rows = median(r["row_by_row_s"] for r in rounds)
    days = median(r["day_by_day_s"] for r in rounds)
    floor = median(r["rewrite_all_s"] for r in rounds)
    lines = [f"deadline recompute, {results['n']:,} open clocks, {results['dialect']}, year {results['year']} announced; "
             f"medians of {len(rounds)} rounds (baselines scaled from {results['sample']:,} clocks)",
             f"  recompute (set-based)   {ours:8.1f} s   {results['n'] / ours:10,.0f} clocks/s   "
             f"changed {rounds[0]['changed']:,}",
             f"  bare UPDATE of them all {floor:8.1f} s   {results['n'] / floor:10,.0f} clocks/s   "
             f"(the database's floor: rewrites every open clock, computes nothing)",
             f"  row by row (previous)   {rows:8.1f} s   {results['n'] / rows:10,.0f} clocks/s   "
             f"ratio {rows / ours:6.1f}x",
             f"  day-by-day loop         {days:8.1f} s   {results['n'] / days:10,.0f} clocks/s   "
             f"ratio {days / ours:6.1f}x"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="open clocks (default 1 000 000)")
    parser.add_argument("--sample", type=int, default=20_000, help="clocks the baselines run on (default 20 000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    server_arguments(parser)
    args = parser.parse_args(argv)
    args.sample = min(args.sample, args.n)
    try:
        results = run(args)
    except BenchError as exc:
        print(f"deadlines bench: {exc}", file=sys.stderr)
        return 2
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
