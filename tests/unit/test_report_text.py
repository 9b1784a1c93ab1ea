"""The report's words and numbers: yuan from integer fen, columns that hold Chinese, flat CSV names."""
from __future__ import annotations

from aidflow.report import csv_report, flatten, pad, yuan


def test_yuan_from_fen_without_floats():
    assert yuan(220_000_00) == "¥220,000"
    assert yuan(469_500_50) == "¥469,500.50"
    assert yuan(5) == "¥0.05" and yuan(-1_00) == "-¥1"
    assert yuan(2**53 - 1) == "¥90,071,992,547,409.91"  # the money ceiling, exactly


def test_pad_counts_a_chinese_character_as_two_columns():
    assert len(pad("受理 / cases", 20)) == 20 - 2  # two characters fill four columns
    assert pad("x" * 30, 10) == "x" * 30 + " "


def test_csv_has_one_row_per_figure_with_dotted_names():
    summaries = {name: {"service": name, "generated_at": "t", "from": "2026-01-01",
                        "compliance": {"review": {"met": 1, "met_share": None}}} for name in
                 ("intake", "review", "payout", "followup")}
    text = csv_report(summaries).decode("utf-8-sig").splitlines()
    assert text[0] == "service,figure,value"
    assert "intake,compliance.review.met,1" in text and "intake,compliance.review.met_share," in text
    assert not any(",generated_at," in line or ",service," in line for line in text)
    assert flatten({"b": {"c": 1}, "a": 2}) == [("a", 2), ("b.c", 1)]
