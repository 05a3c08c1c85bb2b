"""App latency on 1M synthetic tagged messages: the queries each page runs, against 0.5 s.

Writes a store in the real schema straight into DuckDB (generate_series + random(): messages,
tags, aspects, evidence, customers, 40 themes with memberships), opens it the way the app does
(:class:`cx_text.app.queries.AppStore`, read-only) and times, per page, every library call the
page makes for one interaction with fresh (uncached) filters — best of 3, after the
once-per-connection materialisation of the latest-run rows (timed separately). Baseline, in the
same run: "pandas: load every tagged message into a DataFrame and compute the overview KPIs"
(what a notebook-style app would do per interaction).

    .venv/bin/python benchmarks/app.py [--rows 1000000] [--db /tmp/cx_app_bench.duckdb]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cx_text.analytics.filters import Filters
from cx_text.app import queries as q
from cx_text.app import themes as th
from cx_text.app import verbatims as v
from cx_text.core.config import Settings
from cx_text.store.store import open_store

TARGET_S = 0.5
TOPICS = "['delivery', 'pricing', 'staff', 'usability', 'quality', 'support', 'other']"
WORDS = "['courier', 'late', 'refund', 'price', 'rude', 'crash', 'broken', 'wait', 'call', 'box']"

GENERATE = f"""
CREATE TEMP TABLE gen AS
SELECT i, {TOPICS}[1 + (hash(i) % 7)::INT] AS t1,
       CASE WHEN random() < 0.35 THEN {TOPICS}[1 + (hash(i * 7) % 7)::INT] END AS t2,
       random() < 0.4 AS neg1, random() < 0.4 AS neg2, random() AS r,
       {WORDS}[1 + (hash(i * 11) % 10)::INT] AS w,
       TIMESTAMP '2025-11-01' + to_seconds(CAST(random() * 365 * 86400 AS BIGINT)) AS ts
FROM range({{rows}}) t(i);
INSERT INTO runs (run_id, started_at, finished_at, status, input_path, input_fingerprint, rows_in, \
manifest, summary, source)
    VALUES ('bench', now(), now(), 'complete', 'bench', 'bench', {{rows}}, '{{{{}}}}', '{{{{}}}}', \
'bench');
INSERT INTO feedback SELECT 'bench', 'bench', CAST(i AS VARCHAR),
    CASE WHEN neg1 THEN 'The ' || w || ' was a problem again, order ' || CAST(i AS VARCHAR)
         ELSE 'All fine with the ' || w || ', thanks' END, ts,
    ['app_review', 'support_chat', 'email', 'nps_comment'][1 + (i % 4)::INT], 'bench',
    CASE WHEN r < 0.8 THEN least(10, greatest(0, round(9 - 3 * neg1::INT - 2 * (neg2 AND t2 IS NOT \
NULL)::INT
         + 3 * (random() - 0.5)))) END,
    CASE WHEN r < 0.5 THEN 1 + floor(random() * 5) END, CASE WHEN r < 0.3 THEN 1 + floor(random() \
* 7) END,
    CASE WHEN i % 4 = 0 THEN 1 + floor(random() * 5) END,
    'c' || CAST(i % 100000 AS VARCHAR), ['regular', 'b2b', 'vip', 'new'][1 + (i % 4)::INT], NULL
FROM gen;
INSERT INTO tags SELECT 'bench', CAST(i AS VARCHAR), i, CASE WHEN i % 3 = 0 THEN 'en' ELSE 'ru' \
END, 0.99,
    CASE WHEN neg1 THEN 'negative' WHEN r < 0.5 THEN 'positive' ELSE 'neutral' END, 0.0,
    CASE WHEN t2 IS NULL OR t2 = t1 THEN [t1] ELSE [t1, t2] END, [t1 || '/x'], NULL, [], NULL, \
'ok', [], NULL
FROM gen;
INSERT INTO aspects SELECT 'bench', CAST(i AS VARCHAR), t1, CASE WHEN neg1 THEN 'negative' ELSE \
'positive' END, 0.0 FROM gen;
INSERT INTO aspects SELECT 'bench', CAST(i AS VARCHAR), t2, CASE WHEN neg2 THEN 'negative' ELSE \
'positive' END, 0.0
FROM gen WHERE t2 IS NOT NULL AND t2 <> t1;
INSERT INTO evidence SELECT 'bench', CAST(i AS VARCHAR), t1, 'The ' || w || ' was a problem', 0, \
24 + length(w), [w], 'rule'
FROM gen WHERE neg1;
INSERT INTO customers SELECT 'c' || CAST(i AS VARCHAR), DATE '2025-01-01' + CAST(i % 500 AS INT),
    CASE WHEN random() < 0.1 THEN DATE '2025-11-01' + CAST(random() * 365 AS INT) END, 100 + i % \
