"""Closing the loop: route recurring complaints to owning teams, track the fix, re-measure it.

Outer loop — the register (:mod:`cx_text.loop.register`): :func:`open_item` routes a theme or topic
to a team; :func:`update_item` moves it ``new → acknowledged → in_progress → fixed →
customers_notified → verified`` (a bad move raises LoopError with the allowed next states);
:func:`verify_item` re-measures volume, share of feedback and NPS impact before vs after the fix
(:mod:`cx_text.loop.measure`). Inner loop — :func:`followup` lists the low-scoring customers who
mentioned the theme (:mod:`cx_text.loop.followup`). The app's Loop page calls these functions;
the CLI prints them with the text renderers of :mod:`cx_text.loop.render`.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd

from cx_text.core.config import Settings
from cx_text.core.errors import LoopError
from cx_text.loop.followup import FollowUp, export_followup, followup_list
from cx_text.loop.measure import (
    DEFAULT_GAP_DAYS,
    DEFAULT_WINDOW_DAYS,
    Measurement,
    measure,
    parse_days,
)
from cx_text.loop.register import (
    NEXT_STATUSES,
    OPEN_STATUSES,
    STATUSES,
    Item,
    Team,
    Teams,
    apply_changes,
    check_move,
    get_item,
    history,
    insert_item,
    items_frame,
    load_teams,
    open_duplicate,
    parse_status,
)
from cx_text.loop.render import item_text, render_items, render_measurement
from cx_text.store.store import Store

__all__ = [
    "NEXT_STATUSES",
    "OPEN_STATUSES",
    "STATUSES",
    "FollowUp",
    "Item",
    "Measurement",
    "Team",
    "Teams",
    "export_followup",
    "fix_note",
    "followup",
    "get_item",
    "history",
    "latest_measurement",
    "list_items",
    "load_teams",
    "open_item",
    "parse_days",
    "parse_status",
    "render_item",
    "render_items",
    "render_measurement",
    "update_item",
    "verify_item",
]


def open_item(
    store: Store,
    *,
    theme: str | None = None,
    topic: str | None = None,
    team: str | None = None,
    title: str | None = None,
    owner: str | None = None,
    due: date | None = None,
    notes: str | None = None,
    teams: Teams | None = None,
    actor: str | None = None,
) -> Item:
    """Open a register item for a theme id or a topic (``delivery``, ``delivery/late``).

    The team defaults to the owner of the topic in ``teams``; one open item per theme/topic.
    """
    if bool(theme) == bool(topic):
        raise LoopError(
            "give either a theme id or a topic.", "E.g. --theme delivery:t003 or --topic delivery."
        )
    teams = teams or load_teams()
    theme_id, topic_id, label = _subject(store, theme, topic)
    owning = teams.get(team) if team else teams.for_topic(topic_id)
    if owning is None:
        raise LoopError(
            f"no team owns topic {topic_id!r} in the teams file.",
            f"Pass --team (one of: {', '.join(teams.ids)}).",
        )
    duplicate = open_duplicate(store, theme_id, topic_id)
    if duplicate is not None:
        raise LoopError(
            f"item #{duplicate} already tracks {theme_id or topic_id}.",
            f"Update it instead: cx-text loop update {duplicate} --status …",
        )
    values = {
        "title": title or label,
        "theme_id": theme_id,
        "topic": topic_id,
        "team": owning.id,
        "owner": owner,
        "due_date": due,
        "notes": notes,
        "subject": theme_id or topic_id,
    }
    return insert_item(store, values, actor)


def _subject(store: Store, theme: str | None, topic: str | None) -> tuple[str | None, str, str]:
    """(theme id, topic, default title) — checked against the store."""
    if theme:
        from cx_text.themes.db import resolve

        row = store.con.execute(
            "SELECT theme_id, topic, label FROM themes WHERE theme_id = ?", [theme]
        ).fetchone()
        if row is None:
            raise LoopError(
                f"theme {theme!r} is not in the store.",
                "List themes with `cx-text themes list`, or pass --topic instead.",
            )
        tid = resolve(store, theme)
        row = (
            store.con.execute(
                "SELECT theme_id, topic, label FROM themes WHERE theme_id = ?", [tid]
            ).fetchone()
            or row
        )
        return str(row[0]), str(row[1]), str(row[2])
    assert topic is not None
    known = {str(r[0]) for r in store.con.execute("SELECT DISTINCT topic FROM aspects").fetchall()}
    parent = topic.split("/", 1)[0]
    if parent not in known:
        raise LoopError(
            f"topic {parent!r} has no tagged mentions in the store; topics are: "
            f"{', '.join(sorted(known)) or '(none — tag an export first)'}."
        )
    return None, topic, f"{topic} complaints"


def update_item(
    store: Store,
    item_id: int,
    *,
    status: str | None = None,
    owner: str | None = None,
    due: date | None = None,
    fixed_at: date | None = None,
    team: str | None = None,
    title: str | None = None,
    note: str | None = None,
    teams: Teams | None = None,
    actor: str | None = None,
) -> Item:
    """Change an item; a status move is checked (LoopError lists the allowed next states).

    Moving to ``fixed`` records the fix date (``fixed_at``, default today); ``verified`` needs a
    re-measurement that said *improved* (run :func:`verify_item`).
    """
    item = get_item(store, item_id)
    changes: dict[str, Any] = {
        "owner": owner,
        "due_date": due,
        "title": title,
        "team": teams_or_default(teams).get(team).id if team else None,
    }
    target = parse_status(status) if status else None
    if target and target != item.status:
        check_move(item.status, target)
        changes["status"] = target
        if target == "fixed":
            changes["fixed_at"] = fixed_at or item.fixed_at or date.today()
        if target == "verified":
            _require_improved(store, item)
    if fixed_at and "fixed_at" not in changes:
        if item.status not in ("fixed", "customers_notified", "verified"):
            raise LoopError(
                f"item #{item.item_id} is {item.status!r}, not fixed.",
                "Set the fix date together with --status fixed.",
            )
        changes["fixed_at"] = fixed_at
    return apply_changes(
        store, item, {k: v for k, v in changes.items() if v is not None}, actor, note
    )


def teams_or_default(teams: Teams | None) -> Teams:
    return teams or load_teams()


def _require_improved(store: Store, item: Item) -> None:
    last = latest_measurement(store, item.item_id)
    if last is None or last.verdict != "improved" or last.fixed_at != item.fixed_at:
        raise LoopError(
            f"item #{item.item_id} has no re-measurement that says 'improved'.",
            f"Run `cx-text loop verify {item.item_id}` after the fix has had time to work.",
        )


def verify_item(
    store: Store,
    item_id: int,
    *,
    window: str | int = DEFAULT_WINDOW_DAYS,
    gap: str | int = DEFAULT_GAP_DAYS,
    settings: Settings | None = None,
    actor: str | None = None,
) -> tuple[Item, Measurement]:
    """Re-measure an item around its fix date and store the result.

    An item that has notified customers moves to ``verified`` when the verdict is *improved*.
    """
    item = get_item(store, item_id)
    if item.fixed_at is None:
        raise LoopError(
            f"item #{item.item_id} has no fix date ({item.status!r}).",
            f"Mark it fixed first: cx-text loop update {item.item_id} --status fixed "
            "--fixed-at YYYY-MM-DD.",
        )
    result = measure(
        store,
        item.item_id,
        item.theme_id,
        item.topic,
        item.fixed_at,
        window_days=parse_days(window, "window"),
        gap_days=parse_days(gap, "gap"),
        settings=settings,
    )
    with store.transaction():
        store.con.execute(
            "INSERT INTO loop_measurements VALUES (?, now(), ?, ?, ?, ?, ?)",
            [
                item.item_id,
                result.fixed_at,
                result.window_days,
                result.gap_days,
                result.verdict,
                json.dumps(result.as_json(), ensure_ascii=False),
            ],
        )
    if result.verdict == "improved" and item.status == "customers_notified":
        item = apply_changes(
            store,
            item,
            {"status": "verified"},
            actor,
            "re-measurement: improved",
            append_note=False,
        )
    return item, result


def fix_note(store: Store, item_id: int) -> str | None:
    """What was done: the note given with the latest move to ``fixed`` (for "you said, we did")."""
    row = store.con.execute(
        "SELECT note FROM loop_history WHERE item_id = ? AND field = 'status' AND "
        "new_value = 'fixed' ORDER BY changed_at DESC LIMIT 1",
        [int(item_id)],
    ).fetchone()
    return str(row[0]) if row and row[0] else None


def latest_measurement(store: Store, item_id: int) -> Measurement | None:
    """The newest stored re-measurement of an item, if any."""
    row = store.con.execute(
        "SELECT result FROM loop_measurements WHERE item_id = ? ORDER BY "
        "measured_at DESC, rowid DESC LIMIT 1",
        [int(item_id)],
    ).fetchone()
    return Measurement.from_json(json.loads(row[0])) if row else None


def list_items(
    store: Store,
    team: str | None = None,
    status: str | None = None,
    open_only: bool = False,
    teams: Teams | None = None,
) -> pd.DataFrame:
    """Register items (one row each, with the latest verdict), optionally filtered."""
    team_id = teams_or_default(teams).get(team).id if team else None
    statuses = OPEN_STATUSES if open_only else STATUSES
    if status:
        statuses = (parse_status(status),)
    return items_frame(store, team_id, statuses)


def followup(
    store: Store,
    item_id: int,
    *,
    start: date | None = None,
    end: date | None = None,
    show_pii: bool = False,
) -> FollowUp:
    """The inner-loop list of an item (see :mod:`cx_text.loop.followup`)."""
    item = get_item(store, item_id)
    return followup_list(
        store, item.item_id, item.theme_id, item.topic, start=start, end=end, show_pii=show_pii
    )


def render_item(store: Store, item_id: int) -> str:
    """One item as text: fields, allowed next states, latest re-measurement, history."""
    item, hist = get_item(store, item_id), history(store, item_id)
    return item_text(item, hist, latest_measurement(store, item_id))
