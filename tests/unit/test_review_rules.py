"""Review's pure rules: eligibility reasoning, the amount cap, and who approves."""
import pytest

from aidflow_review.amounts import WageTable, WageTableError, check_amount
from aidflow_review.approvals import (Approval, ApprovalPolicy, ApprovalPolicyError, ApprovalRefused, check_approval,
                                      required_levels)
from aidflow_review.eligibility import EXCLUSIONS, ReasoningError, assess

NONE_APPLY = {code: False for code in EXCLUSIONS}


def test_the_2021_cap_in_sichuan_rests_on_2020_on_post_wages():
    cap = WageTable.shipped().cap("sichuan", 2021)
    assert cap.cap_fen == 275_784_00 and cap.wage_year == 2020 and not cap.fallback and not cap.derived


def test_a_derived_figure_and_a_missing_year_are_said_so():
    table = WageTable.shipped()
    assert table.cap("sichuan", 2020).derived  # 2019 was derived from 2020's change, not published
    later = table.cap("sichuan", 2027)
    assert later.fallback and later.wage_year == 2021 and later.cap_fen == 100_469 * 3 * 100
    with pytest.raises(WageTableError):
        table.cap("sichuan", 2018)
    with pytest.raises(WageTableError):
        table.cap("tibet", 2021)


@pytest.mark.parametrize("amount, minor, damages, allowed, special, reason", [
    (50_000_00, False, None, True, False, None),
    (275_784_00, False, None, True, False, None),
    (275_784_01, False, None, True, True, "above_cap_needs_special_approval"),
    (300_000_00, True, None, True, True, "minor_above_cap"),
    (60_000_00, False, 50_000_00, False, False, "above_court_damages"),
    (0, False, None, False, False, "amount_not_positive"),
])
def test_amount_rules(amount, minor, damages, allowed, special, reason):
    cap = WageTable.shipped().cap("sichuan", 2021)
    verdict = check_amount(amount, cap, is_minor=minor, court_damages_fen=damages)
    assert (verdict.allowed, verdict.special_approval, verdict.reason) == (allowed, special, reason)


def test_a_local_per_person_limit_needs_special_approval_except_for_minors():
    cap = WageTable.shipped().cap("sichuan", 2021)
    assert check_amount(60_000_00, cap, is_minor=False, per_person_limit_fen=50_000_00).special_approval
    assert not check_amount(60_000_00, cap, is_minor=True, per_person_limit_fen=50_000_00).special_approval


def test_eligible_when_a_situation_applies_and_no_exclusion():
    finding = assess("serious_injury_uncompensated", NONE_APPLY, ["伤情鉴定书"])
    assert finding.eligible and finding.reason_code is None


def test_an_exclusion_rejects_with_its_reason():
    finding = assess("serious_injury_uncompensated", dict(NONE_APPLY, already_compensated=True), ["赔偿协议"])
    assert not finding.eligible and finding.reason_code == "excluded_already_compensated"


def test_incomplete_reasoning_is_refused_field_by_field():
    with pytest.raises(ReasoningError) as exc:
        assess("other_necessary", {"major_fault": False}, [], explanation=" ")
    assert exc.value.fields["exclusions.false_statement"] == ["required"]
    assert exc.value.fields["evidence"] == ["required"] and exc.value.fields["explanation"] == ["required"]


@pytest.mark.parametrize("total, special, joint, levels", [
    (5_000_00, False, False, ("department_head",)),
    (10_000_00, False, False, ("department_head", "chief_procurator")),
    (300_000_00, True, False, ("department_head", "chief_procurator", "office_meeting")),
    (20_000_00, False, True, ("department_head", "chief_procurator", "superior_procuratorate")),
])
def test_required_levels_climb_with_the_amount(total, special, joint, levels):
    assert required_levels(total, chief_from_fen=10_000_00, special_approval=special, joint_aid=joint) == levels


def test_maker_checker():
    required = ("department_head", "chief_procurator")
    with pytest.raises(ApprovalRefused, match="own_proposal"):
        check_approval(required=required, done=[], proposer="li", approver="li", approver_roles={"department_head"})
    with pytest.raises(ApprovalRefused, match="approval_level_not_held"):
        check_approval(required=required, done=[], proposer="li", approver="wang", approver_roles={"reviewer"})
    done = [Approval("department_head", "wang")]
    with pytest.raises(ApprovalRefused, match="approves_twice"):
        check_approval(required=required, done=done, proposer="li", approver="wang",
                       approver_roles={"department_head", "chief_procurator"})
    assert check_approval(required=required, done=done, proposer="li", approver="zhao",
                          approver_roles={"chief_procurator"}) == "chief_procurator"
    with pytest.raises(ApprovalRefused, match="already_approved"):
        check_approval(required=required, done=done + [Approval("chief_procurator", "zhao")], proposer="li",
                       approver="qian", approver_roles={"chief_procurator"})


def test_approval_levels_follow_the_configured_thresholds():
    policy = ApprovalPolicy.load()  # the shipped configuration: the chief from 10,000 yuan
    assert policy.levels(9_999_99) == ("department_head",)
    assert policy.levels(10_000_00) == ("department_head", "chief_procurator")
    assert policy.levels(5_000_00, special_approval=True) == ("department_head", "chief_procurator", "office_meeting")
    assert policy.levels(5_000_00, joint_aid=True) == ("department_head", "chief_procurator",
                                                       "superior_procuratorate")
    assert policy.levels(500_000_00, rejected=True) == ("department_head",)
    assert policy.levels(500_000_00, advance=True) == ("department_head",)
    local = ApprovalPolicy.load(overrides={"chief_procurator_from_fen": "5000000", "office_meeting_from_fen": "20000000",
                                           "per_person_limit_fen": "5000000"})
    assert local.levels(30_000_00) == ("department_head",)
    assert local.levels(200_000_00) == ("department_head", "chief_procurator", "office_meeting")
    assert local.per_person_limit_fen == 50_000_00


@pytest.mark.parametrize("overrides, names", [
    ({"chief_procurator_from_fen": "ten"}, "chief_procurator_from_fen"),
    ({"deputy_from_fen": "1"}, "deputy_from_fen"),
    ({"department_head_from_fen": ""}, "department_head"),
    ({"advance_max_fen": "0"}, "advance_max_fen"),
])
def test_unusable_approval_settings_are_named(overrides, names):
    with pytest.raises(ApprovalPolicyError, match=names):
        ApprovalPolicy.load(overrides=overrides)


def test_review_rules_come_from_the_settings(tmp_path):
    from aidflow_review.proposals import ReviewRules
    from aidflow_shared.settings import Settings
    wages = tmp_path / "wages.json"
    wages.write_text('{"provinces": {"chongqing": {"series": {"non_private_on_post": {"years": {"2024": 120000}}}}}}')
    rules = ReviewRules.from_settings(Settings.from_env("review", {
        "AIDFLOW_REVIEW_WAGES_FILE": str(wages), "AIDFLOW_REVIEW_PROVINCE": "chongqing",
        "AIDFLOW_REVIEW_APPROVAL_CHIEF_PROCURATOR_FROM_FEN": "3000000"}))
    assert rules.wages.cap(rules.province, 2025, rules.series).cap_fen == 120_000 * 3 * 100
    assert rules.approvals.levels(20_000_00) == ("department_head",)
