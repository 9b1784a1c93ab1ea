"""The needs assessment (需求评估) and who meets each need: pure rules, no I/O.

A plan lists, per assistance service, whether the person needs it. The first assessment is made
from what intake learned at acceptance (minor, poverty markers, the harm); staff confirm and
re-assess it (rolling management, 滚动管理). Each service has the agencies that provide it and the
kinds of data it needs: a hand-off carries that data and nothing else, and only with the
person's consent (see :mod:`aidflow_followup.consent`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from aidflow_shared.contracts.followup import ASSISTANCE_SERVICES

SERVICES = ASSISTANCE_SERVICES

# Who provides each service: the first is the usual one.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "psych_counselling": ("psych-center", "youth-league", "womens-federation"),
    "civil_affairs_aid": ("civil-affairs",),
    "minimum_living_guarantee": ("civil-affairs",),
    "legal_aid": ("legal-aid",),
    "poverty_alleviation": ("poverty-bureau", "village-committee"),
    "education_support": ("youth-league", "womens-federation", "civil-affairs"),
    "employment_support": ("poverty-bureau", "womens-federation", "village-committee"),
    "other": ("civil-affairs", "poverty-bureau", "youth-league", "womens-federation", "psych-center", "legal-aid",
              "village-committee"),
}

# What each service needs to know about the person, by data category.
DATA_NEEDED: dict[str, frozenset[str]] = {
    "psych_counselling": frozenset({"contact", "health", "minor"}),
    "civil_affairs_aid": frozenset({"contact", "household", "harm"}),
    "minimum_living_guarantee": frozenset({"contact", "household"}),
    "legal_aid": frozenset({"contact", "harm"}),
    "poverty_alleviation": frozenset({"contact", "household"}),
    "education_support": frozenset({"contact", "household", "minor"}),
    "employment_support": frozenset({"contact", "household"}),
    "other": frozenset({"contact"}),
}

NEEDED = "needed"
# How a need ends: met by a hand-off completed, met some other way, not (or no longer) needed,
# or declined by the person.
RESOLUTIONS = ("met", "met_otherwise", "not_needed", "declined_by_person")
NEED_STATUSES = (NEEDED, *RESOLUTIONS)

_FELL_INTO_HARDSHIP = frozenset({"impoverished_by_case", "returned_to_poverty_by_case"})
_POOR = frozenset({"registered_poor_household", "returned_to_poverty_by_case"})
_TRAUMA = frozenset({"serious_injury", "death_or_incapacity", "retaliation"})
_COMPENSATION = frozenset({"civil_tort", "serious_injury", "death_or_incapacity", "property_loss"})


@dataclass(frozen=True)
class PersonFacts:
    """What follow-up knows of a beneficiary and the case, from intake's acceptance."""

    is_minor: bool
    poverty_markers: frozenset[str] = field(default_factory=frozenset)
    eligibility_situation: str | None = None
    victim_deceased: bool = False
    urgent_medical_need: bool = False


def initial_needs(facts: PersonFacts) -> dict[str, str]:
    """The services a person probably needs, each with the reason (a code), to be confirmed by staff."""
    needs: dict[str, str] = {}
    markers = facts.poverty_markers
    if facts.is_minor:
        needs["psych_counselling"] = "minor"  # always, for minors
    elif facts.victim_deceased or facts.eligibility_situation in _TRAUMA:
        needs["psych_counselling"] = "case_harm"
    if markers & _FELL_INTO_HARDSHIP:
        needs["minimum_living_guarantee"] = "poverty_marker"
        needs["civil_affairs_aid"] = "poverty_marker"
    elif facts.urgent_medical_need:
        needs["civil_affairs_aid"] = "urgent_medical_need"
    if markers & _POOR:
        needs["poverty_alleviation"] = "poverty_marker"
    if facts.eligibility_situation in _COMPENSATION:
        needs["legal_aid"] = "compensation_claim"
    if facts.is_minor and (markers or facts.victim_deceased):
        needs["education_support"] = "minor_in_hardship"
    if not facts.is_minor and markers & _FELL_INTO_HARDSHIP:
        needs["employment_support"] = "poverty_marker"
    return needs


def assessment_problems(entries: list[dict], *, is_minor: bool) -> dict[str, list[str]]:
    """Why a needs assessment by staff cannot stand: field paths to codes."""
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        service = entry["service"]
        if service in seen:
            problems.setdefault(f"needs.{position}.service", []).append("duplicate_service")
        seen.add(service)
        if (is_minor and service == "psych_counselling" and entry["status"] != NEEDED
                and not entry.get("note")):
            # Counselling for a minor is set aside only with the reason written down.
            problems.setdefault(f"needs.{position}.note", []).append("reason_required")
    if is_minor and "psych_counselling" not in seen:
        problems.setdefault("needs", []).append("counselling_assessment_required")
    return problems


def provides(agency: str, service: str) -> bool:
    return agency in PROVIDERS.get(service, ())


def services_of(agency: str) -> tuple[str, ...]:
    return tuple(service for service, agencies in PROVIDERS.items() if agency in agencies)


def data_needed_by(agency: str) -> frozenset[str]:
    """Every category any service of ``agency`` needs: the most a person may share with it."""
    return frozenset().union(*(DATA_NEEDED[s] for s in services_of(agency))) if services_of(agency) else frozenset()
