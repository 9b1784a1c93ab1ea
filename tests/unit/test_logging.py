"""Logs are JSON lines with the agreed fields, and never show an ID or mobile number."""
import json
import logging

import pytest

from aidflow_shared.logging import HANDLER_NAME, configure_logging, mask_pii
from aidflow_shared.settings import Settings

ID_NUMBER = "11010119900307123X"
MOBILE = "13812345678"


@pytest.fixture
def root_logger():
    """Give the root logger back as it was: configure_logging changes the whole process."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def json_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


@pytest.mark.parametrize(
    "text, masked",
    [
        (f"id {ID_NUMBER} done", "id <id:***> done"),
        ("id 110101199003071234", "id <id:***>"),
        ("id=11010119900307123x;", "id=<id:***>;"),
        (f"call {MOBILE}", "call <mobile:***>"),
        ("call +86 138-1234-5678 or 8613912345678", "call <mobile:***> or <mobile:***>"),
        ("call 139 1234 5678", "call <mobile:***>"),
        (f"{ID_NUMBER},{MOBILE}", "<id:***>,<mobile:***>"),
        ("amount 27578400 fen at 1732870000000", "amount 27578400 fen at 1732870000000"),
        ("landline 12345678901", "landline 12345678901"),
        # UUIDs that hold "1xx-dddd-dddd" between their dashes stay whole; a number beside one does not.
        ("message e7b74130-b192-4708-8517-4f82600ed1cf", "message e7b74130-b192-4708-8517-4f82600ed1cf"),
        ("case c793f3eb-e169-4566-8819-d4fc5eb3784f", "case c793f3eb-e169-4566-8819-d4fc5eb3784f"),
        (f"{MOBILE}-f7a3a651-6cb2-4562-8a9a-17445483469d", "<mobile:***>-f7a3a651-6cb2-4562-8a9a-17445483469d"),
        (f"f7a3a6516cb245628a9a17445483469d {ID_NUMBER}", "f7a3a6516cb245628a9a17445483469d <id:***>"),
    ],
)
def test_mask_pii(text, masked):
    assert mask_pii(text) == masked


def test_no_uuid_is_ever_taken_for_a_mobile_number():
    """About one random UUID in a thousand looked like a mobile number to the pattern alone: a
    correlation id masked in the logs, a partner's answer refused as carrying personal data."""
    import uuid
    ids = [uuid.uuid4() for _ in range(20_000)]
    assert [str(u) for u in ids if mask_pii(str(u)) != str(u)] == []
    assert [u.hex for u in ids if mask_pii(u.hex) != u.hex] == []


def test_json_lines_carry_the_agreed_fields(root_logger, capsys):
    configure_logging(Settings(service="payout"))
    logging.getLogger("aidflow.payout.ledger").info("ledger line written")
    [line] = json_lines(capsys)
    assert line["message"] == "ledger line written"
    assert line["level"] == "INFO"
    assert line["logger"] == "aidflow.payout.ledger"
    assert line["service"] == "payout"
    assert line["time"].endswith("+00:00")


def test_identifiers_are_masked_wherever_they_appear(root_logger, capsys):
    configure_logging(Settings(service="intake"))
    log = logging.getLogger("aidflow.intake")
    log.info("person %s, phone %s", ID_NUMBER, MOBILE, extra={"beneficiary": {"id_number": ID_NUMBER}})
    log.warning(f"inline {ID_NUMBER} and %d", 13912345678)
    try:
        raise ValueError(f"bad referral for {ID_NUMBER}")
    except ValueError:
        log.exception("referral refused")
    log.info({"event": "structured", "phone": MOBILE})

    lines = json_lines(capsys)
    text = json.dumps(lines, ensure_ascii=False)
    assert ID_NUMBER not in text and MOBILE not in text and "13912345678" not in text
    assert lines[0]["message"] == "person <id:***>, phone <mobile:***>"
    assert lines[0]["beneficiary"] == {"id_number": "<id:***>"}
    assert lines[1]["message"] == "inline <id:***> and <mobile:***>"
    assert "ValueError: bad referral for <id:***>" in lines[2]["exc_info"]
    assert lines[3]["phone"] == "<mobile:***>"


def test_plain_text_when_json_is_off(root_logger, capsys):
    configure_logging(Settings(service="review", log_json=False))
    logging.getLogger("aidflow.review").warning("reviewer phoned %s", MOBILE)
    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING review aidflow.review: reviewer phoned <mobile:***>")


def test_configuring_twice_does_not_duplicate_lines(root_logger, capsys):
    configure_logging(Settings(service="followup"))
    configure_logging(Settings(service="followup", log_level="DEBUG"))
    assert [h.get_name() for h in root_logger.handlers].count(HANDLER_NAME) == 1
    assert root_logger.level == logging.DEBUG
    logging.getLogger("aidflow.followup").debug("visit planned")
    assert len(json_lines(capsys)) == 1
