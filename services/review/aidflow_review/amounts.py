"""How much aid: the cap and the rules above it (救助金额).

The base is the province's average monthly wage of employees in the year before the decision;
aid is normally at most 36 months of it. Above the cap only with special approval, and never
above the damages a court awarded, when it awarded any. Minors may exceed the cap under the
2018 opinion on aid to minors, still with the reasoning recorded. Which wage series applies is
not fixed nationally: the province and series are settings, the figures are shipped data
(``data/wages.json``), extendable per deployment.

Everything is integer fen.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

CAP_MONTHS = 36


class WageTableError(LookupError):
    """No usable wage figure for the province, series and year asked for."""


@dataclass(frozen=True)
class Cap:
    """The computed cap and what it rests on, as it is recorded with the decision."""

    cap_fen: int
    province: str
    series: str
    wage_year: int
    annual_wage_yuan: int
    derived: bool  # the wage figure was derived, not published
    fallback: bool  # the previous year's figure was missing; an earlier year was used


@dataclass(frozen=True)
class AmountCheck:
    """The verdict on a proposed amount: within the rules, needing special approval, or refused."""

    allowed: bool
    special_approval: bool
    reason: str | None  # code: above_cap_needs_special_approval, above_court_damages, minor_above_cap, …


class WageTable:
    def __init__(self, data: dict):
        self.data = data

    @classmethod
    def shipped(cls) -> "WageTable":
        return cls(json.loads(resources.files("aidflow_review").joinpath("data/wages.json").read_text("utf-8")))

    @classmethod
    def load(cls, path: str | None) -> "WageTable":
        if not path:
            return cls.shipped()
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def cap(self, province: str, decision_year: int, series: str | None = None) -> Cap:
        """36 × the monthly wage of the year before ``decision_year`` (or the latest earlier year)."""
        series = series or self.data.get("default_series", "non_private_on_post")
        try:
            table = self.data["provinces"][province]["series"][series]
        except KeyError:
            raise WageTableError(f"no wage series {series!r} for province {province!r}") from None
        years = {int(y): int(v) for y, v in table["years"].items()}
        wanted = decision_year - 1
        usable = [y for y in years if y <= wanted]
        if not usable:
            raise WageTableError(f"no wage figure for {province}/{series} up to {wanted}")
        year = max(usable)
        annual = years[year]
        # 36 months of (annual / 12) yuan, in fen: annual × 3 × 100, exact in integers.
        return Cap(cap_fen=annual * CAP_MONTHS // 12 * 100, province=province, series=series, wage_year=year,
                   annual_wage_yuan=annual, derived=str(year) in table.get("derived", []), fallback=year != wanted)


def check_amount(amount_fen: int, cap: Cap, *, is_minor: bool, court_damages_fen: int | None = None,
                 per_person_limit_fen: int | None = None) -> AmountCheck:
    """Whether ``amount_fen`` may be awarded to one beneficiary, and with what approval."""
    if amount_fen <= 0:
        return AmountCheck(False, False, "amount_not_positive")
    if court_damages_fen is not None and amount_fen > court_damages_fen:
        return AmountCheck(False, False, "above_court_damages")
    if per_person_limit_fen and amount_fen > per_person_limit_fen and not is_minor:
        return AmountCheck(True, True, "above_local_limit_needs_special_approval")
    if amount_fen > cap.cap_fen:
        return AmountCheck(True, True, "minor_above_cap" if is_minor else "above_cap_needs_special_approval")
    return AmountCheck(True, False, None)
