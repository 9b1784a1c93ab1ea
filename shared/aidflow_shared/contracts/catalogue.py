"""Every message type of the system, one module per producing service.

Payloads carry identifiers and facts, never names, ID numbers or phone numbers: a person is
referred to by ``person_ref``, an opaque id that only intake can resolve. The one exception is
the partner's transfer command (``referral.submit``), which is how a person's data reaches
intake in the first place; intake's answers to it carry none. Money is integer fen.
A change that would break a published payload is a new version (``.v2``) registered beside the
old one, never an edit of it.
"""
from aidflow_shared.contracts.common import OUTCOMES, SOURCES, TRACKS
from aidflow_shared.contracts.followup import PLAN_OPENED
from aidflow_shared.contracts.intake import (CASE_ACCEPTED, CASE_OPENED, REFERRAL_ACCEPTED, REFERRAL_REJECTED,
                                              REFERRAL_SUBMIT)
from aidflow_shared.contracts.payout import FUND_REQUESTED, PAYOUT_DISBURSED
from aidflow_shared.contracts.review import DECISION_RECORDED, REVIEW_OPENED

__all__ = ["CASE_OPENED", "CASE_ACCEPTED", "REFERRAL_SUBMIT", "REFERRAL_ACCEPTED", "REFERRAL_REJECTED",
           "REVIEW_OPENED", "DECISION_RECORDED", "PAYOUT_DISBURSED", "FUND_REQUESTED",
           "PLAN_OPENED", "OUTCOMES", "SOURCES", "TRACKS"]
