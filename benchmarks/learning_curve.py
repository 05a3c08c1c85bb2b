"""How many labels does a topic — or a channel's sentiment — need? Figures on held-back labels
vs the number of labels (issue #16 part 4, issue #13), for what an organisation's labels are for:

(a) **a NEW topic** — ``delivery`` is taken out of the taxonomy the base model knows: the
    shipped training frame (the corpus + MAMS + banking77 samples, as ``cx-text train``) is
    labelled for the other topics only (``topic_scope``), so the topic learns from the labels
    alone. Labels: N messages of the corpus train split; held back: the corpus test split.
(b) **correcting an existing topic on a shifted domain** — ``pricing`` on bank support chats:
    the base model is fitted without banking77 (restaurants and retail only); labels: N
    banking77 train queries (fee/charge/exchange-rate intents are ``pricing``, mapped by
    ``training/corpus.py``, not hand-picked); held back: the banking77 test sample. 0 labels =
    the base model.
(c) **sentiment on your own channel** — the heads never saw CEBaB (English restaurant reviews),
    GoEmotions (English Reddit comments) or ru_goemotions (Russian, machine-translated); each
    plays an organisation's channel. Labels: N messages of its train split, sentiment only,
    drawn at random or in the review queue's order (least sure first); held back: its test
    split (as ``benchmarks/real_splits.py`` scores it). Sentiment macro-F1 and neutral F1 of the
    re-fitted sentiment head; 0 labels = the head of the shipped training frame. ``e5-small-cx``
    saw these sources' train splits: for honest figures name an encoder that did not
    (``CX_TEXT_ENCODER=<a benchmarks/accuracy.py fold's merged model>``, docs/LABELS.md).

Topic labels are drawn as a review queue serves them: half show the topic, half do not (seeded);
they enter exactly as in ``cx-text train --labels`` (:func:`cx_text.training.retrain.version_frame`:
×5 in train, once in dev, topic scopes) and the topic's column is fitted as the topics head
fits it (per topic, logistic regressions or a bag of small MLPs chosen on dev; threshold on
dev). Embeddings: the encoder in use (fp32, as ``cx-text train``) of the cleaned texts, cached on
disk. Several seeded repeats: mean ± std. ~3 min for (a) + (b), ~25 for (c).

    nice -n 19 python benchmarks/learning_curve.py --shared-data ../shared/data
        [--only topics|sentiment] [--channels cebab,goemotions,ru_goemotions] [--out curve.md]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.taxonomy import load_taxonomy
from cx_text.training.evaluate import multilabel_scores, per_label_scores
from cx_text.training.fit import fit_sentiment_head, fit_topics_head
from cx_text.training.labels import TRAIN, normalize_labels
from cx_text.training.loso import test_rows
from cx_text.training.retrain import LABEL_WEIGHT, shipped_topics, version_frame
from cx_text.training.run import cached_embedder, clean_texts, training_frame
from cx_text.training.sources import available_sources, load_sources

SIZES = (10, 20, 50, 100, 200)
SENTIMENT_SIZES = (0, 25, 50, 100, 200, 500)
CHANNELS = {
    "cebab": "English restaurant reviews (CEBaB)",
    "goemotions": "English Reddit comments (GoEmotions)",
    "ru_goemotions": "Russian posts (ru_goemotions, machine-translated)",
}
REFERENCE = 10**9  # the "every training row labelled" column


def embed_frame(frame: pd.DataFrame, settings: Settings) -> np.ndarray:
    """Exact embeddings of the cleaned texts, as ``cx-text train`` computes (and caches) them."""
    from cx_text.models.encoder import Encoder
    from cx_text.text.nlp import NlpResources
    from cx_text.training.run import heads_precision

    encoder = Encoder.load(settings, precision=heads_precision(settings))
    cleaned = clean_texts(frame["text"].tolist(), NlpResources.load(), settings.mask_pii)
    return np.asarray(cached_embedder(encoder, settings.cache_dir / "embeddings")(cleaned))


def draw_labels(pool: pd.DataFrame, topic: str, n: int, seed: int) -> pd.DataFrame:
    """``n`` labels: half with ``topic``, half without (seeded)."""
    has = pool["topics"].map(lambda ts: topic in ts)
    rng = np.random.default_rng(seed)
    pos = rng.choice(pool.index[has], size=(n + 1) // 2, replace=False)
    neg = rng.choice(pool.index[~has], size=n // 2, replace=False)
    return pool.loc[np.concatenate([pos, neg])]


def topic_f1(
    data: pd.DataFrame,
    x: np.ndarray,
    test: pd.DataFrame,
    x_test: np.ndarray,
    topic: str,
    topic_ids: Sequence[str],
    seed: int,
) -> float:
    """Fit ``topic``'s column on ``data`` and score it on ``test``."""
    col = (topic,)
    head = fit_topics_head(data, x, col, seed=seed, per_topic_dev=True)
    decided = head.decide(head.predict_proba(x_test))[:, 0]
    gold = [[topic] if topic in ts else [] for ts in test["topics"]]
    pred = [[topic] if d else [] for d in decided]
    return float(multilabel_scores(gold, pred, col)["labels"][topic]["f1"])


