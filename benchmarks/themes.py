"""Theme discovery at scale: 100k synthetic negative clauses, a fast fake embedder, one store.

Baseline (named): scikit-learn ``KMeans`` fitted on *all* clauses at the true number of planted
groups (k given, n_init=1, 1 thread) — what clustering without sampling would cost, and the
quality it reaches knowing k. cx_text instead clusters a 4,000-clause sample with k chosen by
silhouette and assigns the rest to centroids. Prints for each phase seconds and clauses/s, the
share of clauses assigned, ARI against the planted groups, and theme counts:

1. first discovery on an empty themes table (all clauses embedded and clustered);
2. a re-run on the same data (incremental: only unassigned clauses are re-embedded; ids equal);
3. 10% new clauses of the same groups, then a re-run (new data assigned to existing themes).

    .venv/bin/python benchmarks/themes.py              # 100,000 clauses
    .venv/bin/python benchmarks/themes.py --n 20000    # quicker

Clauses: ``--groups`` planted groups (half the clauses Russian, half English; a group's RU and EN
words map to one concept vector, as the multilingual encoder maps translations together), 2–4
random filler words each, plus 3% one-off noise clauses. The embedder costs ~0, so the figures
are the library's own cost (DuckDB I/O, clustering, assignment, labels).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DIM = 384
NOISE_SHARE = 0.03


def _unit(key: str) -> np.ndarray:
    v = np.random.RandomState(zlib.crc32(key.encode())).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class FakeEmbedder:
    """``темаN``/``themeN`` -> concept N (weight 1); any other word -> its own vector (0.35)."""

    def __init__(self) -> None:
        self.cache: dict[str, np.ndarray] = {}

    def word(self, w: str) -> np.ndarray:
        if w not in self.cache:
            concept = w.removeprefix("тема").removeprefix("theme")
            self.cache[w] = _unit("c" + concept) if concept.isdigit() else 0.35 * _unit(w)
        return self.cache[w]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.stack(
            [np.sum([self.word(w) for w in t.rstrip(".").split()], axis=0) for t in texts]
        )
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def make_clauses(n: int, groups: int, seed: int, prefix: str) -> pd.DataFrame:
    """n clauses: (id, clause, lang, group); group -1 = noise."""
    rng = np.random.RandomState(seed)
    fillers = [f"слово{i}" for i in range(300)] + [f"word{i}" for i in range(300)]
    group = np.where(rng.rand(n) < NOISE_SHARE, -1, rng.randint(0, groups, n))
    lang = np.where(rng.rand(n) < 0.5, "ru", "en")
    rows = []
    for i, (g, lg) in enumerate(zip(group, lang, strict=True)):
        words = list(rng.choice(fillers, rng.randint(2, 5)))
        if g >= 0:
            head = f"тема{g}" if lg == "ru" else f"theme{g}"
            words = [head, head, *words]
        else:
            words += [f"шум{prefix}{i}", f"noise{prefix}{i}"]
        rows.append((f"{prefix}{i}", " ".join(words) + ".", lg, int(g)))
    return pd.DataFrame(rows, columns=["id", "clause", "lang", "group"])


def tagged(frame: pd.DataFrame) -> pd.DataFrame:
    n = len(frame)
    return pd.DataFrame(
        {
            "id": frame["id"],
            "text": frame["clause"],
            "text_clean": frame["clause"],
            "lang": frame["lang"],
            "sentiment": ["negative"] * n,
            "row_status": ["ok"] * n,
            "topics": [["delivery"]] * n,
            "aspect_sentiments": [[{"topic": "delivery", "polarity": "negative", "score": -0.9}]]
            * n,
            "evidence": [
                [
                    {
                        "topic": "delivery",
                        "clause": c,
                        "start": 0,
                        "end": len(c),
                        "terms": [],
                        "source": "rule",
                    }
                ]
                for c in frame["clause"]
            ],
        }
    )


def load(store: object, frame: pd.DataFrame, chunk: int = 20_000) -> None:
    run = store.begin_run({}, "synthetic", f"fp{len(store.runs())}", rows_in=len(frame))  # type: ignore[attr-defined]
    for i, start in enumerate(range(0, len(frame), chunk)):
        store.append_chunk(run, i, tagged(frame.iloc[start : start + chunk]))  # type: ignore[attr-defined]
    store.finish_run(run, {})  # type: ignore[attr-defined]


def quality(store: object, truth: pd.DataFrame) -> tuple[float, float]:
    """(assigned share, ARI vs planted groups over planted, assigned clauses)."""
    from sklearn.metrics import adjusted_rand_score

    members = store.query("SELECT id, theme_id FROM theme_memberships")  # type: ignore[attr-defined]
    joined = truth.merge(members, on="id")
    planted = joined[(joined["group"] >= 0) & joined["theme_id"].notna()]
    return float(joined["theme_id"].notna().mean()), float(
        adjusted_rand_score(planted["group"], planted["theme_id"])
    )


def phase(
    name: str, n: int, seconds: float, store: object, truth: pd.DataFrame, result: object
) -> None:
    assigned, ari = quality(store, truth)
    print(
        f"{name:<34} {seconds:7.1f}s {n / seconds:10,.0f} clauses/s  assigned {assigned:6.1%}  "
        f"ARI {ari:.3f}  new themes {len(result.new_theme_ids)}  "  # type: ignore[attr-defined]
        f"unassigned {result.unassigned_share:.1%}"
    )  # type: ignore[attr-defined]


def baseline(x: np.ndarray, truth: pd.DataFrame, groups: int, seed: int) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(1):
        labels = KMeans(groups, n_init=1, random_state=seed).fit_predict(x)
    seconds = time.perf_counter() - start
    planted = truth["group"].to_numpy() >= 0
    ari = adjusted_rand_score(truth["group"][planted], labels[planted])
    print(
        f"{'baseline: KMeans on all, true k':<34} {seconds:7.1f}s {len(x) / seconds:10,.0f} "
        f"clauses/s  "
        f"assigned 100.0%  ARI {ari:.3f}  (clustering only; k given)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    from cx_text.store.store import open_store
    from cx_text.themes.service import ThemeParams, discover_themes

    params = ThemeParams(k_max=max(16, args.groups + 10), seed=args.seed)  # room for every group
    embed = FakeEmbedder()
    first = make_clauses(args.n, args.groups, args.seed, "a")
    later = make_clauses(args.n // 10, args.groups, args.seed + 1, "b")
    print(
        f"{args.n:,} synthetic negative clauses, {args.groups} planted RU+EN groups, "
        f"{NOISE_SHARE:.0%} noise; then {len(later):,} new clauses"
    )
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "bench.duckdb") as store:
        load(store, first)
        for name, frame in (("1. first discovery", first), ("2. re-run, same data", first)):
            start = time.perf_counter()
            result = discover_themes(store, embed, params=params)
            phase(name, len(frame), time.perf_counter() - start, store, first, result)
        load(store, later)
        both = pd.concat([first, later], ignore_index=True)
        start = time.perf_counter()
        result = discover_themes(store, embed, params=params)
        phase(
            "3. +10% new clauses, re-run",
            len(later),
            time.perf_counter() - start,
            store,
            both,
            result,
        )
        new_assigned = store.query(
            "SELECT avg((theme_id IS NOT NULL)::INT) AS a FROM theme_memberships WHERE id LIKE 'b%'"
        )["a"].iloc[0]
        noise = later["group"].lt(0).mean()
        print(f"   new clauses assigned to themes: {new_assigned:.1%} (noise share {noise:.1%})")
    if not args.no_baseline:
        baseline(embed(first["clause"].tolist()), first, args.groups, args.seed)


if __name__ == "__main__":
    main()
