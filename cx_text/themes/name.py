"""Readable theme names: a short phrase from the theme's own clauses, per language.

"подорожать · кусаться · цена | price · steep" becomes "цены выросли | prices went up":

1. Every clause becomes words with a role: content, negation, stop word, particle ("up") or
   filler dropped even inside a name ("так и", "опять", "the"; ``cx_text/core/lang/
   theme_names.yaml`` plus the intensifiers of ``cues.yaml``). Content words and particles are
   *units*, a negation glued to the next one (``не позвонить``, ``not call``).
2. Units are weighted by class-based TF-IDF against the topic's other themes and its unassigned
   clauses (as the term label), normalised per language so the best unit weighs 1.
3. Each clause proposes its *core*: the window of at most ``max_words`` kept words with the
   highest weight minus ``word_cost`` per word (plus ``predicate_bonus`` when it says what
   happened: a negation or a verb form), starting with a content word or a negation and ending
   with a content word or a particle; a negated word keeps its negation, punctuation ends a core.
4. A core is worth its value × the theme's clauses holding all its units × k/(k+1) for a core k
   clauses proposed; the best is shown in its most frequent wording, so recurring short cores
   beat one clause's long one. One-word cores only when no clause has a longer one.

A theme gets a phrase in each language holding at least ``min_share`` of its clauses, Russian
first: ``"курьер не позвонил | courier didn't call"``. Themes of a topic choose biggest first; a
smaller theme whose best phrase is taken uses its next-best one.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Any

from cx_text.core.lang import cue_words, fold, load_yaml, stop_words
from cx_text.themes.label import (
    NEGATORS,
    WORD_RE,
    Lemmatize,
    ctfidf,
    format_label,
    rank_terms,
    term_lang,
    top_terms,
    words,
)

LANGS = ("ru", "en")
NEG_PREFIX = {"ru": "не ", "en": "not "}
CONTENT, NEG, STOP, DROP, PARTICLE, BREAK = "content", "neg", "stop", "drop", "particle", "break"
_TOKEN = re.compile(
    rf"(?P<word>{WORD_RE.pattern})|(?P<number>\d+(?:[.,]\d+)?)|(?P<mark>[,;:.!?()…\n]|\s[-–—]\s)"
)
ABBREVIATION_CHARS = (
    4  # an all-caps word this short stays upper-case (ПВЗ, СДЭК, SMS); "TOTAL" does not
)
_BACKGROUND = "\x00background"


@dataclass(frozen=True)
class NameParams:
    """Knobs of naming; defaults checked on the demo store and CFPB complaints (docs/THEMES.md)."""

    max_words: int = 5  # words in one language's phrase
    word_cost: float = 0.15  # weight a word must bring to join a core (units weigh 0..1)
    min_share: float = 0.2  # a language needs this share of the theme's clauses for its phrase
    min_clauses: int = 3  # ... and at least this many clauses
    single_word_factor: float = 0.5  # a one-word core is worth this much, and is shown only
    # when no clause has a longer one (a phrase reads better than a bare word)
    predicate_bonus: float = 0.5  # added to a core that says what happened (a verb, a negation)
    support_power: float = 1.0  # a core is worth value × (clauses holding it) ** this


@dataclass(frozen=True)
class Word:
    """One word of a clause: surface form, role in a name and unit (``""`` if none)."""

    text: str
    kind: str
    unit: str = ""
    predicate: bool = False


@dataclass(frozen=True)
class Core:
    """A candidate name: its units, wording and value."""

    units: frozenset[str]
    text: str
    value: float


@dataclass(frozen=True)
class _Lexicon:
    drop: frozenset[str]
    sequences: tuple[tuple[str, ...], ...]
    drop_before_negation: frozenset[str]
    keep: frozenset[str]
    particles: frozenset[str]
    stop: frozenset[str]
    predicate: dict[str, Any]
    scope_ends: frozenset[str]


@cache
def _lexicon(lang: str) -> _Lexicon:
    data = load_yaml("theme_names.yaml").get(lang, {})

    def entries(key: str) -> list[str]:
        return [fold(str(w)) for w in data.get(key, [])]

    drop = entries("drop") + [w for w in cue_words(lang, "intensifiers") if " " not in w]
    return _Lexicon(
        frozenset(w for w in drop if " " not in w),
        tuple(tuple(w.split()) for w in drop if " " in w),
        frozenset(entries("drop_before_negation")),
        frozenset(entries("keep")),
        frozenset(entries("particles")),
        stop_words(lang),
        dict(data.get("predicate", {})),
        frozenset(entries("negation_scope_ends")),
    )


def parse_clause(text: str, lang: str, lemmatize: Lemmatize) -> list[Word]:
    """The words of a clause with their roles and units (``[]`` if lemmas do not align).
    Numbers are kept for the wording (never an edge); punctuation ends a name."""
    lemmas = [fold(lemma) for lemma in lemmatize(text, lang)]
    if len(lemmas) != len(words(text)):
        return []
    tokens = _unshout([(m.group(), str(m.lastgroup)) for m in _TOKEN.finditer(text or "")])
    lex = _lexicon(lang)
    it = iter(lemmas)
    aligned = [(tok, next(it) if kind == "word" else "") for tok, kind in tokens]
    kinds = _kinds([t for t, _ in aligned], [lemma for _, lemma in aligned], lex)
    kinds = [
        k if kind == "word" else (STOP if kind == "number" else BREAK)
        for k, (_, kind) in zip(kinds, tokens, strict=True)
    ]
    out, negated = [], False
    for (token, lemma), kind in zip(aligned, kinds, strict=True):
        unit, predicate = "", False
        if kind in (CONTENT, PARTICLE):
            unit = NEG_PREFIX[lang] + lemma if negated and kind == CONTENT else lemma
            predicate = kind == CONTENT and (negated or is_predicate(token, lemma, lex.predicate))
        out.append(Word(token.strip(), kind, unit, predicate))
        if kind != DROP:
            negated = kind == NEG or (negated and kind == STOP and lemma not in lex.scope_ends)
    return out


def _unshout(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Lower-case shouting: a mostly upper-case clause ("CART IS DIFFERENT") and runs of two or
    more upper-case words ("declared TOTAL LOSS"); a lone abbreviation (ПВЗ) stays."""
    caps = [kind == "word" and len(tok) > 1 and tok.isupper() for tok, kind in tokens]
    letters = [c for tok, _ in tokens for c in tok if c.isalpha()]
    if sum(c.isupper() for c in letters) > len(letters) / 2:
        return [(tok.lower(), kind) for tok, kind in tokens]
    words_at = [i for i, (_, kind) in enumerate(tokens) if kind == "word"]
    run: set[int] = set()
    for a, b in pairwise(words_at):
        if caps[a] and caps[b]:
            run.update((a, b))
    return [(tok.lower() if i in run else tok, kind) for i, (tok, kind) in enumerate(tokens)]


