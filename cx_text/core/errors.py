"""The cx_text exception hierarchy, each class with a stable code (docs/ERRORS.md).

Every error says what went wrong *and what to do about it*. The CLI prints
``Error CX-E0xx: <message> <hint>`` as one paragraph and exits with status 2, never a traceback.
Codes are stable across versions: scripts and tests match the code, not the wording.
"""

from __future__ import annotations


class CxTextError(Exception):
    """Base of every error cx_text raises on purpose (a user can act on it)."""

    code = "CX-E000"

    def __init__(self, message: str, hint: str | None = None, *, code: str | None = None) -> None:
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        super().__init__(message if not hint else f"{message} {hint}")


class ConfigError(CxTextError):
    """A setting, flag or environment variable has an unusable value."""

    code = "CX-E010"


class IngestError(CxTextError):
    """An input file cannot be read or mapped to the canonical columns."""

    code = "CX-E020"


class SchemaError(CxTextError):
    """A DataFrame lacks columns a stage needs, or has the wrong types."""

    code = "CX-E030"


class TaxonomyError(CxTextError):
    """A taxonomy YAML file is missing, malformed or inconsistent."""

    code = "CX-E040"


class ModelError(CxTextError):
    """A model cannot be found, prepared, verified or loaded."""

    code = "CX-E050"


class StoreError(CxTextError):
    """The DuckDB store cannot be opened, migrated or queried as asked."""

    code = "CX-E060"


class LoopError(CxTextError):
    """A closing-the-loop register operation is not allowed (e.g. a bad status move)."""

    code = "CX-E070"


class RunError(CxTextError):
    """A tagging run cannot start, resume or be discarded as asked (e.g. the input changed)."""

    code = "CX-E080"


class LabelError(CxTextError):
    """An analyst's label cannot be stored or a labels file cannot be imported as given."""

    code = "CX-E090"


#: every code, for docs/ERRORS.md and its test
CODES = {
    cls.code: cls.__name__
    for cls in (
        CxTextError,
        ConfigError,
        IngestError,
        SchemaError,
        TaxonomyError,
        ModelError,
        StoreError,
        LoopError,
        RunError,
        LabelError,
    )
}
