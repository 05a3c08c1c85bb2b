"""Property tests: any bytes or CSV-ish text either loads with rows conserved or raises
IngestError."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cx_text.core import schema
from cx_text.core.errors import IngestError
from cx_text.io.ingest import iter_export_chunks, read_export

CELL = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(data: bytes, suffix: str) -> pd.DataFrame | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            frame = read_export(path).frame
        except IngestError:
            return None
        chunked = pd.concat(iter_export_chunks(path, chunk_size=2))
        pd.testing.assert_frame_equal(chunked, frame)
        assert frame[schema.ROW_STATUS].notna().all()
        return frame


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".tsv", ".json", ".jsonl"]))
def test_ingest_fuzz_random_bytes_load_or_raise_ingest_error(data: bytes, suffix: str) -> None:
    _load(data, suffix)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header with a text column plus 0-3 others, and 0-8 rows of the same width."""
    extra = draw(st.lists(st.text(alphabet="abcxyz _", min_size=1, max_size=6), max_size=3))
    header = ["text", *extra]
    rows = draw(st.lists(st.lists(CELL, min_size=len(header), max_size=len(header)), max_size=8))
    return header, rows


@FUZZ
@given(
    table=tables(),
    sep=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251", "utf-16"]),
)
def test_ingest_fuzz_csvish_text_conserves_rows(
    table: tuple[list[str], list[list[str]]], sep: str, encoding: str
) -> None:
    header, rows = table
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    frame = _load(buf.getvalue().encode(encoding, errors="replace"), ".csv")
    if frame is not None:
        assert len(frame) == len(rows)
        assert frame[schema.SOURCE_ROW].is_monotonic_increasing
