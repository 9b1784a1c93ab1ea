"""Cases: registering a referral, its documents, acceptance (受理), and the progress other
services report. Each function runs inside the caller's unit of work; the events it emits commit
with it or not at all.

A case is ``registered`` when a referral becomes one (``case.opened``) and ``accepted`` when its
documents are complete or staff record why not (``case.accepted``, which starts the review
clock); after that intake follows the other services' events.
"""
from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import case as sql_case
from sqlalchemy import delete, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from aidflow_intake import checklist, identity
from aidflow_intake.orm import Beneficiary, Case, CaseClaim, CaseDocument, CaseHistory, Lead, Person
from aidflow_intake.pii import id_index, vault_for
from aidflow_intake.referrals import acceptance_date_problems
from aidflow_shared.calendar import BEIJING
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED, CASE_OPENED
from aidflow_shared.storage import UnitOfWork, insert_into, new_id, utcnow
from aidflow_shared.vault import Vault

# Events from different services can arrive out of order; a case's status only moves forward.
PROGRESS = {"registered": 0, "accepted": 1, "under_review": 2, "approved": 3, "rejected": 3, "paid": 4,
            "in_followup": 5, "closed": 6}
AIDED = ("paid", "in_followup", "closed")
URGENT_SITUATIONS = ("urgent_treatment",)
# Documents about one person must say which beneficiary they belong to.
PERSONAL_DOCUMENTS = ("identity",)
ATTEMPTS = 3


class Refused(Exception):
    """A request the case's state or rules do not allow; an HTTP status, a code, field codes."""

    def __init__(self, status: int, code: str, fields: dict[str, list[str]] | None = None):
        super().__init__(code)
        self.status = status
        self.code = code
        self.fields = fields or {}


@dataclass
class Opened:
    case: Case
    warnings: list[dict] = field(default_factory=list)
    # The case numbers of each known person's earlier cases, by person id (a new person has none).
    other_case_numbers: dict[str, list[str]] = field(default_factory=dict)
    claims: list[dict] = field(default_factory=list)  # inserted once the case and its people are
    people: list[Person] = field(default_factory=list)  # the persons this referral adds


def _write(session, opened: Opened) -> None:
    """Insert the new case with one prebuilt statement per table, then hand its objects to the
    session as loaded and unchanged, so what the caller changes afterwards is flushed as usual.

    The people first, then the case, its beneficiaries, documents and history, then the claims:
    their primary key is the guard against a concurrent second case of the same person in the
    same criminal case. What the session already holds unwritten (an existing person's newly
    learned phone) is flushed before them. The ORM's flush would send the same statements in the
    same order, and spend half as much CPU again on sorting, snapshots and events for every
    object (docs/performance.md, round 6).
    """
    session.flush()  # nothing to do, and no statement, when nothing is pending
    case = opened.case
    groups = ((Person, opened.people), (Case, [case]), (Beneficiary, case.beneficiaries),
              (CaseDocument, case.documents), (CaseHistory, case.history))
    connection = session.connection()
    for model, objects in groups:
        if objects:
            connection.execute(insert_into(model.__table__), [_row(obj) for obj in objects])
    if opened.claims:
        connection.execute(insert_into(CaseClaim.__table__), opened.claims)
    for _model, objects in groups:
        for obj in objects:
            make_transient_to_detached(obj)
    session.add_all(opened.people)
    session.add(case)  # cascades to its beneficiaries, documents and history


@functools.cache
def _columns(model) -> tuple[tuple[str, str], ...]:
    return tuple((attr.key, attr.columns[0].key) for attr in sa_inspect(model).column_attrs)


def _row(obj) -> dict:
    """The row of a new object, every column set in its constructor (a missing one is a bug
    here, not a default: KeyError)."""
    values = obj.__dict__
    return {column: values[key] for key, column in _columns(type(obj))}


def new_case_number(day: date) -> str:
    return f"JZ{day:%Y%m%d}-{secrets.token_hex(3).upper()}"


