"""From a handler's proposal to a decision: reasoning, amounts, approvals (审批).

The handler (reviewer) proposes: the art. 7 situation, each art. 8 exclusion as checked, the
evidence relied on, the outcome and an amount per beneficiary. The amounts are checked against
the cap (36 months of the province's previous-year average wage), the damages a court awarded
and the minors' rule; the approvals needed follow from the total by the configured thresholds,
with special approval above the cap and the superior procuratorate for joint aid. Each level is
approved by someone holding its role who is not the proposer; any level may send the proposal
back instead. When the last level approves, the decision is recorded, the review clock stops
and ``decision.recorded`` is emitted.

The green channel: for an urgent-medical case the handler may propose an advance payment (先行救助)
on the reasoning available at once; its short chain approves it and the money goes out, and the
paperwork (the full reasoning) is completed afterwards and tracked until it is.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from aidflow_review.amounts import WageTable, WageTableError, check_amount
from aidflow_review.approvals import Approval as Signed, ApprovalPolicy, ApprovalRefused, check_approval
from aidflow_review.decisions import DecisionRefused, check_awards, check_open, record_decision
from aidflow_review.eligibility import EXCLUSIONS, SITUATIONS, ReasoningError, assess
from aidflow_review.orm import Approval, Decision, Proposal, Review
from aidflow_shared.calendar import BEIJING
from aidflow_shared.i18n import register_messages
from aidflow_shared.storage import UnitOfWork, new_id

register_messages({
    "proposal_pending": {"zh": "已有待审批的拟办意见。", "en": "A proposal is already waiting for approval."},
    "no_pending_proposal": {"zh": "没有待审批的拟办意见。", "en": "No proposal is waiting for approval."},
    "own_proposal": {"zh": "不能审批本人提出的拟办意见。", "en": "No one approves their own proposal."},
    "approves_twice": {"zh": "同一人不能在两个审批环节签批。", "en": "The same person cannot sign two approval levels."},
    "approval_level_not_held": {"zh": "无权在本审批环节签批。",
                                "en": "You do not hold the role this approval level needs."},
    "already_approved": {"zh": "审批已全部完成。", "en": "Every approval is already given."},
    "not_urgent_medical": {"zh": "仅急需医疗救治的案件可先行救助。",
                           "en": "Only an urgent-medical case may receive an advance payment."},
    "not_eligible_by_reasoning": {"zh": "所录审查意见不支持予以救助。",
                                  "en": "The recorded reasoning does not support aid."},
    "above_cap_needs_special_approval": {"zh": "超出救助金额上限，须经特别审批并说明理由。",
                                         "en": "Above the cap: special approval and a recorded reason are needed."},
    "above_local_limit_needs_special_approval": {"zh": "超出本地每人限额，须经特别审批。",
                                                 "en": "Above the local limit per person: special approval is needed."},
    "minor_above_cap": {"zh": "未成年人超出上限救助，须经特别审批并说明理由。",
                        "en": "A minor above the cap: special approval and a recorded reason are needed."},
    "above_court_damages": {"zh": "救助金额不得超过法院判决的赔偿数额。",
                            "en": "Aid may not exceed the damages the court awarded."},
    "amount_not_positive": {"zh": "金额须大于零。", "en": "The amount must be above zero."},
    "advance_above_cap": {"zh": "先行救助不得超过救助金额上限。", "en": "An advance may not exceed the cap."},
    "advance_above_limit": {"zh": "先行救助超出本地设定的限额。", "en": "The advance is above the configured limit."},
    "exclusion_applies": {"zh": "存在不予救助的情形。", "en": "An exclusion applies."},
    "wage_figure_missing": {"zh": "缺少计算救助上限所需的职工平均工资数据。",
                            "en": "No wage figure to compute the cap from; the wage table needs the year."},
    "reference_required": {"zh": "须填写会议纪要或上级院文号。",
                           "en": "The meeting's minutes or the superior procuratorate's reference is required."},
    "decision_not_an_advance": {"zh": "该决定不是先行救助。", "en": "This decision is not an advance payment."},
    "review_not_running": {"zh": "审查期限未在计算中，不能暂停。", "en": "The review clock is not running."},
    "review_not_paused": {"zh": "审查期限未暂停。", "en": "The review clock is not paused."},
    "paperwork_complete": {"zh": "先行救助手续已补齐。", "en": "This advance's paperwork is already complete."},
})

@dataclass(frozen=True)
class ReviewRules:
    """What review decides by, from configuration: the wage table, the province and series whose
    wages set the cap, and who approves what."""

    wages: WageTable
    province: str
    series: str | None
    approvals: ApprovalPolicy

    @classmethod
    def from_settings(cls, settings) -> "ReviewRules":
        """``AIDFLOW_REVIEW_WAGES_FILE``, ``AIDFLOW_REVIEW_PROVINCE`` (default sichuan),
        ``AIDFLOW_REVIEW_WAGE_SERIES``, ``AIDFLOW_REVIEW_APPROVALS_FILE`` and single approval
        values as ``AIDFLOW_REVIEW_APPROVAL_<NAME>`` (e.g. ``..._CHIEF_PROCURATOR_FROM_FEN``)."""
        extra = dict(settings.extra)
        prefix = "AIDFLOW_REVIEW_APPROVAL_"
        overrides = {k[len(prefix):].lower(): v for k, v in extra.items() if k.startswith(prefix)}
        return cls(wages=WageTable.load(extra.get("AIDFLOW_REVIEW_WAGES_FILE") or None),
                   province=extra.get("AIDFLOW_REVIEW_PROVINCE") or "sichuan",
                   series=extra.get("AIDFLOW_REVIEW_WAGE_SERIES") or None,
                   approvals=ApprovalPolicy.load(extra.get("AIDFLOW_REVIEW_APPROVALS_FILE") or None, overrides))


def pending_proposal(review: Review) -> Proposal | None:
    return next((p for p in review.proposals if p.status == "pending"), None)


def propose(uow: UnitOfWork, review: Review, body: dict, *, proposer: str, rules: ReviewRules,
            now: datetime) -> Proposal:
    """Record the handler's proposal, its amounts checked and its approval chain set."""
    check_open(review)
    if pending_proposal(review) is not None:
        raise DecisionRefused("proposal_pending", status=409)
    advance = body.get("advance", False)
    urgent = review.track == "urgent_medical" or any(b.urgent_medical_need for b in review.beneficiaries)
    if advance and not urgent:
        raise DecisionRefused("not_urgent_medical", status=409)
    if advance and body["outcome"] != "approved":
        raise DecisionRefused("validation_failed", {"outcome": ["one_of"]})
    reasoning = body["eligibility"]
    _check_reasoning(body, reasoning, advance)
    check_awards(review, body)
    awards, cap, special = _check_amounts(review, body, rules, now, advance)
    if special and not (body.get("explanation") or "").strip():
        raise DecisionRefused("validation_failed", {"explanation": ["required"]})
    joint = body.get("joint_aid", False)
    if joint and not (body.get("joint_aid_with") or "").strip():
        raise DecisionRefused("validation_failed", {"joint_aid_with": ["required"]})
    total = sum(a["amount_fen"] for a in awards)
    levels = rules.approvals.levels(total, special_approval=special, joint_aid=joint,
                                    rejected=body["outcome"] == "rejected", advance=advance)
    proposal = Proposal(
        id=new_id(), review_id=review.id, status="pending", outcome=body["outcome"], advance=advance,
        situation=reasoning.get("situation"), exclusions=reasoning.get("exclusions") or {},
        evidence=reasoning.get("evidence") or [], reason_code=body.get("reason_code"),
        explanation=body.get("explanation"), awards=awards, total_fen=total, cap=cap, special_approval=special,
        joint_aid=joint, joint_aid_with=body.get("joint_aid_with") if joint else None, required_levels=list(levels),
        proposed_by=proposer, proposed_at=now, approvals=[])  # none yet: the answer needs no load to know it
    review.proposals.append(proposal)
    uow.session.add(proposal)
    return proposal


