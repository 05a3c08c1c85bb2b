"""What the classifiers see of one message: embeddings, clauses and rule matches.

The pipeline computes these once per chunk (encoder + nlp + cue matcher) and hands them to the
sentiment, topic and aspect classifiers, which are pure functions of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class RuleMatch(Protocol):
    """A cue hit from the rule engine (``cx_text.text.nlp.matcher``)."""

    label: str  # topic id or "topic/subtopic"
    clause_index: int
    start: int  # character offsets into text_clean
    end: int
    terms: tuple[str, ...]  # the matched words as written
    negated: bool


@dataclass(frozen=True)
class Clause:
    """A clause of the cleaned text with its character span."""

    text: str
    start: int
    end: int
    marker: str = ""  # the contrast word that opened the clause ("но", "but" …), cut from text


@dataclass(frozen=True)
class MessageFeatures:
    """Everything the classifiers need about one message."""

    embedding: np.ndarray  # (dim,) L2-normalised message embedding
    clauses: tuple[Clause, ...] = ()
    clause_embeddings: np.ndarray | None = None  # (len(clauses), dim) or None when one clause
    matches: tuple[RuleMatch, ...] = field(default_factory=tuple)
    # (windows, dim) for a message longer than the encoder's window, else None
    window_embeddings: np.ndarray | None = None

    def clause_vectors(self) -> np.ndarray:
        """Per-clause embeddings; a single-clause message reuses the message embedding."""
        if self.clause_embeddings is not None and len(self.clause_embeddings) == len(self.clauses):
            return self.clause_embeddings
        return np.repeat(self.embedding[None, :], max(len(self.clauses), 1), axis=0)


def stack_embeddings(features: list[MessageFeatures]) -> np.ndarray:
    """(n, dim) matrix of the message embeddings."""
    return np.stack([f.embedding for f in features]) if features else np.zeros((0, 1), np.float32)