900, NULL
FROM range(100000) t(i);
INSERT INTO themes (theme_id, topic, label, status, label_pinned, top_terms)
SELECT t || ':t' || lpad(CAST(k AS VARCHAR), 3, '0'), t, t || ' complaint ' || CAST(k AS VARCHAR), \
'active', FALSE, '[]'
FROM (SELECT unnest({TOPICS}) AS t), range(1, 7) r(k);
INSERT INTO theme_memberships SELECT 'th-bench', 'bench', CAST(i AS VARCHAR), t1, 'The ' || w || ' \
was a problem',
    0, 24, 'en', t1 || ':t' || lpad(CAST(1 + hash(i * 13) % 6 AS VARCHAR), 3, '0'), 0.8
FROM gen WHERE neg1;
"""


def build(path: Path, rows: int) -> float:
    started = time.perf_counter()
    with open_store(path) as store:
        if store.query("SELECT count(*) AS n FROM feedback")["n"].iloc[0] == rows:
            return 0.0
        store.con.execute(GENERATE.format(rows=rows))
    return time.perf_counter() - started


def best_of(fn: Callable[[], Any], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def page_calls(store: Any, filters: Filters, settings: Settings) -> dict[str, Callable[[], Any]]:
    """What each page computes for one interaction (the same library calls the pages make)."""
    query = v.VerbatimQuery(topic="delivery", sentiment="negative", search="courier")
    theme = "delivery:t001"
    return {
        "sidebar (options + data version)": lambda: (
            q.filter_options(store),
            q.data_version(store),
        ),
        "overview: KPI tiles + deltas": lambda: q.kpi_summary(store, filters, settings),
        "overview: topic impact (bootstrap)": lambda: q.impact(store, filters, settings),
        "overview: alerts this period": lambda: q.alerts_in_window(store, filters, settings),
        "themes: ranked list": lambda: th.themes_overview(store, filters, settings),
        "themes: one theme in depth": lambda: th.theme_detail(store, theme, filters, settings),
        "trends: topics by week": lambda: q.trend_data(store, filters, settings, "week", "topic"),
        "trends: themes by week": lambda: q.trend_data(store, filters, settings, "week", "theme"),
        "segments: by segment": lambda: q.segment_comparison(store, filters, settings, "segment"),
        "verbatims: count + page 1": lambda: (
            v.count_verbatims(store, filters, query),
            v.verbatims_page(store, filters, query, 1, 25),
        ),
        "verbatims: theme filter, page 40": lambda: v.verbatims_page(
            store, filters, v.VerbatimQuery(theme_id=theme), 40, 25
        ),
    }


def pandas_baseline(store: Any, filters: Filters) -> None:
    where, params = filters.where()
    frame = store.con.execute(f"SELECT * FROM tagged {where}", params).df()
    nps = frame["nps"].dropna()
    _ = (
        len(frame),
        100 * ((nps >= 9).mean() - (nps <= 6).mean()),
        (frame["csat"].dropna() >= 4).mean(),
        frame["ces"].mean(),
        (frame["sentiment"] == "negative").mean(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "cx_app_bench.duckdb"
    )
    args = parser.parse_args()
    print(f"store: {args.db} ({args.rows:,} messages); built in {build(args.db, args.rows):.1f} s")
    app = q.AppStore(args.db)
    settings = Settings(db_path=args.db)
    started = time.perf_counter()
    options = q.filter_options(app.store)
    print(
        f"first query of a connection (materialises latest-run rows): "
        f"{time.perf_counter() - started:.2f} s"
    )
    assert options.last_day is not None
    start, end = q.preset_window("90d", options.first_day, options.last_day)
    windows = [
        Filters(start=start, end=end),
        Filters(start=start, end=end, channels=("email",)),
        Filters(start=start, end=end, segments=("vip", "b2b"), langs=("ru",)),
    ]
    slowest = 0.0
    print(f"{'page call':<40} {'90 days':>9} {'+channel':>9} {'+seg+lang':>9}")
    for name in page_calls(app.store, windows[0], settings):
        secs = [best_of(page_calls(app.store, f, settings)[name]) for f in windows]
        slowest = max(slowest, *secs)
        print(f"{name:<40} " + " ".join(f"{s:>8.3f}s" for s in secs))
    overview = sum(
        best_of(page_calls(app.store, windows[0], settings)[k])
        for k in (
            "overview: KPI tiles + deltas",
            "overview: topic impact (bootstrap)",
            "overview: alerts this period",
        )
    )
    base = best_of(lambda: pandas_baseline(app.store, windows[0]), runs=1)
    print(
        f"\nslowest single call: {slowest:.3f} s (target {TARGET_S} s): "
        f"{'OK' if slowest < TARGET_S else 'OVER'}"
    )
    print(
        f"whole overview page: {overview:.3f} s; baseline '{pandas_baseline.__name__}' (KPIs "
        f"only): "
        f"{base:.3f} s -> {base / overview:.1f}x faster"
    )
    all_time = replace(windows[0], start=None, end=None)
    print(
        f"all-time filter (365 days): KPI tiles "
        f"{best_of(lambda: q.kpi_summary(app.store, all_time, settings)):.3f} s"
    )
    app.close()


if __name__ == "__main__":
    main()
