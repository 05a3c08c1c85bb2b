"""An in-memory DataFrame into the canonical frame, with the same value checks as a file export.

:func:`canonical_frame` is what :meth:`cx_text.Tagger.tag` runs first: columns are mapped by the
same synonym table (or ``text_col`` / ``mapping``), ids are generated or checked for duplicates,
dates and metric values are parsed, and bad values are cleared and flagged — never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import IngestError
from cx_text.io.base import RawChunk
from cx_text.io.mapping import resolve_mapping
from cx_text.io.rows import RowContext, build_chunk, extra_names
from cx_text.io.values import slash_dayfirst


def canonical_frame(
    frame: pd.DataFrame,
    *,
    text_col: str | None = None,
    mapping: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    key: str = "frame",
) -> pd.DataFrame:
    """``frame`` as the canonical frame: rows in = rows out, in order; bad values flagged."""
    if not isinstance(frame, pd.DataFrame):
        raise IngestError(
            f"expected a pandas DataFrame, got {type(frame).__name__}.",
            "Pass a DataFrame (for a file, use cx_text.tag_file).",
        )
    raw = frame.reset_index(drop=True)
    raw.columns = [str(c) for c in raw.columns]
    if len(set(raw.columns)) != len(raw.columns):
        raise IngestError(
            "the DataFrame has repeated column names.", "Rename the columns so each is unique."
        )
    explicit = dict(mapping or {})
    if text_col is not None:
        explicit[schema.TEXT] = text_col
    resolved = resolve_mapping(list(raw.columns), explicit)
    date_col = resolved.input_for(schema.CREATED_AT)
    dayfirst = slash_dayfirst(raw[date_col].head(2000).tolist()) if date_col else True
    ctx = RowContext(
        mapping=resolved,
        settings=settings or Settings(),
        file_key=key,
        extras=extra_names(list(raw.columns), resolved),
        keep_extra_types=True,
        dayfirst_slash=dayfirst,
        row_label="row",
    )
    return build_chunk(RawChunk(raw, list(range(1, len(raw) + 1))), ctx)