def register_case(uow: UnitOfWork, referral: dict, *, registered_by: str, source_agency: str | None = None,
                  lead: Lead | None = None, received_at: datetime | None = None,
                  rereferred_from: Case | None = None, vault: Vault | None = None) -> Opened:
    """Open a case from a loaded referral and, when asked (``accept`` or a migrated
    ``accepted_at``), accept it in the same transaction.

    The case, its people, beneficiaries, claims, documents and history are built in memory, the
    acceptance applied to them, and then written together (one INSERT per table), the
    events after them. A person or claim inserted concurrently by another transaction surfaces
    as an integrity error; the attempt is rolled back to its savepoint and made again, and then
    sees the other transaction's rows: the same person, or a duplicate case refused.
    """
    accepting = bool(referral.get("accept") or referral.get("accepted_at"))
    session = uow.session
    for attempt in range(ATTEMPTS):
        try:
            with session.begin_nested(), session.no_autoflush:
                opened = _new_case(uow, referral, registered_by=registered_by, source_agency=source_agency,
                                   lead=lead, received_at=received_at, rereferred_from=rereferred_from,
                                   vault=vault)
                acceptance = _accept(uow, opened.case, accepted_by=registered_by,
                                     override_reason=referral.get("override_reason"),
                                     accepted_at=referral.get("accepted_at")) if accepting else None
                _write(session, opened)
            break
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    _emit_opened(uow, opened.case)
    if acceptance is not None:
        uow.emit(CASE_ACCEPTED.type, acceptance, subject=opened.case.id)
    return opened


def open_case(uow: UnitOfWork, referral: dict, *, source_agency: str | None = None, registered_by: str = "system",
              lead: Lead | None = None, received_at: datetime | None = None, rereferred_from: Case | None = None,
              vault: Vault | None = None) -> Opened:
    """Register ``referral`` as a case: persons recognised, documents recorded, ``case.opened``.

    The case was received when the referral says (a record migrated from a paper ledger), else
    when the caller took it in (``received_at``: a partner's transfer), else now.
    """
    with uow.session.no_autoflush:
        opened = _new_case(uow, referral, source_agency=source_agency, registered_by=registered_by, lead=lead,
                           received_at=received_at, rereferred_from=rereferred_from, vault=vault)
    _write(uow.session, opened)
    _emit_opened(uow, opened.case)
    return opened


