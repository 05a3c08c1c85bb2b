"""The work folder of one output (``.<output>.cx-parts/``) and what lets ``--resume`` trust it.

:class:`PartsDir` holds ``state.json`` (the run id and the fingerprint of its input and options)
plus one atomically written Parquet part per finished chunk. :func:`claim_run` claims the folder
for a new run, or — on ``--resume`` — continues the interrupted run after checking that the
input file (a streamed SHA-256 of every byte), mapping, sheet, chunk size, models and source are
the same (:func:`run_fingerprint`). :meth:`PartsDir.remove_if_owned` deletes a folder only if it
is provably the run's own. The run service (:mod:`cx_text.engines.base`) drives all of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import RunError
from cx_text.io.output import read_frame, write_frame
from cx_text.models.registry import file_sha256

#: the files a work folder holds: state, parts, the Spark group size, their temp files
_OWN_FILE = re.compile(r"^\.?(?:state\.json|spark\.json|chunk-\d{6}(?:\.tmp)?\.parquet)(?:\.tmp)?$")


class PartsDir:
    """The work folder of one output: state.json plus one Parquet part per finished chunk."""

    def __init__(self, output: Path) -> None:
        self.path = output.parent / f".{output.name}.cx-parts"

    def state(self) -> dict[str, Any] | None:
        f = self.path / "state.json"
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None

    def start(self, fingerprint: str, run_id: str, **facts: Any) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / ".state.json.tmp"
        tmp.write_text(
            json.dumps({"fingerprint": fingerprint, "run_id": run_id, **facts}), encoding="utf-8"
        )
        os.replace(tmp, self.path / "state.json")

    def part(self, index: int) -> Path:
        return self.path / f"chunk-{index:06d}.parquet"

    def write(self, index: int, frame: pd.DataFrame) -> None:
        """Atomically write one chunk with the output's nested types (maps stay maps)."""
        tmp = self.path / f".chunk-{index:06d}.tmp.parquet"
        write_frame(frame.drop(columns=[schema.ANALYSIS], errors="ignore"), tmp)
        os.replace(tmp, self.part(index))

    def read(self, index: int) -> pd.DataFrame:
        return read_frame(self.part(index))

    def indexes(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.path.glob("chunk-*.parquet"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def remove_if_owned(self, run_id: str) -> str:
        """Delete the folder only if it is ``run_id``'s: a real folder (not a link) next to the
        output, holding nothing but its state and parts. Returns what happened, for the user."""
        if not self.path.exists():
            return f"no work folder at {self.path}"
        state = self.state() if self.path.is_dir() and not self.path.is_symlink() else None
        if not state or state.get("run_id") != run_id:
            return f"kept {self.path}: it is not this run's work folder"
        if any(
            f.is_symlink() or not f.is_file() or not _OWN_FILE.match(f.name)
            for f in self.path.iterdir()
        ):
            return f"kept {self.path}: it holds files cx_text did not write; delete it yourself"
        shutil.rmtree(self.path)
        return f"removed the work folder {self.path}"


# -- identity of an input (file_sha256: models.registry, streamed in 1 MiB pieces) -----------
def input_fingerprint(path: Path, options: Mapping[str, Any], sha256: str | None = None) -> str:
    """Identity of an input file (all of it) + the options that change the output (--resume)."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    h.update((sha256 or file_sha256(path)).encode())
    return h.hexdigest()[:32]


def run_fingerprint(
    path: Path,
    mapping: Mapping[str, str] | None,
    sheet: str | None,
    settings: Settings,
    manifest: Mapping[str, Any],
    source: str = "",
    sha256: str | None = None,
) -> str:
    """The fingerprint a run of any engine records: the input file plus mapping, sheet, chunk
    size, models and source, so ``--resume`` continues only a run over the same input and
    settings."""
    options = {
        "mapping": dict(mapping or {}),
        "sheet": sheet,
        "chunk": settings.chunk_size,
        "models": manifest.get("fingerprint", ""),
        "source": source,
    }
    return input_fingerprint(path, options, sha256)


def claim_run(
    parts: PartsDir, fingerprint: str, resume: bool | str, run_id: str | None, sha256: str = ""
) -> str:
    """The run id of ``parts``: a new run, or the interrupted one when ``resume`` and it matches.

    ``resume="auto"`` (the app) continues a matching interrupted run and starts over otherwise.
    """
    state = parts.state()
    if state and resume == "auto" and state.get("fingerprint") != fingerprint:
        parts.remove()
        state = None
    if state and not resume:
        raise RunError(
            f"an interrupted run of this output exists ({parts.path}).",
            "Pass --resume to continue it, or delete that folder to start over.",
        )
    if resume and state:
        _check_same_input(state, fingerprint, sha256, parts)
        return str(state["run_id"])
    from cx_text.store.store import new_run_id

    run_id = run_id or new_run_id()
    parts.start(fingerprint, run_id, input_sha256=sha256)
    return run_id


def _check_same_input(
    state: Mapping[str, Any], fingerprint: str, sha256: str, parts: PartsDir
) -> None:
    if state["fingerprint"] == fingerprint:
        return
    old = str(state.get("input_sha256") or "")
    what = (
        f"the input file changed since it was interrupted (sha256 {old[:12]}… now {sha256[:12]}…)"
        if old and sha256 and old != sha256
        else "the options (mapping, chunk size, models, source) differ"
    )
    raise RunError(
        f"--resume: {what}; the interrupted run was over a different input or settings.",
        f"Resume with the original file and options, or re-run without --resume after "
        f"deleting {parts.path}.",
    )
