"""Metrics speed on 1M synthetic tagged messages, against a naive pandas baseline.

Builds a store in the real schema directly in DuckDB (generate_series + random(), ~10 s), then
times the main queries (best of 3, after the once-per-connection cache of the latest-run rows,
timed separately) against the 0.5 s target and against the baseline
"pandas: load every message's scores and topics, explode topics, group by topic" (what a
notebook would do) measured in the same run.

    .venv/bin/python benchmarks/metrics.py [--rows 1000000] [--db /tmp/cx_bench.duckdb]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cx_text.analytics.drivers import key_drivers, topic_impact
from cx_text.analytics.metrics import kpis, metrics_by
from cx_text.analytics.trends import detect_alerts, topic_trends
from cx_text.core.config import Settings
from cx_text.store import cache as metrics_cache
from cx_text.store.store import open_store

TARGET_S = 0.5
TOPICS = "['delivery', 'pricing', 'staff', 'usability', 'quality', 'support', 'other']"
SUBS = "['late', 'damaged', 'expensive', 'rude', 'crash', 'checkout', 'returns']"

GENERATE = f"""
CREATE TEMP TABLE gen AS
SELECT i, {TOPICS}[1 + (hash(i) % 7)::INT] AS t1,
       CASE WHEN random() < 0.35 THEN {TOPICS}[1 + (hash(i * 7) % 7)::INT] END AS t2,
       random() < 0.4 AS neg1, random() < 0.4 AS neg2, random() AS r,
       TIMESTAMP '2026-01-01' + to_seconds(CAST(random() * 300 * 86400 AS BIGINT)) AS ts
FROM range({{rows}}) t(i);
INSERT INTO runs (run_id, started_at, finished_at, status, input_path, input_fingerprint, rows_in, \
manifest, summary, source)
    VALUES ('bench', now(), now(), 'complete', 'bench', 'bench', {{rows}}, '{{{{}}}}', '{{{{}}}}', \
'bench');
INSERT INTO feedback SELECT 'bench', 'bench', CAST(i AS VARCHAR), 'synthetic', ts,
    ['app_review', 'chat', 'email', 'survey'][1 + (i % 4)::INT], 'bench',
    CASE WHEN r < 0.8 THEN least(10, greatest(0, round(9 - 3 * neg1::INT - 2 * (neg2 AND t2 IS NOT \
NULL)::INT
         + 3 * (random() - 0.5)))) END,
    CASE WHEN r < 0.5 THEN 1 + floor(random() * 5) END, CASE WHEN r < 0.3 THEN 1 + floor(random() \
* 7) END,
    NULL, 'c' || CAST(i % 100000 AS VARCHAR), ['b2c', 'b2b', 'vip'][1 + (i % 3)::INT], NULL
FROM gen;
INSERT INTO tags SELECT 'bench', CAST(i AS VARCHAR), i, CASE WHEN i % 3 = 0 THEN 'en' ELSE 'ru' \
END, 0.99,
    CASE WHEN neg1 THEN 'negative' WHEN r < 0.5 THEN 'positive' ELSE 'neutral' END, 0.0,
    CASE WHEN t2 IS NULL OR t2 = t1 THEN [t1] ELSE [t1, t2] END,
    [t1 || '/' || {SUBS}[1 + (hash(i * 3) % 7)::INT]], NULL, [], NULL, 'ok', [], NULL
FROM gen;
INSERT INTO aspects SELECT 'bench', CAST(i AS VARCHAR), t1, CASE WHEN neg1 THEN 'negative' ELSE \
'positive' END, 0.0 FROM gen;
INSERT INTO aspects SELECT 'bench', CAST(i AS VARCHAR), t2, CASE WHEN neg2 THEN 'negative' ELSE \
'positive' END, 0.0
FROM gen WHERE t2 IS NOT NULL AND t2 <> t1;
INSERT INTO customers SELECT 'c' || CAST(i AS VARCHAR), DATE '2025-01-01' + CAST(i % 500 AS INT),
    CASE WHEN random() < 0.1 THEN DATE '2026-01-01' + CAST(random() * 300 AS INT) END, 100 + i % \
900, NULL
FROM range(100000) t(i);
"""


def build(path: Path, rows: int) -> None:
    path.unlink(missing_ok=True)
    with open_store(path) as st:
        st.con.execute(GENERATE.format(rows=rows))


def naive_pandas(store: Any) -> Any:
    """Baseline: pull every message into pandas, explode topics, NPS per topic."""
    frame = store.con.execute("SELECT id, nps, csat, ces, sentiment, topics FROM tagged").df()
    long = frame.explode("topics")
    long["pro"], long["det"] = long["nps"] >= 9, long["nps"] <= 6
    rated = long[long["nps"].notna()]
    return rated.groupby("topics").agg(pro=("pro", "mean"), det=("det", "mean"), n=("id", "size"))


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "cx_bench_metrics.duckdb"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    build(args.db, args.rows)
    print(f"built {args.rows:,} tagged rows in {time.perf_counter() - start:.1f} s ({args.db})")
    settings = Settings()
    with open_store(args.db, read_only=True) as st:
        start = time.perf_counter()
        metrics_cache.ensure_mentions(st.con, "topic")
        cache = time.perf_counter() - start
        base = best_of(lambda: naive_pandas(st))
        cases: dict[str, Callable[[], Any]] = {
            "overall KPIs with CIs": lambda: kpis(st, settings=settings),
            "by topic with CIs": lambda: metrics_by(st, "topic", settings=settings),
            "by channel with CIs": lambda: metrics_by(st, "channel", settings=settings),
            "topic impact (B=1000)": lambda: topic_impact(st, settings=settings),
            "Shapley key drivers (B=200)": lambda: key_drivers(st, settings=settings),
            "weekly trends + alerts": lambda: detect_alerts(topic_trends(st, settings=settings)),
        }
        print(f"baseline naive pandas (load all rows, explode, group by topic): {base:.3f} s")
        print(
            f"once per connection: cache latest-run messages + topic mentions: {cache:.3f} s "
            f"({base / cache:.1f}× the baseline)"
        )
        print(f"{'query':32s} {'seconds':>8s} {'target':>7s} {'vs baseline':>12s}")
        for name, fn in cases.items():
            secs = best_of(fn)
            flag = "ok" if secs <= TARGET_S else "SLOW"
            print(f"{name:32s} {secs:8.3f} {flag:>7s} {base / secs:11.1f}×")


if __name__ == "__main__":
    main()
