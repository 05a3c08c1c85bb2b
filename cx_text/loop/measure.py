"""Before/after re-measurement of a register item around its fix date.

Windows (calendar days of ``created_at``): *before* = the ``window_days`` days before the fix
date; *after* = ``window_days`` days starting ``gap_days`` after it (the settling gap skips parcels
in transit, app updates still rolling out …). Both are cut to the days the store has data for.

Per window: the item's messages ``k`` (negative mentions of the theme/topic) among all messages
``n``. Three measures, each with a 95% CI:

* **share of all feedback** ``k/n`` — difference after − before, two-proportion z-test (pooled SE
  for the test, unpooled Wald CI). **This test gives the verdict** (volume alone moves with
  seasonality): improved / worse when p < ``alpha``, else no change; too little data when a window
  has fewer than ``min_n`` messages, fewer than 7 days, or both windows together hold fewer than
  ``MIN_MENTIONS`` mentions.
* **weekly volume** ``7·k/days`` — Poisson rate ratio after/before, exact conditional (binomial)
test
  and Clopper–Pearson CI.
* **NPS impact** = NPS(all answers) − NPS(answers without the item's messages), in points
  (negative = the theme drags NPS down) — change after − before with a seeded percentile bootstrap
  CI (multinomial resampling of the promoter/passive/detractor × member cells of each window).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from scipy import stats as sps

from cx_text.analytics import stats
from cx_text.core.config import Settings
from cx_text.core.errors import LoopError
from cx_text.store import cache as metrics_cache
from cx_text.store.store import Store

DEFAULT_WINDOW_DAYS = 42
DEFAULT_GAP_DAYS = 7
MIN_MENTIONS = 10
MIN_DAYS = 7
ALPHA = 0.05
DRAWS = 2000
VERDICTS = ("improved", "no change", "worse", "too little data")
TEST_SENTENCE = (
    "Verdict from a two-proportion z-test on the theme's share of all feedback "
    "(after vs before, α = {alpha}); weekly volume: Poisson rate ratio with an exact "
    "test; NPS impact: NPS(all) − NPS(without the theme), bootstrap 95% CI "
    "(B = {draws}, seed {seed})."
)
_DURATION = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$", re.IGNORECASE)


def parse_days(value: str | int, what: str = "window") -> int:
    """``"6w"`` → 42, ``"42d"`` / ``"42"`` / ``42`` → 42; LoopError for anything else."""
    if isinstance(value, int):
        days = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise LoopError(
                f"{what} {value!r} is not a duration.", "Write days or weeks: 42, 42d, 6w."
            )
        days = int(match.group(1)) * (7 if match.group(2).lower() == "w" else 1)
    if days < 0 or (what == "window" and days < 1):
        raise LoopError(f"{what} of {days} days is too short.", "Use at least 1 day (e.g. 6w).")
    return days


@dataclass(frozen=True)
class Measurement:
    """The result of one re-measurement (stored as JSON in ``loop_measurements``)."""

    item_id: int
    fixed_at: date
    window_days: int
    gap_days: int
    before: tuple[date, date]  # inclusive first and last day actually observed
    after: tuple[date, date]
    verdict: str
    reason: str
    share: dict[str, float] = field(default_factory=dict)
    volume: dict[str, float] = field(default_factory=dict)
    nps_impact: dict[str, float] = field(default_factory=dict)
    method: str = ""

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["fixed_at"] = self.fixed_at.isoformat()
        out["before"] = [d.isoformat() for d in self.before]
        out["after"] = [d.isoformat() for d in self.after]
        return _finite(out)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        values = dict(data)
        values["fixed_at"] = date.fromisoformat(values["fixed_at"])
        values["before"] = tuple(date.fromisoformat(d) for d in values["before"])
        values["after"] = tuple(date.fromisoformat(d) for d in values["after"])
        return cls(**values)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def members_sql(store: Store, theme_id: str | None, topic: str) -> tuple[str, dict[str, Any]]:
    """``SELECT source, id …`` of the messages an item tracks, and its parameters.

    A theme: its members (and those of themes split from it). A topic: messages with a negative
    aspect on it; ``topic/sub`` also needs the sub-topic among the message's sub-topics.
    """
    if theme_id:
        sql = (
            "SELECT DISTINCT source, id FROM theme_members WHERE theme_id IN (SELECT theme_id "
            "FROM themes "
            "WHERE theme_id = $m_theme OR parent_id = $m_theme)"
        )
        return sql, {"m_theme": theme_id}
    parent, _, sub = topic.partition("/")
    sql = (
        "SELECT DISTINCT source, id FROM latest_aspects WHERE topic = $m_topic AND polarity = "
        "'negative'"
    )
    if sub:
        sql += (
            " AND (source, id) IN (SELECT source, id FROM latest_tags "
            "WHERE list_contains(subtopics, $m_sub))"
        )
        return sql, {"m_topic": parent, "m_sub": topic}
    return sql, {"m_topic": parent}


_CELLS = """WITH members AS ({members}),
msgs AS (SELECT source, id, created_at, nps FROM {messages}
         WHERE created_at >= $b0 AND created_at < $a1 AND (created_at < $fix OR created_at >= $a0))