def _new_case(uow: UnitOfWork, referral: dict, *, source_agency: str | None, registered_by: str,
              lead: Lead | None, received_at: datetime | None, rereferred_from: Case | None,
              vault: Vault | None) -> Opened:
    """The case of ``referral`` and everything that belongs to it, in memory: :func:`_write` inserts it.

    Its collections start empty and are filled here, so the answer to the request is built from
    these objects without reading anything back.
    """
    session = uow.session
    vault = vault or vault_for(uow.db)
    now = utcnow()
    received_at = referral.get("received_at") or received_at or now
    received_on = received_at.astimezone(BEIJING).date()  # case numbers and ages count Beijing days
    application = referral.get("application") or {}
    ref = referral.get("criminal_case_ref")
    urgent = (referral.get("urgent_medical") or referral.get("eligibility_situation") in URGENT_SITUATIONS
              or any(p.get("urgent_medical_need") for p in referral["beneficiaries"]))
    case = Case(
        id=new_id(), case_number=new_case_number(received_on), source=referral["source"],
        source_agency=source_agency, partner_reference=referral.get("partner_reference"), stage=referral.get("stage"),
        criminal_case_ref=ref, lead_id=lead.id if lead else None,
        rereferred_from_id=rereferred_from.id if rereferred_from else None,
        application_form=application.get("form"), applicant=application.get("applicant"),
        recorded_by=registered_by if application.get("form") == "oral" else None,
        eligibility_situation=referral.get("eligibility_situation"), situation_reason=referral.get("situation_reason"),
        victim_deceased=bool(referral.get("victim_deceased")), track="urgent_medical" if urgent else "standard",
        status="registered", summary=referral.get("summary"), registered_by=registered_by,
        received_at=received_at, opened_at=now, updated_at=now, accepted_at=None, accepted_by=None,
        acceptance_override_reason=None, agent_kind=None, agent=None,
        migrated=bool(referral.get("received_at") or referral.get("accepted_at")), agent_person_id=None,
        beneficiaries=[], documents=[], history=[], transfers=[],
    )
    if uow.clocks and case.source == "partner_transfer":
        # A partner's transfer is to be accepted (受理) within the transfer deadline of the policy.
        uow.clocks.start(uow, stage="transfer", subject_id=case.id, case_id=case.id, started_at=received_at,
                         track=case.track)
    fresh: dict[str, Person] = {}  # the people this referral adds, by blind index: not yet in the database
    if application.get("agent"):
        agent, _known, _notes = _recognise(session, vault, application["agent"], fresh)
        case.agent_kind = application["agent"]["kind"]
        case.agent, case.agent_person_id = agent, agent.id
    opened = Opened(case)
    for position, entry in enumerate(referral["beneficiaries"]):
        person, known, notes = _recognise(session, vault, entry, fresh)
        if known:
            _refuse_second_case(session, person, ref, position)
            earlier = _cases_of(session, person.id)
            opened.other_case_numbers[person.id] = [c.case_number for c in earlier]
            if earlier:  # say so now, at creation, not later
                opened.warnings.append({"code": "person_known", "beneficiary": position,
                                        "case_numbers": [c.case_number for c in earlier]})
            opened.warnings.extend({"code": note, "beneficiary": position} for note in notes)
        markers = set(entry.get("poverty_markers") or ())
        case.beneficiaries.append(Beneficiary(
            id=new_id(), case_id=case.id, person=person, person_id=person.id, position=position,
            relationship_to_victim=entry["relationship"],
            is_minor=identity.is_minor(person.birth_date, received_on),
            registered_poor_household="registered_poor_household" in markers,
            impoverished_by_case="impoverished_by_case" in markers,
            returned_to_poverty_by_case="returned_to_poverty_by_case" in markers,
            urgent_medical_need=bool(entry.get("urgent_medical_need")), status="open"))
        if ref:
            opened.claims.append({"person_id": person.id, "criminal_case_ref": ref, "case_id": case.id})
    for document in referral.get("documents") or ():
        owner = document.get("beneficiary")
        case.documents.append(CaseDocument(
            id=new_id(), case_id=case.id, kind=document["kind"], reference=document.get("reference"), note=None,
            beneficiary_id=None if owner is None else case.beneficiaries[owner].id, received_at=received_at,
            recorded_by=registered_by))
    case.history.append(CaseHistory(id=new_id(), case_id=case.id, status="registered", event_type=None,
                                    note=f"source {case.source}", at=now))
    opened.people = list(fresh.values())
    return opened


def _emit_opened(uow: UnitOfWork, case: Case) -> None:
    uow.emit(CASE_OPENED.type, {
        "case_id": case.id, "case_number": case.case_number, "source": case.source,
        "source_agency": case.source_agency, "track": case.track, "criminal_case_ref": case.criminal_case_ref,
        "beneficiaries": [{"beneficiary_id": b.id, "person_ref": b.person_id, "is_minor": b.is_minor,
                           "relationship": b.relationship_to_victim} for b in case.beneficiaries],
        "opened_at": case.opened_at,
    }, subject=case.id)


