"""Token helpers shared by the Russian and English analyzers."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from cx_text.text.nlp.model import Token
from cx_text.text.pii import PLACEHOLDER_RE

if TYPE_CHECKING:
    from cx_text.text.nlp.resources import NlpResources

_CYR = re.compile(r"[а-яёА-ЯЁ]")
_LAT = re.compile(r"[a-zA-Z]")


def is_punct(text: str) -> bool:
    """True if every character is punctuation (emoji and symbols are not)."""
    return bool(text) and all(unicodedata.category(ch).startswith("P") for ch in text)


def merge_placeholders(text: str, tokens: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Join the pieces tokenizers make of ``[PERSON]`` back into one token."""
    spans = [(m.start(), m.end()) for m in PLACEHOLDER_RE.finditer(text)]
    if not spans:
        return tokens
    out: list[tuple[str, int, int]] = []
    for word, start, end in tokens:
        span = next(((a, b) for a, b in spans if a <= start and end <= b), None)
        if span is None:
            out.append((word, start, end))
        elif not out or out[-1][1:] != span:
            out.append((text[span[0] : span[1]], span[0], span[1]))
    return out


def make_token(
    word: str,
    start: int,
    end: int,
    res: NlpResources,
    *,
    ru_lemma: str | None = None,
    en_norm: str | None = None,
    translit: bool = False,
) -> Token:
    """A :class:`Token` with the lemma its script calls for (cached per word form)."""
    if ru_lemma is not None:
        return Token(word, ru_lemma, start, end, False, is_punct(word))
    lemma, punct = res.token_info(word, en_norm or word, translit)
    return Token(word, lemma, start, end, False, punct)


def token_info(res: NlpResources, word: str, norm: str, translit: bool) -> tuple[str, bool]:
    """``(lemma, is_punct)`` of a word form: placeholder, Cyrillic, Latin or other."""
    if word.startswith("[") and PLACEHOLDER_RE.fullmatch(word):
        return word, False
    if _CYR.search(word):
        return res.ru_lemma(word), False
    if _LAT.search(word):
        return (res.translit_lemma(word) if translit else res.en_lemma(norm)), False
    return word, is_punct(word)
