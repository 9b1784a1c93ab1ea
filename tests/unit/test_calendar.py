"""The working-day calendar: holidays and make-up days, deadlines, provisional years, overrides."""
import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, strategies as st

from aidflow_shared.calendar import CalendarError, Deadline, Overrides, WorkingCalendar

BEIJING = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
CALENDAR = WorkingCalendar()
LIBRARY = holidays.China(years=range(2019, 2033))

# An invented 2027 notice, for tests only: the real one is not out as these tests are written.
INVENTED_2027 = {
    "source": "invented for the tests; not the State Council's 2027 notice",
    "official_years": [2027],
    "holidays": {
        "2027-01-01": "元旦",
        **{f"2027-02-{day:02d}": "春节" for day in range(5, 13)},
    },
    "workdays": {"2027-02-20": "春节调休上班"},
}
WITH_2027 = WorkingCalendar(Overrides.parse(INVENTED_2027))


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), BEIJING).astimezone(UTC)


def test_2027_has_no_notice_in_the_library():
    # If this fails the library has caught up: move the 2027 examples to the next unannounced year.
    assert 2027 not in CALENDAR.official_years()


# --- what the library supplies -----------------------------------------------------------------

def test_the_library_knows_every_notice_from_2001_to_2026():
    assert set(range(2001, 2027)) <= set(CALENDAR.official_years())


@pytest.mark.parametrize("day, works", [
    (date(2025, 9, 27), False),   # an ordinary Saturday
    (date(2025, 9, 28), True),    # Sunday, made up for the National Day break
    *[(date(2025, 10, day), False) for day in range(1, 9)],
    (date(2025, 10, 11), True),   # Saturday, made up
    (date(2026, 1, 4), True),     # 2026 notice: New Year make-up Sunday
    (date(2026, 2, 14), True),
    *[(date(2026, 2, day), False) for day in range(15, 24)],
    (date(2026, 2, 28), True),
    (date(2026, 9, 20), True),
    (date(2026, 10, 10), True),
])
def test_holidays_and_make_up_days(day, works):
    assert CALENDAR.is_workday(day) is works


def test_the_calendar_is_the_librarys_for_2020_to_2032():
    day = date(2020, 1, 1)
    while day.year <= 2032:
        assert CALENDAR.is_workday(day) == LIBRARY.is_working_day(day), day
        day += timedelta(days=1)


# --- the counting rule ---------------------------------------------------------------------------

def test_friday_before_national_day_five_working_days():
    deadline = CALENDAR.deadline(beijing(2025, 9, 26, 10, 0), 5)
    assert deadline.due_date == date(2025, 10, 10)
    assert deadline.due_at == datetime(2025, 10, 10, 16, 0, tzinfo=UTC)
    assert deadline.due_at.tzinfo is UTC
    assert deadline.provisional is False
    assert deadline.calendar == CALENDAR.fingerprint


def test_urgent_two_working_days_across_national_day_2024():
    assert CALENDAR.deadline(beijing(2024, 9, 30, 9, 0), 2).due_date == date(2024, 10, 9)


@pytest.mark.parametrize("accepted, n, due", [
    (beijing(2025, 10, 3, 11, 0), 2, date(2025, 10, 10)),    # on a holiday
    (beijing(2025, 10, 4, 11, 0), 5, date(2025, 10, 14)),    # on a holiday Saturday; counts Sat 11th
    (beijing(2025, 10, 12, 11, 0), 1, date(2025, 10, 13)),   # on an ordinary Sunday
    (beijing(2025, 9, 28, 11, 0), 1, date(2025, 9, 29)),     # on a make-up Sunday: still not counted
])
def test_the_day_of_acceptance_is_never_counted(accepted, n, due):
    assert CALENDAR.deadline(accepted, n).due_date == due


@pytest.mark.parametrize("accepted, n, due", [
    (datetime(2025, 9, 25, 15, 59, tzinfo=UTC), 5, date(2025, 10, 9)),   # Thursday 23:59 in Beijing
    (datetime(2025, 9, 25, 16, 1, tzinfo=UTC), 5, date(2025, 10, 10)),   # Friday 00:01 in Beijing
    (beijing(2025, 9, 25, 23, 59), 5, date(2025, 10, 9)),
    (beijing(2025, 9, 26, 0, 1), 5, date(2025, 10, 10)),
    (datetime(2025, 9, 27, 15, 59, tzinfo=UTC), 1, date(2025, 9, 28)),   # Saturday 23:59
    (datetime(2025, 9, 27, 16, 30, tzinfo=UTC), 1, date(2025, 9, 29)),   # make-up Sunday 00:30
])
def test_acceptance_is_dated_in_beijing(accepted, n, due):
    assert CALENDAR.deadline(accepted, n).due_date == due


