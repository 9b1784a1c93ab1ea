"""Referrals from files: a JSON object or list, or a CSV with one row per person.

CSV columns (UTF-8, header row required; a BOM from spreadsheet programs is fine). Rows with the
same ``partner_reference`` are one referral with several beneficiaries; the referral's own
columns are taken from its first row.

==========================  ==========  ===========================================================
column                      required    value
==========================  ==========  ===========================================================
partner_reference           yes         the agency's own reference, e.g. 扶移〔2026〕12号 (≤ 64)
criminal_case_ref                       the criminal case's reference
summary                                 what happened (≤ 2000)
urgent_medical                          true/false (default false)
eligibility_situation                   serious_injury, urgent_treatment, death_or_incapacity,
                                        property_loss, retaliation, civil_tort, other
situation_reason                        required by intake with ``other``
victim_deceased                         true/false
documents                               document kinds sent with it, separated by ``;``
name                        yes         the beneficiary's name
id_type                                 resident_id (default), passport, hk_macao_permit, ...
id_number                   yes         the ID document's number
birth_date                              YYYY-MM-DD
phone
relationship                            victim (default), informant, witness, expert, spouse,
                                        child, parent, sibling, other_dependant
poverty_markers                         registered_poor_household; impoverished_by_case; ...
urgent_medical_need                     true/false
==========================  ==========  ===========================================================

Only the shape is checked here (required cells, booleans, dates); intake checks everything else
and answers ``referral.rejected`` with a code per field.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

REFERRAL_COLUMNS = ("partner_reference", "criminal_case_ref", "summary", "urgent_medical", "eligibility_situation",
                    "situation_reason", "victim_deceased", "documents")
PERSON_COLUMNS = ("name", "id_type", "id_number", "birth_date", "phone", "relationship", "poverty_markers",
                  "urgent_medical_need")
BOOLEANS = {"true": True, "yes": True, "1": True, "是": True, "false": False, "no": False, "0": False, "否": False}


@dataclass
class Item:
    """One referral read from a file, or the problems that keep it from being sent."""

    label: str  # "item 3" (JSON) or "rows 4-5" (CSV)
    referral: dict | None
    problems: list[str] = field(default_factory=list)

    @property
    def reference(self) -> str | None:
        return (self.referral or {}).get("partner_reference")


def read_referrals(path: Path) -> list[Item]:
    text = path.read_text("utf-8-sig")
    if path.suffix.lower() == ".csv":
        return from_csv(text)
    return from_json(text)


def from_json(text: str) -> list[Item]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        return [Item("file", None, [f"not JSON: {exc}"])]
    documents = document if isinstance(document, list) else [document]
    items = []
    for number, referral in enumerate(documents, 1):
        label = f"item {number}"
        if not isinstance(referral, dict):
            items.append(Item(label, None, ["not a JSON object"]))
            continue
        problems = [] if referral.get("partner_reference") else ["partner_reference: required"]
        if not referral.get("beneficiaries"):
            problems.append("beneficiaries: required")
        items.append(Item(label, referral, problems))
    return items


def from_csv(text: str) -> list[Item]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("partner_reference", "name", "id_number") if c not in (reader.fieldnames or ())]
    if missing:
        return [Item("header", None, [f"missing column {c}" for c in missing])]
    unknown = [c for c in reader.fieldnames if c not in REFERRAL_COLUMNS + PERSON_COLUMNS]
    if unknown:
        return [Item("header", None, [f"unknown column {c}" for c in unknown])]
    groups: dict[str, list[tuple[int, dict]]] = {}
    items: list[Item] = []
    for row_number, row in enumerate(reader, 2):  # row 1 is the header
        reference = (row.get("partner_reference") or "").strip()
        if not reference:
            items.append(Item(f"row {row_number}", None, ["partner_reference: required"]))
            continue
        groups.setdefault(reference, []).append((row_number, row))
    for reference, rows in groups.items():
        numbers = [n for n, _ in rows]
        label = f"row {numbers[0]}" if len(numbers) == 1 else "rows " + ",".join(map(str, numbers))
        problems: list[str] = []
        referral = _referral(rows[0][1], problems)
        referral["beneficiaries"] = [_person(row, n, problems) for n, row in rows]
        items.append(Item(label, referral, problems))
    return items


def _cell(row: dict, name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def _boolean(row: dict, name: str, where: str, problems: list[str]) -> bool | None:
    value = _cell(row, name)
    if value is None:
        return None
    if value.lower() not in BOOLEANS:
        problems.append(f"{where}{name}: expected true or false")
        return None
    return BOOLEANS[value.lower()]


def _listed(row: dict, name: str) -> list[str] | None:
    value = _cell(row, name)
    return None if value is None else [part.strip() for part in value.split(";") if part.strip()]


def _referral(row: dict, problems: list[str]) -> dict:
    referral = {name: _cell(row, name) for name in ("partner_reference", "criminal_case_ref", "summary",
                                                    "eligibility_situation", "situation_reason")}
    for name in ("urgent_medical", "victim_deceased"):
        referral[name] = _boolean(row, name, "", problems)
    kinds = _listed(row, "documents")
    if kinds is not None:
        referral["documents"] = [{"kind": kind} for kind in kinds]
    return {k: v for k, v in referral.items() if v is not None}


def _person(row: dict, row_number: int, problems: list[str]) -> dict:
    where = f"row {row_number}: "
    person = {name: _cell(row, name) for name in ("name", "id_type", "id_number", "birth_date", "phone",
                                                  "relationship")}
    for name in ("name", "id_number"):
        if person[name] is None:
            problems.append(f"{where}{name}: required")
    if person["birth_date"] is not None:
        try:
            date.fromisoformat(person["birth_date"])
        except ValueError:
            problems.append(f"{where}birth_date: expected YYYY-MM-DD")
    person["poverty_markers"] = _listed(row, "poverty_markers")
    person["urgent_medical_need"] = _boolean(row, "urgent_medical_need", where, problems)
    return {k: v for k, v in person.items() if v is not None}
