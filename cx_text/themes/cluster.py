"""The numeric half of theme discovery: centred space, k-means by silhouette, thresholds.

Pure numpy/scikit-learn, no store. Vectors are L2-normalised encoder embeddings; before any
cosine they are *centred per language* (the topic's mean RU vector is subtracted from RU clauses,
the EN mean from EN clauses, then re-normalised). Measured on the demo's delivery complaints with
e5-small: same-meaning RU/EN pairs go from 0.85 vs 0.84 for unrelated pairs (raw) to 0.11 vs
-0.02 (centred), and every k-means cluster becomes bilingual (docs/THEMES.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from cx_text.core.errors import ModelError

ALL_LANGS = "*"
ONE_GROUP_MARGIN = 0.05  # parts this little tighter than the whole = one group


@dataclass(frozen=True)
class ThemeParams:
    """Knobs of discovery; the defaults are what docs/THEMES.md measured."""

    sample_size: int = 4_000  # clauses k-means sees per round; the rest is assigned to centroids
    min_theme_size: int = 5  # fewer members -> not a theme (its clauses stay unassigned)
    min_mean_size: int = 10  # k <= sample / this: measured ARI 0.18 -> 0.29 vs sample / 5
    k_min: int = 2
    k_max: int = 16  # analyst-sized; on templated data silhouette only rises with k (THEMES.md)
    silhouette_tolerance: float = 0.85  # largest k whose silhouette >= tolerance * best
    threshold_z: float = 2.0  # a theme's threshold = mean - z * std of its members' cosine,
    threshold_cap: float = 0.75  # ... but never above this share of that mean (tight themes)
    min_similarity: float = 0.15  # no assignment below this cosine, whatever the theme
    new_theme_cohesion: float = 0.8  # a later new theme needs cohesion >= this * median
    max_rounds: int = 3  # re-cluster the leftovers until a round finds nothing new
    shrinkage: float = 50.0  # clauses of weight the topic-wide mean gets in a language's mean
    label_sample: int = 300  # members per theme read for c-TF-IDF labels
    seed: int = 13

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Cluster:
    """A candidate theme: unit centroid, assignment threshold and cohesion."""

    centroid: np.ndarray
    threshold: float
    cohesion: float


def embed_clauses(embed: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> np.ndarray:
    """Embed each distinct text once; (n, d) float32 rows in input order."""
    uniq, inverse = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
    vectors = np.asarray(embed([str(t) for t in uniq]), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(uniq):
        raise ModelError(
            f"the embedder returned shape {vectors.shape} for {len(uniq)} texts.",
            "Pass a callable mapping n texts to an (n, dim) array.",
        )
    return vectors[inverse.reshape(-1)]


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def space_means(
    x: np.ndarray, langs: Sequence[str], shrinkage: float, overall: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per-language means shrunk toward the topic-wide mean (key ``*``; ``overall`` if given)."""
    base = x.mean(axis=0) if overall is None else overall
    means = {ALL_LANGS: base.astype(np.float32)}
    lang_arr = np.asarray(langs)
    for lang in sorted(set(lang_arr.tolist()) & {"ru", "en"}):
        rows = x[lang_arr == lang]
        shrunk = (rows.sum(axis=0) + shrinkage * base) / (len(rows) + shrinkage)
        means[lang] = shrunk.astype(np.float32)
    return means


def centre(x: np.ndarray, langs: Sequence[str], means: Mapping[str, np.ndarray]) -> np.ndarray:
    """Subtract each row's language mean (``*`` for other languages) and re-normalise."""
    out = np.array(x, dtype=np.float32, copy=True)
    lang_arr = np.asarray(langs)
    for lang in set(lang_arr.tolist()):
        out[lang_arr == lang] -= means.get(lang, means[ALL_LANGS])
    return normalise(out)


