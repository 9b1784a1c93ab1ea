"""The permission matrix: for every API route of every service, the roles that may call it.

This table is the reference; each view's ``@require(...)`` must say the same, and the access test
calls every route with a token of every role and checks the answer against it (403 for a role
not listed, anything else for one listed). A route that is not here fails that test, so a new
route cannot ship without a decision about who may call it.

``pii`` marks the routes whose answers can carry personal data (names, ID numbers, phone
numbers, bank accounts, contact details). What a listed role sees of it is then the service's
rule (masked for all but the roles that need the clear value, see ``docs/security.md``); in the
audit log, calls of these routes are marked as reads of personal data.

Partner agencies (``partner_agency``) are scoped as well: the services answer them only about
their own agency's referrals and hand-offs.
"""
from __future__ import annotations

from dataclasses import dataclass

from aidflow_shared.auth import ROLES

# Groups of roles that recur, named by what they are for.
PROCURATORATE_READERS = ("intake_clerk", "reviewer", "department_head", "chief_procurator", "auditor",
                         "followup_worker")
INTAKE_WRITERS = ("intake_clerk", "department_head")
LEAD_READERS = ("intake_clerk", "department_head", "chief_procurator", "auditor")
REVIEW_READERS = ("reviewer", "department_head", "chief_procurator", "auditor")
REVIEWER = ("reviewer",)  # the handler (承办人) who proposes; never the one who approves
APPROVERS = ("department_head", "chief_procurator")
FINANCE = ("finance_officer",)
FINANCE_READERS = ("finance_officer", "chief_procurator", "department_head", "auditor")
FOLLOWUP = ("followup_worker",)
FOLLOWUP_READERS = ("followup_worker", "department_head", "chief_procurator", "auditor")
FOLLOWUP_DECIDERS = ("followup_worker", "department_head")
AUDITOR = ("auditor",)
OVERSIGHT = ("auditor", "chief_procurator", "department_head", "ops")  # figures, no personal data


@dataclass(frozen=True)
class Rule:
    roles: tuple[str, ...]
    pii: bool = False


