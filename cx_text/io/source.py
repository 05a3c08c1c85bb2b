"""The source name of an export: half of a message's identity in the store (source, id).

``cx-text tag FILE --source NAME`` names it; otherwise it is the file's stem, normalised
(``Export B (2).csv`` -> ``export_b_2``), so re-tagging the same file supersedes its own earlier
tags while another export with overlapping ids adds messages.
"""

from __future__ import annotations

import re
from pathlib import Path

from cx_text.core.errors import ConfigError

DEFAULT_SOURCE = "default"
MAX_SOURCE_CHARS = 64
_NOT_NAME = re.compile(r"[^\w]+")


def normalise_source(name: str) -> str:
    """Lower-case letters/digits joined by ``_`` (any script), at most 64 characters."""
    cleaned = _NOT_NAME.sub("_", name.strip().lower()).strip("_")
    return cleaned[:MAX_SOURCE_CHARS].strip("_")


def source_name(path: str | Path | None, given: str | None = None) -> str:
    """``given`` (validated) or the normalised stem of ``path``; ``default`` when neither."""
    if given is not None:
        name = normalise_source(given)
        if not name:
            raise ConfigError(
                f"--source {given!r} has no letters or digits.",
                "Name the export, e.g. --source crm_2026_q1.",
            )
        return name
    stem = Path(str(path)).stem if path else ""
    return normalise_source(stem) or DEFAULT_SOURCE
