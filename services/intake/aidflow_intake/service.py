"""Intake: referrals from every source become cases; intake keeps each case's progress.

Handles: partner.referral.submit (a partner agency's transfer, on aidflow.inbound);
         followup.rereferral.requested (a family back in hardship: a new case, linked);
         review.opened, decision.recorded, payout.disbursed, plan.opened, followup.case.closed,
         followup.case.reopened (case progress); review.deadline.breached (the review is overdue:
         written into the case's history, its status unchanged).
Emits:   intake.case.opened (registered), intake.case.accepted (受理, review starts);
         intake.referral.accepted / intake.referral.rejected (answers to the agency, on aidflow.partners);
         intake.rereferral.answered (to follow-up).
"""
from aidflow_intake import messages  # noqa: F401 - registers intake's error texts
from aidflow_intake.api import cases_blueprint, leads_blueprint, partners_blueprint
from aidflow_intake import reporting
from aidflow_intake.cases import record_progress
from aidflow_intake.orm import Base, Case, CaseHistory
from aidflow_intake.rereferrals import handle_rereferral
from aidflow_intake.transfers import handle_submission
from aidflow_shared.contracts.catalogue import (CASE_ACCEPTED, CASE_OPENED, DECISION_RECORDED, PAYOUT_DISBURSED,
                                                PLAN_OPENED, REFERRAL_ACCEPTED, REFERRAL_REJECTED, REFERRAL_SUBMIT,
                                                REVIEW_OPENED)
from aidflow_shared.contracts.followup import CASE_CLOSED, CASE_REOPENED, REREFERRAL_ANSWERED, REREFERRAL_REQUESTED
from aidflow_shared.contracts.review import REVIEW_DEADLINE_BREACHED
from aidflow_shared.service import Service
from aidflow_shared.storage import utcnow

service = Service("intake", metadata=Base.metadata, migrations="aidflow_intake:migrations",
                  title="aidflow intake",
                  emits=[CASE_OPENED, CASE_ACCEPTED, REFERRAL_ACCEPTED, REFERRAL_REJECTED, REREFERRAL_ANSWERED])


@service.handles(REFERRAL_SUBMIT)
def referral_submitted(event, uow):
    handle_submission(uow, event)


@service.handles(REVIEW_OPENED)
def review_opened(event, uow):
    record_progress(uow, event.data["case_id"], "under_review", event.type)


@service.handles(DECISION_RECORDED)
def decision_recorded(event, uow):
    record_progress(uow, event.data["case_id"], event.data["outcome"], event.type,
                    note=event.data.get("reason_code"))


@service.handles(REVIEW_DEADLINE_BREACHED)
def review_deadline_breached(event, uow):
    # Staff see the overdue review on the case; the case's status stays where it is.
    if uow.session.get(Case, event.data["case_id"]) is None:
        raise LookupError(f"case {event.data['case_id']} unknown to intake")
    uow.session.add(CaseHistory(case_id=event.data["case_id"], status="review_overdue", event_type=event.type,
                                note=f"review due {event.data['due_at']}", at=utcnow()))


@service.handles(PAYOUT_DISBURSED)
def payout_disbursed(event, uow):
    record_progress(uow, event.data["case_id"], "paid", event.type)


@service.handles(PLAN_OPENED)
def plan_opened(event, uow):
    record_progress(uow, event.data["case_id"], "in_followup", event.type)


@service.handles(CASE_CLOSED)
def case_closed(event, uow):
    record_progress(uow, event.data["case_id"], "closed", event.type, note=event.data.get("reason"))


@service.handles(CASE_REOPENED)
def case_reopened(event, uow):
    record_progress(uow, event.data["case_id"], "reopened", event.type, note=event.data.get("reason"))


@service.handles(REREFERRAL_REQUESTED)
def rereferral_requested(event, uow):
    handle_rereferral(uow, event)


@service.api
def blueprints(runtime):
    return [cases_blueprint(runtime), leads_blueprint(runtime), partners_blueprint(runtime),
            reporting.blueprint(runtime)]
