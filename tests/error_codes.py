"""Tests match an error's stable code (docs/ERRORS.md), not its wording.

``raises_code("CX-E060", "cx-text tag")`` expects a :class:`cx_text.CxTextError` with that code and
at most one key noun — the thing named, or the fix an actionable message must name — anywhere in
its message or hint (case-insensitive). Rewording a message never breaks a test; dropping the
noun or the fix does. :func:`cli_error` does the same for what the CLI printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cx_text.core.errors import CxTextError


@contextmanager
def raises_code(code: str, noun: str | None = None) -> Iterator[pytest.ExceptionInfo[CxTextError]]:
    with pytest.raises(CxTextError) as info:
        yield info
    assert info.value.code == code, f"{info.value.code} != {code}: {info.value}"
    if noun is not None:
        assert noun.lower() in str(info.value).lower(), f"{noun!r} not in: {info.value}"


def cli_error(printed: str, code: str, noun: str | None = None) -> bool:
    """Whether the CLI printed ``Error <code>:`` (and the noun, if given)."""
    return f"Error {code}:" in printed and (noun is None or noun.lower() in printed.lower())
