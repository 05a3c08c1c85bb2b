"""The lemma-level rule engine: spaCy's ``Matcher`` over natasha / spaCy lemmas, RU and EN.

Cue phrases are written naturally (``"опоздать"``, ``"не приехать"``, ``"late delivery"``) and
lemmatized with the same analyzers as the messages, so inflected forms match. Each cue word
matches any lemma pymorphy3 allows for it (context-free lemmas can differ from in-context ones);
between the words of a multi-word cue one extra non-punctuation, non-negation word may stand
("не смог дозвониться" matches "не дозвониться"). A match never crosses a clause. ``negated``
says a negation cue outside the match governs it ("курьер *не* опоздал" for "опоздать"); a cue
that itself contains a negation ("не приехать") is never reported as negated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby, pairwise
from typing import Any

from cx_text.core.lang import fold
from cx_text.text.nlp.clauses import BACKWARD_WINDOW, FORWARD_WINDOW
from cx_text.text.nlp.model import Analysis, Token
from cx_text.text.nlp.pipeline import analyze_one
from cx_text.text.nlp.resources import NlpResources

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Match:
    """One cue hit: label, clause index, char offsets into ``text_clean``, matched words."""

    label: str
    clause_index: int
    start: int
    end: int
    terms: tuple[str, ...]
    negated: bool
    cue: str = ""


@dataclass(frozen=True, slots=True)
class _MultiWordCue:
    """A cue of 2+ words: the lemma variants each word may take, in order."""

    key: str
    words: tuple[frozenset[str], ...]


class CueMatcher:
    """Match labelled cue phrases against analyses (batch: :meth:`match`).

    One-word cues (most of them) go through spaCy's hash-based ``PhraseMatcher`` on lemmas.
    Multi-word cues are indexed by their first word's lemmas and tried only where such a lemma
    occurs — spaCy's token ``Matcher`` tried every pattern at every token and cost more than the
    encoder (3.6 s per 5,000 messages; measured in ``benchmarks/tagging.py`` profiles).
    """

    def __init__(self, patterns: Mapping[str, Sequence[str]], resources: NlpResources) -> None:
        from spacy.matcher import PhraseMatcher
        from spacy.vocab import Vocab

        self.resources = resources
        self.vocab = Vocab()
        self.phrases = PhraseMatcher(self.vocab, attr="LEMMA")
        self.multi_by_first: dict[str, list[_MultiWordCue]] = {}
        self.cue_of: dict[str, tuple[str, str, bool]] = {}
        self.negations = frozenset(resources.cues.negation_forward)
        for label, phrases in patterns.items():
            for phrase in phrases:
                self._add(label, phrase)

    def _add(self, label: str, phrase: str) -> None:
        words = [t for t in analyze_one(phrase, self.resources).tokens if not t.is_punct]
        if not words:
            return
        key = f"{label}\x1f{phrase}"
        has_negation = any(self.resources.cues.is_negation(t) for t in words)
        self.cue_of[key] = (label, phrase, has_negation)
        if len(words) == 1:
            self.phrases.add(key, [self._lemma_doc(v) for v in self._lemma_variants(words[0])])
            return
        cue = _MultiWordCue(key, tuple(frozenset(self._lemma_variants(t)) for t in words))
        for lemma in cue.words[0]:
            self.multi_by_first.setdefault(lemma, []).append(cue)

    def _lemma_doc(self, lemma: str) -> Any:
        from spacy.tokens import Doc

        return Doc(self.vocab, words=[lemma], lemmas=[lemma])

    def _lemma_variants(self, token: Token) -> list[str]:
        variants = {token.lemma, fold(token.text)}
        if _CYRILLIC.search(token.text):
            variants |= {fold(p.normal_form) for p in self.resources.morph.parse(token.text)}
        return sorted(variants)

    def match(self, analyses: Sequence[Analysis]) -> list[list[Match]]:
        """For each analysis, its matches sorted by position (longest per label and place)."""
        return [self.match_one(a) for a in analyses]

    def match_one(self, analysis: Analysis) -> list[Match]:
        """Matches in one analysis."""
        tokens = analysis.tokens
        if not tokens:
            return []
        doc = self._doc(tokens)
        clause_of = [c.index for c in analysis.clauses for _ in c.tokens]
        found = []
        hits = [(self.vocab.strings[i], s, e) for i, s, e in self.phrases(doc)]
        for key, start, end in [*self._multi_word_hits(tokens), *hits]:
            if clause_of[start] != clause_of[end - 1]:
                continue
            label, phrase, has_neg = self.cue_of[key]
            negated = not has_neg and _negated(tokens, clause_of, start, end, self.resources)
            span = tokens[start:end]
            found.append(
                Match(
                    label,
                    clause_of[start],
                    span[0].start,
                    span[-1].end,
                    tuple(t.text for t in span),
                    negated,
                    phrase,
                )
            )
        return _longest(found)

    def _multi_word_hits(self, tokens: Sequence[Token]) -> list[tuple[str, int, int]]:
        """(cue key, start, end) of every multi-word cue; one optional gap word between words.

        A gap word is neither punctuation nor a negation ("не смог дозвониться" matches
        "не дозвониться"; "не, дозвонился" does not).
        """
        lemmas = [t.lemma for t in tokens]
        gap_ok = [not t.is_punct and t.lemma not in self.negations for t in tokens]
        out = []
        for start, lemma in enumerate(lemmas):
            for cue in self.multi_by_first.get(lemma, ()):
                out += [
                    (cue.key, start, end) for end in _ends(cue.words, 1, start + 1, lemmas, gap_ok)
                ]
        return out

    def _doc(self, tokens: Sequence[Token]) -> Any:
        from spacy.tokens import Doc

        spaces = [a.end < b.start for a, b in pairwise(tokens)] + [False]
        return Doc(
            self.vocab,
            words=[t.text for t in tokens],
            spaces=spaces,
            lemmas=[t.lemma for t in tokens],
        )


def _ends(
    words: tuple[frozenset[str], ...], k: int, pos: int, lemmas: list[str], gap_ok: list[bool]
) -> set[int]:
    """Token ends of matches of ``words[k:]`` starting at ``pos`` (optionally after one gap)."""
    if k == len(words):
        return {pos}
    out: set[int] = set()
    if pos < len(lemmas) and lemmas[pos] in words[k]:
        out |= _ends(words, k + 1, pos + 1, lemmas, gap_ok)
    if pos + 1 < len(lemmas) and gap_ok[pos] and lemmas[pos + 1] in words[k]:
        out |= _ends(words, k + 1, pos + 2, lemmas, gap_ok)
    return out


def _negated(
    tokens: Sequence[Token], clause_of: list[int], start: int, end: int, res: NlpResources
) -> bool:
    """A negation cue before the match (forward scope) or ``нет`` after it, same clause."""
    cues = res.cues
    clause = clause_of[start]
    for j in range(start - 1, max(-1, start - 1 - FORWARD_WINDOW), -1):
        if clause_of[j] != clause or tokens[j].is_punct:
            break
        if cues.is_negation(tokens[j]):
            return True
    for j in range(end, min(len(tokens), end + BACKWARD_WINDOW)):
        if clause_of[j] != clause or tokens[j].is_punct:
            break
        if tokens[j].text.lower() in cues.negation_backward:
            return True
    return False


def _longest(matches: list[Match]) -> list[Match]:
    """Drop a match contained in another match of the same label; sort by position.

    One sweep per label in (start, -end) order: a span is contained in a longer one exactly when
    a different span that starts no later already reached its end (linear, not quadratic: a
    20,000-character e-mail has thousands of matches)."""
    by_label: dict[str, list[Match]] = {}
    for m in matches:
        by_label.setdefault(m.label, []).append(m)
    unique: dict[tuple[str, int, int], Match] = {}
    for label, group in by_label.items():
        reach = -1  # the furthest end among spans already passed
        for span, same in groupby(sorted(group, key=lambda m: (m.start, -m.end)), _span):
            last = list(same)[-1]  # as before: the last of identical spans wins
            if reach < span[1]:
                unique[(label, *span)] = last
            reach = max(reach, span[1])
    return sorted(unique.values(), key=lambda m: (m.start, m.end, m.label))


def _span(m: Match) -> tuple[int, int]:
    return m.start, m.end