def _kinds(tokens: Sequence[str], lemmas: Sequence[str], lex: _Lexicon) -> list[str]:
    hits = _sequence_hits(lemmas, lex.sequences) | _sequence_hits(
        [fold(t) for t in tokens], lex.sequences
    )
    kinds = []
    for i, (token, lemma) in enumerate(zip(tokens, lemmas, strict=True)):
        forms = {lemma, fold(token)}
        if forms & NEGATORS:
            kind = NEG
        elif i in hits or forms & lex.drop or _masked(token, lemma):
            kind = DROP
        elif forms & lex.particles:
            kind = PARTICLE
        elif forms & lex.keep:
            kind = CONTENT
        elif forms & lex.stop or len(lemma) < 2:
            kind = STOP
        else:
            kind = CONTENT
        kinds.append(kind)
    for i in range(len(kinds) - 1):  # "was not applied" -> "not applied"
        if kinds[i + 1] == NEG and {lemmas[i], fold(tokens[i])} & lex.drop_before_negation:
            kinds[i] = DROP
    return kinds


def is_predicate(token: str, lemma: str, rules: Mapping[str, Any]) -> bool:
    """Whether a word looks like a verb (``theme_names.yaml`` ``predicate`` rules)."""
    low = fold(token)
    if lemma.endswith(tuple(rules.get("lemma_endings", ()))):
        return not lemma.endswith(tuple(rules.get("not_lemma_endings", ())))
    if low == lemma:
        return False
    return low.endswith(tuple(rules.get("word_endings", ()))) or (
        bool(rules.get("irregular")) and low[:2] != lemma[:2]
    )


