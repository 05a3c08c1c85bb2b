"""Clause splitting on contrast markers and negation scope — pure functions over tokens.

A sentence is cut before a contrast marker (``но``, ``а``, ``однако``, ``зато``, ``хотя``,
``but``, ``however``, ``although``, ``though``, ``whereas`` … from ``lang/cues.yaml``) and after
``;`` — but only when both sides keep a word, so "It was late, though." stays one clause.
Phrases such as ``а также`` / ``not yet`` are never markers. A negation cue marks the next few
words of its clause as negated (stopping at punctuation); ``нет`` also looks back
("претензий нет").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from cx_text.core.lang import cue_words
from cx_text.text.nlp.model import Analysis, Clause, Sentence, Token

FORWARD_WINDOW = 3
BACKWARD_WINDOW = 2


@dataclass(frozen=True)
class Cues:
    """Cue phrases (folded word tuples) for both languages at once (handles mixed text)."""

    contrast: frozenset[tuple[str, ...]]
    not_contrast: frozenset[tuple[str, ...]]
    negation_forward: frozenset[str]
    negation_backward: frozenset[str]
    max_len: int

    @classmethod
    def load(cls) -> Cues:
        """Read ``lang/cues.yaml`` for ru and en."""

        def phrases(kind: str) -> frozenset[tuple[str, ...]]:
            return frozenset(
                tuple(p.split()) for lang in ("ru", "en") for p in cue_words(lang, kind)
            )

        def words(kind: str) -> frozenset[str]:
            return frozenset(p for lang in ("ru", "en") for p in cue_words(lang, kind))

        contrast, not_contrast = phrases("contrast"), phrases("not_contrast")
        longest = max(len(p) for p in contrast | not_contrast)
        return cls(
            contrast, not_contrast, words("negation_forward"), words("negation_backward"), longest
        )

    def is_negation(self, token: Token) -> bool:
        """True for a negation cue token (``не``, ``not``, ``n't``, ``don't`` …)."""
        low = token.text.lower()
        return low in self.negation_forward or low.endswith(("n't", "n’t"))


@dataclass(frozen=True)
class RawSentence:
    """A sentence from a tokenizer, before clause splitting."""

    start: int
    end: int
    tokens: tuple[Token, ...]


def _marker_at(words: Sequence[str], i: int, cues: Cues) -> int:
    """Length of a contrast marker starting at word ``i`` (0 if none)."""
    for n in range(min(cues.max_len, len(words) - i), 0, -1):
        phrase = tuple(words[i : i + n])
        if phrase in cues.not_contrast:
            return 0
        if phrase in cues.contrast:
            return n
    return 0


def split_points(tokens: Sequence[Token], cues: Cues) -> list[tuple[int, str]]:
    """Token indexes where a new clause starts, with the marker that opens it."""
    words = [t.text.lower().replace("ё", "е") for t in tokens]
    is_word = [not t.is_punct for t in tokens]
    points: list[tuple[int, str]] = []
    last = 0
    for i, token in enumerate(tokens):
        if token.text == ";" and any(is_word[last:i]) and any(is_word[i + 1 :]):
            points.append((i + 1, ""))
            last = i + 1
            continue
        n = _marker_at(words, i, cues) if is_word[i] else 0
        if n and any(is_word[last:i]) and any(is_word[i + n :]):
            points.append((i, " ".join(words[i : i + n])))
            last = i
    return points


def mark_negation(tokens: Sequence[Token], cues: Cues) -> tuple[Token, ...]:
    """Tokens with ``is_negated`` set inside each negation cue's window (one clause)."""
    negated = [False] * len(tokens)
    for i, token in enumerate(tokens):
        low = token.text.lower()
        if cues.is_negation(token):
            _mark(tokens, negated, range(i + 1, len(tokens)), FORWARD_WINDOW)
        if low in cues.negation_backward:
            _mark(tokens, negated, range(i - 1, -1, -1), BACKWARD_WINDOW)
    return tuple(
        Token(t.text, t.lemma, t.start, t.end, True, t.is_punct) if flag else t
        for t, flag in zip(tokens, negated, strict=True)
    )


def _mark(tokens: Sequence[Token], negated: list[bool], order: range, window: int) -> None:
    for j in order[:window]:
        if tokens[j].is_punct:
            return
        negated[j] = True


def build_analysis(text: str, lang: str, sentences: Sequence[RawSentence], cues: Cues) -> Analysis:
    """Split sentences into clauses, mark negation, and wrap it all in an :class:`Analysis`."""
    clauses: list[Clause] = []
    for s_index, sentence in enumerate(sentences):
        tokens = sentence.tokens
        bounds = [(0, ""), *split_points(tokens, cues), (len(tokens), "")]
        for (lo, marker), (hi, _) in pairwise(bounds):
            part = mark_negation(tokens[lo:hi], cues)
            if part:
                clauses.append(
                    Clause(len(clauses), s_index, part[0].start, part[-1].end, part, marker)
                )
    spans = tuple(Sentence(s.start, s.end) for s in sentences)
    return Analysis(text=text, lang=lang, sentences=spans, clauses=tuple(clauses))