def _check_reasoning(body: dict, reasoning: dict, advance: bool) -> None:
    """The recorded reasoning must hold together and agree with the proposed outcome."""
    situation, exclusions = reasoning.get("situation"), reasoning.get("exclusions") or {}
    if body["outcome"] == "rejected" and body.get("reason_code") == "withdrawn":
        # The applicant withdrew: nothing to assess, the reasoning recorded is what there was.
        if not (body.get("explanation") or "").strip():
            raise DecisionRefused("validation_failed", {"explanation": ["required"]})
        return
    if advance:
        # Paid first, paperwork after: the situation now, the exclusions known so far.
        errors = {}
        if situation not in SITUATIONS:
            errors["eligibility.situation"] = ["required" if situation is None else "one_of"]
        for code, applies in exclusions.items():
            if code not in EXCLUSIONS:
                errors[f"eligibility.exclusions.{code}"] = ["unknown_field"]
            elif applies:
                errors[f"eligibility.exclusions.{code}"] = ["exclusion_applies"]
        if errors:
            raise DecisionRefused("validation_failed", errors)
        return
    try:
        finding = assess(situation, exclusions, reasoning.get("evidence") or [], body.get("explanation"))
    except ReasoningError as error:
        fields = {k if k == "explanation" else f"eligibility.{k}": v for k, v in error.fields.items()}
        raise DecisionRefused("validation_failed", fields) from None
    if body["outcome"] == "approved" and not finding.eligible:
        raise DecisionRefused("validation_failed", {"outcome": ["not_eligible_by_reasoning"]})
    if body["outcome"] == "rejected":
        if not body.get("reason_code"):
            if finding.reason_code is None:
                raise DecisionRefused("validation_failed", {"reason_code": ["required"]})
            body["reason_code"] = finding.reason_code
        if not (body.get("explanation") or "").strip():  # what the applicant is told, and why
            raise DecisionRefused("validation_failed", {"explanation": ["required"]})


