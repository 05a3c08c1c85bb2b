"""Language identification: ``ru`` / ``en`` / ``mixed`` / ``other`` with a confidence.

Script statistics decide most messages (Cyrillic vs Latin words). Latin words are checked against
an English vocabulary (spaCy's lookup tables) and, transliterated, against the Russian dictionary
(pymorphy3), so ``"dostavka opyat opozdala"`` is Russian. Latin text that is neither goes to a
lingua detector built for English plus a few neighbouring languages, which can say ``other``.
``mixed`` means at least two real words in each language, the minority being >= 20 %.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.lang import fold, load_list, stop_words
from cx_text.text.normalize import mark_error, row_texts
from cx_text.text.pii import PLACEHOLDER_RE

_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_NOISE_RE = re.compile(r"(?:https?://|www\.)\S+|@\w+|#\w+", re.IGNORECASE)
_CYR = re.compile(r"[а-яё]", re.IGNORECASE)
_LAT = re.compile(r"[a-z\u00c0-\u024f]", re.IGNORECASE)
_NON_RU_CYR = set("іїєґўәғқңөұүһі")
_TRANSLIT = (
    ("shch", "щ"),
    ("sch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ts", "ц"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("ya", "я"),
    ("ja", "я"),
    ("yu", "ю"),
    ("ju", "ю"),
    ("yo", "е"),
    ("ye", "е"),
    ("iy", "ий"),
    ("yy", "ый"),
    ("'", "ь"),
    ("a", "а"),
    ("b", "б"),
    ("c", "ц"),
    ("d", "д"),
    ("e", "е"),
    ("f", "ф"),
    ("g", "г"),
    ("h", "х"),
    ("i", "и"),
    ("j", "й"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("q", "к"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("v", "в"),
    ("w", "в"),
    ("x", "кс"),
    ("y", "ы"),
    ("z", "з"),
)
_TRANSLIT_RE = re.compile("|".join(re.escape(k) for k, _ in _TRANSLIT))
_TRANSLIT_MAP = dict(_TRANSLIT)
_OTHER_LATIN = (
    "GERMAN",
    "FRENCH",
    "SPANISH",
    "ITALIAN",
    "PORTUGUESE",
    "TURKISH",
    "POLISH",
    "DUTCH",
)


@dataclass(frozen=True, slots=True)
class LangResult:
    """One message's language and how sure we are (0..1)."""

    lang: str
    confidence: float


def _length_factor(n_words: int) -> float:
    return 1.0 - 0.5 ** (n_words + 1)


def transliterate(word: str) -> str:
    """Latin spelling of a Russian word back to Cyrillic (``"opozdala"`` -> ``"опоздала"``)."""
    return _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group()], word.lower())


def english_vocabulary() -> frozenset[str]:
    """English word forms and lemmas from spacy-lookups-data plus function words."""
    base = resources.files("spacy_lookups_data") / "data"
    with gzip.open(str(base / "en_lemma_index.json.gz"), "rt", encoding="utf-8") as fh:
        index: dict[str, list[str]] = json.load(fh)
    with gzip.open(str(base / "en_lemma_lookup.json.gz"), "rt", encoding="utf-8") as fh:
        lookup: dict[str, str] = json.load(fh)
    words = {w for ws in index.values() for w in ws if "_" not in w}
    words |= set(lookup) | set(lookup.values())
    return frozenset(w.lower() for w in words) | stop_words("en") | load_list("vocab_en_extra.txt")