def test_late_friday_utc_is_saturday_in_beijing():
    friday_evening = datetime(2025, 9, 26, 16, 30, tzinfo=UTC)   # 00:30 on Saturday the 27th
    sunday = beijing(2025, 9, 28, 12, 0)
    assert CALENDAR.working_days_between(friday_evening, sunday) == 1
    assert CALENDAR.working_days_between(friday_evening, beijing(2025, 9, 27, 23, 0)) == 0
    with pytest.raises(ValueError):   # Friday afternoon in Beijing is before it
        CALENDAR.working_days_between(friday_evening, beijing(2025, 9, 26, 17, 0))


@pytest.mark.parametrize("n", [0, -1])
def test_at_least_one_working_day(n):
    with pytest.raises(ValueError):
        CALENDAR.deadline(beijing(2025, 9, 26, 10, 0), n)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        CALENDAR.deadline(datetime(2025, 9, 26, 10, 0), 5)


def test_a_datetime_is_not_taken_for_a_date():
    with pytest.raises(TypeError):
        CALENDAR.is_workday(datetime(2025, 9, 26, 20, 0, tzinfo=UTC))


def test_outside_the_calendar():
    with pytest.raises(CalendarError):
        CALENDAR.is_workday(date(1999, 12, 31))
    with pytest.raises(CalendarError):
        CALENDAR.deadline(beijing(2100, 12, 30, 9, 0), 5)


def test_working_days_between_counts_as_the_deadline_does():
    accepted = beijing(2025, 9, 26, 10, 0)
    assert CALENDAR.working_days_between(accepted, beijing(2025, 9, 26, 17, 0)) == 0
    assert CALENDAR.working_days_between(accepted, beijing(2025, 9, 28, 9, 0)) == 1
    assert CALENDAR.working_days_between(accepted, beijing(2025, 10, 8, 9, 0)) == 3
    assert CALENDAR.working_days_between(accepted, beijing(2025, 10, 10, 23, 59)) == 5
    with pytest.raises(ValueError):
        CALENDAR.working_days_between(accepted, beijing(2025, 9, 25, 9, 0))


# --- years without a notice, and the override file ----------------------------------------------

def test_a_deadline_running_into_an_unannounced_year_is_provisional():
    deadline = CALENDAR.deadline(beijing(2026, 12, 29, 10, 0), 5)
    assert deadline.due_date == date(2027, 1, 6)   # Jan 1 is estimated off; no make-up day known
    assert deadline.provisional is True
    # A deadline that ends before the year turns is settled.
    assert CALENDAR.deadline(beijing(2026, 12, 28, 10, 0), 3).provisional is False


def test_loading_the_new_years_notice_settles_and_may_move_deadlines(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(INVENTED_2027, ensure_ascii=False), encoding="utf-8")
    updated = WorkingCalendar.from_env({"AIDFLOW_CALENDAR_OVERRIDES": str(path)})

    assert 2027 in updated.official_years()
    assert updated.fingerprint != CALENDAR.fingerprint

    unchanged = updated.deadline(beijing(2026, 12, 29, 10, 0), 5)
    assert (unchanged.due_date, unchanged.provisional) == (date(2027, 1, 6), False)

    before = CALENDAR.deadline(beijing(2027, 2, 3, 10, 0), 5)
    after = updated.deadline(beijing(2027, 2, 3, 10, 0), 5)
    assert (before.due_date, before.provisional) == (date(2027, 2, 16), True)
    assert (after.due_date, after.provisional) == (date(2027, 2, 18), False)
    assert after.calendar == updated.fingerprint


def test_an_announced_year_replaces_the_estimate():
    # The library estimates Monday 2027-10-04 off (National Day falls on a weekend); the invented
    # notice does not list it, so it is an ordinary Monday once the notice is loaded.
    assert CALENDAR.is_workday(date(2027, 10, 4)) is False
    assert WITH_2027.is_workday(date(2027, 10, 4)) is True
    assert WITH_2027.is_workday(date(2027, 2, 20)) is True   # listed make-up Saturday


def test_a_local_holiday_moves_deadlines():
    local = WorkingCalendar(Overrides.parse({"holidays": {"2025-10-09": "local holiday"}}))
    # The 5th working day is now the make-up Saturday.
    assert local.deadline(beijing(2025, 9, 26, 10, 0), 5).due_date == date(2025, 10, 11)
    assert local.fingerprint != CALENDAR.fingerprint


def test_a_local_workday_moves_deadlines():
    local = WorkingCalendar(Overrides.parse({"workdays": {"2025-10-08": "local working day"}}))
    assert local.deadline(beijing(2025, 9, 26, 10, 0), 5).due_date == date(2025, 10, 9)


