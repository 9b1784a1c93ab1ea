"""Wires payout once per runtime: its settings, the bank, the payee vault, its metrics.

Handlers receive only ``(event, uow)``; they find the rest of their runtime here by the
database they write to (one runtime, one database).
"""
from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from aidflow_payout.bank import PaymentAdapter, load_adapter
from aidflow_payout.metrics import PayoutMetrics
from aidflow_payout.payees import load_vault
from aidflow_payout.settings import PayoutSettings
from aidflow_shared.storage import Database
from aidflow_shared.vault import Vault


class Payout:
    """What payout's handlers, views and worker share within one runtime."""

    def __init__(self, runtime, settings: PayoutSettings | None = None, bank: PaymentAdapter | None = None):
        self.runtime = runtime
        self.db: Database = runtime.db
        self.settings = settings or PayoutSettings.from_settings(runtime.settings)
        self.bank = bank or load_adapter(self.settings.bank, sandbox_path=self.settings.sandbox_path,
                                         sandbox_rules=self.settings.sandbox_rules)
        self.clocks = runtime.clocks
        self.calendar = runtime.calendar
        self.metrics = PayoutMetrics(self.db, runtime.metrics.registry)
        self.wakeup = threading.Event()
        self._vault: Vault | None = None

    @property
    def automatic(self) -> bool:
        return self.settings.disbursement == "automatic"

    @property
    def vault(self) -> Vault:
        """The payee vault, opened on first use: a deployment that never stores bank details
        (automatic payment to registered accounts) needs no key."""
        if self._vault is None:
            self._vault = load_vault(self.runtime.settings.extra, self.db.url, self.runtime.settings.data_dir)
        return self._vault

    def unit_of_work(self, correlation_id: str | None = None):
        return self.runtime.unit_of_work(correlation_id)

    def wake(self) -> None:
        """Tell this runtime's worker that instructions are waiting to be sent."""
        self.wakeup.set()


_BY_DATABASE: "WeakKeyDictionary[Database, Payout]" = WeakKeyDictionary()


def wire(runtime) -> Payout:
    payout = Payout(runtime)
    _BY_DATABASE[runtime.db] = payout
    return payout


def context(db: Database) -> Payout:
    return _BY_DATABASE[db]
