"""Theme key terms: terms from clause lemmas, class-based TF-IDF (as in BERTopic), RU | EN line.

Theme *names* (short phrases) are built on these rankings in :mod:`cx_text.themes.name`.

A clause becomes terms: content lemmas (stop words from ``cx_text/core/lang/`` dropped), a negation
glued to the word it governs (``не позвонить``, ``not call``) and bigrams of adjacent terms.
c-TF-IDF treats every theme of a topic (plus the topic's unassigned clauses as background) as
one document: ``w(t, c) = tf(t, c) / |c| · log(1 + A / f(t))`` with ``A`` the mean class size
and ``f(t)`` the term's count over all classes — terms frequent in one theme, rare elsewhere.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from itertools import pairwise
from typing import Any

from cx_text.core.lang import cue_words, fold, stop_words

Lemmatize = Callable[[str, str], list[str]]

WORD_RE = re.compile(r"\[[A-Z_]+\]|[^\W\d_]+(?:['’][^\W\d_]+)?")
_CYRILLIC = re.compile(r"[а-яё]")
NEGATORS = frozenset({"не", "нет", "ни", "никогда", "not", "no", "never", "n't", "nt", "cannot"})
_EN_NEG_SUFFIX = ("n't", "n’t")
MIN_TERM_CHARS = 2  # distinct characters: drops "a", "xx", "xxxx" (redactions), "ааа"


def words(text: str) -> list[str]:
    """Word tokens of ``text`` (placeholders like ``[PHONE]`` kept whole)."""
    return WORD_RE.findall(text or "")


def simple_lemmatize(text: str, lang: str) -> list[str]:
    """Fallback lemmatizer: folded word forms (``didn't`` -> ``not``). No morphology."""
    return [_negation_form(fold(w)) for w in words(text)]


def nlp_lemmatizer(resources: Any) -> Lemmatize:
    """A lemmatizer over :class:`cx_text.text.nlp.NlpResources` word lemmas (pymorphy3 / spaCy)."""

    def lemmatize(text: str, lang: str) -> list[str]:
        out = []
        for word in words(text):
            low = fold(word)
            if low.endswith(_EN_NEG_SUFFIX) or word.startswith("["):
                out.append(_negation_form(low))
            elif _CYRILLIC.search(low):
                out.append(resources.ru_lemma(word))
            else:
                lemma = resources.translit_lemma if lang == "ru" else resources.en_lemma
                out.append(lemma(word))
        return out

    return lemmatize


def _negation_form(word: str) -> str:
    return "not" if word.endswith(_EN_NEG_SUFFIX) or word == "cannot" else word


def terms(lemmas: Sequence[str]) -> list[str]:
    """Content terms of one clause: negation + word glued, stop words dropped, plus bigrams."""
    stop = label_stop_words()
    units: list[str] = []
    negate = ""
    for lemma in lemmas:
        if lemma in NEGATORS:
            negate = "не " if _CYRILLIC.search(lemma) else "not "
            continue
        if (
            lemma in stop or len(set(lemma)) < MIN_TERM_CHARS or lemma.startswith("[")
        ):  # "xxxx": redacted
            continue
        units.append(negate + lemma)
        negate = ""
    bigrams = [f"{a} {b}" for a, b in pairwise(units)]
    return list(dict.fromkeys(units)) + list(dict.fromkeys(bigrams))


@cache
def label_stop_words() -> frozenset[str]:
    """Stop words of both languages plus contrast words and intensifiers (useless in labels)."""
    extra = {
        w
        for lang in ("ru", "en")
        for kind in ("contrast", "intensifiers")
        for w in cue_words(lang, kind)
        if " " not in w
    }
    return stop_words("ru") | stop_words("en") | frozenset(extra)


def ctfidf(docs: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, list[tuple[str, float]]]:
    """Class -> terms ranked by c-TF-IDF; ``docs`` maps a class to its clauses' term lists."""
    counts = {c: Counter(t for clause in clauses for t in clause) for c, clauses in docs.items()}
    totals = Counter[str]()
    for counter in counts.values():
        totals.update(counter)
    sizes = [sum(c.values()) for c in counts.values()]
    avg = (sum(sizes) / len(sizes)) if sizes else 0.0
    out = {}
    for cls, counter in counts.items():
        n = sum(counter.values()) or 1
        scored = [(t, tf / n * math.log(1 + avg / totals[t])) for t, tf in counter.items()]
        out[cls] = sorted(scored, key=lambda p: (-p[1], p[0]))
    return out


def term_lang(term: str) -> str:
    """``ru`` for Cyrillic terms, else ``en``."""
    return "ru" if _CYRILLIC.search(term) else "en"


def top_terms(ranked: Sequence[tuple[str, float]], per_lang: int = 5) -> list[dict[str, Any]]:
    """Best terms of each language, skipping a term already inside a better one."""
    chosen: list[dict[str, Any]] = []
    taken = {"ru": 0, "en": 0}
    for term, score in ranked:
        lang = term_lang(term)
        if taken[lang] >= per_lang or any(_inside(term, c["term"]) for c in chosen):
            continue
        chosen.append({"term": term, "lang": lang, "score": round(float(score), 5)})
        taken[lang] += 1
    return chosen


def _inside(term: str, other: str) -> bool:
    return term != other and (f" {term} " in f" {other} " or f" {other} " in f" {term} ")


def format_label(chosen: Sequence[Mapping[str, Any]], per_lang: int = 3) -> str:
    """``"не позвонить · курьер | not call · courier"`` from :func:`top_terms` output."""
    parts = []
    for lang in ("ru", "en"):
        picked = [str(c["term"]) for c in chosen if c["lang"] == lang][:per_lang]
        if picked:
            parts.append(" · ".join(picked))
    return " | ".join(parts) or "(no terms)"


def rank_terms(
    clauses: Mapping[str, Sequence[tuple[str, str]]],
    lemmatize: Lemmatize,
    background: Sequence[tuple[str, str]] = (),
) -> dict[str, list[tuple[str, float]]]:
    """Theme id -> its terms ranked by c-TF-IDF, from sampled ``(clause, lang)`` pairs per theme
    (the ``background`` clauses, e.g. the unassigned ones, form one more class)."""
    docs = {
        tid: [terms(lemmatize(text, lang)) for text, lang in pairs]
        for tid, pairs in clauses.items()
    }
    docs[_BACKGROUND] = [terms(lemmatize(text, lang)) for text, lang in background]
    ranked = ctfidf(docs)
    return {tid: ranked[tid] for tid in clauses}


_BACKGROUND = "\x00background"
