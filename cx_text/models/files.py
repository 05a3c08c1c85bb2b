"""File helpers of the model cache: an exclusive build lock next to a target directory (a leaf)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from cx_text.core.errors import ModelError


@contextlib.contextmanager
def locked_dir(target: Path) -> Iterator[None]:
    """An exclusive lock next to ``target`` (one builder at a time across processes)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = open(target.with_name(f".{target.name}.lock"), "w")  # noqa: SIM115
    except OSError as exc:
        raise ModelError(
            f"cache directory {target.parent} is not writable: {exc}.",
            "Set CX_TEXT_CACHE to a writable directory.",
        ) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
