"""Intake's personal data at rest: its key, the blind index of ID documents, masking by role.

The sealing itself is the shared vault's, tested with it; here is what intake adds on top.
"""
import base64
import os

import pytest
from sqlalchemy.engine import make_url

from aidflow_intake import pii
from aidflow_intake.settings import PII_KEY_VARIABLE, IntakeSettings
from aidflow_shared.vault import Vault, VaultError

KEY = os.urandom(32)


def test_intake_seals_under_its_own_purpose():
    sealed = Vault(KEY, purpose=pii.PURPOSE).seal("王秀英", field="name")
    assert Vault(KEY, purpose=pii.PURPOSE).open(sealed, field="name") == "王秀英"
    with pytest.raises(VaultError):  # the same master key in another service opens nothing of intake's
        Vault(KEY, purpose="payout").open(sealed, field="name")


def test_the_blind_index_recognises_the_same_document_and_nothing_else():
    vault = Vault(KEY, purpose=pii.PURPOSE)
    number = "11010519491231002X"
    assert pii.id_index(vault, "resident_id", number.lower()) == pii.id_index(vault, "resident_id", f" {number} ")
    assert pii.id_index(vault, "resident_id", number) != pii.id_index(vault, "passport", number)
    assert pii.id_index(vault, "resident_id", number) != pii.id_index(Vault(os.urandom(32), purpose=pii.PURPOSE),
                                                                        "resident_id", number)
    assert number not in pii.id_index(vault, "resident_id", number)


@pytest.mark.parametrize("text", [
    base64.urlsafe_b64encode(KEY).decode(), base64.b64encode(KEY).decode(),
    base64.urlsafe_b64encode(KEY).decode().rstrip("="),
])
def test_the_key_is_32_bytes_in_base64(text):
    assert IntakeSettings.from_env({PII_KEY_VARIABLE: text}).pii_key == KEY


@pytest.mark.parametrize("text", ["short", base64.b64encode(os.urandom(16)).decode(), "!!!!"])
def test_a_malformed_key_stops_the_service_naming_the_variable(text):
    with pytest.raises(VaultError, match=PII_KEY_VARIABLE):
        IntakeSettings.from_env({PII_KEY_VARIABLE: text})


def test_without_a_key_an_embedded_deployment_makes_one_in_its_data_dir_and_keeps_it(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(PII_KEY_VARIABLE, raising=False)
    url = make_url(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    first = pii.master_key_for(url)
    assert (tmp_path / pii.DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert pii.master_key_for(url) == first and len(first) == 32
    assert "development key" in caplog.text


def test_without_a_key_any_other_deployment_refuses(monkeypatch):
    monkeypatch.delenv(PII_KEY_VARIABLE, raising=False)
    with pytest.raises(VaultError, match=PII_KEY_VARIABLE):
        pii.master_key_for(make_url("postgresql+psycopg://intake@db/intake"))
    monkeypatch.setenv(PII_KEY_VARIABLE, base64.b64encode(KEY).decode())
    assert pii.master_key_for(make_url("postgresql+psycopg://intake@db/intake")) == KEY


def test_masks():
    assert pii.mask_name("张三丰") == "张**" and pii.mask_name("王") == "*"
    assert pii.mask_phone("13812345678") == "138****5678"
    assert pii.shown("phone", "13812345678", frozenset({"reviewer"})) == ("138****5678", True)
    assert pii.shown("phone", "13812345678", frozenset({"reviewer", "followup_worker"})) == ("13812345678", False)
    assert pii.shown("phone", None, frozenset({"auditor"})) == (None, False)
    assert pii.shown("birth_date", "1980-01-01", frozenset({"auditor"})) == (None, True)


def test_every_role_that_sees_personal_data_reads_cases():
    from aidflow_intake.api import CASE_READERS
    assert set(pii.CLEAR_TO) == {"name", "id_number", "birth_date", "phone"}
    for field, roles in pii.CLEAR_TO.items():
        assert roles <= set(CASE_READERS), field
