"""Leave-one-source-out report (``cx-text evaluate --loso``): how the heads do on data they
never saw, beside trivial baselines.

For every real source S (:data:`~cx_text.training.sources.LOSO_SOURCES` found under
``--shared-data``) the heads are re-fitted on frozen embeddings of the *current* encoder from
the corpus and every other source (S's family left out: GoEmotions and its Russian translation
are the same comments), then scored on S's test split. One more row scores the corpus test
split with heads fitted on everything: it is *in-distribution*, and labelled so.

Heads read message embeddings (no clause spans, no rules): the figures isolate encoder + heads.
The encoder is not re-trained per fold here — an encoder fine-tuned on S would leak S into
every fold; ``benchmarks/accuracy.py`` runs the full protocol (fine-tune without S, heads,
score on S), which takes hours on 2 cores.

Baselines beside every figure: the majority class of the scored set itself (an optimistic
constant), and VADER for English sentiment when ``vaderSentiment`` (MIT) is installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cx_text.classify.heads import Head
from cx_text.core import schema
from cx_text.training.evaluate import per_label_scores
from cx_text.training.fit import fit_heads
from cx_text.training.sampling import capped
from cx_text.training.sources import held_out

Embedder = Callable[[Sequence[str]], np.ndarray]
#: rows per source that fit the heads (train) and tune them (dev); others in full
HEAD_CAPS = {
    "train": {"goemotions": 3000, "ru_goemotions": 3000, "cebab": 3000, "banking77": 1500},
    "dev": {"goemotions": 800, "ru_goemotions": 700, "cebab": 300, "banking77": 400},
}
#: scored rows per source (a seeded sample of the test split; the others in full)
TEST_CAPS = {"goemotions": 2000, "ru_goemotions": 2000}
IN_DISTRIBUTION = "corpus"


def head_rows(data: pd.DataFrame, exclude: Sequence[str], seed: int) -> pd.DataFrame:
    """Capped train + dev rows of every source not in ``exclude``."""
    keep = data[~data["origin"].isin(list(exclude))]
    parts = [capped(keep[keep["split"] == split], caps, seed) for split, caps in HEAD_CAPS.items()]
    return pd.concat(parts)


def test_rows(data: pd.DataFrame, source: str, seed: int) -> pd.DataFrame:
    """The scored rows of one source: its test split, originals only (capped)."""
    rows = data[(data["origin"] == source) & (data["split"] == "test") & ~data["counterfactual"]]
    cap = TEST_CAPS.get(source)
    return rows.sample(n=cap, random_state=seed).sort_index() if cap and len(rows) > cap else rows


def loso_report(
    data: pd.DataFrame,
    embed: Embedder,
    topic_ids: Sequence[str],
    sources: Sequence[str],
    *,
    seed: int = 13,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``{"rows": [...]}``: one row per held-out source, then the in-distribution corpus row."""
    data = data.reset_index(drop=True)
    needed = pd.concat(
        [
            head_rows(data, (), seed),
            *(test_rows(data, s, seed) for s in (*sources, IN_DISTRIBUTION)),
        ]
    )
    needed = needed[~needed.index.duplicated()]
    vectors = dict(zip(needed.index, embed(needed["text"].tolist()), strict=True))
    rows = []
    for source in (*sources, IN_DISTRIBUTION):
        started = time.perf_counter()
        exclude = held_out(source) if source != IN_DISTRIBUTION else ()
        train = head_rows(data, exclude, seed)
        x_train = np.stack([vectors[i] for i in train.index])
        fitted = fit_heads(train.reset_index(drop=True), x_train, topic_ids, seed=seed)
        heads = {h.name: h for h in fitted}
        test = test_rows(data, source, seed)
        x_test = np.stack([vectors[i] for i in test.index])
        row: dict[str, Any] = {
            "source": source,
            "role": "in-distribution" if source == IN_DISTRIBUTION else "held-out",
            "n": len(test),
            "held_out": list(exclude),
            "heads": score_heads(heads, x_test, test, topic_ids),
            "majority": majority_scores(test),
            "vader": vader_scores(test),
        }
        row["seconds"] = round(time.perf_counter() - started, 1)
        log(f"loso {source}: n={len(test)} ({row['seconds']} s)")
        rows.append(row)
    return {"rows": rows, "sources": list(sources), "seed": seed}