class LanguageDetector:
    """Built once (:meth:`load`, ~0.5 s), then :meth:`detect` over batches of texts."""

    def __init__(self, english: frozenset[str], morph: Any, lingua: Any) -> None:
        self.english = english
        self.morph = morph
        self.lingua = lingua
        self.translit_known = lru_cache(maxsize=50_000)(self._translit_known)

    @classmethod
    def load(cls, morph: Any | None = None) -> LanguageDetector:
        """Build the detector; pass a ``pymorphy3.MorphAnalyzer`` to share one."""
        import pymorphy3
        from lingua import Language, LanguageDetectorBuilder

        langs = [Language.ENGLISH, *(getattr(Language, name) for name in _OTHER_LATIN)]
        lingua = LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()
        return cls(english_vocabulary(), morph or pymorphy3.MorphAnalyzer(), lingua)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LanguageDetector.load, ())

    def detect(self, texts: Sequence[str]) -> list[LangResult]:
        """Language of each text (batch API)."""
        return [self.detect_one(text) for text in texts]

    def detect_one(self, text: str) -> LangResult:
        """Language of one text; never raises on odd input (emoji, digits, empty)."""
        cleaned = _NOISE_RE.sub(" ", PLACEHOLDER_RE.sub(" ", text or ""))
        words = _WORD_RE.findall(cleaned)
        if not words:
            return LangResult(schema.LANG_OTHER, 0.05 if cleaned.strip() else 0.0)
        cyr = [w for w in words if len(_CYR.findall(w)) * 2 >= len(w)]
        lat = [w for w in words if len(_LAT.findall(w)) * 2 > len(w)]
        n_other = len(words) - len(cyr) - len(lat)
        if n_other > max(len(cyr), len(lat)):
            return LangResult(schema.LANG_OTHER, round(n_other / len(words), 3))
        if cyr and sum(bool(_NON_RU_CYR & set(w.lower())) for w in cyr) * 4 >= len(cyr):
            return LangResult(schema.LANG_OTHER, 0.6)
        return self._decide(cyr, lat, len(words))

    def _decide(self, cyr: list[str], lat: list[str], n_words: int) -> LangResult:
        english = [w for w in lat if fold(w) in self.english]
        if len(lat) <= len(cyr):
            english = [w for w in english if w.islower()]
        minority = min(len(cyr), len(english))
        if minority >= 2 and minority / (len(cyr) + len(english)) >= 0.2:
            share = minority / (len(cyr) + len(english))
            conf = _length_factor(n_words) * (0.6 + 0.4 * min(1.0, share / 0.35))
            return LangResult(schema.LANG_MIXED, round(conf, 3))
        if cyr and len(cyr) >= len(english):
            purity = len(cyr) / (len(cyr) + len(english))
            return LangResult(schema.LANG_RU, round(_length_factor(len(cyr)) * purity, 3))
        return self._latin(lat, english)

    def _latin(self, lat: list[str], english: list[str]) -> LangResult:
        long_words = [w for w in lat if len(w) >= 4]
        ru_known = [w for w in long_words if self.translit_known(w.lower())]
        en_long = [w for w in long_words if fold(w) in self.english]
        if ru_known and len(ru_known) * 2 >= len(long_words) and len(ru_known) > len(en_long):
            share = len(ru_known) / len(long_words)
            return LangResult(
                schema.LANG_RU, round(0.5 + 0.4 * share * _length_factor(len(lat)), 3)
            )
        en_share = len(english) / len(lat)
        best = None
        if len(lat) >= 3 and en_share < 0.85:
            best = self.lingua.compute_language_confidence_values(" ".join(lat))[0]
            if best.language.name != "ENGLISH" and best.value >= 0.8:
                return LangResult(
                    schema.LANG_OTHER, round(best.value * _length_factor(len(lat)), 3)
                )
        if en_share >= 0.5:
            return LangResult(
                schema.LANG_EN, round(_length_factor(len(lat)) * (0.5 + en_share / 2), 3)
            )
        if best is None or best.language.name == "ENGLISH":
            return LangResult(
                schema.LANG_EN, 0.3 if best is None else round(0.5 * best.value + 0.25, 3)
            )
        return LangResult(schema.LANG_OTHER, round(best.value * _length_factor(len(lat)), 3))

    def _translit_known(self, word: str) -> bool:
        cyr = transliterate(word)
        return bool(self.morph.word_is_known(cyr) or self.morph.word_is_known(cyr + "ь"))


def detect_language_frame(frame: pd.DataFrame, detector: LanguageDetector) -> pd.DataFrame:
    """New frame with ``lang`` and ``lang_confidence`` from ``text_clean`` (else ``text``).

    Empty rows get ``other`` with confidence 0; a row that fails gets ``error: langid: …``.
    """
    column = schema.TEXT_CLEAN if schema.TEXT_CLEAN in frame.columns else schema.TEXT
    schema.require_columns(frame, [column], "language detection")
    out = frame.copy()
    langs, confs = [], []
    for pos, text in enumerate(row_texts(out, column)):
        try:
            result = detector.detect_one(text)
        except Exception as exc:  # one bad row must not stop the chunk
            mark_error(out, pos, "langid", exc)
            result = LangResult(schema.LANG_OTHER, 0.0)
        langs.append(result.lang)
        confs.append(result.confidence)
    out[schema.LANG] = pd.Series(langs, index=out.index, dtype=object)
    out[schema.LANG_CONFIDENCE] = pd.Series(confs, index=out.index, dtype="float64")
    return out
