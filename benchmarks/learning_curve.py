"""How many labels does a topic need? Topic F1 on held-back labels vs the number of labels
(issue #16, part 4), for the two things an organisation's labels are for:

(a) **a NEW topic** — ``delivery`` is taken out of the taxonomy the base model knows: the
    shipped training frame (the corpus + MAMS + banking77 samples, as ``cx-text train``) is
    labelled for the other topics only (``topic_scope``), so the topic learns from the labels
    alone. Labels: N messages of the corpus train split; held back: the corpus test split.
(b) **correcting an existing topic on a shifted domain** — ``pricing`` on bank support chats:
    the base model is fitted without banking77 (restaurants and retail only); labels: N
    banking77 train queries (fee/charge/exchange-rate intents are ``pricing``, mapped by
    ``training/corpus.py``, not hand-picked); held back: the banking77 test sample. 0 labels =
    the base model.

Labels are drawn as a review queue serves them: half show the topic, half do not (seeded);
they enter exactly as in ``cx-text train --labels`` (:func:`cx_text.training.retrain.version_frame`:
×5 in train, once in dev, topic scopes) and the topic's column is fitted as the topics head
fits it (one-vs-rest logistic regression, per-topic threshold on dev). Embeddings: frozen
e5-small of the cleaned texts, cached on disk. Several seeded repeats: mean ± std.

    nice -n 19 python benchmarks/learning_curve.py --shared-data ../shared/data --out
    learning_curve.md
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cx_text.core.config import Settings
from cx_text.training.evaluate import multilabel_scores
from cx_text.training.fit import fit_topics_head
from cx_text.training.labels import TRAIN, normalize_labels
from cx_text.training.retrain import LABEL_WEIGHT, shipped_topics, version_frame
from cx_text.training.run import cached_embedder, clean_texts, training_frame

SIZES = (10, 20, 50, 100, 200)
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


def render(results: dict[str, list[dict[str, object]]], repeats: int, seconds: float) -> str:
    sizes = sorted({int(r["n"]) for rows in results.values() for r in rows})  # type: ignore[call-overload]
    head = (
        "| scenario | "
        + " | ".join(f"{n} labels" if n != REFERENCE else "all labelled (ref.)" for n in sizes)
        + " |"
    )
    lines = [head, "|---|" + "---|" * len(sizes)]
    for name, rows in results.items():
        by = {int(r["n"]): np.asarray(r["f1"]) for r in rows}  # type: ignore[call-overload]
        cells = [
            (
                f"{by[n].mean():.3f} ± {by[n].std():.3f}"
                if n in by and len(by[n]) > 1
                else f"{by[n].mean():.3f}"
                if n in by
                else "—"
            )
            for n in sizes
        ]
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
    args = parser.parse_args()
    started = time.time()
    settings = Settings.from_env()
    frame = training_frame(None, args.shared_data, settings.seed)
    frame["topics"] = frame["topics"].map(list)
    x = embed_frame(frame, settings)
    print(f"embedded {len(frame)} rows in {time.time() - started:.0f} s", flush=True)
    text = render(scenarios(frame, x, args.repeats), args.repeats, time.time() - started)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
