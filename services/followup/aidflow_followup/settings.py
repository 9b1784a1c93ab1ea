"""Follow-up's own settings, beside the shared ones, from ``AIDFLOW_FOLLOWUP_*`` variables.

- ``AIDFLOW_FOLLOWUP_CONTACT_KEY``: 32 random bytes, base64: the key that seals the contact
  details staff record for hand-offs and visits. Without it an embedded (SQLite) deployment keeps
  a development key in its data directory; any other refuses to store contact details.
- ``AIDFLOW_FOLLOWUP_REASSESS_MONTHS`` (default 6): rolling management (滚动管理): a plan's needs are
  re-assessed this many months after the last assessment, and at once after a return to hardship.
- ``AIDFLOW_FOLLOWUP_SWEEP_INTERVAL`` (seconds, default 60): how often a worker starts the clocks of
  visits that fell due and escalates hand-offs and visits past their deadline.

The deadlines themselves are policy (``handoff_ack_working_days``, ``visit_months``,
``visit_grace_working_days``; see :mod:`aidflow_shared.policy`).
"""
from __future__ import annotations

from dataclasses import dataclass

from aidflow_shared.settings import Settings

CONTACT_KEY_VARIABLE = "AIDFLOW_FOLLOWUP_CONTACT_KEY"


@dataclass(frozen=True)
class FollowupSettings:
    reassess_months: int = 6
    sweep_interval: float = 60.0

    def __post_init__(self):
        if self.reassess_months < 1:
            raise ValueError("AIDFLOW_FOLLOWUP_REASSESS_MONTHS must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> "FollowupSettings":
        extra = settings.extra
        return cls(reassess_months=int(extra.get("AIDFLOW_FOLLOWUP_REASSESS_MONTHS") or 6),
                   sweep_interval=float(extra.get("AIDFLOW_FOLLOWUP_SWEEP_INTERVAL") or 60))
