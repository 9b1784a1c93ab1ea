"""Resident ID numbers: format, region, birth date and the ISO 7064 MOD 11-2 check character."""
from datetime import date

import pytest
from hypothesis import given, strategies as st

from aidflow_intake import identity

# The worked example of GB 11643-1999.
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid():
    assert identity.parse_resident_id(STANDARD_EXAMPLE) == date(1949, 12, 31)


def test_lowercase_x_is_accepted():
    assert identity.parse_resident_id(STANDARD_EXAMPLE.lower()) == date(1949, 12, 31)


@pytest.mark.parametrize("number, code", [
    ("11010519491231002", "invalid_id_format"),
    ("1101051949123100AX", "invalid_id_format"),
    ("99010519491231002X", "invalid_id_region"),
    ("110105194913310029", "invalid_id_birth_date"),
    ("110105194902300021", "invalid_id_birth_date"),
    ("110105194912310021", "invalid_id_checksum"),
])
def test_invalid_numbers_say_why(number, code):
    with pytest.raises(identity.InvalidIdNumber) as exc:
        identity.parse_resident_id(number)
    assert exc.value.code == code


def test_birth_date_in_the_future_is_refused():
    first17 = "510104" + "20991231" + "001"
    with pytest.raises(identity.InvalidIdNumber) as exc:
        identity.parse_resident_id(first17 + identity.check_character(first17), today=date(2026, 1, 1))
    assert exc.value.code == "invalid_id_birth_date"


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)), st.integers(0, 999),
       st.sampled_from(sorted(identity.PROVINCE_CODES)))
def test_every_generated_number_round_trips(birth, sequence, province):
    first17 = f"{province}0101{birth:%Y%m%d}{sequence:03d}"
    assert identity.parse_resident_id(first17 + identity.check_character(first17)) == birth


@given(st.text(max_size=30))
def test_arbitrary_text_never_crashes(text):
    try:
        identity.parse_resident_id(text)
    except identity.InvalidIdNumber:
        pass


@pytest.mark.parametrize("birth, day, minor", [
    (date(2008, 11, 30), date(2026, 11, 29), True),   # turns 18 tomorrow
    (date(2008, 11, 29), date(2026, 11, 29), False),  # 18 today
    (None, date(2026, 11, 29), False),
])
def test_minors_from_birth_date(birth, day, minor):
    assert identity.is_minor(birth, day) is minor


def test_mask_keeps_nothing_identifying():
    assert identity.mask(STANDARD_EXAMPLE) == "110*************2X"
