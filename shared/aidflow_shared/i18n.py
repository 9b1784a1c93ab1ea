"""Error messages in Chinese and English, looked up by stable machine codes.

Clients branch on the code (``required``, ``token_expired`` ...), people read the message. Codes
never change once published; the wording may. Chinese is the default because the staff who use
the services read Chinese; a client that prefers English says so with ``Accept-Language``.

Services add their own codes once, at import time, with :func:`register_messages`.
"""
from __future__ import annotations

from typing import Literal, Mapping

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT_LANGUAGE: Language = "zh"

_CATALOG: dict[str, dict[str, str]] = {
    # Field errors: one code per way a value can be wrong.
    "required": {"zh": "此项为必填项。", "en": "This field is required."},
    "null": {"zh": "此项不能为空值。", "en": "This field may not be null."},
    "invalid": {"zh": "格式或取值无效。", "en": "Not a valid value."},
    "invalid_type": {"zh": "数据类型不正确。", "en": "Wrong type of data."},
    "unknown_field": {"zh": "不允许提交此字段。", "en": "Unknown field."},
    "validator_failed": {"zh": "取值未通过校验。", "en": "The value failed validation."},
    "one_of": {"zh": "取值不在允许的选项中。", "en": "Must be one of the allowed values."},
    "length": {"zh": "长度不符合要求。", "en": "Length is out of the allowed bounds."},
    "range": {"zh": "数值超出允许范围。", "en": "Value is out of the allowed range."},
    "invalid_id_number": {"zh": "居民身份证号码无效。", "en": "Not a valid resident ID number."},
    "invalid_date": {"zh": "日期或时间无效。", "en": "Not a valid date or time."},
    # Request errors.
    "bad_request": {"zh": "请求无效。", "en": "Bad request."},
    "invalid_json": {"zh": "请求体不是有效的 JSON。", "en": "The request body is not valid JSON."},
    "not_json_object": {"zh": "请求体必须是 JSON 对象。", "en": "The request body must be a JSON object."},
    "validation_failed": {
        "zh": "提交的数据有误，请按字段提示修改。",
        "en": "Some fields are invalid; see the field errors.",
    },
    "payload_too_large": {"zh": "请求体过大。", "en": "The request body is too large."},
    "unsupported_media_type": {
        "zh": "请求体须为 application/json。",
        "en": "The request body must be application/json.",
    },
    "not_found": {"zh": "请求的资源不存在。", "en": "Not found."},
    "method_not_allowed": {"zh": "该地址不支持此请求方法。", "en": "Method not allowed for this resource."},
    "conflict": {"zh": "请求与当前状态冲突。", "en": "The request conflicts with the current state."},
    "idempotency_conflict": {
        "zh": "该幂等键已用于另一个不同的请求。",
        "en": "This idempotency key was already used for a different request.",
    },
    "too_many_requests": {"zh": "请求过于频繁，请稍后再试。", "en": "Too many requests; try again later."},
    # Who is asking.
    "unauthenticated": {
        "zh": "需要登录凭证（Bearer 令牌）。",
        "en": "Authentication required (Bearer token).",
    },
    "token_expired": {"zh": "登录凭证已过期，请重新登录。", "en": "The token has expired; sign in again."},
    "token_invalid": {"zh": "登录凭证无效。", "en": "The token is invalid."},
    "forbidden": {"zh": "无权执行此操作。", "en": "You are not allowed to do this."},
    # Our side.
    "internal_error": {"zh": "服务器内部错误，请稍后重试。", "en": "Internal server error; try again later."},
    "unavailable": {"zh": "服务暂时不可用，请稍后重试。", "en": "Service unavailable; try again later."},
}


def register_messages(messages: Mapping[str, Mapping[str, str]]) -> None:
    """Add a service's own codes: ``{"amount_over_cap": {"zh": ..., "en": ...}}``.

    Registering the same text twice is harmless (modules get re-imported in tests); giving an
    existing code different text is refused, because two meanings for one code break clients.
    """
    for code, texts in messages.items():
        missing = [lang for lang in LANGUAGES if not texts.get(lang)]
        if missing:
            raise ValueError(f"message {code!r} lacks {', '.join(missing)}")
        entry = {lang: texts[lang] for lang in LANGUAGES}
        if _CATALOG.get(code, entry) != entry:
            raise ValueError(f"message {code!r} is already registered with other text")
        _CATALOG[code] = entry


def message(code: str, lang: str, **params: object) -> str:
    """The text for ``code`` in ``lang``; an unknown code is its own message.

    ``{name}`` placeholders are filled from ``params``; a placeholder without a value stays as
    written rather than turning an error report into a crash.
    """
    texts = _CATALOG.get(code)
    if texts is None:
        return code
    template = texts.get(lang) or texts[DEFAULT_LANGUAGE]
    return template.format_map(_KeepMissing(params))


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def pick_language(accept_language: str | None) -> Language:
    """The supported language the client prefers most, by ``Accept-Language`` q-values.

    Matching is by primary subtag (``en-GB`` asks for ``en``; the best weight of a language's
    tags counts), ``*`` stands for every language not named, ``q=0`` rules a language out, and
    equal weights go to the one listed first.
    Without a usable preference the answer is Chinese.
    """
    named: dict[str, tuple[float, int]] = {}
    wildcard: tuple[float, int] | None = None
    for position, (tag, quality) in enumerate(_parse_accept_language(accept_language or "")):
        if tag == "*":
            wildcard = wildcard or (quality, position)
            continue
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES and quality > named.get(primary, (-1.0, 0))[0]:
            named[primary] = (quality, position)

    best: Language = DEFAULT_LANGUAGE
    best_rank = (0.0, 0)
    for lang in LANGUAGES:
        quality, position = named.get(lang) or wildcard or (0.0, 0)
        rank = (quality, -position)
        if quality > 0 and rank > best_rank:
            best, best_rank = lang, rank
    return best


def _parse_accept_language(header: str) -> list[tuple[str, float]]:
    """``"en-GB,en;q=0.8"`` -> ``[("en-gb", 1.0), ("en", 0.8)]``; malformed entries are skipped."""
    ranges = []
    for item in header.split(","):
        tag, *params = (part.strip() for part in item.split(";"))
        if not tag:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = -1.0
        if 0.0 <= quality <= 1.0:
            ranges.append((tag.lower(), quality))
    return ranges
