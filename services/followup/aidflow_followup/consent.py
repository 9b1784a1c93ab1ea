"""Consent: what a person agreed to share with which agency, checked before every hand-off.

A consent names one agency and the kinds of data (:data:`DATA_CATEGORIES`) the person agreed it
may have; a new consent for the same agency replaces the old one, and a consent can be withdrawn.
A hand-off needs a consent covering everything its service needs (:data:`needs.DATA_NEEDED`),
and carries that and nothing more.

Minors: consent is given by the guardian, and a minor's data go only to an agency whose
services need them: a consent for a minor may not name a kind of data none of that agency's
services uses.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from aidflow_followup import needs
from aidflow_followup.errors import Refused, conflict, invalid
from aidflow_followup.orm import Consent, PartnerAgency, Plan
from aidflow_shared.contracts.followup import DATA_CATEGORIES

GIVERS = ("person", "guardian")


def consent_problems(agency: str, categories: list[str], given_by: str, *, is_minor: bool) -> dict[str, list[str]]:
    """Why a consent cannot be recorded as given: field paths to codes (pure)."""
    problems: dict[str, list[str]] = {}
    if not needs.services_of(agency):
        problems["agency"] = ["not_a_provider"]
        return problems
    if is_minor and given_by != "guardian":
        problems["given_by"] = ["guardian_consent_required"]
    if is_minor:
        allowed = needs.data_needed_by(agency)
        for position, category in enumerate(categories):
            if category not in allowed:
                problems[f"categories.{position}"] = ["category_not_needed"]
    return problems


def missing_for(service: str, consented: frozenset[str] | set[str]) -> list[str]:
    """The kinds of data ``service`` needs that the consent does not cover, in a stable order (pure)."""
    return [category for category in DATA_CATEGORIES if category in needs.DATA_NEEDED[service] - set(consented)]


def active_consent(session, plan_id: str, agency: str) -> Consent | None:
    return session.scalars(select(Consent).where(Consent.plan_id == plan_id, Consent.agency == agency,
                                                 Consent.withdrawn_at.is_(None))
                           .order_by(Consent.given_at.desc())).first()


def active_agency(session, code: str) -> PartnerAgency | None:
    agency = session.get(PartnerAgency, code)
    return agency if agency is not None and agency.active else None


def record_consent(session, plan: Plan, body: dict, *, is_minor: bool, by: str, now: datetime) -> Consent:
    """Record a consent as given; it replaces the agency's earlier one for this person."""
    if plan.status != "open":
        raise conflict("plan_closed")
    given_at = body.get("given_at") or now
    problems = consent_problems(body["agency"], body["categories"], body["given_by"], is_minor=is_minor)
    if active_agency(session, body["agency"]) is None:
        problems.setdefault("agency", []).append("unknown_partner_agency")
    if given_at > now:
        problems.setdefault("given_at", []).append("date_in_future")
    elif given_at < plan.opened_at:
        problems.setdefault("given_at", []).append("before_plan")
    if problems:
        raise invalid(problems)
    earlier = active_consent(session, plan.id, body["agency"])
    if earlier is not None:
        earlier.withdrawn_at, earlier.withdrawal_reason = now, "superseded"
    consent = Consent(plan_id=plan.id, agency=body["agency"], categories=list(dict.fromkeys(body["categories"])),
                      given_by=body["given_by"], given_at=given_at, recorded_by=by, recorded_at=now)
    session.add(consent)
    plan.consents.append(consent)
    return consent


def withdraw_consent(consent: Consent, reason: str, now: datetime) -> None:
    """The person takes the consent back: no hand-off and no contact read may rely on it from now."""
    if consent.withdrawn_at is not None:
        raise Refused(409, "conflict")
    consent.withdrawn_at, consent.withdrawal_reason = now, reason
