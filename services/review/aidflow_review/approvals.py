"""Who must approve a proposed decision (审批), by amount, and the maker-checker rule.

A handler (reviewer) proposes; approval climbs by the total amount awarded:

- up to the chief-approval threshold: the department head (部门负责人);
- from it: the chief procurator, or the procurator's office meeting (检察长办公会);
- above the cap (special approval) the office meeting, and with the superior procuratorate
  (上级检察院) when the aid is joint aid with it.

Thresholds are configuration (:class:`ApprovalPolicy`, ``data/approvals.json``, overridable per
deployment). No one approves their own proposal, and nobody approves twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Mapping

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


class ApprovalPolicyError(ValueError):
    """An approval configuration that cannot be used, named precisely."""


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who approves what, as a deployment configures it.

    ``thresholds`` maps each personal level to the total (fen) from which it must approve; a level
    absent from it is never needed for its amount alone. ``special_approval`` and ``joint_aid``
    add the levels an amount above the cap and a joint aid with the superior procuratorate need;
    ``rejection`` and ``advance`` are the chains of a rejection and of an advance payment
    (先行救助), approved at once. ``advance_max_fen`` bounds an advance (none: the cap only);
    ``per_person_limit_fen`` is a local limit per beneficiary above which special approval is needed.
    """

    thresholds: Mapping[str, int] = field(default_factory=lambda: {"department_head": 0,
                                                                   "chief_procurator": 10_000_00})
    special_approval: tuple[str, ...] = ("department_head", "chief_procurator", "office_meeting")
    joint_aid: tuple[str, ...] = ("department_head", "chief_procurator", "superior_procuratorate")
    rejection: tuple[str, ...] = ("department_head",)
    advance: tuple[str, ...] = ("department_head",)
    advance_max_fen: int | None = None
    per_person_limit_fen: int | None = None

    def __post_init__(self):
        for name in ("special_approval", "joint_aid", "rejection", "advance"):
            levels = getattr(self, name)
            if not levels or any(level not in LEVELS for level in levels):
                raise ApprovalPolicyError(f"{name}: a non-empty list of levels among {', '.join(LEVELS)}")
        for level, from_fen in self.thresholds.items():
            if level not in PERSONAL_LEVELS + ("office_meeting",) or not isinstance(from_fen, int) or from_fen < 0:
                raise ApprovalPolicyError(f"thresholds.{level}: a level and a whole number of fen, at least 0")
        if "department_head" not in self.thresholds:
            raise ApprovalPolicyError("thresholds.department_head: every approval starts with the department head")
        for name in ("advance_max_fen", "per_person_limit_fen"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ApprovalPolicyError(f"{name}: a whole number of fen, at least 1, or null")

    def levels(self, total_fen: int, *, special_approval: bool = False, joint_aid: bool = False,
               rejected: bool = False, advance: bool = False) -> tuple[str, ...]:
        """The approvals a proposal needs, in order, the lowest first."""
        if rejected:
            wanted = set(self.rejection)
        elif advance:
            wanted = set(self.advance)
        else:
            wanted = {level for level, from_fen in self.thresholds.items() if total_fen >= from_fen}
            if special_approval:
                wanted |= set(self.special_approval)
            if joint_aid:
                wanted |= set(self.joint_aid)
        return tuple(level for level in LEVELS if level in wanted)

    @classmethod
    def load(cls, path: str | None = None, overrides: Mapping[str, str] | None = None) -> "ApprovalPolicy":
        """The shipped configuration, or the file at ``path``, then single overrides:
        ``chief_procurator_from_fen``, ``office_meeting_from_fen``, ``advance_max_fen``,
        ``per_person_limit_fen`` (an empty value clears the last two)."""
        if path:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        else:
            data = json.loads(resources.files("aidflow_review").joinpath("data/approvals.json").read_text("utf-8"))
        data = {k: v for k, v in data.items() if not k.startswith("_")}
        thresholds = dict(data.pop("thresholds", {}))
        for key, raw in (overrides or {}).items():
            try:
                value = int(raw) if raw.strip() else None
            except ValueError:
                raise ApprovalPolicyError(f"{key}={raw!r} is not a whole number of fen") from None
            if key.endswith("_from_fen") and key[:-len("_from_fen")] in LEVELS:
                thresholds[key[:-len("_from_fen")]] = value
            elif key in ("advance_max_fen", "per_person_limit_fen"):
                data[key] = value
            else:
                raise ApprovalPolicyError(f"{key} names no approval setting")
        thresholds = {level: v for level, v in thresholds.items() if v is not None}
        try:
            return cls(thresholds=thresholds, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except TypeError as exc:
            raise ApprovalPolicyError(f"approval configuration: {exc}") from None


def required_levels(total_fen: int, *, chief_from_fen: int, special_approval: bool, joint_aid: bool,
                    rejected: bool = False) -> tuple[str, ...]:
    """The approvals a proposal needs, in order, under the default chains and a chief threshold."""
    policy = ApprovalPolicy(thresholds={"department_head": 0, "chief_procurator": chief_from_fen})
    return policy.levels(total_fen, special_approval=special_approval, joint_aid=joint_aid, rejected=rejected)


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
