"""Seeded samples of labeled frames: stratified by a column, or capped per source."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def stratified_sample(data: pd.DataFrame, by: str, n: int, seed: int) -> pd.DataFrame:
    """Exactly ``min(n, len(data))`` rows spread as evenly as possible over the values of ``by``.

    Every value gets ``n // k`` rows (fewer if it has fewer; the shortfall goes to the others),
    the remainder goes to a seeded choice of values; rows inside a value are drawn with the
    same seed. The result keeps the input order, so it does not depend on how ``data`` is sorted
    only through which rows exist.
    """
    if n >= len(data):
        return data
    rng = np.random.default_rng(seed)
    groups = {k: np.asarray(v) for k, v in sorted(data.groupby(by, sort=True).indices.items())}
    quota = _quotas({k: len(v) for k, v in groups.items()}, n, rng)
    keep = [int(i) for k, idx in groups.items() for i in rng.permutation(idx)[: quota[k]]]
    return data.iloc[sorted(keep)]


def _quotas(sizes: Mapping[object, int], n: int, rng: np.random.Generator) -> dict[object, int]:
    quota = dict.fromkeys(sizes, 0)
    left = n
    while left > 0:
        open_ = [k for k in sizes if quota[k] < sizes[k]]
        share, extra = divmod(left, len(open_))
        lucky = set(rng.permutation(len(open_))[:extra].tolist())
        for i, k in enumerate(open_):
            quota[k] = min(sizes[k], quota[k] + share + (i in lucky))
        left = n - sum(quota.values())
    return quota


def capped(
    data: pd.DataFrame, caps: Mapping[str, int], seed: int, column: str = "origin"
) -> pd.DataFrame:
    """Rows of ``data``; each value of ``column`` listed in ``caps`` cut to a seeded sample."""
    parts = []
    for value, part in data.groupby(column, sort=True):
        cap = caps.get(str(value))
        parts.append(
            part.sample(n=cap, random_state=seed) if cap is not None and len(part) > cap else part
        )
    return pd.concat(parts).sort_index() if parts else data
