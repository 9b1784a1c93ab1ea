"""Hostile input on the resident ID number check (居民身份证号码).

- every generated valid number passes and gives its birth date;
- any single-character change of a valid number is refused (MOD 11-2 catches every single
  substitution), unless it is only a change of spelling (``x`` for ``X``, a full-width digit);
- digits of other scripts never pass: one person has one spelling, so the blind index and the
  "one open case per person" rule cannot be sidestepped;
- garbage never raises anything but ``InvalidIdNumber``.

``AIDFLOW_HOSTILE_EXAMPLES`` raises the number of examples for a deep run.
"""
from __future__ import annotations

import os
from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from aidflow_intake import identity

EXAMPLES = int(os.environ.get("AIDFLOW_HOSTILE_EXAMPLES", "10")) * 5
hostile = settings(max_examples=EXAMPLES)
TODAY = date(2026, 11, 29)


@st.composite
def valid_numbers(draw) -> str:
    province = draw(st.sampled_from(sorted(identity.PROVINCE_CODES)))
    county = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.integers(0, 999))
    first17 = f"{province}{county}{birth:%Y%m%d}{sequence:03d}"
    return first17 + identity.check_character(first17)


def same_spelling(a: str, b: str) -> bool:
    return identity.normalise(a) == identity.normalise(b)


@hostile
@given(number=valid_numbers())
def test_a_valid_number_passes(number):
    birth = identity.parse_resident_id(number, today=TODAY)
    assert birth == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


@hostile
@given(number=valid_numbers(), data=st.data())
def test_any_single_character_change_is_refused(number, data):
    position = data.draw(st.integers(0, 17))
    replacement = data.draw(st.one_of(st.sampled_from("0123456789X"), st.characters()))
    changed = number[:position] + replacement + number[position + 1:]
    if same_spelling(changed, number):
        return
    with pytest.raises(identity.InvalidIdNumber):
        identity.parse_resident_id(changed, today=TODAY)


@hostile
@given(number=valid_numbers(), data=st.data())
def test_two_adjacent_digits_swapped_are_refused(number, data):
    position = data.draw(st.integers(0, 16))
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2:]
    if swapped == number:
        return
    with pytest.raises(identity.InvalidIdNumber):
        identity.parse_resident_id(swapped, today=TODAY)


OTHER_DIGITS = [chr(zero + d) for zero in (0x0660, 0x06F0, 0x0966, 0x09E6, 0x1D7CE) for d in range(10)]


@hostile
@given(number=valid_numbers(), data=st.data())
def test_digits_of_other_scripts_never_pass(number, data):
    positions = data.draw(st.sets(st.integers(0, 16), min_size=1, max_size=17))
    foreign = "".join(OTHER_DIGITS[int(c) + 10 * data.draw(st.integers(0, 4))] if i in positions and c.isdigit()
                      else c for i, c in enumerate(number))
    if same_spelling(foreign, number):  # compatibility forms (mathematical digits) normalise to ASCII
        assert identity.parse_resident_id(foreign, today=TODAY) == identity.parse_resident_id(number, today=TODAY)
        return
    with pytest.raises(identity.InvalidIdNumber) as refused:
        identity.parse_resident_id(foreign, today=TODAY)
    assert refused.value.code in ("invalid_id_format", "invalid_id_region")


@hostile
@given(number=valid_numbers())
def test_full_width_spelling_is_the_same_number(number):
    """As a Chinese input method may type it: accepted, and normalised to the ASCII number."""
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    assert identity.parse_resident_id(full_width, today=TODAY) == identity.parse_resident_id(number, today=TODAY)
    assert identity.normalise(full_width) == number


@settings(max_examples=EXAMPLES * 2)
@given(text=st.one_of(st.text(max_size=40), st.from_regex(r"[0-9Xx \t\n]{0,25}", fullmatch=True),
                      st.text(alphabet="0123456789", min_size=18, max_size=18)))
def test_garbage_is_refused_with_a_code(text):
    try:
        identity.parse_resident_id(text, today=TODAY)
    except identity.InvalidIdNumber as refused:
        assert refused.code in ("invalid_id_format", "invalid_id_region", "invalid_id_birth_date",
                                "invalid_id_checksum")
    masked = identity.mask(text)
    assert isinstance(masked, str)