# (service, method, route) -> who may call it. Each service's log export is the auditor's.
MATRIX: dict[tuple[str, str, str], Rule] = {
    # intake
    ("intake", "POST", "/api/v1/referrals"): Rule(INTAKE_WRITERS, pii=True),
    ("intake", "GET", "/api/v1/cases"): Rule(PROCURATORATE_READERS, pii=True),
    ("intake", "GET", "/api/v1/cases/<case_id>"): Rule(PROCURATORATE_READERS, pii=True),
    ("intake", "GET", "/api/v1/cases/<case_id>/documents"): Rule(PROCURATORATE_READERS),
    ("intake", "POST", "/api/v1/cases/<case_id>/documents"): Rule(INTAKE_WRITERS),
    ("intake", "PUT", "/api/v1/cases/<case_id>/eligibility"): Rule(INTAKE_WRITERS),
    ("intake", "POST", "/api/v1/cases/<case_id>/acceptance"): Rule(INTAKE_WRITERS),
    ("intake", "POST", "/api/v1/leads"): Rule(INTAKE_WRITERS, pii=True),
    ("intake", "GET", "/api/v1/leads"): Rule(LEAD_READERS, pii=True),
    ("intake", "GET", "/api/v1/leads/<lead_id>"): Rule(LEAD_READERS, pii=True),
    ("intake", "POST", "/api/v1/leads/<lead_id>/promotion"): Rule(INTAKE_WRITERS, pii=True),
    ("intake", "POST", "/api/v1/leads/<lead_id>/dismissal"): Rule(INTAKE_WRITERS),
    ("intake", "POST", "/api/v1/partner-referrals"): Rule(("partner_agency",)),
    ("intake", "GET", "/api/v1/agencies"): Rule(("intake_clerk", "department_head", "auditor", "ops")),
    ("intake", "PUT", "/api/v1/agencies/<code>"): Rule(("ops",)),
    ("intake", "GET", "/api/v1/reports/summary"): Rule(OVERSIGHT),
    ("intake", "GET", "/api/v1/audit"): Rule(AUDITOR),
    ("intake", "GET", "/api/v1/audit/verification"): Rule(AUDITOR),
    # review
    ("review", "GET", "/api/v1/reviews"): Rule(REVIEW_READERS),
    ("review", "GET", "/api/v1/reviews/<review_id>"): Rule(REVIEW_READERS),
    ("review", "POST", "/api/v1/reviews/<review_id>/proposal"): Rule(REVIEWER),
    ("review", "POST", "/api/v1/reviews/<review_id>/approvals"): Rule(APPROVERS),
    ("review", "POST", "/api/v1/reviews/<review_id>/paperwork"): Rule(REVIEWER),
    ("review", "POST", "/api/v1/reviews/<review_id>/pause"): Rule(REVIEWER),
    ("review", "POST", "/api/v1/reviews/<review_id>/resume"): Rule(REVIEWER),
    ("review", "GET", "/api/v1/advances"): Rule(REVIEW_READERS),
    ("review", "GET", "/api/v1/reports/summary"): Rule(OVERSIGHT),
    ("review", "GET", "/api/v1/audit"): Rule(AUDITOR),
    ("review", "GET", "/api/v1/audit/verification"): Rule(AUDITOR),
    # payout
    ("payout", "POST", "/api/v1/funds"): Rule(FINANCE),
    ("payout", "GET", "/api/v1/funds"): Rule(FINANCE_READERS),
    ("payout", "GET", "/api/v1/funds/<fund_id>"): Rule(FINANCE_READERS),
    ("payout", "POST", "/api/v1/funds/<fund_id>/allocations"): Rule(FINANCE),
    ("payout", "POST", "/api/v1/fund-requests"): Rule(FINANCE),
    ("payout", "GET", "/api/v1/fund-requests"): Rule(FINANCE_READERS),
    ("payout", "GET", "/api/v1/payouts"): Rule(FINANCE_READERS),
    ("payout", "GET", "/api/v1/payouts/<payout_id>"): Rule(FINANCE_READERS),
    ("payout", "POST", "/api/v1/disbursements"): Rule(FINANCE, pii=True),
    ("payout", "POST", "/api/v1/payouts/<payout_id>/cancel"): Rule(FINANCE),
    ("payout", "POST", "/api/v1/payouts/<payout_id>/recoveries"): Rule(FINANCE),
    ("payout", "POST", "/api/v1/payouts/<payout_id>/notifications"): Rule(FINANCE),
    ("payout", "POST", "/api/v1/payouts/<payout_id>/paperwork"): Rule(FINANCE),
    ("payout", "GET", "/api/v1/cases/<case_id>/dossier"): Rule(FINANCE_READERS, pii=True),
    ("payout", "GET", "/api/v1/ledger"): Rule(FINANCE_READERS),
    ("payout", "GET", "/api/v1/reconciliation"): Rule(FINANCE_READERS),
    ("payout", "GET", "/api/v1/reports/summary"): Rule(OVERSIGHT),
    ("payout", "GET", "/api/v1/audit"): Rule(AUDITOR),
    ("payout", "GET", "/api/v1/audit/verification"): Rule(AUDITOR),
    # followup
    ("followup", "GET", "/api/v1/plans"): Rule(FOLLOWUP_READERS),
    ("followup", "GET", "/api/v1/plans/<plan_id>"): Rule(FOLLOWUP_READERS, pii=True),
    ("followup", "POST", "/api/v1/plans/<plan_id>/assessments"): Rule(FOLLOWUP),
    ("followup", "PUT", "/api/v1/plans/<plan_id>/contact"): Rule(FOLLOWUP, pii=True),
    ("followup", "POST", "/api/v1/plans/<plan_id>/consents"): Rule(FOLLOWUP),
    ("followup", "POST", "/api/v1/consents/<consent_id>/withdrawal"): Rule(FOLLOWUP),
    ("followup", "POST", "/api/v1/plans/<plan_id>/handoffs"): Rule(FOLLOWUP),
    ("followup", "POST", "/api/v1/plans/<plan_id>/visits"): Rule(FOLLOWUP),
    ("followup", "POST", "/api/v1/visits/<visit_id>/outcome"): Rule(FOLLOWUP),
    ("followup", "POST", "/api/v1/visits/<visit_id>/cancellation"): Rule(FOLLOWUP),
    ("followup", "POST", "/api/v1/plans/<plan_id>/rereferrals"): Rule(FOLLOWUP),
    ("followup", "GET", "/api/v1/cases/<case_id>"): Rule(FOLLOWUP_READERS),
    ("followup", "POST", "/api/v1/cases/<case_id>/closure"): Rule(FOLLOWUP_DECIDERS),
    ("followup", "POST", "/api/v1/cases/<case_id>/reopening"): Rule(FOLLOWUP_DECIDERS),
    ("followup", "GET", "/api/v1/handoffs"): Rule(FOLLOWUP_READERS + ("partner_agency",)),
    ("followup", "GET", "/api/v1/handoffs/<handoff_id>"): Rule(FOLLOWUP_READERS + ("partner_agency",)),
    ("followup", "POST", "/api/v1/handoffs/<handoff_id>/answers"): Rule(FOLLOWUP + ("partner_agency",)),
    ("followup", "POST", "/api/v1/handoffs/<handoff_id>/withdrawal"): Rule(FOLLOWUP),
    ("followup", "GET", "/api/v1/handoffs/<handoff_id>/contact"): Rule(FOLLOWUP + ("partner_agency",), pii=True),
    ("followup", "GET", "/api/v1/escalations"): Rule(FOLLOWUP_READERS),
    ("followup", "GET", "/api/v1/statistics"): Rule(FOLLOWUP_READERS),
    ("followup", "GET", "/api/v1/contact-reads"): Rule(("department_head", "auditor")),
    ("followup", "GET", "/api/v1/agencies"): Rule(FOLLOWUP_READERS),
    ("followup", "PUT", "/api/v1/agencies/<code>"): Rule(("department_head", "ops")),
    ("followup", "GET", "/api/v1/reports/summary"): Rule(OVERSIGHT),
    ("followup", "GET", "/api/v1/audit"): Rule(AUDITOR),
    ("followup", "GET", "/api/v1/audit/verification"): Rule(AUDITOR),
}


def rule_for(service: str, method: str, route: str) -> Rule | None:
    return MATRIX.get((service, method, route))


def is_pii_route(service: str):
    """For the audit log: does ``method`` ``route`` of ``service`` answer with personal data?"""
    def check(method: str, route: str) -> bool:
        rule = MATRIX.get((service, method, route))
        return rule is not None and rule.pii
    return check


def _check_matrix() -> None:
    unknown = {role for rule in MATRIX.values() for role in rule.roles} - set(ROLES)
    if unknown:
        raise ValueError(f"the permission matrix names unknown roles: {sorted(unknown)}")


_check_matrix()
