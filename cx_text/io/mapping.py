"""Map an export's columns to the canonical ones (schema.CANONICAL_COLUMNS).

Explicit flags win (``{canonical: input column}``); every other canonical column is found by
the RU/EN synonyms in ``cx_text/core/lang/columns.yaml``, ignoring case, spaces, punctuation and
ё/е.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from cx_text.core import schema
from cx_text.core.errors import IngestError

SYNONYMS_PATH = Path(__file__).resolve().parents[1] / "core" / "lang" / "columns.yaml"
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Synonyms:
    """Synonyms of one canonical column, already tokenized."""

    exact: tuple[str, ...]
    contains: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ColumnMapping:
    """How input columns map to canonical ones and what was left over."""

    mapping: dict[str, str]  # canonical -> input column
    explicit: frozenset[str] = frozenset()  # canonical names given by flags
    unmapped: tuple[str, ...] = ()  # input columns kept as extra columns
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)  # column -> candidates

    def input_for(self, canonical: str) -> str | None:
        """The input column mapped to ``canonical`` (or None)."""
        return self.mapping.get(canonical)


def tokens(name: object) -> tuple[str, ...]:
    """``"Created_At (UTC)"`` -> ``("created", "at", "utc")``; ё is folded to е."""
    return tuple(_TOKEN.findall(str(name).casefold().replace("ё", "е")))


def squash(name: object) -> str:
    """Case/space/punctuation-insensitive key: ``"Message-ID"`` -> ``"messageid"``."""
    return "".join(tokens(name))


@lru_cache(maxsize=4)
def load_synonyms(path: Path = SYNONYMS_PATH) -> dict[str, Synonyms]:
    """Read the synonym table (a data file, not code)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IngestError(
            f"cannot read column synonyms {path}: {exc}.", "Reinstall cx_text or fix the YAML."
        ) from exc
    table = {}
    for canonical, spec in (data.get("columns") or {}).items():
        table[canonical] = Synonyms(
            exact=tuple(squash(s) for s in spec.get("exact") or ()),
            contains=tuple(tokens(s) for s in spec.get("contains") or ()),
        )
    return table


def _contains(column: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    """True when ``phrase`` occurs in ``column`` as consecutive word starts."""
    n = len(phrase)
    return n > 0 and any(
        all(column[i + k].startswith(phrase[k]) for k in range(n))
        for i in range(len(column) - n + 1)
    )


def _exact_match(columns: Sequence[str], syn: Synonyms, taken: set[str]) -> str | None:
    keys = {c: squash(c) for c in columns if c not in taken}
    for wanted in syn.exact:
        for col, key in keys.items():
            if key == wanted:
                return col
    return None


def _contains_candidates(
    columns: Sequence[str], table: Mapping[str, Synonyms], taken: set[str]
) -> dict[str, list[str]]:
    """input column -> canonical columns whose 'contains' synonyms it matches."""
    found: dict[str, list[str]] = {}
    for col in columns:
        if col in taken:
            continue
        toks = tokens(col)
        for canonical, syn in table.items():
            if any(_contains(toks, phrase) for phrase in syn.contains):
                found.setdefault(col, []).append(canonical)
    return found


def _check_explicit(explicit: Mapping[str, str], columns: Sequence[str]) -> dict[str, str]:
    """Validate flags and resolve each to an actual column name (exact, else squashed)."""
    resolved: dict[str, str] = {}
    for canonical, wanted in explicit.items():
        if canonical not in schema.CANONICAL_COLUMNS:
            raise IngestError(
                f"unknown canonical column {canonical!r} in the mapping.",
                f"Use one of: {', '.join(schema.CANONICAL_COLUMNS)}.",
            )
        resolved[canonical] = _find_column(str(wanted), columns, canonical)
    used = list(resolved.values())
    dupes = sorted({c for c in used if used.count(c) > 1})
    if dupes:
        raise IngestError(
            f"column(s) {dupes} are mapped to more than one canonical column.",
            "Give each --*-col flag a different column.",
        )
    return resolved


def _find_column(wanted: str, columns: Sequence[str], canonical: str) -> str:
    if wanted in columns:
        return wanted
    loose = [c for c in columns if squash(c) == squash(wanted)]
    if len(loose) == 1:
        return loose[0]
    flag = {"created_at": "date", "customer_id": "customer"}.get(canonical, canonical)
    raise IngestError(
        f"column {wanted!r} (given for {canonical}) is not in the file; "
        f"columns are: {', '.join(map(repr, columns)) or '(none)'}.",
        f"Pass --{flag}-col with one of these names.",
    )


def resolve_mapping(
    columns: Sequence[str], explicit: Mapping[str, str] | None = None, *, require_text: bool = True
) -> ColumnMapping:
    """Map ``columns`` to canonical names: flags first, then exact synonyms, then 'contains'."""
    columns = [str(c) for c in columns]
    mapping = _check_explicit(dict(explicit or {}), columns)
    table = load_synonyms()
    taken = set(mapping.values())
    for canonical in schema.CANONICAL_COLUMNS:
        if canonical in mapping or canonical not in table:
            continue
        col = _exact_match(columns, table[canonical], taken)
        if col is not None:
            mapping[canonical] = col
            taken.add(col)
    ambiguous = _map_contains(columns, table, mapping, taken)
    if require_text and schema.TEXT not in mapping:
        raise missing_text_error(columns)
    ordered = {c: mapping[c] for c in schema.CANONICAL_COLUMNS if c in mapping}
    return ColumnMapping(
        mapping=ordered,
        explicit=frozenset(explicit or {}),
        unmapped=tuple(c for c in columns if c not in taken),
        ambiguous=ambiguous,
    )


def _map_contains(
    columns: Sequence[str], table: Mapping[str, Synonyms], mapping: dict[str, str], taken: set[str]
) -> dict[str, tuple[str, ...]]:
    """Second pass: 'contains' synonyms for still-unmapped canonicals; ambiguity is reported."""
    wanted = {c: s for c, s in table.items() if c not in mapping}
    found = _contains_candidates(columns, wanted, taken)
    for col, cands in sorted(found.items(), key=lambda kv: len(kv[1])):
        open_cands = [c for c in cands if c not in mapping]
        if len(open_cands) == 1:
            mapping[open_cands[0]] = col
            taken.add(col)
    return {
        col: tuple(c)
        for col, c in found.items()
        if col not in taken and len([x for x in c if x not in mapping]) > 1
    }


def missing_text_error(columns: Iterable[str]) -> IngestError:
    """The error for 'no text column': list the columns and suggest --text-col."""
    cols = ", ".join(repr(str(c)) for c in columns) or "(none)"
    return IngestError(
        f"no text column found; the columns are: {cols}.",
        "Pass --text-col with the column that holds the feedback text.",
    )


def header_score(cells: Sequence[object], explicit_text: str | None = None) -> int:
    """How much a row of cells looks like the header: the number of canonical columns it maps
    (0 when it names no text column)."""
    names = [str(c).strip() for c in cells if str(c).strip()]
    if explicit_text is not None and squash(explicit_text) not in {squash(n) for n in names}:
        return 0
    try:
        found = resolve_mapping(
            names, {schema.TEXT: explicit_text} if explicit_text is not None else None
        )
    except IngestError:
        return 0
    return len(found.mapping)