SELECT created_at >= $fix AS after, (source, id) IN (SELECT source, id FROM members) AS member,
       CASE WHEN nps >= 9 THEN 0 WHEN nps >= 7 THEN 1 WHEN nps >= 0 THEN 2 ELSE 3 END AS bucket,
       count(*) AS n
FROM msgs GROUP BY ALL"""


def measure(
    store: Store,
    item_id: int,
    theme_id: str | None,
    topic: str,
    fixed_at: date,
    *,
    window_days: int = DEFAULT_WINDOW_DAYS,
    gap_days: int = DEFAULT_GAP_DAYS,
    settings: Settings | None = None,
    alpha: float = ALPHA,
    draws: int = DRAWS,
) -> Measurement:
    """Re-measure an item's theme before vs after ``fixed_at`` (see the module docstring)."""
    settings = settings or Settings()
    before, after = _windows(store, fixed_at, window_days, gap_days)
    cells = _cells(store, theme_id, topic, fixed_at, window_days, gap_days)
    days_b, days_a = _days(before), _days(after)
    share = _share(cells)
    volume = _volume(cells, days_b, days_a)
    impact = _impact(cells, draws, np.random.default_rng(settings.seed))
    verdict, reason = _verdict(cells, days_a, days_b, share, settings.min_n, alpha)
    method = TEST_SENTENCE.format(alpha=alpha, draws=draws, seed=settings.seed)
    return Measurement(
        item_id,
        fixed_at,
        window_days,
        gap_days,
        before,
        after,
        verdict,
        reason,
        _finite(share),
        _finite(volume),
        _finite(impact),
        method,
    )


def _windows(
    store: Store, fix: date, window: int, gap: int
) -> tuple[tuple[date, date], tuple[date, date]]:
    table = metrics_cache.ensure_messages(store.con)
    row = store.con.execute(
        f"SELECT CAST(min(created_at) AS DATE), CAST(max(created_at) AS DATE) FROM {table}"
    ).fetchone()
    if row is None or row[0] is None:
        raise LoopError(
            f"the store {store.path} has no dated messages to measure.",
            "Tag an export with a created_at column first.",
        )
    first, last = row
    before = (max(fix - timedelta(days=window), first), min(fix - timedelta(days=1), last))
    start = fix + timedelta(days=gap)
    after = (max(start, first), min(start + timedelta(days=window - 1), last))
    return before, after


def _days(span: tuple[date, date]) -> int:
    return max((span[1] - span[0]).days + 1, 0)


def _cells(
    store: Store, theme_id: str | None, topic: str, fix: date, window: int, gap: int
) -> np.ndarray:
    """Counts ``[window(0 before, 1 after), member(0/1), bucket(pro, pas, det, no NPS)]``."""
    members, params = members_sql(store, theme_id, topic)
    sql = _CELLS.format(members=members, messages=metrics_cache.ensure_messages(store.con))
    a0 = fix + timedelta(days=gap)
    frame = store.con.execute(
        sql,
        {
            **params,
            "b0": _ts(fix - timedelta(days=window)),
            "fix": _ts(fix),
            "a0": _ts(a0),
            "a1": _ts(a0 + timedelta(days=window)),
        },
    ).fetchall()
    cells = np.zeros((2, 2, 4))
    for after, member, bucket, n in frame:
        cells[int(after), int(member), int(bucket)] += n
    return cells


def _ts(day: date) -> str:
    return f"{day.isoformat()} 00:00:00"


def _share(cells: np.ndarray) -> dict[str, float]:
    k, n = cells[:, 1, :].sum(axis=1), cells.sum(axis=(1, 2))
    test = stats.two_proportions(k[1], n[1], k[0], n[0])
    (pb, lb, hb), (pa, la, ha) = (stats.wilson(k[i], n[i]) for i in (0, 1))
    return {
        "k_before": k[0],
        "n_before": n[0],
        "k_after": k[1],
        "n_after": n[1],
        "before": 100 * pb,
        "before_lo": 100 * lb,
        "before_hi": 100 * hb,
        "after": 100 * pa,
        "after_lo": 100 * la,
        "after_hi": 100 * ha,
        "diff": 100 * test["diff"],
        "lo": 100 * test["lo"],
        "hi": 100 * test["hi"],
        "z": test["z"],
        "p_value": test["p_value"],
    }


