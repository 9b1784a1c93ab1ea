"""Wires follow-up once per runtime: its settings, clocks, policy, the contact vault, its metrics.

Handlers receive only ``(event, uow)``; they find the rest of their runtime here by the
database they write to (one runtime, one database).

Metrics (labels are bounded sets, never a case, a person or an agency's message):
``aidflow_followup_escalations_total{stage}``, ``aidflow_followup_handoff_answers_total{status,result}``
and ``aidflow_followup_contact_reads_total{granted}``.
"""
from __future__ import annotations

from datetime import datetime
from weakref import WeakKeyDictionary

from prometheus_client import Counter

from aidflow_followup.contacts import load_vault
from aidflow_followup.settings import FollowupSettings
from aidflow_shared.calendar import BEIJING
from aidflow_shared.storage import Database
from aidflow_shared.vault import Vault


class FollowUp:
    """What follow-up's handlers, views and worker share within one runtime."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.db: Database = runtime.db
        self.settings = FollowupSettings.from_settings(runtime.settings)
        self.clocks = runtime.clocks
        self.policy = runtime.policy
        self.calendar = runtime.calendar
        registry = runtime.metrics.registry
        self.escalations = Counter("aidflow_followup_escalations_total",
                                   "Deadlines passed and escalated, by stage.", ["stage"], registry=registry)
        self.answers = Counter("aidflow_followup_handoff_answers_total",
                               "Agencies' answers to hand-offs, by status and result.", ["status", "result"],
                               registry=registry)
        self.contact_reads = Counter("aidflow_followup_contact_reads_total",
                                     "Reads of contact details through hand-offs.", ["granted"], registry=registry)
        self._vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        """The contact vault, opened on first use: no key, no contact details, but the rest runs."""
        if self._vault is None:
            self._vault = load_vault(self.runtime.settings.extra, self.db.url, self.runtime.settings.data_dir)
        return self._vault

    def unit_of_work(self, correlation_id: str | None = None):
        return self.runtime.unit_of_work(correlation_id)

    @staticmethod
    def today(now: datetime):
        """The day in Beijing, where schedules and visits are counted."""
        return now.astimezone(BEIJING).date()


_BY_DATABASE: "WeakKeyDictionary[Database, FollowUp]" = WeakKeyDictionary()


def wire(runtime) -> FollowUp:
    followup = FollowUp(runtime)
    _BY_DATABASE[runtime.db] = followup
    return followup


def context(db: Database) -> FollowUp:
    return _BY_DATABASE[db]
