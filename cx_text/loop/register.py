"""The closing-the-loop register in DuckDB: items, status workflow, history, owning teams.

An item routes a recurring complaint — a theme (``delivery:t003``) or a whole topic
(``delivery``, ``delivery/late``) — to an owning team and tracks it through
``new → acknowledged → in_progress → fixed → customers_notified → verified``. Every change is a
row in ``loop_history``. Tables: migration 4 in :mod:`cx_text.store.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cx_text.core.config import CORE_DIR
from cx_text.core.errors import LoopError
from cx_text.store.store import Store
from cx_text.text.pii_frame import masked_cell

DEFAULT_TEAMS = CORE_DIR / "lang" / "teams.yaml"
STATUSES: tuple[str, ...] = (
    "new",
    "acknowledged",
    "in_progress",
    "fixed",
    "customers_notified",
    "verified",
)
OPEN_STATUSES = STATUSES[:-1]
#: allowed moves; going back to in_progress re-opens an item whose fix did not hold
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged",),
    "acknowledged": ("in_progress",),
    "in_progress": ("fixed",),
    "fixed": ("customers_notified", "in_progress"),
    "customers_notified": ("verified", "in_progress"),
    "verified": ("in_progress",),
}
EDITABLE = ("title", "team", "owner", "due_date", "fixed_at", "notes")


@dataclass(frozen=True)
class Team:
    """An owning team: id, display names, the topics it owns, other accepted spellings."""

    id: str
    names: dict[str, str]
    topics: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    def name(self, lang: str = "en") -> str:
        return self.names.get(lang) or self.names.get("en") or self.id


@dataclass(frozen=True)
class Teams:
    """The configured teams (``cx_text/core/lang/teams.yaml`` or the user's copy)."""

    teams: tuple[Team, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.teams)

    def get(self, name: str) -> Team:
        """A team by id or alias (case-insensitive), or LoopError listing the teams."""
        key = name.strip().lower().replace("-", "_").replace(" ", "_")
        for team in self.teams:
            if key == team.id or key in team.aliases:
                return team
        raise LoopError(
            f"unknown team {name!r}; teams are: {', '.join(self.ids)}.",
            "Pick one of them, or add the team to your teams YAML (--teams).",
        )

    def for_topic(self, topic: str) -> Team | None:
        """The team owning ``topic`` (``delivery/late`` belongs to the owner of ``delivery``)."""
        parent = topic.split("/", 1)[0].split(":", 1)[0]
        return next((t for t in self.teams if parent in t.topics), None)


def load_teams(path: Path | str | None = None) -> Teams:
    """Read and check a teams YAML (default: the packaged ``lang/teams.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_TEAMS
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        teams = tuple(
            Team(
                id=str(t["id"]),
                names=dict(t.get("names") or {}),
                topics=tuple(str(x) for x in t.get("topics") or ()),
                aliases=tuple(str(a).lower() for a in t.get("aliases") or ()),
            )
            for t in data["teams"]
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise LoopError(
            f"cannot read the teams file {path}: {exc}.",
            "Copy cx_text/core/lang/teams.yaml and keep its shape (teams: - id, names, "
            "topics, aliases).",
        ) from exc
    if len(set(t.id for t in teams)) != len(teams) or not teams:
        raise LoopError(
            f"the teams file {path} has no teams or repeats a team id.",
            "Give every team a unique id.",
        )
    return Teams(teams)


@dataclass(frozen=True)
class Item:
    """One register item (a row of ``loop_items``)."""

    item_id: int
    title: str
    theme_id: str | None
    topic: str
    team: str
    owner: str | None
    status: str
    due_date: date | None
    fixed_at: date | None
    notes: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def subject(self) -> str:
        """What the item tracks: the theme id, else the topic."""
        return self.theme_id or self.topic

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


ITEM_COLUMNS = [f.name for f in fields(Item)]


def parse_status(value: str) -> str:
    """``"In progress"`` / ``"in-progress"`` → ``"in_progress"``; LoopError for unknown names."""
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in STATUSES:
        raise LoopError(f"unknown status {value!r}.", f"Statuses are: {', '.join(STATUSES)}.")
    return key


def check_move(current: str, target: str) -> None:
    """Raise LoopError naming the allowed next states when ``current → target`` is not allowed."""
    allowed = NEXT_STATUSES[current]
    if target not in allowed:
        raise LoopError(
            f"cannot move an item from {current!r} to {target!r}.",
            f"From {current!r} it can go to: {', '.join(allowed)}.",
        )


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def get_item(store: Store, item_id: int) -> Item:
    """One item by id, or LoopError saying how to list them."""
    row = store.con.execute(
        f"SELECT {', '.join(ITEM_COLUMNS)} FROM loop_items WHERE item_id = ?", [int(item_id)]
    ).fetchone()
    if row is None:
        raise LoopError(
            f"there is no register item #{item_id}.", "List the items with `cx-text loop list`."
        )
    return _item(dict(zip(ITEM_COLUMNS, row, strict=True)))


def _item(row: dict[str, Any]) -> Item:
    for key in ("due_date", "fixed_at"):
        value = row[key]
        row[key] = value.date() if isinstance(value, datetime) else value
    return Item(**row)


def items_frame(
    store: Store, team: str | None = None, statuses: tuple[str, ...] = STATUSES
) -> pd.DataFrame:
    """Items (optionally one team / some statuses) with the latest re-measurement verdict."""
    sql = """SELECT i.*, m.verdict, m.measured_at FROM loop_items i
      LEFT JOIN (SELECT item_id, arg_max(verdict, measured_at) AS verdict, max(measured_at) AS \
measured_at
                 FROM loop_measurements GROUP BY item_id) m USING (item_id)
      WHERE ($team IS NULL OR i.team = $team) AND i.status IN (SELECT unnest($statuses))
      ORDER BY i.item_id"""
    return store.con.execute(sql, {"team": team, "statuses": list(statuses)}).df()


def history(store: Store, item_id: int) -> pd.DataFrame:
    """Every change of an item, oldest first."""
    get_item(store, item_id)
    return store.con.execute(
        "SELECT changed_at, actor, field, old_value, new_value, note FROM "
        "loop_history WHERE item_id = ? ORDER BY changed_at, rowid",
        [int(item_id)],
    ).df()


def insert_item(store: Store, values: dict[str, Any], actor: str | None) -> Item:
    """Insert a new item (status ``new``) and its ``opened`` history row; returns it."""
    values = {**values, "notes": masked_cell(values.get("notes"))}
    with store.transaction():
        row = store.con.execute("SELECT coalesce(max(item_id), 0) + 1 FROM loop_items").fetchone()
        item_id = int(row[0]) if row else 1
        stamp = now()
        record = {
            **{c: None for c in ITEM_COLUMNS},
            **values,
            "item_id": item_id,
            "status": "new",
            "created_at": stamp,
            "updated_at": stamp,
        }
        store.con.execute(
            f"INSERT INTO loop_items ({', '.join(ITEM_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(ITEM_COLUMNS))})",
            [record[c] for c in ITEM_COLUMNS],
        )
        _log(
            store, item_id, stamp, actor, "opened", None, values.get("subject"), values.get("notes")
        )
    return get_item(store, item_id)


def apply_changes(
    store: Store,
    item: Item,
    changes: dict[str, Any],
    actor: str | None,
    note: str | None,
    append_note: bool = True,
) -> Item:
    """Write changed fields (one history row each, carrying ``note``) in one transaction.

    A ``note`` is also appended to the item's notes with today's date (unless ``append_note``
    is false: then it is only recorded in the history). Notes are free text: PII in them is
    masked as in the store's other free text (a phone becomes ``[PHONE]``).
    """
    if "notes" in changes:
        changes = {**changes, "notes": masked_cell(changes["notes"])}
    note = masked_cell(note)
    changed = {k: v for k, v in changes.items() if getattr(item, k) != v}
    if not changed and not note:
        return item
    stamp = now()
    with store.transaction():
        for key, value in changed.items():
            store.con.execute(
                f"UPDATE loop_items SET {key} = ?, updated_at = ? WHERE item_id = ?",
                [value, stamp, item.item_id],
            )
            _log(store, item.item_id, stamp, actor, key, getattr(item, key), value, note)
        if note and append_note:
            notes = "\n".join(
                x for x in (changed.get("notes", item.notes), f"{stamp:%Y-%m-%d}: {note}") if x
            )
            store.con.execute(
                "UPDATE loop_items SET notes = ?, updated_at = ? WHERE item_id = ?",
                [notes, stamp, item.item_id],
            )
            if not changed:
                _log(store, item.item_id, stamp, actor, "note", None, note, note)
    return get_item(store, item.item_id)


def _log(
    store: Store,
    item_id: int,
    stamp: datetime,
    actor: str | None,
    field: str,
    old: Any,
    new: Any,
    note: str | None,
) -> None:
    store.con.execute(
        "INSERT INTO loop_history VALUES (?, ?, ?, ?, ?, ?, ?)",
        [item_id, stamp, actor, field, _text(old), _text(new), note],
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def open_duplicate(store: Store, theme_id: str | None, topic: str) -> int | None:
    """The id of an open item already tracking the same theme (or topic), if any."""
    row = store.con.execute(
        "SELECT item_id FROM loop_items WHERE status <> 'verified' AND theme_id IS NOT DISTINCT "
        "FROM ? AND topic = ? ORDER BY item_id LIMIT 1",
        [theme_id, topic],
    ).fetchone()
    return int(row[0]) if row else None
