"""``cx-text evaluate --labels``: shipped vs a model version on the labels it held back.

:func:`evaluate_version` tags the held-back labels of a version (never trained on,
:mod:`cx_text.training.retrain` wrote the split) with ``shipped`` and with the version;
:func:`before_after` puts the two taggings side by side, per label (sentiment F1, topic F1,
per-topic polarity accuracy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import SHIPPED_VERSION, Settings
from cx_text.core.errors import ConfigError, IngestError
from cx_text.core.taxonomy import load_taxonomy
from cx_text.models.versions import held_back_ids, read_version
from cx_text.training.evaluate import multilabel_scores, per_label_scores
from cx_text.training.labels import HELD_BACK, TRAIN, held_back

Tag = Callable[[Settings, pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class BeforeAfter:
    """Shipped vs a version on its held-back labels, one row per label."""

    version: str
    table: pd.DataFrame
    n_trained: int
    n_held_back: int

    def render(self) -> str:
        lines = [
            f"before (shipped) vs after ({self.version}) on {self.n_held_back} held-back labels "
            f"(never trained on; {self.n_trained} labels trained)",
            f"  {'kind':<10}{'label':<16}{'n':>5}{'before':>9}{'after':>9}{'change':>9}",
        ]
        for r in self.table.itertuples(index=False):
            figures = f"{r.before:>9.3f}{r.after:>9.3f}{r.change:>+9.3f}"
            lines.append(f"  {r.kind:<10}{r.label:<16}{r.n:>5}{figures}")
        return "\n".join(lines)


def before_after(
    gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame, topic_ids: Sequence[str]
) -> pd.DataFrame:
    """Per-label figures of two taggings of the same labelled rows (corpus-format ``gold``).

    Sentiment: F1 per class and macro-F1 over rows with a sentiment label; topics: F1 per topic
    and micro-F1 over rows whose topics are labelled; polarity: per topic, the share of gold
    (topic, polarity) pairs the tagging got right (a topic it missed counts as wrong).
    """
    rows = _sentiment_rows(gold, before, after) + _topic_rows(gold, before, after, topic_ids)
    rows += _polarity_rows(gold, before, after)
    table = pd.DataFrame(rows, columns=["kind", "label", "n", "before", "after"])
    table["change"] = table["after"] - table["before"]
    return table


def _sentiment_rows(gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> list[tuple]:
    mask = gold["sentiment"].isin(schema.SENTIMENTS).to_numpy()
    if not mask.any():
        return []
    g = gold.loc[mask, "sentiment"].tolist()
    b, a = (
        per_label_scores(g, t.loc[mask, schema.SENTIMENT].astype(str).tolist(), schema.SENTIMENTS)
        for t in (before, after)
    )
    out = [("sentiment", "macro-F1", len(g), b["macro_f1"], a["macro_f1"])]
    return out + [
        ("sentiment", s, b["labels"][s]["support"], b["labels"][s]["f1"], a["labels"][s]["f1"])
        for s in schema.SENTIMENTS
        if b["labels"][s]["support"]
    ]


def _topic_rows(
    gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame, topic_ids: Sequence[str]
) -> list[tuple]:
    mask = gold["topics"].notna().to_numpy()
    if not mask.any():
        return []
    g = [list(t) for t in gold.loc[mask, "topics"]]
    b, a = (
        multilabel_scores(g, [schema.split_list(x) for x in t.loc[mask, schema.TOPICS]], topic_ids)
        for t in (before, after)
    )
    out = [("topics", "micro-F1", len(g), b["micro_f1"], a["micro_f1"])]
    return out + [
        ("topic", t, b["labels"][t]["support"], b["labels"][t]["f1"], a["labels"][t]["f1"])
        for t in topic_ids
        if b["labels"][t]["support"]
    ]


def _polarity_rows(gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> list[tuple]:
    def got(tagged: pd.DataFrame) -> list[dict[str, str]]:
        return [
            {x["topic"]: x["polarity"] for x in schema.split_aspects(v)}
            for v in tagged[schema.ASPECT_SENTIMENTS]
        ]

    pred_b, pred_a = got(before), got(after)
    out = []
    for topic in sorted({t for a in gold["aspects"] for t in a}):
        idx = [i for i, a in enumerate(gold["aspects"]) if topic in a]
        want = [gold["aspects"].iloc[i][topic] for i in idx]
        acc_b = float(np.mean([pred_b[i].get(topic) == w for i, w in zip(idx, want, strict=True)]))
        acc_a = float(np.mean([pred_a[i].get(topic) == w for i, w in zip(idx, want, strict=True)]))
        out.append(("polarity", topic, len(idx), acc_b, acc_a))
    return out


def evaluate_version(
    settings: Settings, labels: pd.DataFrame, name: str, tag: Tag | None = None
) -> BeforeAfter:
    """Before (shipped) vs after (version ``name``) on the labels that version held back."""
    held_ids = held_back_ids(settings, name)
    if not held_ids:
        raise ConfigError(
            f"model version {name!r} has no held-back labels to compare on.",
            "Name a version trained with `cx-text train --labels` (see `cx-text models list`).",
        )
    held = held_back(labels, {i: HELD_BACK if i in held_ids else TRAIN for i in labels["id"]})
    if not len(held):
        raise IngestError(
            f"none of these labels were held back by {name!r}.",
            "Pass the labels the version was trained from (--labels FILE or store).",
        )
    after_settings = settings.for_version(name)
    # the same taxonomy on both sides: a new topic has only its cues before, cues + head after
    before_settings = settings.for_version(SHIPPED_VERSION).with_(
        taxonomy_path=after_settings.taxonomy_path
    )
    tag = tag or pipeline_tag
    before, after = tag(before_settings, held), tag(after_settings, held)
    topic_ids = load_taxonomy(after_settings.taxonomy_path).topic_ids
    record = read_version(Path(after_settings.models_dir)) or {}
    return BeforeAfter(
        name,
        before_after(held, before, after, topic_ids),
        int(record.get("labels", {}).get("trained", 0)),
        len(held),
    )


def pipeline_tag(settings: Settings, labels: pd.DataFrame) -> pd.DataFrame:
    """Tag the labelled texts with the full pipeline (rules + heads) of ``settings``' version."""
    from cx_text.classify.tagger import Resources, tag_frame

    frame = pd.DataFrame(
        {
            schema.ID: labels["id"],
            schema.TEXT: labels["text"],
            schema.ROW_STATUS: schema.STATUS_OK,
            schema.ROW_ISSUES: [[] for _ in range(len(labels))],
        }
    )
    return tag_frame(frame, Resources.load(settings))


def run_before_after(
    settings: Settings, labels_from: Path, name: str, tag: Tag | None = None
) -> BeforeAfter:
    """``cx-text evaluate --labels FROM --model-version NAME``."""
    from cx_text.training.labels import read_labels

    return evaluate_version(settings, read_labels(labels_from), name, tag)