def _masked(token: str, lemma: str) -> bool:
    """A PII placeholder (``[PERSON]``) or a redaction (``XXXX``): never part of a name."""
    return token.startswith("[") or len(set(lemma)) == 1 < len(lemma)


def _sequence_hits(lemmas: Sequence[str], sequences: Sequence[tuple[str, ...]]) -> set[int]:
    hits: set[int] = set()
    for seq in sequences:
        for i in range(len(lemmas) - len(seq) + 1):
            if tuple(lemmas[i : i + len(seq)]) == seq:
                hits.update(range(i, i + len(seq)))
    return hits


def clause_core(
    clause: Sequence[Word], weights: Mapping[str, float], params: NameParams
) -> Core | None:
    """The best window of a clause (``None`` when no window is worth anything)."""
    best: Core | None = None
    for start, first in enumerate(clause):
        if first.kind not in (CONTENT, NEG) or _negated_from_outside(clause, start):
            continue
        kept: list[int] = []
        for end in range(start, len(clause)):
            if clause[end].kind == BREAK:
                break
            if clause[end].kind == DROP:
                continue
            kept.append(end)
            if len(kept) > params.max_words:
                break
            core = _window(clause, kept, weights, params)
            if core and (best is None or core.value > best.value):
                best = core
    return best


def _negated_from_outside(clause: Sequence[Word], start: int) -> bool:
    """A negated word ("not ... going back") cannot open a name without its negation."""
    return clause[start].unit.startswith(tuple(NEG_PREFIX.values()))


def _window(
    clause: Sequence[Word], kept: Sequence[int], weights: Mapping[str, float], params: NameParams
) -> Core | None:
    last = clause[kept[-1]]
    if last.kind in (NEG, STOP) or (last.kind == PARTICLE and len(kept) == 1):
        return None
    if _next_kind(clause, kept[-1]) == NEG:  # "заказываю | не так часто": cut before a negation
        return None
    units = frozenset(clause[i].unit for i in kept if clause[i].unit)
    gain = sum(weights.get(u, 0.0) for u in units)
    value = gain - params.word_cost * len(kept)
    if any(clause[i].predicate for i in kept):
        value += params.predicate_bonus
    if len(kept) == 1:
        value *= params.single_word_factor
    if value <= 0:
        return None
    return Core(units, " ".join(_shown(clause[i].text) for i in kept), value)


def _next_kind(clause: Sequence[Word], end: int) -> str:
    """The role of the first word after ``end`` that is not filler (``""`` at the end)."""
    return next((w.kind for w in clause[end + 1 :] if w.kind != DROP), "")


def _shown(word: str) -> str:
    """Lower case, except abbreviations (ПВЗ, SMS)."""
    return word if word.isupper() and 1 < len(word) <= ABBREVIATION_CHARS else word.lower()


def best_phrase(
    cores: Sequence[Core], clause_units: Sequence[frozenset[str]], support_power: float = 1.0
) -> str | None:
    """The best of :func:`ranked_phrases`, ``None`` without cores."""
    return next(iter(ranked_phrases(cores, clause_units, support_power)), None)


def ranked_phrases(
    cores: Sequence[Core], clause_units: Sequence[frozenset[str]], support_power: float = 1.0
) -> list[str]:
    """Candidate names best first, each core in its most frequent wording. Worth = value ×
    (clauses holding all its units) ** ``support_power`` × k / (k + 1) for a core ``k`` clauses
    proposed (a wording one clause happens to have is trusted less); ties go to fewer units,
    then A–Z. One-word cores only when no clause has a longer one."""
    value: dict[frozenset[str], float] = {}
    wordings: dict[frozenset[str], Counter[str]] = defaultdict(Counter)
    for core in cores:
        value[core.units] = max(value.get(core.units, 0.0), core.value)
        wordings[core.units][core.text] += 1
    if any(" " in text for counter in wordings.values() for text in counter):
        value = {k: v for k, v in value.items() if any(" " in t for t in wordings[k])}
    total = {}
    for key, val in value.items():
        support = sum(1 for units in clause_units if key <= units) ** support_power
        proposed = sum(wordings[key].values())
        total[key] = val * support * proposed / (proposed + 1)
    keys = sorted(total, key=lambda k: (-round(total[k], 9), len(k), sorted(k)))
    return [min(wordings[k].items(), key=lambda p: (-p[1], len(p[0]), p[0]))[0] for k in keys]