def assign(
    x: np.ndarray, clusters: Sequence[Cluster], floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid per row and its cosine; index -1 where below its threshold or ``floor``."""
    if not len(clusters) or not len(x):
        return np.full(len(x), -1), np.zeros(len(x), dtype=np.float32)
    sims = x @ np.stack([c.centroid for c in clusters]).T
    best = sims.argmax(axis=1)
    best_sim = sims[np.arange(len(x)), best]
    limits = np.maximum(np.array([c.threshold for c in clusters]), floor)[best]
    return np.where(best_sim >= limits, best, -1), best_sim.astype(np.float32)


def make_cluster(members: np.ndarray, params: ThemeParams) -> Cluster:
    """Centroid, threshold and cohesion (mean member cosine) of a group of unit vectors.

    threshold = min(mean - z·std, cap · mean), floored at ``min_similarity``: spread-based for
    loose themes, and a tight theme still takes a clause at, say, 0.8 when its mean is 0.95.
    """
    centroid = normalise(members.mean(axis=0, keepdims=True))[0]
    sims = members @ centroid
    spread = float(sims.mean() - params.threshold_z * sims.std())
    threshold = max(min(spread, params.threshold_cap * float(sims.mean())), params.min_similarity)
    return Cluster(centroid, threshold, float(sims.mean()))


def kmeans_labels(x: np.ndarray, params: ThemeParams) -> np.ndarray:
    """k-means labels with k = the largest k whose silhouette is near the best (bounded)."""
    scored = [(k, *_fit(x, k, params)) for k in k_grid(len(x), params)]
    if not scored:
        return np.zeros(len(x), dtype=int)
    best = max(score for _k, score, _labels in scored)
    near = [labels for _k, score, labels in scored if score >= params.silhouette_tolerance * best]
    return near[-1]  # ascending k: the largest near-best


def _fit(x: np.ndarray, k: int, params: ThemeParams) -> tuple[float, np.ndarray]:
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # measured: 20x faster than oversubscribed threads on 2 cores
        labels = KMeans(k, n_init=2, random_state=params.seed).fit_predict(x)
        return _silhouette(x, labels, params.seed), labels


def k_grid(n: int, params: ThemeParams) -> list[int]:
    """Candidate k: every k up to 8, then steps of ~1.4x, up to min(k_max, n / min_mean_size)."""
    k_max = min(params.k_max, n // params.min_mean_size, n - 1)
    grid, k = [], params.k_min
    while k <= k_max:
        grid.append(k)
        k = k + 1 if k < 8 else round(k * 1.4)
    if grid and grid[-1] != k_max and k_max > params.k_min:
        grid.append(k_max)
    return grid


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    if len(set(labels.tolist())) < 2:
        return -1.0
    size = min(len(x), 2_000)
    return float(silhouette_score(x, labels, metric="cosine", sample_size=size, random_state=seed))


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """Deterministic sorted sample of row indices (all rows when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.RandomState(seed).choice(n, size, replace=False))


def find_clusters(x: np.ndarray, params: ThemeParams) -> list[Cluster]:
    """Cluster a sample of ``x``; one candidate per k-means cluster that has enough members.

    Single coherent groups are found too: when the sample is one tight group (k-means would
    only split it), the whole sample is the candidate.
    """
    rows = sample_rows(len(x), params.sample_size, params.seed)
    sample = x[rows]
    if len(sample) < params.min_theme_size:
        return []
    labels = kmeans_labels(sample, params)
    out = []
    for label in sorted(set(labels.tolist())):
        members = sample[labels == label]
        if len(members) >= min(params.min_theme_size, len(sample)):
            out.append(make_cluster(members, params))
    whole = make_cluster(sample, params)
    return [whole] if _one_group(sample, whole, out) else out


def _one_group(sample: np.ndarray, whole: Cluster, parts: Sequence[Cluster]) -> bool:
    """True when the parts are no tighter than the whole sample (nothing to split)."""
    if len(parts) < 2:
        return False
    return max(p.cohesion for p in parts) <= whole.cohesion + ONE_GROUP_MARGIN


def refine(
    x: np.ndarray, clusters: Sequence[Cluster], params: ThemeParams
) -> tuple[list[Cluster], np.ndarray]:
    """Assign all rows, drop candidates under ``min_theme_size``, rebuild from full members."""
    kept = list(clusters)
    for _ in range(3):
        labels, _sims = assign(x, kept, params.min_similarity)
        counts = np.bincount(labels[labels >= 0], minlength=len(kept))
        keep = [i for i in range(len(kept)) if counts[i] >= params.min_theme_size]
        if len(keep) == len(kept):
            break
        kept = [kept[i] for i in keep]
    labels, _sims = assign(x, kept, params.min_similarity)
    return kept, labels


def split_into(x: np.ndarray, parts: int, params: ThemeParams) -> list[Cluster]:
    """Split one theme's member vectors into ``parts`` children (k-means, fixed k)."""
    _score, labels = _fit(x, parts, params)
    return [make_cluster(x[labels == k], params) for k in sorted(set(labels.tolist()))]


def novel(
    candidates: Sequence[Cluster], existing: Sequence[Cluster], params: ThemeParams
) -> list[Cluster]:
    """Candidates that are genuinely new: as tight as the topic's themes, not inside one."""
    if not existing:
        return list(candidates)
    bar = params.new_theme_cohesion * float(np.median([c.cohesion for c in existing]))
    centroids = np.stack([c.centroid for c in existing])
    limits = np.array([max(c.threshold, params.min_similarity) for c in existing])
    return [
        c
        for c in candidates
        if c.cohesion >= bar and not ((centroids @ c.centroid) >= limits).any()
    ]


def grow(
    x: np.ndarray, existing: Sequence[Cluster], params: ThemeParams
) -> tuple[list[Cluster], np.ndarray, np.ndarray]:
    """Assign rows to ``existing``, then find new themes among the leftovers, round by round.

    Returns the new clusters and, per row, an index into ``existing + new`` (-1 = unassigned)
    and the cosine to the nearest centroid. Rounds stop when one adds nothing, so running
    again on the same rows adds nothing either (stable ids).
    """
    themes = list(existing)
    labels, sims = assign(x, themes, params.min_similarity)
    for _ in range(params.max_rounds):
        left = np.flatnonzero(labels < 0)
        found = novel(find_clusters(x[left], params), themes, params) if len(left) else []
        fresh, _ = refine(x[left], found, params) if found else ([], None)
        if not fresh:
            break
        themes += fresh
        labels, sims = assign(x, themes, params.min_similarity)
    return themes[len(existing) :], labels, sims
