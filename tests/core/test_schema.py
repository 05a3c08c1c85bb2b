"""Flat-file cells: what an empty cell reads as, and the list/aspect cell round trips."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from cx_text.core import schema


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({}, ""),  # no such column
        ({"topics": None}, ""),
        ({"topics": math.nan}, ""),  # an empty CSV/XLSX cell read by pandas
        ({"topics": np.float64("nan")}, ""),
        ({"topics": ""}, ""),
        ({"topics": "  "}, "  "),  # a blank string is a value; callers strip it
        ({"topics": "доставка;цены"}, "доставка;цены"),
        ({"topics": 0}, 0),
        ({"topics": 0.0}, 0.0),
        ({"topics": ["delivery"]}, ["delivery"]),
    ],
)
def test_schema_row_cell_reads_an_empty_cell_as_blank(row: dict[str, Any], expected: Any) -> None:
    assert schema.row_cell(row, "topics") == expected


@pytest.mark.parametrize(
    ("cell", "items"),
    [
        ("delivery;staff", ["delivery", "staff"]),
        (" доставка ; цены ", ["доставка", "цены"]),
        ("", []),
        (math.nan, []),
        (None, []),
    ],
)
def test_schema_split_list_inverts_join_list(cell: Any, items: list[str]) -> None:
    assert schema.split_list(cell) == items
    assert schema.split_list(schema.join_list(items)) == items