def test_the_fingerprint_changes_only_with_the_days():
    restated = WorkingCalendar(Overrides.parse({"holidays": {"2025-10-01": "国庆节"}, "official_years": [2025]}))
    assert restated.fingerprint == CALENDAR.fingerprint == WorkingCalendar().fingerprint


def test_no_override_file_configured():
    assert WorkingCalendar.from_env({}).fingerprint == CALENDAR.fingerprint
    assert WorkingCalendar.from_env({"AIDFLOW_CALENDAR_OVERRIDES": ""}).fingerprint == CALENDAR.fingerprint


def test_a_configured_file_that_is_missing_is_an_error(tmp_path):
    with pytest.raises(CalendarError):
        WorkingCalendar.load(tmp_path / "absent.json")


@pytest.mark.parametrize("content", [
    "not json",
    json.dumps([]),
    json.dumps({"holiday": {}}),
    json.dumps({"official_years": ["2027"]}),
    json.dumps({"official_years": [1999]}),
    json.dumps({"holidays": ["2027-01-01"]}),
    json.dumps({"holidays": {"2027-1-1": "元旦"}}),
    json.dumps({"holidays": {"2027-01-01": None}}),
    json.dumps({"holidays": {"2101-01-01": "x"}}),
    json.dumps({"holidays": {"2027-01-01": "x"}, "workdays": {"2027-01-01": "y"}}),
])
def test_a_bad_override_file_is_refused(tmp_path, content):
    path = tmp_path / "calendar.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarError):
        WorkingCalendar.load(path)


# --- the fast calendar against a day-by-day reference -------------------------------------------

LIBRARY_YEARS = set(range(2001, 2027))


def reference_is_workday(day: date, overrides: Overrides) -> bool:
    if day in overrides.workdays:
        return True
    if day in overrides.holidays:
        return False
    if day.year in overrides.official_years - LIBRARY_YEARS:
        return day.weekday() < 5
    return LIBRARY.is_working_day(day)


def reference_deadline(accepted_at: datetime, n: int, overrides: Overrides) -> Deadline:
    """Walk the days one by one."""
    day = accepted_at.astimezone(BEIJING).date()
    walked, counted = [], 0
    while counted < n:
        day += timedelta(days=1)
        walked.append(day)
        counted += reference_is_workday(day, overrides)
    official = LIBRARY_YEARS | overrides.official_years
    return Deadline(end_of(day), day, any(d.year not in official for d in walked), "")


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31),
                       timezones=st.sampled_from([UTC, BEIJING, ZoneInfo("Europe/Berlin")]))
LOCAL = Overrides.parse({"holidays": {"2025-10-09": "local", "2028-05-05": "local"},
                         "workdays": {"2024-10-05": "local"}})


@given(accepted=moments, n=st.integers(min_value=1, max_value=60),
       case=st.sampled_from([(CALENDAR, Overrides()), (WITH_2027, Overrides.parse(INVENTED_2027)),
                             (WorkingCalendar(LOCAL), LOCAL)]))
def test_the_fast_deadline_equals_walking_the_days(accepted, n, case):
    calendar, overrides = case
    fast = calendar.deadline(accepted, n)
    assert fast._replace(calendar="") == reference_deadline(accepted, n, overrides)


@given(accepted=moments, n=st.integers(min_value=1, max_value=60))
def test_working_days_between_agrees_with_the_deadline(accepted, n):
    deadline = CALENDAR.deadline(accepted, n)
    last_moment = deadline.due_at - timedelta(microseconds=1)
    day_before_due = datetime.combine(deadline.due_date, time(), BEIJING) - timedelta(microseconds=1)
    assert CALENDAR.working_days_between(accepted, last_moment) == n
    if day_before_due >= accepted:
        assert CALENDAR.working_days_between(accepted, day_before_due) == n - 1


@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
       n=st.integers(min_value=1, max_value=60))
def test_workday_after_is_the_deadline_day(day, n):
    noon = datetime.combine(day, time(12), BEIJING)
    assert CALENDAR.workday_after(day, n) == CALENDAR.deadline(noon, n).due_date
    assert CALENDAR.is_workday(CALENDAR.workday_after(day, n))


# --- the examples in the documentation -----------------------------------------------------------

def documented_overrides() -> list[dict]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "calendar.md").read_text(encoding="utf-8")
    return [json.loads(block.split("```", 1)[0]) for block in text.split("```json\n")[1:]]


def test_the_documented_2026_notice_agrees_with_the_library():
    notice, _ = documented_overrides()
    assert WorkingCalendar(Overrides.parse(notice)).fingerprint == CALENDAR.fingerprint


def test_the_documented_local_closure_moves_the_deadline():
    _, closure = documented_overrides()
    local = WorkingCalendar(Overrides.parse(closure))
    assert local.deadline(beijing(2025, 9, 26, 10, 0), 5).due_date == date(2025, 10, 11)
