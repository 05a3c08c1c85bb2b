"""The per-message analysis records: frozen, slotted, picklable dataclasses.

Offsets are character offsets into ``text_clean``. Lemmas are lower-case with ``ё`` folded to
``е`` (placeholders such as ``[PERSON]`` stay as they are).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Token:
    """One token: surface text, lemma, offsets, and whether a negation cue governs it."""

    text: str
    lemma: str
    start: int
    end: int
    is_negated: bool = False
    is_punct: bool = False


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence as offsets into the cleaned text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Clause:
    """A clause: a sentence piece between contrast markers (``но``, ``but`` …) or ``;``.

    ``marker`` is the contrast phrase that opens the clause (``""`` if none).
    """

    index: int
    sentence: int
    start: int
    end: int
    tokens: tuple[Token, ...]
    marker: str = ""

    @property
    def lemmas(self) -> tuple[str, ...]:
        """Lemmas of the word tokens (punctuation left out)."""
        return tuple(t.lemma for t in self.tokens if not t.is_punct)


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the language layer knows about one message."""

    text: str
    lang: str
    sentences: tuple[Sentence, ...] = ()
    clauses: tuple[Clause, ...] = ()

    @property
    def tokens(self) -> tuple[Token, ...]:
        """All tokens in order."""
        return tuple(t for c in self.clauses for t in c.tokens)

    @property
    def lemmas(self) -> tuple[str, ...]:
        """All word lemmas in order (for bag-of-lemmas features and theme labels)."""
        return tuple(lemma for c in self.clauses for lemma in c.lemmas)

    def clause_text(self, index: int) -> str:
        """The cleaned text of clause ``index``."""
        clause = self.clauses[index]
        return self.text[clause.start : clause.end]


EMPTY_ANALYSIS = Analysis(text="", lang="")
