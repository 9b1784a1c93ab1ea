"""Who must approve a proposed decision (审批), by amount, and the maker-checker rule.

A handler (reviewer) proposes; approval climbs by the total amount awarded:

- up to the chief-approval threshold: the department head (部门负责人);
- from it: the chief procurator, or the procurator's office meeting (检察长办公会);
- above the cap (special approval) the office meeting, and with the superior procuratorate
  (上级检察院) when the aid is joint aid with it.

Thresholds are policy settings. No one approves their own proposal, and nobody approves twice.
"""
from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("department_head", "chief_procurator", "office_meeting", "superior_procuratorate")
PERSONAL_LEVELS = ("department_head", "chief_procurator")
ROLE_FOR_LEVEL = {
    "department_head": ("department_head", "chief_procurator"),
    "chief_procurator": ("chief_procurator",),
    "office_meeting": ("chief_procurator",),  # recorded by the chief procurator for the meeting
    "superior_procuratorate": ("chief_procurator",),  # the superior's approval, recorded with its reference
}


class ApprovalRefused(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Approval:
    level: str
    approver: str


def required_levels(total_fen: int, *, chief_from_fen: int, special_approval: bool, joint_aid: bool,
                    rejected: bool = False) -> tuple[str, ...]:
    """The approvals a proposal needs, in order."""
    if rejected:
        return ("department_head",)
    levels = ["department_head"]
    if total_fen >= chief_from_fen or special_approval or joint_aid:
        levels.append("chief_procurator")
    if special_approval:
        levels.append("office_meeting")
    if joint_aid:
        levels.append("superior_procuratorate")
    return tuple(levels)


def next_level(required: tuple[str, ...], done: list[Approval]) -> str | None:
    given = {a.level for a in done}
    return next((level for level in required if level not in given), None)


def check_approval(*, required: tuple[str, ...], done: list[Approval], proposer: str, approver: str,
                   approver_roles: frozenset[str] | set[str]) -> str:
    """The level ``approver`` may now approve at; raises ApprovalRefused with a code otherwise."""
    level = next_level(required, done)
    if level is None:
        raise ApprovalRefused("already_approved")
    if approver == proposer:
        raise ApprovalRefused("own_proposal")
    # Two personal signatures are two people. The office meeting and the superior procuratorate
    # are collective or outside decisions, recorded by the chief procurator with their reference.
    if level in PERSONAL_LEVELS and any(a.approver == approver and a.level in PERSONAL_LEVELS for a in done):
        raise ApprovalRefused("approves_twice")
    if not set(ROLE_FOR_LEVEL[level]) & set(approver_roles):
        raise ApprovalRefused("approval_level_not_held")
    return level