def curve(
    base: pd.DataFrame,
    x_base: np.ndarray,
    pool: pd.DataFrame,
    x_pool: np.ndarray,
    test: pd.DataFrame,
    x_test: np.ndarray,
    topic: str,
    known: Sequence[str],
    repeats: int,
    with_zero: bool,
    reference: tuple[pd.DataFrame, np.ndarray],
) -> list[dict[str, object]]:
    """F1 per number of labels (mean, std over seeded repeats); ``reference``: the topic fitted
    on a frame where every row is labelled for it (what the shipped heads get)."""
    topic_ids = tuple(dict.fromkeys([*known, topic]))
    ref, x_ref = reference
    rows: list[dict[str, object]] = [
        {"n": REFERENCE, "f1": [topic_f1(ref, x_ref, test, x_test, topic, topic_ids, 13)]}
    ]
    if with_zero:
        rows.append(
            {
                "n": 0,
                "f1": [
                    topic_f1(
                        base.assign(topic_scope=[topic_ids] * len(base)),
                        x_base,
                        test,
                        x_test,
                        topic,
                        topic_ids,
                        13,
                    )
                ],
            }
        )
    pos = {i: k for k, i in enumerate(pool.index)}
    for n in SIZES:
        scores = []
        for rep in range(repeats):
            drawn = draw_labels(pool, topic, n, seed=1000 * rep + n)
            labels = normalize_labels(drawn.reset_index(drop=True))
            data = version_frame(
                base, labels, dict.fromkeys(labels["id"], TRAIN), topic_ids, known, LABEL_WEIGHT
            )
            x_lab = x_pool[[pos[i] for i in drawn.index]]
            x = np.vstack([x_base, *([x_lab] * LABEL_WEIGHT), x_lab])
            scores.append(topic_f1(data, x, test, x_test, topic, topic_ids, 13 + rep))
        rows.append({"n": n, "f1": scores})
    return rows


def scenarios(
    frame: pd.DataFrame, x: np.ndarray, repeats: int
) -> dict[str, list[dict[str, object]]]:
    shipped = shipped_topics()
    corpus = (frame["origin"] != "mams") & (frame["origin"] != "banking77")
    out = {}
    # (a) a new topic: delivery is unknown to the base, labels from the corpus
    known = tuple(t for t in shipped if t != "delivery")
    pool, test = corpus & (frame["split"] == "train"), corpus & (frame["split"] == "test")
    out["(a) new topic `delivery` — corpus (RU+EN reviews)"] = curve(
        frame,
        x,
        frame[pool],
        x[pool.to_numpy()],
        frame[test],
        x[test.to_numpy()],
        "delivery",
        known,
        repeats,
        with_zero=False,
        reference=(frame, x),
    )
    # (b) an existing topic on a shifted domain: pricing on bank chats, base without banking77
    bank = (frame["origin"] == "banking77").to_numpy()
    keep = ~bank
    pool = bank & (frame["split"] == "train").to_numpy()
    test = bank & (frame["split"] == "test").to_numpy()
    out["(b) existing topic `pricing` — banking77 (shifted domain)"] = curve(
        frame[keep],
        x[keep],
        frame[pool],
        x[pool],
        frame[test],
        x[test],
        "pricing",
        shipped,
        repeats,
        with_zero=True,
        reference=(frame, x),
    )
    return out


def sentiment_scores(
    base: pd.DataFrame,
    x_base: np.ndarray,
    labels: pd.DataFrame,
    x_lab: np.ndarray,
    test: pd.DataFrame,
    x_test: np.ndarray,
    seed: int,
) -> tuple[float, float]:
    """(macro-F1, neutral F1) on ``test`` of the sentiment head fitted with ``labels`` entered
    as ``cx-text train --labels`` enters them (×5 train, once dev)."""
    data, x = base, x_base
    if len(labels):
        rows = normalize_labels(labels.reset_index(drop=True))
        roles = dict.fromkeys(rows["id"], TRAIN)
        data = version_frame(base, rows, roles, shipped_topics(), shipped_topics(), LABEL_WEIGHT)
        x = np.vstack([x_base, *([x_lab] * LABEL_WEIGHT), x_lab])
    head = fit_sentiment_head(data, x, seed=seed)
    pred = [schema.SENTIMENTS[i] for i in head.predict_proba(x_test).argmax(axis=1)]
    scores = per_label_scores(test["sentiment"].tolist(), pred, schema.SENTIMENTS)
    return float(scores["macro_f1"]), float(scores["labels"]["neutral"]["f1"])


