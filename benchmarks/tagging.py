"""End-to-end `cx-text tag` throughput and memory, against a named naive baseline, in one run.

    .venv/bin/python benchmarks/tagging.py --rows 20000 --rss-rows 10000,200000

* **cx-text tag** — the real CLI in a subprocess on N realistic messages (the demo export,
  repeated with variations when N is larger): rows/s end to end (ingest, normalize + PII, langid,
  analysis, encoder, heads, output, DuckDB store), and its peak RSS.
* **naive baseline** — `pandas.read_csv` of the same file + a row-wise
  `transformers.pipeline("feature-extraction")` on the same e5 model, one text at a time, plus
  the same heads applied per row (no language layer, no store): rows/s on a sample.
* **memory flatness** — peak RSS of `cx-text tag` at two input sizes (it must not grow).
* **contention** (``--contention N``) — two `cx-text tag` runs of N rows at once, against one run
  of N rows in the same process run: two at once should take about as long as two in a row
  (2.0x one run) or less. torch's OpenMP threads busy-waiting beside another busy process once
  made it 7.6x (cx_text.core sets a short ``GOMP_SPINCOUNT``).

Figures are printed as ratios against the baseline measured in the same process run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "data" / "demo" / "demo_export.csv"


#: texts that go wrong in real exports, mixed into every generated input (one in ~500 rows)
MESSY_TEXTS = [
    "",
    "   ",
    "👍👍👍",
    "🤬",
    "<p><br></p>",
    "....",
    "\u0007\u0000 ok",
    "Курьер опоздал. " * 4000,  # ~64k chars: truncated
    "N/A",
    "#NAME?",
    '=HYPERLINK("x")',
]


def make_input(rows: int, path: Path, *, messy: bool = True) -> Path:
    """N messy rows: the demo export (copies beyond its size get a varying suffix, so texts are
    new), with empty / emoji-only / huge / control-character texts mixed in, and one row in
    1,000 structurally broken (missing or extra fields, at the end) — those still count as rows.
    ``messy=False``: the demo export as it is (it has its own share of empty and broken rows)."""
    base = pd.read_csv(DEMO, dtype=str, keep_default_na=False)
    reps = -(-rows // len(base))
    parts = []
    for r in range(reps):
        part = base.copy()
        part["review_id"] = part["review_id"] + (f"-{r}" if r else "")
        if r:
            part["text"] = part["text"] + f" ({r})"
        parts.append(part)
    broken = (
        [
            f"broken-{i},2026-01-0{i % 9 + 1}" if i % 2 else f"broken-{i},x,y,z,extra,,,,,,,,,"
            for i in range(rows // 1000)
        ]
        if messy
        else []
    )
    frame = pd.concat(parts, ignore_index=True).head(rows - len(broken))
    if messy:
        picked = frame.index[frame.index % 487 == 13]
        frame.loc[picked, "text"] = [MESSY_TEXTS[i % len(MESSY_TEXTS)] for i in range(len(picked))]
    frame.to_csv(path, index=False)
    with path.open("a", encoding="utf-8") as fh:  # missing / extra fields: still rows
        fh.writelines(line + "\n" for line in broken)
    return path


def start_cli(src: Path, workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], Any]:
    """`cx-text tag src` started as a user would, writing ``<name>.parquet`` / ``.duckdb``."""
    log = (workdir / f"{name}.log").open("w+")
    command = [sys.executable, "-m", "cx_text", "tag", str(src)]
    command += ["-o", str(workdir / f"{name}.parquet"), "--db", str(workdir / f"{name}.duckdb")]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir), log


def run_cli(src: Path, workdir: Path) -> dict[str, Any]:
    """Run `cx-text tag` as a user would; wall time and that child's own peak RSS (wait4)."""
    start = time.perf_counter()
    proc, log = start_cli(src, workdir, src.stem)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    return _finished(proc, status, log, src, workdir / f"{src.stem}.parquet") | {
        "seconds": seconds,
        "rows_per_s": _rows(src) / seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def run_concurrent(src: Path, workdir: Path, runs: int = 2) -> dict[str, Any]:
    """``runs`` `cx-text tag` of the same file at once; wall time until the last one ends."""
    start = time.perf_counter()
    procs = [start_cli(src, workdir, f"{src.stem}-{i}") for i in range(runs)]
    for i, (proc, log) in enumerate(procs):
        _, status = os.waitpid(proc.pid, 0)
        _finished(proc, status, log, src, workdir / f"{src.stem}-{i}.parquet")
    return {"runs": runs, "rows": _rows(src), "seconds": time.perf_counter() - start}


def _rows(src: Path) -> int:
    return int(src.stem.rsplit("_", 1)[-1])


def _finished(
    proc: subprocess.Popen[bytes], status: int, log: Any, src: Path, out: Path
) -> dict[str, Any]:
    """Check one ended run: exit status 0 and rows in = rows out; its rows and summary."""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        log.seek(0)
        raise SystemExit(log.read()[-3000:])
    rows = len(pd.read_parquet(out, columns=["id"]))
    if rows != _rows(src):
        raise SystemExit(f"rows in {_rows(src):,} != rows out {rows:,}: a row was lost")
    log.seek(0)
    summary = [line.strip() for line in log if line.startswith(("tagged ", "  status:"))]
    return {"rows": rows, "summary": " | ".join(summary)}


def naive_baseline(src: Path, sample: int) -> dict[str, float]:
    """pandas + row-wise transformers pipeline + heads, on the first `sample` rows."""
    from transformers import pipeline

    from cx_text.classify import load_heads
    from cx_text.core.config import Settings
    from cx_text.models.registry import prepared_dir

    settings = Settings()
    heads = load_heads(settings.models_dir / "heads")
    extractor = pipeline("feature-extraction", model=str(prepared_dir(settings)), framework="pt")
    start = time.perf_counter()
    frame = pd.read_csv(src, nrows=sample)
    for text in frame["text"].fillna("").astype(str):
        tokens = np.asarray(extractor("query: " + text, truncation=True, max_length=256)[0])
        vec = tokens.mean(axis=0)
        vec = vec / (np.linalg.norm(vec) + 1e-9)
        for head in heads.values():
            head.predict_proba(vec[None, :].astype(np.float32))
    seconds = time.perf_counter() - start
    return {"rows": len(frame), "seconds": seconds, "rows_per_s": len(frame) / seconds}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000, help="rows for the throughput run")
    parser.add_argument(
        "--baseline-rows", type=int, default=300, help="rows for the naive baseline"
    )
    parser.add_argument(
        "--rss-rows", default="10000,200000", help="two sizes for the memory check ('' skips)"
    )
    parser.add_argument(
        "--contention", type=int, default=5000, help="rows for the two-runs-at-once check (0 skips)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = make_input(args.rows, work / f"in_{args.rows}.csv", messy=False)
        naive = naive_baseline(src, args.baseline_rows)
        ours = run_cli(src, work)
        results.update(naive=naive, cx_text=ours, ratio=ours["rows_per_s"] / naive["rows_per_s"])
        print(
            f"naive (pandas + row-wise pipeline)  {naive['rows_per_s']:8.1f} rows/s  on "
            f"{naive['rows']} rows"
        )
        print(
            f"cx-text tag (end to end, CLI)       {ours['rows_per_s']:8.1f} rows/s  on "
            f"{ours['rows']} rows, "
            f"peak RSS {ours['peak_rss_mb']:.0f} MB"
        )
        print(f"ratio: {results['ratio']:.1f}x   target: >= 300 rows/s end to end")
        sizes = [int(s) for s in args.rss_rows.split(",") if s.strip()]
        for n in sizes:
            run = run_cli(make_input(n, work / f"rss_{n}.csv"), work)
            results[f"rss_{n}"] = run
            print(
                f"peak RSS at {n:>7,} rows: {run['peak_rss_mb']:7.0f} MB  "
                f"({run['rows_per_s']:.0f} rows/s)"
                f"  rows in = rows out; {run['summary']}"
            )
        if len(sizes) == 2:
            a, b = (results[f"rss_{n}"]["peak_rss_mb"] for n in sizes)  # type: ignore[index]
            print(
                f"memory growth {sizes[0]:,} -> {sizes[1]:,} rows: x{b / a:.2f} (flat = ~1.0; "
                f"target < 2.5 GB)"
            )
        if args.contention:
            src = make_input(args.contention, work / f"both_{args.contention}.csv")
            one = run_cli(src, work)
            both = run_concurrent(src, work)
            results["contention"] = {"one": one, "two_at_once": both}
            print(
                f"two runs at once ({args.contention:,} rows each): {both['seconds']:.1f} s, "
                f"{both['seconds'] / one['seconds']:.2f}x one run ({one['seconds']:.1f} s; "
                "two in a row = 2.0x)"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