def language_weights(ranked: Sequence[tuple[str, float]], lang: str) -> dict[str, float]:
    """Weights of one language's units, the best = 1."""
    picked = {t: s for t, s in ranked if term_lang(t) == lang}
    top = max(picked.values(), default=0.0)
    return {t: s / top for t, s in picked.items()} if top > 0 else {}


def language_phrases(
    clauses: Sequence[Sequence[Word]], lang: str, weights: Mapping[str, float], params: NameParams
) -> list[str]:
    """Candidate phrases of one language from its parsed clauses, best first (worded in its
    script: a transliterated "kurer ne pozvonil" counts for "курьер не позвонил", is not shown)."""
    cores = [
        c
        for c in (clause_core(clause, weights, params) for clause in clauses)
        if c and term_lang(fold(c.text)) == lang
    ]
    units = [frozenset(w.unit for w in clause if w.unit) for clause in clauses]
    return ranked_phrases(cores, units, params.support_power)


def theme_name(
    parsed: Sequence[tuple[str, Sequence[Word]]],
    ranked: Sequence[tuple[str, float]],
    params: NameParams | None = None,
    taken: dict[str, set[str]] | None = None,
) -> str | None:
    """``"цены выросли | prices went up"`` from a theme's ``(lang, words)`` clauses and its
    ranked units; ``None`` when no clause yields a phrase. A phrase in ``taken`` (another theme
    of the topic has it) gives way to the next candidate, if there is one."""
    params, taken = params or NameParams(), taken if taken is not None else {}
    counts = Counter(lang for lang, _ in parsed if lang in LANGS)
    phrases = []
    for lang in LANGS:
        if counts[lang] < max(params.min_clauses, params.min_share * sum(counts.values())):
            continue
        clauses = [clause for lg, clause in parsed if lg == lang]
        candidates = language_phrases(clauses, lang, language_weights(ranked, lang), params)
        used = taken.setdefault(lang, set())
        phrase = next((c for c in candidates if c not in used), next(iter(candidates), None))
        if phrase:
            phrases.append(phrase)
            used.add(phrase)
    return " | ".join(phrases) or None


def name_themes(
    clauses: Mapping[str, Sequence[tuple[str, str]]],
    lemmatize: Lemmatize,
    background: Sequence[tuple[str, str]] = (),
    params: NameParams | None = None,
) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Theme id -> (name, top c-TF-IDF terms) from sampled ``(clause, lang)`` pairs per theme;
    the name falls back to the term label (``курьер · не позвонить``) without a phrase. Bigger
    themes choose first; a smaller one takes its next-best phrase rather than repeat a name."""
    parsed = {
        tid: [_parsed(text, lang, lemmatize) for text, lang in pairs]
        for tid, pairs in clauses.items()
    }
    docs = {
        tid: [[w.unit for w in clause if w.unit] for _, clause in items]
        for tid, items in parsed.items()
    }
    docs[_BACKGROUND] = [
        [w.unit for w in _parsed(text, lang, lemmatize)[1] if w.unit] for text, lang in background
    ]
    units = ctfidf(docs)
    terms = rank_terms(clauses, lemmatize, background)
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    taken: dict[str, set[str]] = {}
    for tid in sorted(clauses, key=lambda t: (-len(clauses[t]), t)):
        chosen = top_terms(terms[tid])
        out[tid] = (
            theme_name(parsed[tid], units[tid], params, taken) or format_label(chosen),
            chosen,
        )
    return {tid: out[tid] for tid in clauses}


def _parsed(text: str, lang: str, lemmatize: Lemmatize) -> tuple[str, list[Word]]:
    """``(lang, words)``; a clause of a mixed or other-language message goes by its script."""
    lang = lang if lang in LANGS else term_lang(fold(text))
    return lang, parse_clause(text, lang, lemmatize)
