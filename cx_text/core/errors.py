"""The cx_text exception hierarchy.

Every error says what went wrong *and what to do about it*. The CLI prints
``str(error)`` as one paragraph and exits with status 2, never a traceback.
"""

from __future__ import annotations


class CxTextError(Exception):
    """Base of every error cx_text raises on purpose (a user can act on it)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} {hint}")


class ConfigError(CxTextError):
    """A setting, flag or environment variable has an unusable value."""


class IngestError(CxTextError):
    """An input file cannot be read or mapped to the canonical columns."""


class SchemaError(CxTextError):
    """A DataFrame lacks columns a stage needs, or has the wrong types."""


class TaxonomyError(CxTextError):
    """A taxonomy YAML file is missing, malformed or inconsistent."""


class ModelError(CxTextError):
    """A model cannot be found, prepared, verified or loaded."""


class StoreError(CxTextError):
    """The DuckDB store cannot be opened, migrated or queried as asked."""


class LoopError(CxTextError):
    """A closing-the-loop register operation is not allowed (e.g. a bad status move)."""


class RunError(CxTextError):
    """A tagging run cannot start, resume or be discarded as asked (e.g. the input changed)."""
