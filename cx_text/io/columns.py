"""The user's columns inside the canonical frame, and the user's view of a tagged frame.

Inside cx_text a row has canonical columns (``text``, ``nps``, ``created_at`` … — what the tagger,
the store and the library read). Every *input* column also rides along, raw and in input order,
under an internal name that cannot collide with anything cx_text adds::

    input|text|Текст отзыва     the column mapped to ``text`` (raw cell values)
    input||Город               an unmapped column

:func:`user_view` turns a tagged frame into what the user gets back (``cx-text tag`` output, the
app's download, :func:`cx_text.tag_file`, :meth:`cx_text.Tagger.tag`): **their columns, under
their names, with their values as they were, in their order**, then cx_text's columns — ``id``
and everything the tagger added (``text_clean``, ``lang``, ``sentiment``, ``topics``,
``evidence``, ``row_status`` …). The parsed canonical copies (``text``, ``nps`` …) are not
repeated. A cx_text column whose name the user's file already has gets the prefix ``cx_``
(``id`` -> ``cx_id``, then ``cx_cx_id`` …): the user's column always keeps its name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from cx_text.core import schema

INPUT_PREFIX = "input|"
CX_PREFIX = "cx_"
#: the columns cx_text adds to the user's (what can clash with a name in their file)
CX_COLUMNS: tuple[str, ...] = (
    schema.ID,
    schema.TEXT_CLEAN,
    schema.DEDUPE_KEY,
    schema.PII_FOUND,
    schema.LANG,
    schema.LANG_CONFIDENCE,
    schema.SENTIMENT,
    schema.SENTIMENT_SCORE,
    schema.SENTIMENT_PROBS,
    schema.TOPICS,
    schema.TOPIC_SCORES,
    schema.SUBTOPICS,
    schema.ASPECT_SENTIMENTS,
    schema.EVIDENCE,
    schema.THEMES,
    schema.SOURCE_ROW,
    schema.ROW_STATUS,
    schema.ROW_ISSUES,
)


def input_column(name: str, canonical: str = "") -> str:
    """The internal name of input column ``name`` (mapped to ``canonical``, or unmapped)."""
    return f"{INPUT_PREFIX}{canonical}|{name}"


def parse_input_column(column: object) -> tuple[str, str] | None:
    """``(canonical or "", input name)`` of an internal input column, else None."""
    if not isinstance(column, str) or not column.startswith(INPUT_PREFIX):
        return None
    canonical, sep, name = column[len(INPUT_PREFIX) :].partition("|")
    return (canonical, name) if sep else None


def input_columns(columns: Iterable[object]) -> list[str]:
    """The internal input columns among ``columns``, in order."""
    return [str(c) for c in columns if parse_input_column(c) is not None]


def cx_name(column: str, taken: set[str]) -> str:
    """``column``, or ``cx_column`` (``cx_cx_column`` …) while the user's file has that name."""
    while column in taken:
        column = CX_PREFIX + column
    return column


def clash_notes(columns: Iterable[str]) -> list[str]:
    """One line per input column whose name cx_text also uses (for the ingest report)."""
    names = {str(c) for c in columns}
    return [
        f"your column {c!r} keeps its name; cx_text writes its own as {cx_name(c, names)!r}"
        for c in CX_COLUMNS
        if c in names
    ]


def user_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The user's columns (names, values, order) then cx_text's; see the module docstring.

    A frame without internal input columns (a store export, a verbatims page) is returned as is.
    """
    inputs = input_columns(frame.columns)
    if not inputs:
        return frame
    names = {c: parse_input_column(c)[1] for c in inputs}  # type: ignore[index]
    taken = set(names.values())
    canonical = set(schema.CANONICAL_COLUMNS) - {schema.ID}
    ours = [
        c for c in frame.columns if c not in names and c not in canonical and c != schema.ANALYSIS
    ]
    out = frame[[*inputs, *ours]].copy()
    out.columns = [*names.values(), *(cx_name(str(c), taken) for c in ours)]
    return out


def plain_names(
    columns: Iterable[object], known: Iterable[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """How to turn internal input columns back into plain extra columns (the store's ``extra``,
    the Spark DataFrame API): ``(columns to drop, {internal: plain name})``. Raw copies of mapped
    columns are dropped (the canonical column holds the value); an unmapped column keeps its
    name, or ``<name>_input`` while that name is taken by a cx_text or ``known`` column."""
    names = [str(c) for c in columns]
    inputs = {c: parse_input_column(c) for c in input_columns(names)}
    taken = set(known) | {c for c in names if c not in inputs}
    drop, renames = [], {}
    for col, parsed in inputs.items():
        if parsed is None or parsed[0]:
            drop.append(col)
            continue
        name = parsed[1]
        while name in taken:
            name = f"{name}_input"
        taken.add(name)
        renames[col] = name
    return drop, renames


def with_plain_names(sdf: Any) -> Any:
    """A Spark DataFrame (anything with ``columns``/``drop``/``withColumnsRenamed``) with plain
    extra columns (see :func:`plain_names`): what ``tag_spark_dataframe`` returns."""
    drop, renames = plain_names(sdf.columns)
    return sdf.drop(*drop).withColumnsRenamed(renames) if drop or renames else sdf


def unmapped_inputs(frame: pd.DataFrame) -> dict[str, str]:
    """``{internal column: input name}`` of the unmapped input columns (the store's ``extra``)."""
    found = {c: parse_input_column(c) for c in input_columns(frame.columns)}
    return {c: p[1] for c, p in found.items() if p is not None and not p[0]}
