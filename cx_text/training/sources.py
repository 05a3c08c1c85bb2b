"""Real labeled data sets (read from ``--shared-data DIR``) mapped to the tagger's labels.

Used by the encoder fine-tune (:mod:`cx_text.training.finetune`) and the leave-one-source-out
report (:mod:`cx_text.training.loso`). Every loader returns the columns of
:data:`cx_text.training.corpus.LABEL_COLUMNS` (``origin`` = the source name; ``sentiment`` is
``""`` where a source has no overall label) plus:

* ``topic_scope`` – the topic ids whose presence or absence the source labels (topic metrics
  and the topic loss use only these; ``()``: no topic labels);
* ``counterfactual`` – True for CEBaB's rewrites (train only, never scored).

The mapping tables are documented in docs/MODELS.md ("Training data"). The heads of
``cx-text train`` keep reading MAMS and banking77 through :mod:`cx_text.training.corpus`.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.training.corpus import BANKING77_TOPICS, LABEL_COLUMNS, load_corpus
from cx_text.training.sampling import stratified_sample

COLUMNS = (*LABEL_COLUMNS, "topic_scope", "counterfactual")
ALL_TOPICS = "*"  # scope marker: every taxonomy topic
SEED = 13
#: banking77's test split is scored on this seeded stratified sample (13 per intent)
BANKING77_TEST_ROWS = 1001

GOEMOTIONS_GROUPS = {0: "ambiguous", 1: "negative", 2: "neutral", 3: "positive"}
_POSITIVE = (
    "admiration",
    "amusement",
    "approval",
    "caring",
    "desire",
    "excitement",
    "gratitude",
    "joy",
    "love",
    "optimism",
    "pride",
    "relief",
)
_NEGATIVE = (
    "anger",
    "annoyance",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "fear",
    "grief",
    "nervousness",
    "remorse",
    "sadness",
)
_AMBIGUOUS = ("confusion", "curiosity", "realization", "surprise")
#: the GoEmotions paper's sentiment grouping of its 28 emotions (for ru_goemotions' names)
EMOTION_GROUPS = {
    **dict.fromkeys(_POSITIVE, "positive"),
    **dict.fromkeys(_NEGATIVE, "negative"),
    **dict.fromkeys(_AMBIGUOUS, "ambiguous"),
    "neutral": "neutral",
}
CEBAB_STARS = {"1": "negative", "2": "negative", "3": "neutral", "4": "positive", "5": "positive"}
CEBAB_ASPECTS = {"food": "quality", "service": "staff"}  # ambiance, noise: no topic of ours
CEBAB_POLARITY = {"Positive": "positive", "Negative": "negative"}
MAMS_TOPICS = {
    "food": "quality",
    "menu": "quality",
    "service": "staff",
    "staff": "staff",
    "price": "pricing",
}  # ambience, place, miscellaneous: ignored (not "other")
CFPB_TOPICS = {"Debt collection": "support", "Credit reporting, repair, or other": "support"}
XED_GROUPS = {
    1: "negative",
    2: "ambiguous",
    3: "negative",
    4: "negative",
    5: "positive",
    6: "negative",
    7: "ambiguous",
    8: "positive",
}
SCOPES: dict[str, tuple[str, ...]] = {
    "corpus": (ALL_TOPICS,),
    "banking77": (ALL_TOPICS,),
    "mams": ("staff", "pricing", "quality"),
    "cebab": ("staff", "quality"),
    "cfpb": ("support",),
}
#: sources that are one family (the same comments): held out together
FAMILIES = {
    "goemotions": ("goemotions", "ru_goemotions"),
    "ru_goemotions": ("goemotions", "ru_goemotions"),
}


def split_by_hash(key: str, dev: int = 15, test: int = 15) -> str:
    """Fixed split of a key by its sha1 bucket (the corpus uses 70/15/15 the same way)."""
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % 100
    return "train" if bucket < 100 - dev - test else ("dev" if bucket < 100 - test else "test")


def merge_groups(groups: Iterable[str]) -> str:
    """Sentiment of a multi-label row: ambiguous ignored; positive + negative -> ``""``
    (dropped); one polarity (with or without neutral) -> it; only neutral -> neutral."""
    left = {g for g in groups if g != "ambiguous"}
    polar = left & {"positive", "negative"}
    if len(polar) == 2:
        return ""
    return polar.pop() if polar else ("neutral" if "neutral" in left else "")


def held_out(source: str) -> tuple[str, ...]:
    """Sources left out of training when ``source`` is scored (its family)."""
    return FAMILIES.get(source, (source,))


def _frame(rows: list[dict[str, Any]], source: str, lang: str) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    defaults: dict[str, Any] = {
        "lang": lang,
        "channel": "",
        "sentiment": "",
        "split": "train",
        "counterfactual": False,
    }
    for col in COLUMNS:
        if col not in out:
            out[col] = [defaults.get(col, "") for _ in range(len(out))]
    out["topics"] = pd.Series(
        [v if isinstance(v, list) else [] for v in out["topics"]], index=out.index, dtype=object
    )
    out["aspects"] = pd.Series(
        [v if isinstance(v, dict) else {} for v in out["aspects"]], index=out.index, dtype=object
    )
    out["origin"] = source
    out["id"] = [f"{source}-{i}" for i in range(len(out))]
    out["topic_scope"] = [SCOPES.get(source, ())] * len(out)
    return out[list(COLUMNS)]


def load_goemotions(directory: Path) -> pd.DataFrame:
    """GoEmotions (Apache-2.0), official train/dev/test: group ids -> sentiment."""
    rows = []
    for split in ("train", "dev", "test"):
        data = pd.read_csv(
            directory / f"{split}.tsv",
            sep="\t",
            header=None,
            quoting=3,
            names=["text", "ids", "cid"],
            dtype=str,
            keep_default_na=False,
        )
        for text, ids in zip(data["text"], data["ids"], strict=True):
            sent = merge_groups(GOEMOTIONS_GROUPS[int(i)] for i in ids.split(","))
            if sent and text.strip():
                rows.append({"split": split, "text": text.strip(), "sentiment": sent})
    return _frame(rows, "goemotions", "en")


def _emotion_names(directory: Path) -> dict[int, str]:
    names = {}
    for line in (directory / "id_to_label.yaml").read_text(encoding="utf-8").splitlines():
        if ":" in line:
            key, val = line.split(":", 1)
            names[int(key)] = val.strip()
    return names


def load_ru_goemotions(directory: Path) -> pd.DataFrame:
    """ru_goemotions (MIT): validation -> train/dev (85/15 by comment id), test -> test."""
    names, rows = _emotion_names(directory), []
    for part in ("validation", "test"):
        data = pd.read_csv(directory / f"{part}.csv", dtype=str, keep_default_na=False)
        for text, labels, cid in zip(data["ru_text"], data["labels"], data["id"], strict=True):
            ids = [int(v) for v in labels.strip("[]").replace(",", " ").split()]
            sent = merge_groups(EMOTION_GROUPS[names[i]] for i in ids)
            split = "test" if part == "test" else split_by_hash(cid, dev=15, test=0)
            if sent and text.strip():
                rows.append({"split": split, "text": text.strip(), "sentiment": sent})
    return _frame(rows, "ru_goemotions", "ru")


def load_cebab(directory: Path) -> pd.DataFrame:
    """CEBaB (CC BY 4.0): train_inclusive (originals + rewrites) -> train; dev/test originals."""
    rows = []
    with zipfile.ZipFile(directory / "CEBaB-v1.1.zip") as zf:
        for name, split in (("train_inclusive", "train"), ("dev", "dev"), ("test", "test")):
            for rec in json.loads(zf.read(f"CEBaB-v1.1/{name}.json")):
                if split == "train" or rec["is_original"]:
                    rows.append(_cebab_row(rec, split))
    return _frame(rows, "cebab", "en")


def _cebab_row(rec: dict[str, Any], split: str) -> dict[str, Any]:
    aspects = {
        topic: CEBAB_POLARITY[rec[f"{asp}_aspect_majority"]]
        for asp, topic in CEBAB_ASPECTS.items()
        if rec.get(f"{asp}_aspect_majority") in CEBAB_POLARITY
    }
    return {
        "split": split,
        "text": str(rec["description"]).strip(),
        "sentiment": CEBAB_STARS.get(str(rec["review_majority"]), ""),
        "topics": sorted(aspects),
        "aspects": aspects,
        "counterfactual": not rec["is_original"],
        "channel": "restaurant_review",
    }


def load_mams(directory: Path) -> pd.DataFrame:
    """MAMS-ACSA (Apache-2.0) train / val (dev) / test: mapped categories -> topics with polarity.

    A topic whose mapped categories disagree in polarity keeps the topic but no polarity.
    """
    rows = []
    for part, split in (("train", "train"), ("val", "dev"), ("test", "test")):
        for sent in ET.parse(directory / f"MAMS-ACSA_{part}.xml").getroot().iter("sentence"):
            pols: dict[str, set[str]] = {}
            for cat in sent.iter("aspectCategory"):
                if topic := MAMS_TOPICS.get(cat.get("category", "")):
                    pols.setdefault(topic, set()).add(cat.get("polarity", ""))
            aspects = {
                t: next(iter(p))
                for t, p in pols.items()
                if len(p) == 1 and next(iter(p)) in schema.SENTIMENTS
            }
            rows.append(
                {
                    "split": split,
                    "text": (sent.findtext("text") or "").strip(),
                    "topics": sorted(pols),
                    "aspects": aspects,
                    "channel": "restaurant_review",
                }
            )
    return _frame(rows, "mams", "en")


def load_banking77(directory: Path, seed: int = SEED) -> pd.DataFrame:
    """banking77 (CC BY 4.0): train -> train / dev (every 7th row); test -> a seeded sample
    stratified by intent (:data:`BANKING77_TEST_ROWS`). Topics only, no sentiment claimed."""
    train = pd.read_csv(directory / "train.csv", dtype=str)
    test = stratified_sample(
        pd.read_csv(directory / "test.csv", dtype=str), "category", BANKING77_TEST_ROWS, seed
    )
    rows = [
        _b77_row(t, c, "dev" if i % 7 == 0 else "train")
        for i, (t, c) in enumerate(zip(train["text"], train["category"], strict=True))
    ]
    rows += [_b77_row(t, c, "test") for t, c in zip(test["text"], test["category"], strict=True)]
    return _frame(rows, "banking77", "en")


def _b77_row(text: str, intent: str, split: str) -> dict[str, Any]:
    topic = BANKING77_TOPICS.get(intent)
    return {
        "split": split,
        "text": str(text).strip(),
        "topics": [topic] if topic else [],
        "channel": "support_chat",
    }  # requests: no polarity claimed


def load_cfpb(directory: Path) -> pd.DataFrame:
    """CFPB complaint narratives (public domain): all negative; ``support`` for the credit
    reporting / debt collection products, the others unlabeled for topics. Hash split 70/15/15."""
    data = pd.read_csv(directory / "complaints_sample.csv", dtype=str, keep_default_na=False)
    rows = []
    for i, (product, text) in enumerate(
        zip(data["Product"], data["Consumer complaint narrative"], strict=True)
    ):
        topic = CFPB_TOPICS.get(product)
        rows.append(
            {
                "split": split_by_hash(f"cfpb-{i}"),
                "text": text.strip(),
                "sentiment": "negative",
                "topics": [topic] if topic else [],
                "labeled": topic is not None,
                "channel": "email",
            }
        )
    frame = _frame(rows, "cfpb", "en")
    frame["topic_scope"] = [SCOPES["cfpb"] if r["labeled"] else () for r in rows]
    return frame


def load_xed_ru(directory: Path) -> pd.DataFrame:
    """XED-ru (CC BY 4.0): Plutchik ids -> sentiment; no neutral class. Hash split 70/15/15."""
    rows = []
    lines = (directory / "ru-projections.tsv").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "\t" not in line:
            continue
        text, ids = line.rsplit("\t", 1)
        sent = merge_groups(XED_GROUPS[int(v)] for v in ids.split(",") if v.strip())
        if sent and text.strip():
            rows.append(
                {"split": split_by_hash(f"xed-{i}"), "text": text.strip(), "sentiment": sent}
            )
    return _frame(rows, "xed_ru", "ru")


#: loader and sub-directory of every real source
LOADERS: dict[str, tuple[Callable[[Path], pd.DataFrame], str]] = {
    "cebab": (load_cebab, "cebab"),
    "goemotions": (load_goemotions, "goemotions"),
    "ru_goemotions": (load_ru_goemotions, "ru_goemotions"),
    "mams": (load_mams, "mams_acsa"),
    "banking77": (load_banking77, "banking77"),
    "cfpb": (load_cfpb, "cfpb_sample"),
    "xed_ru": (load_xed_ru, "xed_ru"),
}
#: the sources the leave-one-source-out report scores (xed_ru trains only)
LOSO_SOURCES = ("cebab", "goemotions", "ru_goemotions", "mams", "banking77", "cfpb")


def available_sources(shared_dir: Path | None) -> list[str]:
    """Real sources whose directory exists under ``shared_dir``."""
    if shared_dir is None:
        return []
    return [name for name, (_, sub) in LOADERS.items() if (shared_dir / sub).is_dir()]


def load_sources(
    shared_dir: Path | None,
    topic_ids: Sequence[str],
    names: Iterable[str] | None = None,
    corpus_paths: list[Path] | None = None,
) -> pd.DataFrame:
    """The project corpus plus every real source found (or named), with :data:`COLUMNS`."""
    parts = [corpus_frame(corpus_paths)]
    wanted = list(names) if names is not None else available_sources(shared_dir)
    for name in wanted:
        loader, sub = LOADERS[name]
        if shared_dir is not None and (shared_dir / sub).is_dir():
            parts.append(loader(shared_dir / sub))
    data = pd.concat(parts, ignore_index=True)
    data["topic_scope"] = [
        tuple(topic_ids) if ALL_TOPICS in s else tuple(s) for s in data["topic_scope"]
    ]
    return data


def corpus_frame(paths: list[Path] | None = None) -> pd.DataFrame:
    """The project corpus (its fixed hash split) with :data:`COLUMNS`."""
    corpus = load_corpus(paths)
    corpus["origin"] = "corpus"
    corpus["topic_scope"] = [SCOPES["corpus"]] * len(corpus)
    corpus["counterfactual"] = False
    return corpus[list(COLUMNS)]