def sentiment_curves(
    frame: pd.DataFrame,
    x: np.ndarray,
    shared: Path,
    settings: Settings,
    repeats: int,
    channels: Sequence[str] = tuple(CHANNELS),
) -> dict[str, list[dict[str, object]]]:
    topic_ids = tuple(load_taxonomy(settings.taxonomy_path).topic_ids)
    present = [s for s in channels if s in CHANNELS and s in available_sources(shared)]
    data = load_sources(shared, topic_ids, present)
    labelled = data["sentiment"].isin(schema.SENTIMENTS) & ~data["counterfactual"]
    shipped = fit_sentiment_head(frame, x, seed=13)
    out = {}
    for source in present:
        own = data[labelled & (data["origin"] == source)]
        pool = own[own["split"] == "train"].sample(
            n=min(2000, (own["split"] == "train").sum()), random_state=13
        )
        pool = pool.assign(id=[f"{source}-{i}" for i in range(len(pool))])
        test = test_rows(data[labelled], source, 13)
        x_pool, x_test = embed_frame(pool, settings), embed_frame(test, settings)
        # the review queue's sentiment order: 1 - margin of the shipped head, most unsure first
        top2 = np.sort(shipped.predict_proba(x_pool), axis=1)[:, -2:]
        queue = np.argsort(-(1.0 - (top2[:, 1] - top2[:, 0])), kind="stable")
        for draw in ("random", "queue order"):
            rows: list[dict[str, object]] = []
            for n in SENTIMENT_SIZES:
                got = []
                for rep in range(1 if n == 0 else repeats):
                    rng = np.random.default_rng(1000 * rep + n)
                    pick = (
                        rng.choice(len(pool), n, replace=False) if draw == "random" else queue[:n]
                    )
                    got.append(
                        sentiment_scores(
                            frame, x, pool.iloc[pick], x_pool[pick], test, x_test, 13 + rep
                        )
                    )
                rows.append({"n": n, "f1": [g[0] for g in got], "neutral": [g[1] for g in got]})
            out[f"(c) {CHANNELS[source]}, {draw}"] = rows
    return out


def _cell(values: Sequence[float]) -> str:
    v = np.asarray(values)
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def render_sentiment(results: dict[str, list[dict[str, object]]], repeats: int) -> str:
    lines = [
        "| channel | " + " | ".join(f"{n} labels" for n in SENTIMENT_SIZES) + " |",
        "|---|" + "---|" * len(SENTIMENT_SIZES),
    ]
    for name, rows in results.items():
        for key, what in (("f1", "macro-F1"), ("neutral", "neutral F1")):
            cells = [_cell(r[key]) for r in rows]  # type: ignore[arg-type]
            lines.append(f"| {name}: {what} | " + " | ".join(cells) + " |")
    lines.append(
        f"\nSentiment head on the channel's test split, mean ± std over {repeats} repeats (random: "
        "seeded draws of the labels; queue order: the N messages the shipped head is least sure "
        "of, as the review queue ranks them, with seeded head fits); 0 labels is the shipped "
        "training frame alone."
    )
    return "\n".join(lines) + "\n"


def render(results: dict[str, list[dict[str, object]]], repeats: int, seconds: float) -> str:
    sizes = sorted({int(r["n"]) for rows in results.values() for r in rows})  # type: ignore[call-overload]
    head = (
        "| scenario | "
        + " | ".join(f"{n} labels" if n != REFERENCE else "all labelled (ref.)" for n in sizes)
        + " |"
    )
    lines = [head, "|---|" + "---|" * len(sizes)]
    for name, rows in results.items():
        by = {int(r["n"]): r["f1"] for r in rows}  # type: ignore[call-overload]
        cells = [_cell(by[n]) if n in by else "—" for n in sizes]  # type: ignore[arg-type]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        f"\nTopic F1 on held-back labels, mean ± std over {repeats} seeded draws "
        f"({seconds / 60:.1f} min on this machine). Reference: the topic fitted on the whole "
        "training frame with every row labelled for it (banking77's 1,500 train rows included)."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    parser.add_argument("--only", choices=("topics", "sentiment"), default=None)
    parser.add_argument(
        "--channels", default=",".join(CHANNELS), help="sources for (c), comma-separated"
    )
    args = parser.parse_args()
    started = time.time()
    settings = Settings.from_env()
    frame = training_frame(None, args.shared_data, settings.seed)
    frame["topics"] = frame["topics"].map(list)
    x = embed_frame(frame, settings)
    print(f"embedded {len(frame)} rows in {time.time() - started:.0f} s", flush=True)
    parts = []
    if args.only != "sentiment":
        parts.append(render(scenarios(frame, x, args.repeats), args.repeats, time.time() - started))
    if args.only != "topics":
        channels = [c for c in args.channels.split(",") if c]
        curves = sentiment_curves(frame, x, args.shared_data, settings, args.repeats, channels)
        parts.append(render_sentiment(curves, args.repeats))
    text = "\n".join(parts) + f"\n({(time.time() - started) / 60:.1f} min in all)\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
