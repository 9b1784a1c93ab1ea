"""The message catalog and the choice of language."""
import pytest

from aidflow_shared import i18n
from aidflow_shared.i18n import message, pick_language, register_messages

SHARED_CODES = (
    "required", "null", "invalid", "invalid_type", "unknown_field", "validator_failed", "one_of",
    "length", "range", "invalid_json", "not_json_object", "unauthenticated", "token_expired",
    "token_invalid", "forbidden", "not_found", "method_not_allowed", "conflict",
    "idempotency_conflict", "payload_too_large", "unsupported_media_type", "internal_error",
    "validation_failed", "invalid_id_number", "invalid_date",
)


@pytest.fixture
def catalog(monkeypatch):
    """A private copy of the catalog, so registrations do not leak into other tests."""
    monkeypatch.setattr(i18n, "_CATALOG", dict(i18n._CATALOG))


@pytest.mark.parametrize("code", SHARED_CODES)
def test_every_shared_code_reads_in_both_languages(code):
    zh, en = message(code, "zh"), message(code, "en")
    assert zh != code and en != code
    assert zh != en


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, "zh"),
        ("", "zh"),
        ("en", "en"),
        ("EN-us", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("en-GB, zh;q=0.5", "en"),  # a regional tag counts for its language
        ("zh;q=0.3, en;q=0.7", "en"),
        ("zh-Hant-TW;q=0.9, en;q=0.2", "zh"),
        ("en, zh", "en"),  # equal weights: the first listed wins
        ("zh, en", "zh"),
        ("fr, de;q=0.5", "zh"),  # nothing we speak: the default
        ("*", "zh"),
        ("zh;q=0, *", "en"),  # the wildcard covers what is not named
        ("en;q=0.5, *;q=0.8", "zh"),
        ("en;q=0", "zh"),
        ("en-US;q=0.1, en;q=0.9, zh;q=0.5", "en"),  # the best weight of a language counts
        ("en;q=abc, zh;q=0.1", "zh"),  # a malformed entry is skipped
        ("en;q=1.5", "zh"),
        (" , ;q=0.5, en ; q=0.4", "en"),
    ],
)
def test_pick_language_follows_q_values(header, expected):
    assert pick_language(header) == expected


def test_an_unknown_code_is_its_own_message():
    assert message("no_such_code", "en") == "no_such_code"


def test_message_fills_placeholders_and_keeps_missing_ones(catalog):
    register_messages({"amount_over_cap": {"zh": "超过上限 {cap} 分", "en": "over the cap of {cap} fen"}})
    assert message("amount_over_cap", "en", cap=2757840) == "over the cap of 2757840 fen"
    assert message("amount_over_cap", "zh") == "超过上限 {cap} 分"


def test_register_messages_adds_codes_and_tolerates_repeats(catalog):
    texts = {"case_closed": {"zh": "案件已结案。", "en": "The case is closed."}}
    register_messages(texts)
    register_messages(texts)
    assert message("case_closed", "zh") == "案件已结案。"


def test_register_messages_refuses_a_second_meaning(catalog):
    with pytest.raises(ValueError, match="already registered"):
        register_messages({"required": {"zh": "必须", "en": "Must be there."}})


def test_register_messages_needs_both_languages(catalog):
    with pytest.raises(ValueError, match="lacks en"):
        register_messages({"half_done": {"zh": "只有中文"}})
