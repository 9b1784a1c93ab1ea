"""The documents checklist: which documents each source and eligible situation needs."""
import pytest

from aidflow_intake.checklist import HARM_PROOFS, CaseFacts, evaluate, referral_facts

VICTIM = (("b1", "victim"),)
BASE = {("identity", "b1"), ("hardship_proof", None), ("compensation_statement", None)}


def required(facts: CaseFacts) -> set[tuple[str, str | None]]:
    return {(item.requirement, item.beneficiary_id) for item in evaluate(facts, []).items}


@pytest.mark.parametrize("facts, extra", [
    (CaseFacts("ex_officio", VICTIM), {("proof_of_harm", None)}),
    (CaseFacts("partner_transfer", VICTIM), {("transfer_letter", None), ("proof_of_harm", None)}),
    (CaseFacts("lead", VICTIM), {("verification_record", None), ("proof_of_harm", None)}),
    (CaseFacts("application", VICTIM, application_form="written"), {("application", None), ("proof_of_harm", None)}),
    (CaseFacts("application", VICTIM, application_form="oral"),
     {("oral_application_record", None), ("proof_of_harm", None)}),
    (CaseFacts("application", VICTIM, application_form="written", agent_kind="entrusted"),
     {("application", None), ("power_of_attorney", None), ("proof_of_harm", None)}),
    (CaseFacts("application", VICTIM, application_form="written", agent_kind="guardian"),
     {("application", None), ("guardianship_proof", None), ("proof_of_harm", None)}),
    (CaseFacts("ex_officio", VICTIM, situation="serious_injury"), {("injury_appraisal", None)}),
    (CaseFacts("ex_officio", VICTIM, situation="urgent_treatment"), {("medical_bills", None)}),
    (CaseFacts("ex_officio", VICTIM, situation="death_or_incapacity"), {("injury_appraisal", None)}),
    (CaseFacts("ex_officio", VICTIM, situation="property_loss"), {("loss_evidence", None)}),
    (CaseFacts("ex_officio", (("b1", "witness"),), situation="retaliation"), {("retaliation_evidence", None)}),
    (CaseFacts("ex_officio", VICTIM, situation="civil_tort"),
     {("proof_of_harm", None), ("no_compensation_proof", None)}),
    (CaseFacts("ex_officio", VICTIM, situation="other"), set()),
])
def test_what_each_source_and_situation_requires(facts, extra):
    assert required(facts) == BASE | extra


def test_a_joint_case_needs_identity_and_relationship_for_each_relative_and_the_death_certificate():
    facts = CaseFacts("ex_officio", (("s", "spouse"), ("c", "child")), situation="death_or_incapacity",
                      victim_deceased=True)
    assert required(facts) == {("identity", "s"), ("identity", "c"), ("relationship_proof", "s"),
                               ("relationship_proof", "c"), ("hardship_proof", None), ("compensation_statement", None),
                               ("death_certificate", None)}


def test_present_and_missing_and_complete():
    facts = CaseFacts("ex_officio", (("v", "victim"), ("s", "spouse")), situation="serious_injury")
    partial = evaluate(facts, [("identity", "v"), ("identity", "s"), ("hardship_proof", None),
                               ("relationship_proof", "v")])  # the victim's relationship proof proves nothing
    assert not partial.complete
    assert sorted(item.path for item in partial.missing) == [
        "checklist.compensation_statement", "checklist.injury_appraisal", "checklist.relationship_proof.1"]
    done = evaluate(facts, [("identity", "v"), ("identity", "s"), ("hardship_proof", None),
                            ("compensation_statement", None), ("injury_appraisal", None), ("relationship_proof", "s")])
    assert done.complete and done.missing == ()


def test_an_identity_document_counts_only_for_its_own_person():
    facts = CaseFacts("ex_officio", (("a", "spouse"), ("b", "child")), situation="other")
    items = evaluate(facts, [("identity", "a"), ("identity", None)]).items
    assert {(i.requirement, i.beneficiary_id): i.present for i in items if i.requirement == "identity"} == {
        ("identity", "a"): True, ("identity", "b"): False}


@pytest.mark.parametrize("kind", HARM_PROOFS)
def test_while_the_situation_is_unknown_any_proof_of_harm_will_do(kind):
    facts = CaseFacts("ex_officio", VICTIM)
    checklist = evaluate(facts, [("identity", "b1"), ("hardship_proof", None), ("compensation_statement", None),
                                 (kind, None)])
    assert checklist.complete


def test_the_facts_of_a_referral_not_yet_registered():
    facts = referral_facts({"source": "application", "application": {"form": "oral", "agent": {"kind": "guardian"}},
                            "beneficiaries": [{"relationship": "child"}], "victim_deceased": True,
                            "eligibility_situation": "death_or_incapacity"})
    assert facts == CaseFacts("application", (("0", "child"),), "death_or_incapacity", True, "oral", "guardian")
    assert referral_facts({"beneficiaries": "garbage", "application": "x"}).beneficiaries == ()
