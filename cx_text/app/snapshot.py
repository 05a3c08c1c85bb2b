"""How the app shares a store with other processes: it reads a private snapshot and writes briefly.

DuckDB allows one read-write process *or* any number of read-only ones per file, and even a
read-only connection blocks a writer in another process. So the app never keeps a connection to
the store itself:

* **Reads** go to a snapshot — a copy of the store file in a private temp folder, with one
  long-lived read-only connection (its TEMP caches survive between interactions). On every
  interaction (at most once a second) :meth:`AppStore.refresh` compares the file's size and
  modification time (and its WAL's) with the snapshot's; only if they changed does it open the
  store read-only for a moment and copy the file while that shared lock keeps writers out, then
  swap the snapshot (a copy runs at disk speed: ~25 ms for a 5 MB store). If another process is
  writing (a nightly
  ``cx-text tag``), the app keeps showing the last snapshot and says so (:attr:`AppStore.busy`).
* **Writes** (uploads, theme edits, register moves) open the store read-write only for the
  edit — an upload for one chunk at a time (:class:`ShortWrites`) — waiting up to
  ``WRITE_WAIT_S`` for another writer, then fail with a "busy, try again" StoreError.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from cx_text.core.errors import StoreError
from cx_text.store.locks import connect_retrying, is_lock_error
from cx_text.store.store import Store, migrate

#: a write waits this long for another process (a `cx-text tag` chunk, a CLI edit) to let go
WRITE_WAIT_S = 10.0
#: interactions closer together than this reuse the last refresh check
CHECK_EVERY_S = 1.0


def busy_error(path: Path, exc: BaseException | None = None) -> StoreError:
    return StoreError(
        f"the store {path} is busy: another process is writing to it"
        + (f" ({exc})" if exc else "")
        + ".",
        "Try again in a moment (a `cx-text tag`, `themes` or `loop` command is running).",
    )


class AppStore:
    """The app's store (shared by all sessions): ``store`` is the current snapshot, read under
    ``lock``; :meth:`refresh` follows the store file; :meth:`writable` edits the file itself."""

    def __init__(self, path: Path | str, check_every: float = CHECK_EVERY_S) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self.check_every = check_every
        self.busy = False
        self.snapshot_time: datetime | None = None
        self._version: str | None = None
        self._checked = 0.0
        self._folder = Path(tempfile.mkdtemp(prefix="cx_app_snapshot_"))
        self._names = itertools.count()
        self._store: Store | None = None
        weakref.finalize(self, shutil.rmtree, self._folder, True)
        self._create_or_migrate()
        self.refresh(force=True)

    @property
    def store(self) -> Store:
        """The snapshot being read (hold ``lock``)."""
        if self._store is None:
            raise busy_error(self.path)
        return self._store

    @property
    def version(self) -> str:
        """Identifies the snapshot being read (part of the app's cache keys)."""
        return self._version or ""

    @property
    def read_only(self) -> bool:
        """Kept for callers of the old API: True while another process holds the store."""
        return self.busy

    def _create_or_migrate(self) -> None:
        try:
            con = connect_retrying(self.path, wait_s=0 if self.path.is_file() else WRITE_WAIT_S)
        except duckdb.Error as exc:
            if not self.path.is_file():
                raise StoreError(
                    f"cannot create the store {self.path}: {exc}", "Check the --db path."
                ) from exc
            return  # another process writes it; it migrates the file itself
        try:
            migrate(con)
        finally:
            con.close()

    def refresh(self, force: bool = False) -> bool:
        """Follow the store file: True when a new snapshot was taken. Never waits for a writer."""
        with self.lock:
            if not force and time.monotonic() - self._checked < self.check_every:
                return False
            self._checked = time.monotonic()
            if not force and self._store is not None and self.file_version() == self._version:
                self.busy = False
                return False
            try:
                con = duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                if not is_lock_error(exc):
                    raise StoreError(
                        f"cannot open the store {self.path}: {exc}", "Check the --db path."
                    ) from exc
                self.busy = True
                if self._store is None:
                    raise busy_error(self.path) from exc
                return False
            try:
                version = self.file_version()
                copy = self._copy() if version != self._version or self._store is None else None
            finally:
                con.close()
            self.busy = False
            if copy is not None:
                self._swap(copy, version)
            return copy is not None

    def file_version(self) -> str:
        """Size and modification time of the store file and its WAL: any commit changes them."""
        parts = []
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                stat = path.stat()
                parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
            except FileNotFoundError:
                parts.append("-")
        return "|".join(parts)

    def _copy(self) -> Path:
        """Copy the store file (and a leftover WAL) while a read-only connection keeps writers
        out."""
        target = self._folder / f"snapshot-{next(self._names)}.duckdb"
        shutil.copyfile(self.path, target)
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.is_file():
            shutil.copyfile(wal, target.with_name(target.name + ".wal"))
        return target

    def _swap(self, snapshot: Path, version: str) -> None:
        old = self._store
        self._store = Store(duckdb.connect(str(snapshot), read_only=True), self.path)
        self._version = version
        self.snapshot_time = datetime.now()
        if old is not None:
            old.con.close()
            for leftover in self._folder.glob("snapshot-*"):
                if not leftover.name.startswith(snapshot.name):
                    leftover.unlink(missing_ok=True)

    @contextmanager
    def writable(self, refresh: bool = True) -> Iterator[Store]:
        """The store file opened read-write for one short edit (StoreError "busy" after
        ``WRITE_WAIT_S``); the snapshot is refreshed afterwards."""
        try:
            con = connect_retrying(self.path, wait_s=WRITE_WAIT_S)
        except duckdb.Error as exc:
            raise busy_error(self.path, exc) from exc
        try:
            migrate(con)
            yield Store(con, self.path)
        finally:
            con.close()
            if refresh:
                self._refresh_quietly()

    def _refresh_quietly(self) -> None:
        with self.lock:
            self._version = None  # our own write: always take a new snapshot
        try:
            self.refresh(force=True)
        except StoreError:
            self.busy = True

    def close(self) -> None:
        with self.lock:
            if self._store is not None:
                self._store.con.close()
                self._store = None
            shutil.rmtree(self._folder, ignore_errors=True)


class ShortWrites:
    """A :class:`Store` stand-in for long jobs (an upload): every call opens the store, runs in
    its own short write, and closes it, so other processes can write in between. Attributes a
    call sets on the store (the run's masking mode) carry over to the next call."""

    def __init__(self, app: AppStore) -> None:
        self._app = app
        self._state: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._app.writable(refresh=False) as store:
                vars(store).update(self._state)
                result = getattr(store, name)(*args, **kwargs)
                self._state = {k: v for k, v in vars(store).items() if k not in ("con", "path")}
                return result

        return call


def open_app_store(path: Path | str) -> AppStore:
    """Open (creating and migrating) the store for the app; see :class:`AppStore`."""
    return AppStore(path)
