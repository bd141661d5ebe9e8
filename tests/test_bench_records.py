"""The benchmarks' JSON-lines records: every cell keeps its text, and a leading number is read
with its unit (the median of a ``median (min–max)`` cell), so runs can be compared by machine."""

from __future__ import annotations

import pytest

from bench.common import Section, cell_record


@pytest.mark.parametrize(
    ("cell", "value", "unit"),
    [
        ("1,287,168", 1_287_168.0, ""),
        ("6.17×", 6.17, "×"),
        ("602.2 ms (580.0 ms–650.1 ms)", 602.2, "ms"),
        ("100.0 % (100.0 %–100.0 %)", 100.0, "%"),
        ("1.18 s", 1.18, "s"),
        ("-1.5e3 s", -1500.0, "s"),
    ],
)
def test_a_leading_number_is_read_with_its_unit(cell: str, value: float, unit: str) -> None:
    assert cell_record(cell) == {"text": cell, "value": value, "unit": unit}


@pytest.mark.parametrize("cell", ["–", "binance", "n/a", "ours", "never (some streams)"])
def test_a_cell_without_a_leading_number_keeps_only_its_text(cell: str) -> None:
    assert cell_record(cell) == {"text": cell}


def test_section_records_rows_targets_and_notes() -> None:
    section = Section("9. Example", ("venue", "ratio"))
    section.row("bybit", "6.17×")
    section.target("ours ≥ 10×", False)
    section.notes.append("a note")
    assert section.records() == [
        {"section": "9. Example", "row": {"venue": {"text": "bybit"}, "ratio": cell_record("6.17×")}},
        {"section": "9. Example", "target": "ours ≥ 10×", "met": False},
        {"section": "9. Example", "note": "a note"},
    ]