def _recognise(session, vault: Vault, entry: dict, fresh: dict[str, Person]) -> tuple[Person, bool, list[str]]:
    """The stored person with this ID document (known), or a new one; and what differs.

    ``fresh`` holds the people already added by the same referral (an agent who is also named
    among the beneficiaries), which no query sees before the flush; new ones join it.
    """
    index = id_index(vault, entry["id_type"], entry["id_number"])
    existing = fresh.get(index) or session.scalars(select(Person).where(Person.id_index == index)).first()
    if existing is None:
        person = Person(id=new_id(), name_sealed=vault.seal(entry["name"], field="name"), id_type=entry["id_type"],
                        id_number_sealed=vault.seal(identity.normalise(entry["id_number"]), field="id_number"),
                        id_index=index, birth_date=entry.get("birth_date"),
                        phone_sealed=vault.seal(entry.get("phone"), field="phone"), created_at=utcnow())
        fresh[index] = person  # inserted with the case (_write)
        return person, False, []
    notes = []
    if vault.open(existing.name_sealed, field="name") != entry["name"]:
        notes.append("name_differs")  # the same document under another name: staff should look
    if existing.birth_date is None and entry.get("birth_date"):
        existing.birth_date = entry["birth_date"]
    if existing.phone_sealed is None and entry.get("phone"):
        existing.phone_sealed = vault.seal(entry["phone"], field="phone")
    return existing, True, notes


def _refuse_second_case(session, person: Person, criminal_case_ref: str | None, position: int) -> None:
    if not criminal_case_ref:
        return
    claim = session.get(CaseClaim, (person.id, criminal_case_ref))
    if claim is not None:
        other = session.get(Case, claim.case_id)
        code = "already_aided" if other.status in AIDED else "duplicate_case"
        raise Refused(409, code, {f"beneficiaries.{position}": [code]})


def _cases_of(session, person_id: str) -> list[Case]:
    return list(session.scalars(select(Case).join(Beneficiary).where(Beneficiary.person_id == person_id)
                                .order_by(Case.opened_at)))


# -- documents and acceptance ----------------------------------------------------------------------


def checklist_of(case: Case) -> checklist.Checklist:
    facts = checklist.CaseFacts(
        source=case.source, beneficiaries=tuple((b.id, b.relationship_to_victim) for b in case.beneficiaries),
        situation=case.eligibility_situation, victim_deceased=case.victim_deceased,
        application_form=case.application_form, agent_kind=case.agent_kind)
    return checklist.evaluate(facts, [(d.kind, d.beneficiary_id) for d in case.documents])


def record_document(uow: UnitOfWork, case: Case, document: dict, *, recorded_by: str) -> CaseDocument:
    """A document arrived; also after acceptance, when paperwork is completed afterwards."""
    owner = document.get("beneficiary_id")
    if owner is not None and owner not in {b.id for b in case.beneficiaries}:
        raise Refused(422, "validation_failed", {"beneficiary_id": ["unknown_beneficiary"]})
    if owner is None and document["kind"] in PERSONAL_DOCUMENTS:
        raise Refused(422, "validation_failed", {"beneficiary_id": ["required"]})
    now = utcnow()
    received_at = document.get("received_at") or now
    if received_at > now:
        raise Refused(422, "validation_failed", {"received_at": ["in_future"]})
    row = CaseDocument(id=new_id(), case_id=case.id, kind=document["kind"], beneficiary_id=owner,
                       reference=document.get("reference"), note=document.get("note"), received_at=received_at,
                       recorded_by=recorded_by)
    uow.session.add(row)
    case.documents.append(row)
    case.updated_at = now
    return row


def set_eligibility(case: Case, situation: str, reason: str | None) -> None:
    """Staff establish the eligible situation (art. 7) before acceptance."""
    if case.status != "registered":
        raise Refused(409, "already_accepted")
    if situation == "other" and not reason:
        raise Refused(422, "validation_failed", {"situation_reason": ["required"]})
    case.eligibility_situation, case.situation_reason = situation, reason
    if situation in URGENT_SITUATIONS:
        case.track = "urgent_medical"
    case.updated_at = utcnow()


def accept_case(uow: UnitOfWork, case: Case, *, accepted_by: str, override_reason: str | None = None,
                accepted_at: datetime | None = None) -> None:
    """受理: allowed with a complete checklist, or with the reason staff accept it anyway."""
    event = _accept(uow, case, accepted_by=accepted_by, override_reason=override_reason, accepted_at=accepted_at)
    uow.emit(CASE_ACCEPTED.type, event, subject=case.id)


