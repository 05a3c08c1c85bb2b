"""Which clauses of a training message speak of each labeled topic — the spans the encoder
fine-tune pools for per-topic polarity (``FinetuneRecipe(aspect_pool="clauses")``).

At tagging time a topic's polarity is read from the clauses it owns
(:mod:`cx_text.classify.topics`: cue hits, else the topic head's best clause). The fine-tune
cannot ask a topic head (the encoder under it is what is being trained), so it assigns clauses
by the taxonomy's cues alone:

* a labeled topic whose cues matched owns the clauses they matched in, a sub-topic cue
  outranking another topic's plain cue in the same clause («курьер вежливый, | но опоздал»:
  staff ← clause 0 by "вежливый" over delivery's "курьер", delivery ← 1 by "опоздал");
* when exactly one labeled topic has no cue hit, it owns the clauses no other labeled topic
  claimed (MAMS: "The food was great | but the waiter ignored us" with a cue for one of them);
* otherwise — one clause, every clause owned, or two topics without a cue — the topic has no
  span and its polarity is learned from the whole message, as before.

Spans are character offsets into the cleaned text (the tagger's clause boundaries, the opening
contrast marker cut off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cx_text.classify.tagger import message_clauses, prepare_chunk
from cx_text.core import schema

Span = tuple[int, int]
TopicSpans = dict[str, list[Span]]


def topic_spans(
    texts: Sequence[str], aspects: Sequence[Any], nlp: Any, matcher: Any
) -> list[TopicSpans]:
    """Per row: labeled topic -> the char spans of the clauses it owns (rows or topics without
    a clause assignment are left out). ``texts`` are cleaned as :func:`clean_texts` cleans."""
    frame = pd.DataFrame({schema.TEXT: list(texts), schema.ROW_STATUS: schema.STATUS_OK})
    prepared = prepare_chunk(frame, nlp, matcher, mask_pii=False)
    out: list[TopicSpans] = []
    for k, (text, labels) in enumerate(zip(texts, aspects, strict=True)):
        row = prepared.frame.iloc[k]
        topics = _labeled(labels)
        if not topics or row[schema.TEXT_CLEAN] != text:  # offsets would not fit the text
            out.append({})
            continue
        clauses = message_clauses(row[schema.ANALYSIS], text)
        owned = clause_owners(topics, len(clauses), prepared.matches[k])
        out.append(
            {t: [(clauses[i].start, clauses[i].end) for i in idx] for t, idx in owned.items()}
        )
    return out


def with_clause_spans(rows: pd.DataFrame, nlp: Any, taxonomy: Any) -> pd.DataFrame:
    """``rows`` (cleaned texts, ``aspects``) plus their ``clause_spans`` column, for
    ``FinetuneRecipe(aspect_pool="clauses")``."""
    from cx_text.classify.signals import cue_patterns
    from cx_text.text.nlp import CueMatcher

    matcher = CueMatcher(cue_patterns(taxonomy), nlp)
    spans = topic_spans(rows["text"].tolist(), rows["aspects"].tolist(), nlp, matcher)
    return rows.assign(clause_spans=pd.Series(spans, index=rows.index, dtype=object))


def clause_owners(
    topics: Sequence[str], n_clauses: int, matches: Sequence[Any]
) -> dict[str, list[int]]:
    """Labeled topic -> the clause indices it owns, by cue hits (see the module doc). In a
    clause, a topic's sub-topic cue ("вежливый" -> staff/polite) outranks another topic's plain
    cue ("курьер" -> delivery), as in the tagger's clause owners."""
    if n_clauses < 2:
        return {}
    specific: dict[int, set[str]] = {}
    plain: dict[int, set[str]] = {}
    for m in matches:
        topic = m.label.split("/")[0]
        if m.label.startswith("@") or topic not in topics or m.clause_index >= n_clauses:
            continue
        (specific if "/" in m.label else plain).setdefault(m.clause_index, set()).add(topic)
    hits: dict[str, set[int]] = {}
    for i in range(n_clauses):
        for topic in specific.get(i) or plain.get(i, set()):
            hits.setdefault(topic, set()).add(i)
    missing = [t for t in topics if t not in hits]
    if len(missing) == 1 and hits:
        free = set(range(n_clauses)) - set().union(*hits.values())
        if free:
            hits[missing[0]] = free
    return {t: sorted(idx) for t, idx in hits.items() if len(idx) < n_clauses}


def _labeled(aspects: Any) -> list[str]:
    if not isinstance(aspects, Mapping):
        return []
    return [t for t, p in aspects.items() if p in schema.SENTIMENTS and t != schema.OTHER_TOPIC]