def _volume(cells: np.ndarray, days_b: int, days_a: int) -> dict[str, float]:
    kb, ka = (int(cells[i, 1, :].sum()) for i in (0, 1))
    out = {
        "k_before": kb,
        "k_after": ka,
        "days_before": days_b,
        "days_after": days_a,
        "weekly_before": 7 * kb / days_b if days_b else np.nan,
        "weekly_after": 7 * ka / days_a if days_a else np.nan,
        "ratio": np.nan,
        "lo": np.nan,
        "hi": np.nan,
        "p_value": np.nan,
    }
    if ka + kb == 0 or not days_a or not days_b:
        return out
    test = sps.binomtest(ka, ka + kb, days_a / (days_a + days_b))
    ci = test.proportion_ci(confidence_level=stats.CONFIDENCE, method="exact")
    out.update(
        ratio=_odds_to_ratio(ka / (ka + kb), days_b, days_a),
        lo=_odds_to_ratio(ci.low, days_b, days_a),
        hi=_odds_to_ratio(ci.high, days_b, days_a),
        p_value=test.pvalue,
    )
    return out


def _odds_to_ratio(p: float, days_b: int, days_a: int) -> float:
    """Share of mentions falling after the fix → rate ratio after/before."""
    return p / (1 - p) * days_b / days_a if p < 1 else float("inf")


def impact_points(cells: np.ndarray) -> np.ndarray:
    """NPS(all) − NPS(non-members) in points from ``[..., member, bucket]`` counts (NaN if
    empty)."""
    scored = cells[..., :3]
    with stats.quiet():
        total = scored.sum(axis=(-1, -2))
        nps_all = (scored[..., 0].sum(-1) - scored[..., 2].sum(-1)) / total
        others = scored[..., 0, :]
        nps_rest = (others[..., 0] - others[..., 2]) / others.sum(-1)
    return 100 * (nps_all - nps_rest)


def _impact(cells: np.ndarray, draws: int, rng: np.random.Generator) -> dict[str, float]:
    point = impact_points(cells)
    boot = np.stack(
        [
            stats.resample_counts(cells[i, :, :3].ravel(), draws, rng).reshape(draws, 2, 3)
            for i in (0, 1)
        ],
        axis=1,
    )
    samples = impact_points(boot)
    lo, hi = stats.percentile_ci(samples)
    dlo, dhi = stats.percentile_ci(samples[:, 1] - samples[:, 0])
    n_nps = cells[:, :, :3].sum(axis=(1, 2))
    return {
        "before": point[0],
        "before_lo": lo[0],
        "before_hi": hi[0],
        "after": point[1],
        "after_lo": lo[1],
        "after_hi": hi[1],
        "diff": point[1] - point[0],
        "lo": dlo,
        "hi": dhi,
        "n_before": n_nps[0],
        "n_after": n_nps[1],
        "members_before": cells[0, 1, :3].sum(),
        "members_after": cells[1, 1, :3].sum(),
    }


def _verdict(
    cells: np.ndarray, days_a: int, days_b: int, share: dict[str, float], min_n: int, alpha: float
) -> tuple[str, str]:
    n_b, n_a = share["n_before"], share["n_after"]
    mentions = share["k_before"] + share["k_after"]
    if min(days_a, days_b) < MIN_DAYS:
        return "too little data", (
            f"only {min(days_a, days_b)} day(s) of data in a window; "
            f"wait until the store has {MIN_DAYS}+ days after the gap"
        )
    if min(n_a, n_b) < min_n:
        return "too little data", f"a window has {int(min(n_a, n_b))} messages (< {min_n})"
    if mentions < MIN_MENTIONS:
        return "too little data", f"{int(mentions)} mentions in both windows (< {MIN_MENTIONS})"
    p, diff = share["p_value"], share["diff"]
    if not np.isfinite(p) or p >= alpha:
        return (
            "no change",
            f"share change {diff:+.2f} pts is not significant (p = {p:.3g} ≥ {alpha})",
        )
    word = "improved" if diff < 0 else "worse"
    return (
        word,
        f"share of all feedback {'fell' if diff < 0 else 'rose'} {abs(diff):.2f} pts (p = {p:.2g})",
    )