def _check_amounts(review: Review, body: dict, rules: ReviewRules, now: datetime, advance: bool):
    """Each award against the cap and the court's damages: the awards with their verdicts, the cap
    as recorded, and whether special approval is needed."""
    requested = body.get("awards") or []
    if not requested:
        return [], None, False
    try:
        cap = rules.wages.cap(rules.province, now.astimezone(BEIJING).year, rules.series)
    except WageTableError:
        raise DecisionRefused("wage_figure_missing", status=409) from None
    minors = {b.beneficiary_id: b.is_minor for b in review.beneficiaries}
    limit = rules.approvals.per_person_limit_fen
    awards, errors, special = [], {}, False
    for i, award in enumerate(requested):
        verdict = check_amount(award["amount_fen"], cap, is_minor=minors[award["beneficiary_id"]],
                               court_damages_fen=award.get("court_damages_fen"), per_person_limit_fen=limit)
        if not verdict.allowed:
            errors[f"awards.{i}.amount_fen"] = [verdict.reason]
        elif advance and verdict.special_approval:
            errors[f"awards.{i}.amount_fen"] = ["advance_above_cap"]
        elif advance and rules.approvals.advance_max_fen and award["amount_fen"] > rules.approvals.advance_max_fen:
            errors[f"awards.{i}.amount_fen"] = ["advance_above_limit"]
        special = special or verdict.special_approval
        awards.append({"beneficiary_id": award["beneficiary_id"], "amount_fen": award["amount_fen"],
                       "court_damages_fen": award.get("court_damages_fen"), "check": verdict.reason})
    if errors:
        raise DecisionRefused("validation_failed", errors)
    return awards, asdict(cap), special


def approve(uow: UnitOfWork, review: Review, body: dict, *, approver: str, roles, now: datetime) -> Decision | None:
    """One level's verdict on the pending proposal; the decision once the last level approved."""
    proposal = pending_proposal(review)
    if proposal is None:
        raise DecisionRefused("no_pending_proposal", status=409)
    done = [Signed(a.level, a.approver) for a in proposal.approvals if a.verdict == "approved"]
    try:
        level = check_approval(required=tuple(proposal.required_levels), done=done, proposer=proposal.proposed_by,
                               approver=approver, approver_roles=roles)
    except ApprovalRefused as refused:
        raise DecisionRefused(refused.code, status=409 if refused.code == "already_approved" else 403) from None
    reference = (body.get("reference") or "").strip() or None
    if body["verdict"] == "approved" and level in ("office_meeting", "superior_procuratorate") and not reference:
        raise DecisionRefused("validation_failed", {"reference": ["reference_required"]})
    if body["verdict"] == "returned" and not (body.get("note") or "").strip():
        raise DecisionRefused("validation_failed", {"note": ["required"]})
    signed = Approval(id=new_id(), proposal_id=proposal.id, level=level, verdict=body["verdict"], approver=approver,
                      note=body.get("note"), reference=reference, at=now)
    proposal.approvals.append(signed)
    uow.session.add(signed)
    if body["verdict"] == "returned":  # back to the handler, who may propose again
        proposal.status, proposal.closed_at = "returned", now
        return None
    if len(done) + 1 < len(proposal.required_levels):
        return None
    proposal.status, proposal.closed_at = "approved", now
    return record_decision(uow, review, proposal, decided_by=approver, now=now)


def complete_paperwork(review: Review, body: dict, *, actor: str, now: datetime) -> Decision:
    """The advance's paperwork (后补手续): the full reasoning, the evidence, and what it found."""
    decision = review.decision
    if decision is None or not decision.advance:
        raise DecisionRefused("decision_not_an_advance", status=409)
    if decision.paperwork_completed_at is not None:
        raise DecisionRefused("paperwork_complete", status=409)
    reasoning = body["eligibility"]
    try:
        finding = assess(reasoning.get("situation"), reasoning.get("exclusions") or {},
                         reasoning.get("evidence") or [], body.get("explanation"))
    except ReasoningError as error:
        fields = {k if k == "explanation" else f"eligibility.{k}": v for k, v in error.fields.items()}
        raise DecisionRefused("validation_failed", fields) from None
    decision.paperwork = {"situation": finding.situation, "exclusions": reasoning.get("exclusions"),
                          "evidence": reasoning.get("evidence"), "explanation": body.get("explanation"),
                          "eligible": finding.eligible, "reason_code": finding.reason_code}
    decision.paperwork_completed_at, decision.paperwork_completed_by = now, actor
    return decision
