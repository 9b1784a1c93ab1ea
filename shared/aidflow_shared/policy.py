"""Policy profiles: the deadlines and schedules a deployment works to, as configuration.

Two profiles ship in ``data/policies.json``: ``seed-county`` (the default: the seed county's
stricter green channel) and ``national`` (the national baseline). A deployment picks one with
``AIDFLOW_POLICY``, may point ``AIDFLOW_POLICY_FILE`` at its own file of profiles, and may
override single values with ``AIDFLOW_POLICY_<NAME>`` (e.g. ``AIDFLOW_POLICY_REVIEW_WORKING_DAYS=7``).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from importlib import resources
from typing import Mapping

POLICY_ENV = "AIDFLOW_POLICY"
POLICY_FILE_ENV = "AIDFLOW_POLICY_FILE"
DEFAULT_PROFILE = "seed-county"


class PolicyError(ValueError):
    """A profile or an override that cannot be used, named precisely."""


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    transfer_working_days: int
    review_working_days: int
    urgent_review_working_days: int
    payout_calendar_days: int
    notify_after_funds_working_days: int
    handoff_ack_working_days: int
    visit_months: tuple[int, ...]
    visit_grace_working_days: int
    # A running clock is "warning" from the start of its last ``warning_days`` days, "critical"
    # from the start of its last ``critical_days``, "breached" once its deadline has passed.
    warning_days: int
    critical_days: int

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_days") and (not isinstance(value, int) or value < 1):
                raise PolicyError(f"{self.name}: {f.name} must be a whole number of days, at least 1")
        if not self.visit_months or any(m < 1 for m in self.visit_months):
            raise PolicyError(f"{self.name}: visit_months must be months after payout, each at least 1")
        if self.critical_days > self.warning_days:
            raise PolicyError(f"{self.name}: critical_days cannot exceed warning_days")

    def allowance(self, stage: str, track: str = "standard") -> tuple[int, str]:
        """The allowance of a clock of ``stage``: (days, "working" or "calendar")."""
        if stage == "review":
            return (self.urgent_review_working_days if track == "urgent_medical" else self.review_working_days), "working"
        if stage == "payout":
            return self.payout_calendar_days, "calendar"
        days = {"transfer": self.transfer_working_days, "handoff": self.handoff_ack_working_days,
                "visit": self.visit_grace_working_days, "notification": self.notify_after_funds_working_days}
        if stage not in days:
            raise PolicyError(f"no deadline is defined for stage {stage!r}")
        return days[stage], "working"


def load_profiles(path: str | None = None) -> dict[str, dict]:
    if path:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    return json.loads(resources.files("aidflow_shared").joinpath("data/policies.json").read_text("utf-8"))


def load_policy(environ: Mapping[str, str] | None = None) -> Policy:
    environ = os.environ if environ is None else environ
    name = environ.get(POLICY_ENV) or DEFAULT_PROFILE
    profiles = load_profiles(environ.get(POLICY_FILE_ENV) or None)
    if name not in profiles:
        raise PolicyError(f"{POLICY_ENV}={name!r} is not a profile; choose one of {', '.join(sorted(profiles))}")
    values = dict(profiles[name], name=name)
    values.setdefault("description", "")
    fields = {f.name: f for f in dataclasses.fields(Policy)}
    for key, raw in environ.items():
        if not key.startswith("AIDFLOW_POLICY_") or key == POLICY_FILE_ENV:
            continue
        field = key[len("AIDFLOW_POLICY_"):].lower()
        if field not in fields or field in ("name", "description"):
            raise PolicyError(f"{key} names no policy setting")
        try:
            values[field] = [int(v) for v in raw.split(",")] if field == "visit_months" else int(raw)
        except ValueError:
            raise PolicyError(f"{key}={raw!r} is not a whole number") from None
    unknown = set(values) - set(fields)
    if unknown:
        raise PolicyError(f"profile {name!r} has unknown settings: {', '.join(sorted(unknown))}")
    values["visit_months"] = tuple(values.get("visit_months", ()))
    try:
        return Policy(**values)
    except TypeError as exc:
        raise PolicyError(f"profile {name!r} is incomplete: {exc}") from None
