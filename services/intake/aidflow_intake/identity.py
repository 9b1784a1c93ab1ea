"""Identity documents: the PRC resident identity number (居民身份证号码) and other ID types.

A resident ID number is 18 characters: a 6-digit administrative division code, the birth date
(YYYYMMDD), a 3-digit sequence and a check character computed with ISO 7064 MOD 11-2 (X
stands for 10). Only the province part of the division code is checked here: county codes are
renamed and merged every year, and a stale table would refuse real people.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date

from aidflow_shared.calendar import beijing_today

PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83",
})
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_RESIDENT_ID = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII only: \d would take any script's digits
MAJORITY_AGE = 18


class InvalidIdNumber(ValueError):
    """``code`` says what is wrong: format, region, birth date or check character."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def normalise(id_number: str) -> str:
    """One spelling per document: full-width forms (as Chinese input methods type them) become
    ASCII, surrounding blanks go, letters are upper case."""
    return unicodedata.normalize("NFKC", id_number).strip().upper()


def parse_resident_id(id_number: str, *, today: date | None = None) -> date:
    """Validate a resident ID number and return the birth date it encodes."""
    value = normalise(id_number)
    if not _RESIDENT_ID.match(value):
        raise InvalidIdNumber("invalid_id_format")
    if value[:2] not in PROVINCE_CODES:
        raise InvalidIdNumber("invalid_id_region")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber("invalid_id_birth_date") from None
    if birth > (today or beijing_today()) or birth.year < 1900:
        raise InvalidIdNumber("invalid_id_birth_date")
    if check_character(value[:17]) != value[17]:
        raise InvalidIdNumber("invalid_id_checksum")
    return birth


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_minor(birth: date | None, day: date | None = None) -> bool:
    return birth is not None and age_on(birth, day or beijing_today()) < MAJORITY_AGE


def mask(id_number: str) -> str:
    """What staff without need see: the first 3 and last 2 characters."""
    value = normalise(id_number)
    return value[:3] + "*" * max(0, len(value) - 5) + value[-2:] if len(value) > 5 else "*" * len(value)