def sentiment_scores(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    """Macro-F1 over the classes present in gold (CFPB has one: its figure is accuracy)."""
    labels = [s for s in schema.SENTIMENTS if s in set(gold)]
    scores = per_label_scores(list(gold), list(pred), labels)
    out = {"n": len(gold), "accuracy": scores["accuracy"]}
    if len(labels) > 1:
        out["macro_f1"] = scores["macro_f1"]
    return out


def topic_scores(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scopes: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Micro precision / recall / F1 over the topics each row's source labels."""
    tp = fp = fn = 0
    for g, p, scope in zip(gold, pred, scopes, strict=True):
        g_s, p_s = set(g) & set(scope), set(p) & set(scope)
        tp, fp, fn = tp + len(g_s & p_s), fp + len(p_s - g_s), fn + len(g_s - p_s)
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {
        "n": len(gold),
        "precision": precision,
        "recall": recall,
        "micro_f1": 2 * precision * recall / max(precision + recall, 1e-9),
    }


def _pairs(rows: pd.DataFrame) -> list[tuple[int, str, str]]:
    """(position, topic, gold polarity) of every labeled topic polarity."""
    return [
        (i, t, p)
        for i, a in enumerate(rows["aspects"])
        if isinstance(a, dict)
        for t, p in a.items()
        if p in schema.SENTIMENTS
    ]


def score_heads(
    heads: dict[str, Head], x: np.ndarray, rows: pd.DataFrame, topic_ids: Sequence[str]
) -> dict[str, Any]:
    """Every figure the scored set's labels allow."""
    out: dict[str, Any] = {}
    has_sent = rows["sentiment"].isin(schema.SENTIMENTS).to_numpy()
    if has_sent.any():
        pred = heads["sentiment"].predict_proba(x[has_sent]).argmax(axis=1)
        out["sentiment"] = sentiment_scores(
            rows["sentiment"][has_sent].tolist(), [schema.SENTIMENTS[i] for i in pred]
        )
    scoped = np.array([len(s) > 0 for s in rows["topic_scope"]], dtype=bool)
    if scoped.any():
        topics = heads["topics"]
        decided = topics.decide(topics.predict_proba(x[scoped]))
        pred_t = [[t for t, d in zip(topic_ids, r, strict=True) if d] for r in decided]
        out["topics"] = topic_scores(
            rows["topics"][scoped].tolist(), pred_t, rows["topic_scope"][scoped].tolist()
        )
    pairs = _pairs(rows)
    if pairs:
        hits = [
            schema.SENTIMENTS[
                int(
                    heads.get(f"aspect_{t}", heads["sentiment"])
                    .predict_proba(x[i : i + 1])
                    .argmax()
                )
            ]
            == p
            for i, t, p in pairs
        ]
        out["polarity"] = {"n": len(pairs), "accuracy": float(np.mean(hits))}
    return out


def majority_scores(rows: pd.DataFrame) -> dict[str, Any]:
    """The scored set's own majority sentiment / empty topic set / majority polarity."""
    out: dict[str, Any] = {}
    gold = rows["sentiment"][rows["sentiment"].isin(schema.SENTIMENTS)].tolist()
    if gold:
        top = str(pd.Series(gold).value_counts().sort_index().idxmax())
        out["sentiment"] = sentiment_scores(gold, [top] * len(gold))
    scoped = [len(s) > 0 for s in rows["topic_scope"]]
    if any(scoped):
        part = rows[scoped]
        out["topics"] = topic_scores(
            part["topics"].tolist(), [[] for _ in range(len(part))], part["topic_scope"].tolist()
        )
    pairs = _pairs(rows)
    if pairs:
        top = str(pd.Series([p for _, _, p in pairs]).value_counts().sort_index().idxmax())
        out["polarity"] = {
            "n": len(pairs),
            "accuracy": float(np.mean([p == top for *_, p in pairs])),
        }
    return out


def vader_scores(rows: pd.DataFrame) -> dict[str, Any] | None:
    """VADER (compound >= 0.05 positive, <= -0.05 negative) on English rows with sentiment;
    None when ``vaderSentiment`` is not installed or no such row exists."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    keep = rows["sentiment"].isin(schema.SENTIMENTS) & (rows["lang"] == "en")
    if not keep.any():
        return None
    analyzer = SentimentIntensityAnalyzer()
    compound = [analyzer.polarity_scores(t)["compound"] for t in rows["text"][keep]]
    pred = ["positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral" for c in compound]
    return {"sentiment": sentiment_scores(rows["sentiment"][keep].tolist(), pred)}


def render_loso(report: dict[str, Any]) -> str:
    """A plain-text table: each figure with the majority (and VADER) baseline beside it."""
    header = (
        "source",
        "role",
        "n",
        "sentiment macro-F1 (maj · VADER)",
        "sent acc (maj)",
        "topic micro-F1 (empty set)",
        "polarity acc (maj)",
    )
    lines = [header]
    for row in report["rows"]:
        h, m, v = row["heads"], row["majority"], row["vader"] or {}
        lines.append(
            (
                row["source"],
                row["role"],
                str(row["n"]),
                _trio(h, m, v, "sentiment", "macro_f1"),
                _trio(h, m, {}, "sentiment", "accuracy"),
                _trio(h, m, {}, "topics", "micro_f1"),
                _trio(h, m, {}, "polarity", "accuracy"),
            )
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in lines]
    notes = [
        "heads re-fitted per held-out source on frozen embeddings of the current encoder; "
        "the corpus row is in-distribution (its own test split, heads fitted on everything).",
        "'-': the set has no such label. Macro-F1 is over the classes present in the set "
        "(CFPB is all negative: see its accuracy).",
    ]
    return "\n".join([*out, "", *notes])


def _trio(
    heads: dict[str, Any], majority: dict[str, Any], vader: dict[str, Any], task: str, metric: str
) -> str:
    value = heads.get(task, {}).get(metric)
    if value is None:
        return "-"
    extra = [
        f"{d[task][metric]:.3f}"
        for d in (majority, vader)
        if d.get(task, {}).get(metric) is not None
    ]
    return f"{value:.3f} ({' · '.join(extra)})" if extra else f"{value:.3f}"