def _accept(uow: UnitOfWork, case: Case, *, accepted_by: str, override_reason: str | None,
            accepted_at: datetime | None) -> dict:
    """Accept ``case`` in memory (its history included); the ``case.accepted`` event to emit."""
    if case.status != "registered":
        raise Refused(409, "already_accepted")
    now = utcnow()
    if accepted_at is not None:
        problems = acceptance_date_problems(accepted_at, case.received_at, now)
        if problems:
            raise Refused(422, "validation_failed", {"accepted_at": problems})
    items = checklist_of(case)
    if not items.complete and not override_reason:
        raise Refused(409, "checklist_incomplete", {item.path: ["missing"] for item in items.missing})
    case.status = "accepted"
    case.accepted_at = accepted_at or now
    if uow.clocks and case.source == "partner_transfer":  # the transfer is answered by its acceptance
        uow.clocks.stop(uow, "transfer", case.id, case.accepted_at, missing_ok=True)
    case.accepted_by = accepted_by
    case.acceptance_override_reason = None if items.complete else override_reason
    case.migrated = case.migrated or accepted_at is not None
    case.updated_at = now
    note = "documents complete" if items.complete else "accepted with documents missing"
    case.history.append(CaseHistory(id=new_id(), case_id=case.id, status="accepted", event_type=None, note=note,
                                    at=now))
    return {
        "case_id": case.id, "case_number": case.case_number, "source": case.source,
        "source_agency": case.source_agency, "track": case.track, "criminal_case_ref": case.criminal_case_ref,
        "eligibility_situation": case.eligibility_situation, "victim_deceased": case.victim_deceased,
        "beneficiaries": [{"beneficiary_id": b.id, "person_ref": b.person_id, "is_minor": b.is_minor,
                           "relationship": b.relationship_to_victim, "poverty_markers": poverty_markers(b),
                           "urgent_medical_need": b.urgent_medical_need} for b in case.beneficiaries],
        "documents_complete": items.complete, "received_at": case.received_at, "accepted_at": case.accepted_at,
        "migrated": case.migrated,
    }


def poverty_markers(beneficiary: Beneficiary) -> list[str]:
    return [marker for marker in ("registered_poor_household", "impoverished_by_case", "returned_to_poverty_by_case")
            if getattr(beneficiary, marker)]


# -- what the other services report ----------------------------------------------------------------


def record_progress(uow: UnitOfWork, case_id: str, status: str, event_type: str, note: str | None = None) -> None:
    """Keep intake's view of where a case is, from the other services' events.

    One conditional ``UPDATE`` moves the case forward (never back) and takes its row lock: two
    instances recording two events of one case at once take turns, and the later one decides on
    the row as the earlier one committed it (PostgreSQL evaluates the condition again on the
    newest row), so the later stage is never overwritten by an earlier one. One statement where
    a locked read of the whole case and its update took two.
    """
    now = utcnow()
    if status == "reopened":  # the one way back: follow-up reopens a closed case
        moved = sql_case((Case.status == "closed", "in_followup"), else_=Case.status)
    else:
        rank = sql_case(PROGRESS, value=Case.status, else_=0)
        moved = sql_case((rank < PROGRESS[status], status), else_=Case.status)
    found = uow.session.execute(
        update(Case).where(Case.id == case_id).values(status=moved, updated_at=now).returning(Case.id)
        .execution_options(synchronize_session="fetch")).first()
    if found is None:
        raise LookupError(f"case {case_id} unknown to intake")
    if status == "rejected":  # a rejected case no longer stands in the way of a new one
        uow.session.execute(delete(CaseClaim).where(CaseClaim.case_id == case_id))
    uow.session.execute(insert_into(CaseHistory.__table__), dict(id=new_id(), case_id=case_id, status=status,
                                                                 event_type=event_type, note=note, at=now))
