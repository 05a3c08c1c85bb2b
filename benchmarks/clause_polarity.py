"""Per-topic polarity read from a topic's clauses vs from the whole message, for one encoder —
the measuring stick of ``FinetuneRecipe(aspect_pool="clauses")`` (issue #13 item 1).
~2 min on 2 cores per encoder; not part of the test suite or `make bench`.

Aspect heads are fitted as ``cx-text train`` fits them (:mod:`cx_text.training.aspects`, C chosen
on dev) on the corpus train/dev message embeddings only, so CEBaB and MAMS are held out from
the heads; pass an encoder that never saw them either (a ``noreviews`` fold of
``benchmarks/accuracy.py``) for an out-of-source figure. Each gold topic's polarity is then read
twice on the test splits: from the message vector, and from the mean state of the clauses it owns
by cues (:mod:`cx_text.training.clause_spans`; the message where it owns none). Reported:
accuracy over every labeled topic, over the non-neutral ones, and over the topics that own
clauses.

    python benchmarks/clause_polarity.py --shared-data ../shared/data --encoder DIR [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.taxonomy import load_taxonomy
from cx_text.models.encoder import Encoder
from cx_text.models.spans import encode_with_spans
from cx_text.text.nlp import NlpResources
from cx_text.training.aspects import train_aspect_heads
from cx_text.training.clause_spans import with_clause_spans
from cx_text.training.loso import test_rows
from cx_text.training.run import clean_texts
from cx_text.training.sources import load_sources

SCORED = ("corpus", "cebab", "mams")


def featurize(rows: pd.DataFrame, encoder: Any, nlp: Any, taxonomy: Any) -> dict[str, Any]:
    """Rows with topic polarities, their clause spans, message and span vectors."""
    rows = rows[rows["aspects"].map(lambda a: isinstance(a, dict) and bool(a))].copy()
    rows["text"] = clean_texts(rows["text"].tolist(), nlp)
    rows = with_clause_spans(rows.reset_index(drop=True), nlp, taxonomy)
    spans = [sorted({s for v in cs.values() for s in v}) for cs in rows["clause_spans"]]
    msg, clauses = encode_with_spans(encoder, rows["text"].tolist(), spans)
    return {"rows": rows, "msg": msg, "clauses": clauses, "spans": spans}


def topic_vector(feats: dict[str, Any], i: int, topic: str) -> np.ndarray | None:
    """Mean of the clause states ``topic`` owns in row ``i`` (L2-normalised), or None."""
    owned = feats["rows"]["clause_spans"][i].get(topic)
    if not owned:
        return None
    vec = feats["clauses"][i][[feats["spans"][i].index(s) for s in owned]].mean(axis=0)
    return vec / (np.linalg.norm(vec) + 1e-9)


def score(feats: dict[str, Any], heads: dict[str, Any]) -> dict[str, Any]:
    tally = {
        f"{read}_{part}": [0, 0]
        for read in ("message", "clauses")
        for part in ("all", "non_neutral", "owning")
    }
    for i, aspects in enumerate(feats["rows"]["aspects"]):
        for topic, polarity in aspects.items():
            if polarity not in schema.SENTIMENTS or topic not in heads:
                continue
            gold = schema.SENTIMENTS.index(polarity)
            own = topic_vector(feats, i, topic)
            for read, vec in (("message", feats["msg"][i]), ("clauses", own)):
                vec = feats["msg"][i] if vec is None else vec
                right = int(heads[topic].predict_proba(vec[None, :])[0].argmax()) == gold
                parts = (
                    ["all"]
                    + ["non_neutral"] * (polarity != "neutral")
                    + ["owning"] * (own is not None)
                )
                for part in parts:
                    tally[f"{read}_{part}"][0] += right
                    tally[f"{read}_{part}"][1] += 1
    return {k: {"accuracy": round(a / n, 3) if n else None, "n": n} for k, (a, n) in tally.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, required=True)
    parser.add_argument("--encoder", required=True, help="encoder name or merged model dir")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = Settings.from_env()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    topic_ids = tuple(taxonomy.topic_ids)
    data = load_sources(args.shared_data, topic_ids, ["cebab", "mams"]).reset_index(drop=True)
    corpus = data[data["origin"] == "corpus"]
    nlp = NlpResources.load()
    encoder = Encoder.load(settings.with_(encoder=args.encoder), precision="fp32")
    fit = featurize(corpus[corpus["split"].isin(["train", "dev"])], encoder, nlp, taxonomy)
    fitted = train_aspect_heads(
        fit["rows"], fit["msg"], fit["rows"]["split"].to_numpy(), topic_ids, settings.seed, {}
    )
    heads = {h.name.removeprefix("aspect_"): h for h in fitted}
    results: dict[str, Any] = {
        "encoder": encoder.info.as_dict(),
        "aspect_c": fitted[0].meta["aspect_c"],
    }
    for source in SCORED:
        feats = featurize(test_rows(data, source, settings.seed), encoder, nlp, taxonomy)
        results[source] = score(feats, heads)
        print(source, json.dumps(results[source]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
