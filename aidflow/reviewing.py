"""A review driven to its decision over review's API, as the people who decide would.

The handler (reviewer) proposes with the recorded reasoning; the department head and, when the
amount needs it, the chief procurator approve. The demo, the bench and the tests decide their
cases through here, over their own HTTP clients: ``post(path, role, body)`` sends a POST to
review's ``/api/v1`` as a principal holding ``role`` and returns the answer's JSON (raising on an
error), and a different subject per role keeps maker and checker apart.
"""
from __future__ import annotations

from typing import Callable

from aidflow_review.eligibility import EXCLUSIONS

# The role that signs each approval level; the chief procurator records the office meeting's and
# the superior procuratorate's approvals, with their reference.
APPROVER_ROLE = {"department_head": "department_head", "chief_procurator": "chief_procurator",
                 "office_meeting": "chief_procurator", "superior_procuratorate": "chief_procurator"}
DECIDING_ROLES = ("reviewer", "department_head", "chief_procurator")
NO_EXCLUSION = {code: False for code in EXCLUSIONS}
ELIGIBLE = {"situation": "serious_injury_uncompensated", "exclusions": NO_EXCLUSION, "evidence": ["伤情鉴定书"]}

Post = Callable[[str, str, dict], dict]


def approved_proposal(awards: list[dict], **changes) -> dict:
    """A proposal to approve ``awards`` on eligible, recorded reasoning."""
    return {"outcome": "approved", "eligibility": ELIGIBLE, "awards": awards, **changes}


def rejected_proposal(reason_code: str = "excluded_already_compensated", **changes) -> dict:
    """A proposal to reject, with the exclusion found and the explanation owed to the applicant."""
    exclusion = reason_code.removeprefix("excluded_")
    exclusions = dict(NO_EXCLUSION, **({exclusion: True} if exclusion in NO_EXCLUSION else {}))
    return {"outcome": "rejected", "reason_code": reason_code,
            "eligibility": dict(ELIGIBLE, exclusions=exclusions, evidence=["赔偿协议"]),
            "explanation": "您已通过其他途径获得合理补偿，依规不予救助。", **changes}


def next_level(review: dict) -> str | None:
    return next((p["next_level"] for p in review["proposals"] if p["status"] == "pending"), None)


def approve_chain(post: Post, review: dict) -> dict:
    """Every approval the pending proposal still needs, in order: the review once decided."""
    while (level := next_level(review)) is not None:
        review = post(f"/reviews/{review['review_id']}/approvals", APPROVER_ROLE[level],
                      {"verdict": "approved", "reference": f"{level}-1"})
    return review


def decide(post: Post, review_id: str, proposal: dict) -> dict:
    """The reviewer's proposal, then its approvals: the review as decided."""
    return approve_chain(post, post(f"/reviews/{review_id}/proposal", "reviewer", proposal))
