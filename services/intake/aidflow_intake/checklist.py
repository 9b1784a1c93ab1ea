"""The documents a case needs before it can be accepted (受理), by source and eligible situation.

The rules are one table, :data:`REQUIREMENTS`: each row says when it applies (a tag computed
from the case's facts), what it requires, which document kinds satisfy it, and whether once per
case, per beneficiary or per relative beneficiary. Changing what a county asks for is editing a
row. Missing documents never block silently: the case waits as ``registered`` with its missing
items listed, until they arrive or staff accept it recording why (先行救助，后补手续).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from aidflow_shared.contracts.intake import RELATIVE_RELATIONSHIPS

HARM_PROOFS = ("injury_appraisal", "medical_bills", "death_certificate", "loss_evidence", "retaliation_evidence")


@dataclass(frozen=True)
class Requirement:
    when: str  # a tag from case_tags(): "always", "source:lead", "situation:civil_tort" ...
    code: str  # what is required, as reported to clients
    any_of: tuple[str, ...]  # document kinds, any one of which satisfies it
    per: str = "case"  # "case", "beneficiary" (each one) or "relative" (each relative beneficiary)


REQUIREMENTS: tuple[Requirement, ...] = (
    # Every case: who the people are, that they are in hardship, what they already received.
    Requirement("always", "identity", ("identity",), per="beneficiary"),
    Requirement("always", "hardship_proof", ("hardship_proof",)),
    Requirement("always", "compensation_statement", ("compensation_statement",)),
    # How the case arrived.
    Requirement("source:partner_transfer", "transfer_letter", ("transfer_letter",)),
    Requirement("source:lead", "verification_record", ("verification_record",)),
    Requirement("application:written", "application", ("application",)),
    Requirement("application:oral", "oral_application_record", ("oral_application_record",)),
    Requirement("agent:entrusted", "power_of_attorney", ("power_of_attorney",)),
    Requirement("agent:guardian", "guardianship_proof", ("relationship_proof",)),
    # Proof of harm, by eligible situation (art. 7); any proof of harm while it is not known yet.
    Requirement("situation:unknown", "proof_of_harm", HARM_PROOFS),
    Requirement("situation:serious_injury", "injury_appraisal", ("injury_appraisal",)),
    Requirement("situation:urgent_treatment", "medical_bills", ("medical_bills",)),
    Requirement("situation:death", "death_certificate", ("death_certificate",)),
    Requirement("situation:incapacity", "injury_appraisal", ("injury_appraisal",)),
    Requirement("situation:property_loss", "loss_evidence", ("loss_evidence",)),
    Requirement("situation:retaliation", "retaliation_evidence", ("retaliation_evidence",)),
    Requirement("situation:civil_tort", "proof_of_harm", ("injury_appraisal", "medical_bills")),
    Requirement("situation:civil_tort", "no_compensation_proof", ("no_compensation_proof",)),
    # Close relatives prove the relationship, each of them.
    Requirement("always", "relationship_proof", ("relationship_proof",), per="relative"),
)


@dataclass(frozen=True)
class CaseFacts:
    """What the checklist depends on; beneficiaries are (beneficiary id, relationship) in order."""

    source: str
    beneficiaries: tuple[tuple[str, str], ...]
    situation: str | None = None
    victim_deceased: bool = False
    application_form: str | None = None  # "written" or "oral", for applications
    agent_kind: str | None = None  # "entrusted" or "guardian", when an agent applies


@dataclass(frozen=True)
class Item:
    requirement: str
    any_of: tuple[str, ...]
    beneficiary_id: str | None
    position: int | None  # the beneficiary's position, for field paths
    present: bool

    @property
    def path(self) -> str:
        return f"checklist.{self.requirement}" + ("" if self.position is None else f".{self.position}")


@dataclass(frozen=True)
class Checklist:
    items: tuple[Item, ...]

    @property
    def complete(self) -> bool:
        return all(item.present for item in self.items)

    @property
    def missing(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if not item.present)


def referral_facts(referral: dict) -> CaseFacts:
    """The facts of a referral not yet registered; its beneficiaries go by position ("0", "1" ...)."""
    people = [p for p in referral.get("beneficiaries") or () if isinstance(p, dict)]
    application = referral.get("application") if isinstance(referral.get("application"), dict) else {}
    agent = application.get("agent") if isinstance(application.get("agent"), dict) else {}
    return CaseFacts(
        source=referral.get("source", "lead"),
        beneficiaries=tuple((str(i), p.get("relationship", "victim")) for i, p in enumerate(people)),
        situation=referral.get("eligibility_situation"), victim_deceased=bool(referral.get("victim_deceased")),
        application_form=application.get("form"), agent_kind=agent.get("kind"))


def case_tags(facts: CaseFacts) -> set[str]:
    tags = {"always", f"source:{facts.source}"}
    if facts.application_form:
        tags.add(f"application:{facts.application_form}")
    if facts.agent_kind:
        tags.add(f"agent:{facts.agent_kind}")
    if facts.situation == "death_or_incapacity":
        tags.add("situation:death" if facts.victim_deceased else "situation:incapacity")
    else:
        tags.add(f"situation:{facts.situation or 'unknown'}")
    return tags


def evaluate(facts: CaseFacts, documents: Iterable[tuple[str, str | None]]) -> Checklist:
    """The checklist of a case given the documents received, as (kind, beneficiary id or None).

    A per-beneficiary requirement needs a document naming that beneficiary; a per-case one is
    met by any document of a fitting kind.
    """
    received = list(documents)
    tags = case_tags(facts)
    items = []
    for requirement in REQUIREMENTS:
        if requirement.when not in tags:
            continue
        if requirement.per == "case":
            present = any(kind in requirement.any_of for kind, _ in received)
            items.append(Item(requirement.code, requirement.any_of, None, None, present))
            continue
        for position, (beneficiary_id, relationship) in enumerate(facts.beneficiaries):
            if requirement.per == "relative" and relationship not in RELATIVE_RELATIONSHIPS:
                continue
            present = any(kind in requirement.any_of and owner == beneficiary_id for kind, owner in received)
            items.append(Item(requirement.code, requirement.any_of, beneficiary_id, position, present))
    return Checklist(tuple(items))


def complete_file(referral: dict) -> list[dict]:
    """The documents of a complete paper file for ``referral``: one of a fitting kind for each
    item its checklist asks, as a referral lists them (``kind``, ``beneficiary`` position)."""
    return [{"kind": item.any_of[0], "beneficiary": item.position}
            for item in evaluate(referral_facts(referral), []).items]
