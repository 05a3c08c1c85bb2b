"""The loop register as text for the terminal (``cx-text loop list / show / verify``).

Pure formatting: a frame of items, one item with its history and latest re-measurement, a
re-measurement with its three before/after measures. :mod:`cx_text.loop.service` reads the store
and re-exports these.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cx_text.loop.measure import Measurement
from cx_text.loop.register import NEXT_STATUSES, Item


def render_items(frame: pd.DataFrame) -> str:
    """A table of items for the terminal."""
    if frame.empty:
        return "The register is empty. Open an item: cx-text loop open --theme ID | --topic TOPIC"
    lines = [
        f"{'#':>3}  {'status':<18} {'team':<12} {'owner':<12} {'due':<10} {'fixed':<10} "
        f"{'verdict':<15} title"
    ]
    for r in frame.to_dict("records"):
        lines.append(
            f"{r['item_id']:>3}  {r['status']:<18} {r['team']:<12} {_cell(r['owner']):<12} "
            f"{_cell(r['due_date'])[:10]:<10} {_cell(r['fixed_at'])[:10]:<10} "
            f"{_cell(r['verdict']):<15} {r['title']} [{_cell(r['theme_id']) or r['topic']}]"
        )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def item_text(item: Item, hist: pd.DataFrame, last: Measurement | None) -> str:
    """One item: fields, allowed next states, latest re-measurement (``last``), history."""
    lines = [
        f"#{item.item_id} {item.title} [{item.subject}] — team {item.team}, owner "
        f"{item.owner or '(none)'}",
        f"  status {item.status} → can go to: {', '.join(NEXT_STATUSES[item.status])}",
        f"  due {item.due_date or '-'}, fixed {item.fixed_at or '-'}",
    ]
    if item.notes:
        lines += ["  notes: " + item.notes.replace("\n", "\n         ")]
    if last:
        lines += ["", render_measurement(last)]
    lines += ["", "History:"] + [
        f"  {r.changed_at:%Y-%m-%d %H:%M}  {_by(r.actor)}{r.field}: "
        f"{_cell(r.old_value) or '-'} → {_cell(r.new_value) or '-'}"
        f"{_note(r.note)}"
        for r in hist.itertuples()
    ]
    return "\n".join(lines)


def _by(actor: Any) -> str:
    return f"{actor}: " if _cell(actor) else ""


def _note(note: Any) -> str:
    return f"  ({note})" if _cell(note) else ""


def render_measurement(m: Measurement) -> str:
    """The verdict and the three before/after measures with CIs, as text."""
    v = m.volume
    windows = (
        f"  fix {m.fixed_at}; before {m.before[0]}…{m.before[1]} "
        f"({_num(v['days_before'], 0)} days), after {m.after[0]}…{m.after[1]} "
        f"({_num(v['days_after'], 0)} days; {m.gap_days}-day gap skipped)"
    )
    return "\n".join(
        [
            f"Verdict: {m.verdict.upper()} — {m.reason}.",
            windows,
            _share_line(m.share),
            _volume_line(v),
            _impact_line(m.nps_impact),
            f"  {m.method}",
        ]
    )


def _share_line(s: dict[str, Any]) -> str:
    before = f"{_num(s['before'])}% [{_num(s['before_lo'])}–{_num(s['before_hi'])}]"
    after = f"{_num(s['after'])}% [{_num(s['after_lo'])}–{_num(s['after_hi'])}]"
    return (
        f"  share of all feedback  {before} ({_num(s['k_before'], 0)}/{_num(s['n_before'], 0)}) "
        f"→ {after} ({_num(s['k_after'], 0)}/{_num(s['n_after'], 0)}); "
        f"change {_num(s['diff'], sign=True)} pts, "
        f"95% CI {_num(s['lo'], sign=True)}…{_num(s['hi'], sign=True)}, "
        f"z = {_num(s['z'])}, {_p(s['p_value'])}"
    )


def _volume_line(v: dict[str, Any]) -> str:
    return (
        f"  weekly volume          {_num(v['weekly_before'], 1)} → {_num(v['weekly_after'], 1)} "
        f"per week; rate ratio {_num(v['ratio'])} (95% CI {_num(v['lo'])}–{_num(v['hi'])}), "
        f"{_p(v['p_value'])}"
    )


def _impact_line(i: dict[str, Any]) -> str:
    before = f"{_num(i['before'], 1)} pts [{_num(i['before_lo'], 1)}…{_num(i['before_hi'], 1)}]"
    after = f"{_num(i['after'], 1)} pts [{_num(i['after_lo'], 1)}…{_num(i['after_hi'], 1)}]"
    ci = f"95% CI {_num(i['lo'], 1, True)}…{_num(i['hi'], 1, True)}"
    return (
        f"  NPS impact             {before} → {after}; change {_num(i['diff'], 1, True)} pts ({ci})"
    )


def _num(value: Any, digits: int = 2, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    return f"{float(value):{'+' if sign else ''}.{digits}f}"


def _p(value: Any) -> str:
    if value is None or pd.isna(value):
        return "p n/a"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"
