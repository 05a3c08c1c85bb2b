"""Closing the loop: route recurring complaints to owning teams, track the fix, re-measure it.

Outer loop — the register (:mod:`cx_text.loop.register`): :func:`open_item` routes a theme or topic
to a team; :func:`update_item` moves it ``new → acknowledged → in_progress → fixed →
customers_notified → verified`` (a bad move raises LoopError with the allowed next states);
:func:`verify_item` re-measures volume, share of feedback and NPS impact before vs after the fix
(:mod:`cx_text.loop.measure`). Inner loop — :func:`followup` lists the low-scoring customers who
mentioned the theme (:mod:`cx_text.loop.followup`). The app's Loop page calls these functions.
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
from cx_text.store.store import Store

__all__ = [
    "NEXT_STATUSES", "OPEN_STATUSES", "STATUSES", "FollowUp", "Item", "Measurement", "Team", "Teams",
    "export_followup", "fix_note", "followup", "get_item", "history", "latest_measurement", "list_items",
    "load_teams", "open_item", "parse_days", "parse_status", "render_item", "render_items",
    "render_measurement", "update_item", "verify_item",
]


def open_item(store: Store, *, theme: str | None = None, topic: str | None = None,
              team: str | None = None, title: str | None = None, owner: str | None = None,
              due: date | None = None, notes: str | None = None, teams: Teams | None = None,
              actor: str | None = None) -> Item:
    """Open a register item for a theme id or a topic (``delivery``, ``delivery/late``).

    The team defaults to the owner of the topic in ``teams``; one open item per theme/topic.
    """
    if bool(theme) == bool(topic):
        raise LoopError("give either a theme id or a topic.", "E.g. --theme delivery:t003 or --topic delivery.")
    teams = teams or load_teams()
    theme_id, topic_id, label = _subject(store, theme, topic)
    owning = teams.get(team) if team else teams.for_topic(topic_id)
    if owning is None:
        raise LoopError(f"no team owns topic {topic_id!r} in the teams file.",
                        f"Pass --team (one of: {', '.join(teams.ids)}).")
    duplicate = open_duplicate(store, theme_id, topic_id)
    if duplicate is not None:
        raise LoopError(f"item #{duplicate} already tracks {theme_id or topic_id}.",
                        f"Update it instead: cx-text loop update {duplicate} --status …")
    values = {"title": title or label, "theme_id": theme_id, "topic": topic_id, "team": owning.id,
              "owner": owner, "due_date": due, "notes": notes, "subject": theme_id or topic_id}
    return insert_item(store, values, actor)


def _subject(store: Store, theme: str | None, topic: str | None) -> tuple[str | None, str, str]:
    """(theme id, topic, default title) — checked against the store."""
    if theme:
        from cx_text.themes.db import resolve

        row = store.con.execute("SELECT theme_id, topic, label FROM themes WHERE theme_id = ?",
                                [theme]).fetchone()
        if row is None:
            raise LoopError(f"theme {theme!r} is not in the store.",
                            "List themes with `cx-text themes list`, or pass --topic instead.")
        tid = resolve(store, theme)
        row = store.con.execute("SELECT theme_id, topic, label FROM themes WHERE theme_id = ?",
                                [tid]).fetchone() or row
        return str(row[0]), str(row[1]), str(row[2])
    assert topic is not None
    known = {str(r[0]) for r in store.con.execute("SELECT DISTINCT topic FROM aspects").fetchall()}
    parent = topic.split("/", 1)[0]
    if parent not in known:
        raise LoopError(f"topic {parent!r} has no tagged mentions in the store; topics are: "
                        f"{', '.join(sorted(known)) or '(none — tag an export first)'}.")
    return None, topic, f"{topic} complaints"


def update_item(store: Store, item_id: int, *, status: str | None = None, owner: str | None = None,
                due: date | None = None, fixed_at: date | None = None, team: str | None = None,
                title: str | None = None, note: str | None = None, teams: Teams | None = None,
                actor: str | None = None) -> Item:
    """Change an item; a status move is checked (LoopError lists the allowed next states).

    Moving to ``fixed`` records the fix date (``fixed_at``, default today); ``verified`` needs a
    re-measurement that said *improved* (run :func:`verify_item`).
    """
    item = get_item(store, item_id)
    changes: dict[str, Any] = {"owner": owner, "due_date": due, "title": title,
                               "team": teams_or_default(teams).get(team).id if team else None}
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
            raise LoopError(f"item #{item.item_id} is {item.status!r}, not fixed.",
                            "Set the fix date together with --status fixed.")
        changes["fixed_at"] = fixed_at
    return apply_changes(store, item, {k: v for k, v in changes.items() if v is not None}, actor, note)


def teams_or_default(teams: Teams | None) -> Teams:
    return teams or load_teams()


def _require_improved(store: Store, item: Item) -> None:
    last = latest_measurement(store, item.item_id)
    if last is None or last.verdict != "improved" or last.fixed_at != item.fixed_at:
        raise LoopError(f"item #{item.item_id} has no re-measurement that says 'improved'.",
                        f"Run `cx-text loop verify {item.item_id}` after the fix has had time to work.")


def verify_item(store: Store, item_id: int, *, window: str | int = DEFAULT_WINDOW_DAYS,
                gap: str | int = DEFAULT_GAP_DAYS, settings: Settings | None = None,
                actor: str | None = None) -> tuple[Item, Measurement]:
    """Re-measure an item around its fix date and store the result.

    An item that has notified customers moves to ``verified`` when the verdict is *improved*.
    """
    item = get_item(store, item_id)
    if item.fixed_at is None:
        raise LoopError(f"item #{item.item_id} has no fix date ({item.status!r}).",
                        f"Mark it fixed first: cx-text loop update {item.item_id} --status fixed "
                        "--fixed-at YYYY-MM-DD.")
    result = measure(store, item.item_id, item.theme_id, item.topic, item.fixed_at,
                     window_days=parse_days(window, "window"), gap_days=parse_days(gap, "gap"),
                     settings=settings)
    with store.transaction():
        store.con.execute("INSERT INTO loop_measurements VALUES (?, now(), ?, ?, ?, ?, ?)",
                          [item.item_id, result.fixed_at, result.window_days, result.gap_days,
                           result.verdict, json.dumps(result.as_json(), ensure_ascii=False)])
    if result.verdict == "improved" and item.status == "customers_notified":
        item = apply_changes(store, item, {"status": "verified"}, actor, "re-measurement: improved",
                             append_note=False)
    return item, result


def fix_note(store: Store, item_id: int) -> str | None:
    """What was done: the note given with the latest move to ``fixed`` (for "you said, we did")."""
    row = store.con.execute("SELECT note FROM loop_history WHERE item_id = ? AND field = 'status' AND "
                            "new_value = 'fixed' ORDER BY changed_at DESC LIMIT 1", [int(item_id)]).fetchone()
    return str(row[0]) if row and row[0] else None


def latest_measurement(store: Store, item_id: int) -> Measurement | None:
    """The newest stored re-measurement of an item, if any."""
    row = store.con.execute("SELECT result FROM loop_measurements WHERE item_id = ? ORDER BY "
                            "measured_at DESC, rowid DESC LIMIT 1", [int(item_id)]).fetchone()
    return Measurement.from_json(json.loads(row[0])) if row else None


def list_items(store: Store, team: str | None = None, status: str | None = None,
               open_only: bool = False, teams: Teams | None = None) -> pd.DataFrame:
    """Register items (one row each, with the latest verdict), optionally filtered."""
    team_id = teams_or_default(teams).get(team).id if team else None
    statuses = OPEN_STATUSES if open_only else STATUSES
    if status:
        statuses = (parse_status(status),)
    return items_frame(store, team_id, statuses)


def followup(store: Store, item_id: int, *, start: date | None = None, end: date | None = None,
             show_pii: bool = False) -> FollowUp:
    """The inner-loop list of an item (see :mod:`cx_text.loop.followup`)."""
    item = get_item(store, item_id)
    return followup_list(store, item.item_id, item.theme_id, item.topic, start=start, end=end,
                         show_pii=show_pii)


# -- text rendering (CLI) -------------------------------------------------------------------------
def render_items(frame: pd.DataFrame) -> str:
    """A table of items for the terminal."""
    if frame.empty:
        return "The register is empty. Open an item: cx-text loop open --theme ID | --topic TOPIC"
    lines = [f"{'#':>3}  {'status':<18} {'team':<12} {'owner':<12} {'due':<10} {'fixed':<10} "
             f"{'verdict':<15} title"]
    for r in frame.to_dict("records"):
        lines.append(f"{r['item_id']:>3}  {r['status']:<18} {r['team']:<12} {_cell(r['owner']):<12} "
                     f"{_cell(r['due_date'])[:10]:<10} {_cell(r['fixed_at'])[:10]:<10} "
                     f"{_cell(r['verdict']):<15} {r['title']} [{_cell(r['theme_id']) or r['topic']}]")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def render_item(store: Store, item_id: int) -> str:
    """One item: fields, allowed next states, latest re-measurement, history."""
    item, hist = get_item(store, item_id), history(store, item_id)
    lines = [f"#{item.item_id} {item.title} [{item.subject}] — team {item.team}, owner "
             f"{item.owner or '(none)'}", f"  status {item.status} → can go to: "
             f"{', '.join(NEXT_STATUSES[item.status])}",
             f"  due {item.due_date or '-'}, fixed {item.fixed_at or '-'}"]
    if item.notes:
        lines += ["  notes: " + item.notes.replace("\n", "\n         ")]
    last = latest_measurement(store, item_id)
    if last:
        lines += ["", render_measurement(last)]
    lines += ["", "History:"] + [f"  {r.changed_at:%Y-%m-%d %H:%M}  {_by(r.actor)}{r.field}: "
                                 f"{_cell(r.old_value) or '-'} → {_cell(r.new_value) or '-'}"
                                 f"{_note(r.note)}"
                                 for r in hist.itertuples()]
    return "\n".join(lines)


def _by(actor: Any) -> str:
    return f"{actor}: " if _cell(actor) else ""


def _note(note: Any) -> str:
    return f"  ({note})" if _cell(note) else ""


def render_measurement(m: Measurement) -> str:
    """The verdict and the three before/after measures with CIs, as text."""
    s, v, i = m.share, m.volume, m.nps_impact
    return "\n".join([
        f"Verdict: {m.verdict.upper()} — {m.reason}.",
        f"  fix {m.fixed_at}; before {m.before[0]}…{m.before[1]} ({_num(v['days_before'], 0)} days), "
        f"after {m.after[0]}…{m.after[1]} ({_num(v['days_after'], 0)} days; {m.gap_days}-day gap skipped)",
        f"  share of all feedback  {_num(s['before'])}% [{_num(s['before_lo'])}–{_num(s['before_hi'])}] "
        f"({_num(s['k_before'], 0)}/{_num(s['n_before'], 0)}) → {_num(s['after'])}% "
        f"[{_num(s['after_lo'])}–{_num(s['after_hi'])}] ({_num(s['k_after'], 0)}/{_num(s['n_after'], 0)}); "
        f"change {_num(s['diff'], sign=True)} pts, 95% CI {_num(s['lo'], sign=True)}…{_num(s['hi'], sign=True)}, "
        f"z = {_num(s['z'])}, {_p(s['p_value'])}",
        f"  weekly volume          {_num(v['weekly_before'], 1)} → {_num(v['weekly_after'], 1)} per week; "
        f"rate ratio {_num(v['ratio'])} (95% CI {_num(v['lo'])}–{_num(v['hi'])}), {_p(v['p_value'])}",
        f"  NPS impact             {_num(i['before'], 1)} pts [{_num(i['before_lo'], 1)}…{_num(i['before_hi'], 1)}] "
        f"→ {_num(i['after'], 1)} pts [{_num(i['after_lo'], 1)}…{_num(i['after_hi'], 1)}]; "
        f"change {_num(i['diff'], 1, True)} pts (95% CI {_num(i['lo'], 1, True)}…{_num(i['hi'], 1, True)})",
        f"  {m.method}",
    ])


def _num(value: Any, digits: int = 2, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    return f"{float(value):{'+' if sign else ''}.{digits}f}"


def _p(value: Any) -> str:
    if value is None or pd.isna(value):
        return "p n/a"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"
