"""Upgrading a database that already holds people: they are sealed in place, and back again."""
from __future__ import annotations

import json

from sqlalchemy import text

from aidflow_intake.pii import id_index, vault_for
from aidflow_intake.service import service
from aidflow_intake.settings import PII_KEY_VARIABLE
from aidflow_shared.migrations import downgrade, upgrade
from aidflow_shared.storage import Database
from support import TEST_PII_KEY

NUMBER, NAME, PHONE = "11010519491231002X", "张三", "13812345678"


def test_people_stored_before_sealing_are_sealed_by_the_upgrade(database_url, monkeypatch):
    monkeypatch.setenv(PII_KEY_VARIABLE, TEST_PII_KEY)  # the deployment's key seals what is there
    db = Database(database_url, service.metadata)
    upgrade(db, service.migrations, "0002")
    with db.writer.begin() as conn:
        conn.execute(text("INSERT INTO person (id, name, id_type, id_number, birth_date, phone, created_at) "
                          "VALUES ('p1', :name, 'resident_id', :number, '1949-12-31', :phone, :at)"),
                     dict(name=NAME, number=NUMBER, phone=PHONE, at="2026-01-01 00:00:00+00:00"))
        for case_id, status in (("c1", "open"), ("c2", "rejected")):
            conn.execute(text("INSERT INTO aid_case (id, case_number, source, track, status, criminal_case_ref, "
                              "opened_at, updated_at) VALUES (:id, :id, 'ex_officio', 'standard', :status, 'R1', "
                              ":at, :at)"), dict(id=case_id, status=status, at="2026-01-01 00:00:00+00:00"))
            conn.execute(text("INSERT INTO beneficiary (id, case_id, person_id, position, relationship_to_victim, "
                              "is_minor, status) VALUES (:b, :c, 'p1', 0, 'victim', false, 'open')"),
                         dict(b=f"b-{case_id}", c=case_id))

    upgrade(db, service.migrations)
    with db.engine.connect() as conn:
        person = conn.execute(text("SELECT * FROM person")).mappings().one()
        cases = dict(conn.execute(text("SELECT id, status FROM aid_case")).all())
        claims = conn.execute(text("SELECT person_id, criminal_case_ref, case_id FROM case_claim")).all()
    stored = json.dumps({k: str(v) for k, v in person.items()}, ensure_ascii=False)
    assert NUMBER not in stored and NAME not in stored and PHONE not in stored
    vault = vault_for(db)
    assert vault.open(person["id_number_sealed"], field="id_number") == NUMBER
    assert vault.open(person["name_sealed"], field="name") == NAME
    assert person["id_index"] == id_index(vault, "resident_id", NUMBER)
    # Before acceptance existed a case went straight into review: it counts as accepted.
    assert cases == {"c1": "accepted", "c2": "rejected"}
    assert [tuple(c) for c in claims] == [("p1", "R1", "c1")]  # the rejected case claims nothing

    downgrade(db, service.migrations, "0002")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name, id_number, phone FROM person")).one() == (NAME, NUMBER, PHONE)
        assert dict(conn.execute(text("SELECT id, status FROM aid_case")).all()) == {"c1": "open", "c2": "rejected"}
    db.dispose()
