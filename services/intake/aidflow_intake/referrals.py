"""What makes a referral acceptable as a case, beyond the shape of its fields.

Pure rules over a loaded referral (a dict as the schemas produce it), returning field errors as
codes, so the HTTP API, the partner command and lead promotion refuse the same things the same
way. Each source brings its own required fields (:data:`SOURCE_FIELDS`); a field that belongs
to another source is refused rather than silently ignored.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from aidflow_intake import identity
from aidflow_shared.contracts.intake import DIRECT_RELATIONSHIPS

# What each source must say about where the case came from (its provenance, kept on the case).
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "ex_officio": ("stage", "criminal_case_ref"),  # found by staff at a stage of criminal work
    "partner_transfer": ("source_agency", "partner_reference"),  # 移送 from a partner agency
    "application": ("application",),  # by the person or an agent, written or oral
    "lead": (),  # a verified lead: its channel and verification are on the lead itself
}
# Fields that belong to exactly one source.
OWN_FIELDS = {"stage": "ex_officio", "source_agency": "partner_transfer", "partner_reference": "partner_transfer",
              "application": "application"}
# No ledger of this kind predates the national rules; an earlier date is a typing error.
EARLIEST_RECORD = datetime(2000, 1, 1, tzinfo=timezone.utc)

Errors = dict[str, list[str]]


def source_problems(referral: dict) -> Errors:
    """Required and foreign fields for the referral's source."""
    errors: Errors = defaultdict(list)
    source = referral.get("source")
    if source not in SOURCE_FIELDS:
        return {}  # the schema already said "one_of"
    for name in SOURCE_FIELDS[source]:
        if referral.get(name) in (None, ""):
            errors[name].append("required")
    for name, owner in OWN_FIELDS.items():
        if owner != source and referral.get(name) is not None:
            errors[name].append("not_allowed_for_source")
    return dict(errors)


def content_problems(referral: dict, *, now: datetime) -> Errors:
    """The rules every referral meets, whatever its source."""
    errors: Errors = defaultdict(list)
    if referral.get("eligibility_situation") == "other" and not referral.get("situation_reason"):
        errors["situation_reason"].append("required")  # art. 7 (7): the catch-all needs its reason
    people = referral.get("beneficiaries") or []
    _people_problems(people, bool(referral.get("victim_deceased")), errors)
    _document_problems(referral.get("documents") or [], len(people), errors)
    _date_problems(referral, now, errors)
    return dict(errors)


def _people_problems(people: list[dict], victim_deceased: bool, errors: Errors) -> None:
    seen: set[tuple[str, str]] = set()
    direct = 0
    for position, person in enumerate(people):
        key = (person.get("id_type"), identity.normalise(person.get("id_number") or ""))
        if key in seen:
            errors[f"beneficiaries.{position}.id_number"].append("duplicate")
        seen.add(key)
        if person.get("relationship") in DIRECT_RELATIONSHIPS:
            if victim_deceased:
                # The close relatives of a deceased victim apply jointly as one case (art. 7 (3)).
                errors[f"beneficiaries.{position}.relationship"].append("relative_required")
            elif direct:
                # Several people harmed directly in one criminal case are separate cases, linked.
                errors[f"beneficiaries.{position}.relationship"].append("one_direct_person_per_case")
            direct += 1


def _document_problems(documents: list[dict], people: int, errors: Errors) -> None:
    for position, document in enumerate(documents):
        owner = document.get("beneficiary")
        if owner is not None and not 0 <= owner < people:
            errors[f"documents.{position}.beneficiary"].append("unknown_beneficiary")
        elif owner is None and document.get("kind") == "identity":
            errors[f"documents.{position}.beneficiary"].append("required")


def _date_problems(referral: dict, now: datetime, errors: Errors) -> None:
    received, accepted = referral.get("received_at"), referral.get("accepted_at")
    for name, moment in (("received_at", received), ("accepted_at", accepted)):
        if moment is None:
            continue
        if moment > now:
            errors[name].append("in_future")
        elif moment < EARLIEST_RECORD:
            errors[name].append("range")
    if accepted is not None and accepted < (received or now) and not errors.get("accepted_at"):
        errors["accepted_at"].append("accepted_before_received")
    if referral.get("override_reason") and not (referral.get("accept") or accepted):
        errors["override_reason"].append("must_be_empty")  # there is no acceptance to justify


def acceptance_date_problems(accepted_at: datetime, received_at: datetime, now: datetime) -> list[str]:
    """Why an acceptance date given later, on a registered case, cannot stand."""
    if accepted_at > now:
        return ["in_future"]
    if accepted_at < received_at:
        return ["accepted_before_received"]
    return []
