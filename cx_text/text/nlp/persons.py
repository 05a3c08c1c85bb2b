"""Finding person names to mask: natasha NER for Russian, a name list for English.

natasha's NER runs at a few hundred sentences a second, so it runs only on sentences where a
cheap test suggests a name: a capitalised Cyrillic word that pymorphy3 can read as a first name,
surname or patronymic, or an unknown capitalised word after the first. NER spans are trimmed to
the name-like words (NER often swallows the role: "Курьер Иван" -> "Иван"), so the opinion
around the name survives. English has no offline NER here; names are found with a list of
frequent first names (incl. transliterated Russian ones), titles (Mr., Dr.) and role words
("agent Will"), and extended to a following capitalised surname.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from typing import Any

from threadpoolctl import ThreadpoolController

from cx_text.core.lang import fold, load_list, load_yaml, stop_words

_CYR_WORD = re.compile(r"[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)?")
_LAT_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_NAME_TAGS = frozenset({"Name", "Surn", "Patr"})
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "mister", "sir", "madam"})
_SENT_END = re.compile(r"[.!?\n]\s*$")


class PersonFinder:
    """Person-name spans in a text. Built once per process (see :meth:`load`)."""

    def __init__(self, morph: Any, ner: Any, *, gate: bool = True) -> None:
        self.morph = morph
        self.ner = ner
        self.gate = gate  # False: NER on every sentence (the slow reference, for benchmarks)
        roles = load_yaml("person_roles.yaml")
        self.roles_ru = frozenset(fold(r) for r in roles["ru"])
        self.roles_en = frozenset(fold(r) for r in roles["en"])
        self.names_en = load_list("names_en.txt")
        self.names_en_ambiguous = load_list("names_en_ambiguous.txt")
        self.stop_en = stop_words("en")
        self._tags = lru_cache(maxsize=100_000)(self._name_tags)
        self.ner_calls = 0
        self.blas = ThreadpoolController()

    @classmethod
    def load(cls, morph: Any | None = None, embedding: Any | None = None) -> PersonFinder:
        """Build with natasha's NER (shares ``embedding``/``morph`` if given).

        With ``ner=None`` in the constructor only the cheap rules run (roles, patronymics)."""
        import pymorphy3
        from natasha import NewsEmbedding, NewsNERTagger

        return cls(morph or pymorphy3.MorphAnalyzer(), NewsNERTagger(embedding or NewsEmbedding()))

    def find_persons(self, text: str) -> list[tuple[int, int]]:
        """Sorted, non-overlapping ``(start, end)`` spans of person names."""
        spans = self._russian(text) + self._english(text)
        return _merge(text, spans)

    # --- Russian -------------------------------------------------------------------------------

    def _name_tags(self, word: str) -> tuple[bool, bool, bool, bool, bool]:
        """(a parse with score >= 0.1 is a name, the best parse is a name, the word is in the
        dictionary, the best parse is a patronymic, any parse at all is a name)."""
        parses = self.morph.parse(word)
        has_name = any(_NAME_TAGS & p.tag.grammemes and p.score >= 0.1 for p in parses)
        any_name = any(_NAME_TAGS & p.tag.grammemes for p in parses)
        top = parses[0] if parses else None
        best = top is not None and bool(_NAME_TAGS & top.tag.grammemes) and top.score >= 0.5
        is_patr = top is not None and "Patr" in top.tag.grammemes
        return has_name, best, bool(self.morph.word_is_known(word)), is_patr, any_name

    def _name_like(self, word: str) -> bool:
        _, _, known, _, any_name = self._tags(word)
        return word[:1].isupper() and (any_name or not known)

    def _russian(self, text: str) -> list[tuple[int, int]]:
        words = list(_CYR_WORD.finditer(text))
        if not words:
            return []
        spans = self._by_rules(text, words)
        if self.ner is None:
            return spans
        starts = [w.start() for w in words]
        for start, end in _sentences(text):
            inside = words[bisect_left(starts, start) : bisect_left(starts, end)]
            if inside and (
                not self.gate or any(self._suggests_name(text, w, start) for w in inside)
            ):
                spans += self._ner_spans(text, start, end, inside)
        return spans

    def _suggests_name(self, text: str, word: re.Match[str], sent_start: int) -> bool:
        """Cheap gate for NER: a capitalised (not all-caps) word that reads as a name."""
        w = word.group()
        if len(w) < 2 or not w[:1].isupper() or w.isupper():
            return False
        has_name, best, known, _, _ = self._tags(w)
        before = text[sent_start : word.start()].split()
        if not before:
            return best
        return best or has_name or not known or fold(before[-1].strip(",:")) in self.roles_ru

    def _ner_spans(
        self, text: str, start: int, end: int, words: list[re.Match[str]]
    ) -> list[tuple[int, int]]:
        self.ner_calls += 1
        with single_blas_thread(self.blas):
            markup = self.ner(text[start:end])
        found = []
        for span in markup.spans:
            if span.type != "PER":
                continue
            lo, hi = start + span.start, start + span.stop
            found += [
                (w.start(), w.end())
                for w in words
                if lo <= w.start() < hi and self._name_like(w.group())
            ]
        return found

    def _by_rules(self, text: str, words: list[re.Match[str]]) -> list[tuple[int, int]]:
        """Names NER tends to miss: after a role word ("курьер иван"), and patronymics."""
        spans = []
        for i, w in enumerate(words):
            after_role = (
                i > 0
                and fold(words[i - 1].group()) in self.roles_ru
                and (text[words[i - 1].end() : w.start()].strip(" ,:") == "")
            )
            if not (after_role or w.group()[:1].isupper()):
                continue
            _, best, _, is_patr, _ = self._tags(w.group())
            if (best and after_role) or (is_patr and w.group()[:1].isupper()):
                spans.append((w.start(), w.end()))
        return spans

    # --- English -------------------------------------------------------------------------------

    def _english(self, text: str) -> list[tuple[int, int]]:
        words = list(_LAT_WORD.finditer(text))
        spans: list[tuple[int, int]] = []
        for i, w in enumerate(words):
            if self._is_en_name(text, words, i):
                end = w.end()
                nxt = words[i + 1] if i + 1 < len(words) else None
                if nxt and self._surname_like(text, w, nxt):
                    end = nxt.end()
                spans.append((w.start(), end))
        return spans

    def _is_en_name(self, text: str, words: list[re.Match[str]], i: int) -> bool:
        word = words[i].group()
        if not word[:1].isupper() or word.isupper():
            return False
        key = word.lower()
        prev = words[i - 1].group().lower() if i else ""
        gap = text[words[i - 1].end() : words[i].start()] if i else ""
        context = (
            bool(prev)
            and not _SENT_END.search(gap)
            and (
                prev in _TITLES
                or prev in self.roles_en
                or fold(text[: words[i].start()])
                .rstrip(" ,:")
                .endswith(tuple(r for r in self.roles_en if " " in r))
            )
        )
        if key in self.names_en:
            return True
        if key in self.names_en_ambiguous:
            nxt = words[i + 1] if i + 1 < len(words) else None
            return context or bool(nxt and self._surname_like(text, words[i], nxt))
        return prev in _TITLES and not _SENT_END.search(gap.replace(".", "", 1))

    def _surname_like(self, text: str, first: re.Match[str], nxt: re.Match[str]) -> bool:
        w = nxt.group()
        return (
            text[first.end() : nxt.start()] == " "
            and w[:1].isupper()
            and not w.isupper()
            and w.lower() not in self.stop_en
            and w.lower() not in self.roles_en
        )


def single_blas_thread(controller: ThreadpoolController) -> Any:
    """Run natasha's small numpy models on one BLAS thread: with the cores busy, OpenBLAS's
    thread hand-offs made one NER call 40x slower (65 ms vs 1.5 ms, measured)."""
    return controller.limit(limits=1, user_api="blas")


def _sentences(text: str) -> list[tuple[int, int]]:
    from razdel import sentenize

    return [(s.start, s.stop) for s in sentenize(text)]


def _merge(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted union of spans; spans separated only by one space become one ("Анна Петровна")."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(set(spans)):
        if out and (start <= out[-1][1] or text[out[-1][1] : start] == " "):
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
