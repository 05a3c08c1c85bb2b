"""The whole tagger (rules, clause logic, heads) on the test splits of the real sets, scored as
the project owner scores held-out feedback (issue #13): sentiment macro-F1 and neutral F1,
per-topic polarity accuracy on the topics found, topic recall — beside the majority class — and
topic precision / micro-F1 within each row's topic scope (the topics its source labels: a
predicted topic the source says nothing about is neither right nor wrong).
~2 min on 2 cores; not part of the test suite or `make bench`.

Read the figures for what they are: the shipped encoder ``e5-small-cx`` fine-tuned on the
*train* splits of these sources, and the heads read MAMS and banking77 train splits, so these
are in-source (not leave-one-source-out) figures — the measuring stick for a change to the rules
or the heads, compared before/after in one run's conditions. CEBaB, GoEmotions, ru_goemotions and
CFPB are never seen by the heads. Judge encoder changes with ``benchmarks/accuracy.py``.

    python benchmarks/real_splits.py --shared-data ../shared/data [--json out.json]
        [--split dev] [--save DIR]

``--split dev`` scores the dev splits instead (choose a rule's knobs there, then run test once);
``--save DIR`` writes each source's rows with their tags (``p_`` columns) to ``DIR/<source>.pkl``
so a rule can be simulated on them without tagging again.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

import cx_text
from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.taxonomy import load_taxonomy
from cx_text.training.evaluate import aspect_scores, multilabel_scores, per_label_scores
from cx_text.training.loso import test_rows
from cx_text.training.sources import available_sources, load_sources

SOURCES = ("cebab", "mams", "goemotions", "ru_goemotions", "cfpb", "banking77")
SEED = 13


def split_rows(data: pd.DataFrame, source: str, seed: int, split: str) -> pd.DataFrame:
    """The scored rows of one source: its test split as the LOSO report takes it, or its dev
    split by the same rule (originals only, capped)."""
    if split == "test":
        return test_rows(data, source, seed)
    return test_rows(
        data.assign(split=data["split"].replace({"dev": "test", "test": "-"})), source, seed
    )


def tag_source(tagger: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (gold) beside their tags, prefixed ``p_``."""
    tagged = tagger.tag(rows[["text"]].rename(columns={"text": "comment"}), text_col="comment")
    return pd.concat(
        [rows.reset_index(drop=True), tagged.add_prefix("p_").reset_index(drop=True)], axis=1
    )


def score(both: pd.DataFrame) -> dict[str, Any]:
    """The owner's figures for one tagged source (a key is missing where its labels are)."""
    out: dict[str, Any] = {"n": len(both)}
    labeled = both["sentiment"].isin(schema.SENTIMENTS)
    if labeled.any():
        gold = both.loc[labeled, "sentiment"].tolist()
        pred = both.loc[labeled, "p_sentiment"].replace("", "neutral").tolist()
        majority = Counter(gold).most_common(1)[0][0]
        scores = per_label_scores(gold, pred, schema.SENTIMENTS)
        out["sentiment_macro_f1"] = round(scores["macro_f1"], 3)
        out["sentiment_accuracy"] = round(scores["accuracy"], 3)
        out["neutral_f1"] = round(scores["labels"]["neutral"]["f1"], 3)
        majority_scores = per_label_scores(gold, [majority] * len(gold), schema.SENTIMENTS)
        out["majority_macro_f1"] = round(majority_scores["macro_f1"], 3)
    gold_aspects = [
        {t: p for t, p in (a or {}).items() if p in schema.SENTIMENTS} for a in both["aspects"]
    ]
    pred_aspects = [
        {a["topic"]: a["polarity"] for a in (p if p is not None else [])}
        for p in both["p_aspect_sentiments"]
    ]
    aspects = aspect_scores(gold_aspects, pred_aspects)
    if aspects["n_pairs"]:
        out["polarity_accuracy_on_found"] = round(aspects["polarity_accuracy_on_found_topics"], 3)
        out["polarity_found"] = aspects["n_pairs"]
    gold_topics = [list(t) for t in both["topics"]]
    if any(gold_topics):
        scopes = [set(s) for s in both["topic_scope"]]
        labels = sorted(set().union(*scopes))
        pred_topics = [
            [t for t in (p if p is not None else []) if t in scope]
            for p, scope in zip(both["p_topics"], scopes, strict=True)
        ]
        topics = multilabel_scores(gold_topics, pred_topics, labels)
        out["topic_recall"] = round(topics["micro"]["recall"], 3)
        out["topic_precision"] = round(topics["micro"]["precision"], 3)
        out["topic_micro_f1"] = round(topics["micro"]["f1"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--save", type=Path, help="write each source's tagged rows here")
    args = parser.parse_args()
    settings = Settings.from_env()
    topic_ids = tuple(load_taxonomy(settings.taxonomy_path).topic_ids)
    present = [s for s in SOURCES if s in available_sources(args.shared_data)]
    data = load_sources(args.shared_data, topic_ids, present).reset_index(drop=True)
    tagger = cx_text.load()
    results = {}
    for source in present:
        tagged = tag_source(tagger, split_rows(data, source, SEED, args.split))
        results[source] = score(tagged)
        print(source, json.dumps(results[source]), flush=True)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            tagged.to_pickle(args.save / f"{source}.pkl")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
