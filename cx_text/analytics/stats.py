"""Confidence intervals, significance tests and bootstrap helpers (vectorised, numpy/scipy).

Every function takes counts (arrays broadcast) rather than rows, so callers aggregate in SQL and
hand over small arrays. Methods are named in ``docs/METRICS.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from scipy import stats as sps

Array = np.ndarray[Any, Any]
CONFIDENCE = 0.95


@contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy's warnings for all-NaN slices and 0/0 (results are NaN on purpose)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def z_value(confidence: float = CONFIDENCE) -> float:
    return float(sps.norm.ppf(0.5 + confidence / 2))


def _arr(x: Any) -> Array:
    return np.asarray(x, dtype="float64")


def _safe_div(num: Any, den: Any) -> Array:
    num, den = _arr(num), _arr(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def wilson(k: Any, n: Any, confidence: float = CONFIDENCE) -> tuple[Array, Array, Array]:
    """Share ``k/n`` with the Wilson score interval (NaN where n = 0)."""
    k, n, z = _arr(k), _arr(n), z_value(confidence)
    p = _safe_div(k, n)
    centre = _safe_div(k + z * z / 2, n + z * z)
    half = _safe_div(
        z * np.sqrt(np.clip(k * (n - k), 0, None) / np.maximum(n, 1) + z * z / 4), n + z * z
    )
    return p, np.where(n > 0, centre - half, np.nan), np.where(n > 0, centre + half, np.nan)


def nps(pro: Any, det: Any, n: Any, confidence: float = CONFIDENCE) -> tuple[Array, Array, Array]:
    """NPS in points (−100…100) with a Wald interval from the multinomial variance.

    Var(p_pro − p_det) = (p_pro + p_det − (p_pro − p_det)²) / n.
    """
    p_pro, p_det = _safe_div(pro, n), _safe_div(det, n)
    score = p_pro - p_det
    half = z_value(confidence) * np.sqrt(np.clip(nps_variance(pro, det, n), 0, None))
    return (
        100 * score,
        np.clip(100 * (score - half), -100, 100),
        np.clip(100 * (score + half), -100, 100),
    )


def nps_variance(pro: Any, det: Any, n: Any) -> Array:
    """Sampling variance of NPS as a fraction (not points)."""
    p_pro, p_det = _safe_div(pro, n), _safe_div(det, n)
    return _safe_div(p_pro + p_det - (p_pro - p_det) ** 2, n)


def mean_t(
    total: Any, sumsq: Any, n: Any, confidence: float = CONFIDENCE
) -> tuple[Array, Array, Array]:
    """Mean from sufficient statistics with a Student-t interval (NaN for n < 2)."""
    n = _arr(n)
    mean = _safe_div(total, n)
    var = sample_variance(total, sumsq, n)
    tq = sps.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
    half = tq * np.sqrt(_safe_div(var, n))
    ok = n >= 2
    return mean, np.where(ok, mean - half, np.nan), np.where(ok, mean + half, np.nan)


def sample_variance(total: Any, sumsq: Any, n: Any) -> Array:
    total, sumsq, n = _arr(total), _arr(sumsq), _arr(n)
    return np.clip(_safe_div(sumsq - _safe_div(total * total, n) * (n > 0), n - 1), 0, None)


def two_proportions(
    k1: Any, n1: Any, k2: Any, n2: Any, confidence: float = CONFIDENCE
) -> dict[str, Array]:
    """Difference p1 − p2: Wald CI (unpooled) and two-sided pooled z-test p-value."""
    p1, p2 = _safe_div(k1, n1), _safe_div(k2, n2)
    diff = p1 - p2
    se = np.sqrt(_safe_div(p1 * (1 - p1), n1) + _safe_div(p2 * (1 - p2), n2))
    pooled = _safe_div(_arr(k1) + _arr(k2), _arr(n1) + _arr(n2))
    se0 = np.sqrt(pooled * (1 - pooled) * (_safe_div(1, n1) + _safe_div(1, n2)))
    z = _safe_div(diff, se0)
    p = np.where(
        se0 > 0, 2 * sps.norm.sf(np.abs(np.nan_to_num(z))), np.where(diff == 0, 1.0, np.nan)
    )
    zq = z_value(confidence)
    return {
        "p1": p1,
        "p2": p2,
        "diff": diff,
        "lo": diff - zq * se,
        "hi": diff + zq * se,
        "z": z,
        "p_value": p,
    }


def z_diff(diff: Any, var1: Any, var2: Any, confidence: float = CONFIDENCE) -> dict[str, Array]:
    """Difference of two independent estimates with known variances: CI and two-sided p."""
    diff = _arr(diff)
    se = np.sqrt(_arr(var1) + _arr(var2))
    z = _safe_div(diff, se)
    zq = z_value(confidence)
    p = np.where(se > 0, 2 * sps.norm.sf(np.abs(np.nan_to_num(z))), np.nan)
    return {"diff": diff, "lo": diff - zq * se, "hi": diff + zq * se, "z": z, "p_value": p}


def welch(
    m1: Any, v1: Any, n1: Any, m2: Any, v2: Any, n2: Any, confidence: float = CONFIDENCE
) -> dict[str, Array]:
    """Welch t-test of two means from mean, variance and n."""
    a, b = _safe_div(v1, n1), _safe_div(v2, n2)
    se = np.sqrt(a + b)
    df = _safe_div((a + b) ** 2, _safe_div(a * a, _arr(n1) - 1) + _safe_div(b * b, _arr(n2) - 1))
    df = np.where(np.isfinite(df), np.maximum(df, 1), 1)
    diff = _arr(m1) - _arr(m2)
    t = _safe_div(diff, se)
    half = sps.t.ppf(0.5 + confidence / 2, df) * se
    p = np.where(se > 0, 2 * sps.t.sf(np.abs(np.nan_to_num(t)), df), np.nan)
    return {"diff": diff, "lo": diff - half, "hi": diff + half, "z": t, "p_value": p}


def poisson_rate_test(c1: Any, t1: Any, c2: Any, t2: Any) -> dict[str, Array]:
    """Rate ratio (c1/t1)/(c2/t2) and the exact conditional (binomial) two-sided p-value."""
    c1, t1, c2, t2 = _arr(c1), _arr(t1), _arr(c2), _arr(t2)
    ratio = _safe_div(_safe_div(c1, t1), _safe_div(c2, t2))
    share = _safe_div(t1, t1 + t2)
    p = np.array(
        [
            _binom_two_sided(int(a), int(a + b), float(s))
            for a, b, s in zip(np.ravel(c1), np.ravel(c2), np.ravel(share), strict=True)
        ]
    ).reshape(np.shape(c1))
    return {"ratio": ratio, "p_value": p}


def _binom_two_sided(k: int, n: int, p: float) -> float:
    if n == 0 or not np.isfinite(p):
        return float("nan")
    return float(sps.binomtest(k, n, p).pvalue)


def holm(p_values: Any) -> Array:
    """Holm–Bonferroni adjusted p-values (NaNs stay NaN)."""
    p = _arr(p_values)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    if idx.size == 0:
        return out
    order = idx[np.argsort(p[idx])]
    m = order.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def percentile_ci(
    draws: Array, confidence: float = CONFIDENCE, axis: int = 0
) -> tuple[Array, Array]:
    """Percentile bootstrap interval over ``axis`` (NaN draws ignored)."""
    tail = 100 * (1 - confidence) / 2
    with quiet():
        lo = np.nanpercentile(draws, tail, axis=axis)
        hi = np.nanpercentile(draws, 100 - tail, axis=axis)
    return lo, hi


def resample_counts(counts: Any, draws: int, rng: np.random.Generator) -> Array:
    """Nonparametric bootstrap of a table of cell counts: ``draws × cells`` multinomial draws.

    Resampling rows with replacement is the same as drawing the cell counts from a multinomial
    with the observed shares, so the cost depends on the number of cells, not of rows.
    """
    counts = _arr(counts)
    total = int(counts.sum())
    if total == 0:
        return np.zeros((draws, counts.size))
    return rng.multinomial(total, counts / total, size=draws).astype("float64")


def robust_z(x: Any, history: Array, floor: Any) -> tuple[Array, Array]:
    """(z, median) of ``x`` against rows of ``history`` (NaN ignored): (x − median) /
    max(1.4826·MAD, floor)."""
    with quiet():
        med = np.nanmedian(history, axis=1)
        mad = 1.4826 * np.nanmedian(np.abs(history - med[:, None]), axis=1)
    scale = np.maximum(np.nan_to_num(mad), _arr(floor))
    return _safe_div(_arr(x) - med, scale), med
