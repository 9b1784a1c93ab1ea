"""Process-wide logging: JSON lines for the log collector, residents' identifiers masked.

Logs leave the services (collectors, dashboards, support tickets) and the people in the cases
are vulnerable, so resident ID numbers (居民身份证号) and mobile numbers never reach a log line,
whoever wrote the call: :class:`PiiFilter` masks the message, its arguments, extra fields and
tracebacks before any formatter sees them.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from aidflow_shared.settings import Settings

HANDLER_NAME = "aidflow"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s"

MASKED_ID_NUMBER = "<id:***>"
MASKED_MOBILE = "<mobile:***>"
# Digits on either side mean a longer number (an amount, a timestamp), not an identifier.
_ID_NUMBER = r"(?<!\d)\d{17}[\dXx](?!\d)"
_MOBILE = r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"
# A UUID (every message, case and correlation id) is left whole: about one in a thousand holds
# "1xx-dddd-dddd" between its dashes, which the mobile pattern alone would mask.
_UUID = r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
_IDENTIFIERS = re.compile(f"(?P<uuid>{_UUID})|(?P<id_number>{_ID_NUMBER})|{_MOBILE}")

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_TRACEBACKS = logging.Formatter()


def mask_pii(text: str) -> str:
    """``text`` with resident ID numbers and mainland mobile numbers replaced by placeholders."""
    return _IDENTIFIERS.sub(_placeholder, text)


def _placeholder(match: re.Match) -> str:
    if match.group("uuid"):
        return match.group("uuid")
    return MASKED_ID_NUMBER if match.group("id_number") else MASKED_MOBILE


class PiiFilter(logging.Filter):
    """Masks identifiers in everything a record will print; never drops a record.

    The message is rendered with its arguments first, because an identifier is as likely to
    arrive as an argument (``log.info("person %s", person)``) as in the text itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            record.msg = _mask(record.msg)
        else:
            record.msg, record.args = mask_pii(record.getMessage()), ()
        if record.exc_info:
            # Formatters render exc_text when there is no exc_info; render it once, masked.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRIBUTES:
                setattr(record, name, _mask(value))
        return True


def configure_logging(settings: Settings) -> None:
    """Send the process's logs to stderr, as JSON unless ``settings.log_json`` is off.

    Calling it again replaces the handler it installed before, so tests and re-configuration
    never print a line twice. Stdout stays free for command output.
    """
    handler = logging.StreamHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(PiiFilter())
    handler.setFormatter(_json_formatter(settings) if settings.log_json else _plain_formatter(settings))

    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Libraries that set their own level would otherwise log every probe and scrape at INFO.
    for name in ("werkzeug", "gunicorn.error", "gunicorn.access"):
        logging.getLogger(name).setLevel(settings.log_level)
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, root.level))


def _json_formatter(settings: Settings) -> logging.Formatter:
    return JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"service": settings.service},
        timestamp="time",  # ISO 8601, UTC
    )


def _plain_formatter(settings: Settings) -> logging.Formatter:
    return logging.Formatter(PLAIN_FORMAT, defaults={"service": settings.service})


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(item) for item in value]
    return value
