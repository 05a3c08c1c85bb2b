"""`make bench`: every benchmark, each printing its figures against a named baseline.

Sizes are the issues' own (they take a while on 2 cores); pass --quick for a smoke run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = {
    "encoder.py": [],
    "language.py": [],
    "tagging.py": [],
    "metrics.py": [],
    "themes.py": [],
    "app.py": [],
}
QUICK = {
    "encoder.py": ["--n", "500"],
    "language.py": ["--n", "2000"],
    "tagging.py": [
        "--rows",
        "2000",
        "--baseline-rows",
        "100",
        "--rss-rows",
        "",
        "--contention",
        "1000",
    ],
    "metrics.py": ["--rows", "100000"],
    "themes.py": ["--n", "10000"],
    "app.py": ["--rows", "100000"],
}


def main() -> int:
    plan = QUICK if "--quick" in sys.argv else FULL
    failed = []
    for script, args in plan.items():
        print(f"\n=== benchmarks/{script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args]).returncode:
            failed.append(script)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
