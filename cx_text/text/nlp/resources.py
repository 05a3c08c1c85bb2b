"""The language-layer resources bundle: build once (~2 s, ~350 MB), pass everywhere.

``NlpResources.load()`` builds natasha (segmenter, NER, optionally the morph tagger), pymorphy3,
spaCy ``blank("en")`` with the lookup lemmatizer, the cue lists and the language detector. It is
not shared between processes by value: pickling it (multiprocessing, Spark closures) sends only
its options and each worker rebuilds it once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

from cx_text.core.errors import ModelError
from cx_text.core.lang import fold, load_yaml
from cx_text.text.langid import LanguageDetector, transliterate
from cx_text.text.nlp.clauses import Cues
from cx_text.text.nlp.persons import PersonFinder
from cx_text.text.nlp.tokens import token_info

LEMMA_CACHE_SIZE = 200_000


@dataclass(eq=False)
class NlpResources:
    """Heavy language resources; see :meth:`load`. Implements ``find_persons`` for masking."""

    segmenter: Any
    morph: Any
    en_nlp: Any
    en_table: Any
    cues: Cues
    detector: LanguageDetector
    persons: PersonFinder
    morph_tagger: Any | None = None
    morph_vocab: Any | None = None
    options: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.overrides = {
            fold(k): fold(str(v)) for k, v in load_yaml("lemma_overrides.yaml").items()
        }
        self.translit_lemma = lru_cache(maxsize=LEMMA_CACHE_SIZE)(self._translit_lemma)
        self.token_info = lru_cache(maxsize=LEMMA_CACHE_SIZE)(partial(token_info, self))
        self.ru_lemma = lru_cache(maxsize=LEMMA_CACHE_SIZE)(self._ru_lemma)
        self.en_lemma = lru_cache(maxsize=LEMMA_CACHE_SIZE)(self._en_lemma)
        self.ru_tagged_lemma = lru_cache(maxsize=LEMMA_CACHE_SIZE)(self._ru_tagged_lemma)

    @classmethod
    def load(cls, *, morph_tagger: bool = False, ner: bool = True) -> NlpResources:
        """Build everything, offline. ``morph_tagger`` = contextual Russian lemmas (slower);
        ``ner`` = natasha NER for Russian names in PII masking."""
        try:
            return cls._build(morph_tagger=morph_tagger, ner=ner)
        except (ImportError, OSError) as exc:
            raise ModelError(
                f"cannot build the language resources: {exc}.",
                "Install cx_text's dependencies (natasha, pymorphy3, spacy, spacy-lookups-data, "
                "lingua-language-detector) into this environment.",
            ) from exc

    @classmethod
    def _build(cls, *, morph_tagger: bool, ner: bool) -> NlpResources:
        import pymorphy3
        from natasha import NewsEmbedding, NewsMorphTagger, NewsNERTagger, Segmenter

        morph = pymorphy3.MorphAnalyzer()
        emb = NewsEmbedding() if (ner or morph_tagger) else None
        en_nlp, en_table = _english()
        return cls(
            segmenter=Segmenter(),
            morph=morph,
            en_nlp=en_nlp,
            en_table=en_table,
            cues=Cues.load(),
            detector=LanguageDetector.load(morph=morph),
            persons=PersonFinder(morph, NewsNERTagger(emb) if ner else None),
            morph_tagger=NewsMorphTagger(emb) if morph_tagger else None,
            morph_vocab=_morph_vocab() if morph_tagger else None,
            options={"morph_tagger": morph_tagger, "ner": ner},
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.options,))

    def find_persons(self, text: str) -> list[tuple[int, int]]:
        """Person-name spans (the PII masking hook)."""
        return self.persons.find_persons(text)

    def _ru_lemma(self, word: str) -> str:
        low = fold(word)
        if low in self.overrides:
            return self.overrides[low]
        if word.isupper() and len(word) > 1:
            return low  # abbreviations: ПВЗ, СДЭК, ИНН
        parses = self.morph.parse(word)
        return fold(parses[0].normal_form if parses else word)

    def _en_lemma(self, word: str) -> str:
        low = word.lower()
        return fold(str(self.en_table.get(low, low)))

    def _translit_lemma(self, word: str) -> str:
        """Lemma of a transliterated Russian word ("opozdala" -> "опоздать"), else English."""
        low = word.lower()
        if low not in self.detector.english and self.detector.translit_known(low):
            cyr = transliterate(low)
            soft = cyr + "ь"  # translit drops the soft sign: "opyat" -> "опять"
            return self._ru_lemma(soft if self.morph.word_is_known(soft) else cyr)
        return self.en_lemma(word)

    def _ru_tagged_lemma(self, word: str, pos: str, feats: tuple[tuple[str, str], ...]) -> str:
        if pos in ("PUNCT", "NUM", "X", "SYM") or self.morph_vocab is None:
            return self._ru_lemma(word)
        return fold(self.morph_vocab.lemmatize(word, pos, dict(feats)))


def _rebuild(options: dict[str, bool]) -> NlpResources:
    return NlpResources.load(**options)


def _english() -> tuple[Any, Any]:
    """spaCy blank English with sentencizer + lookup lemmatizer, and its lookup table."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    lemmatizer: Any = nlp.get_pipe("lemmatizer")
    table = lemmatizer.lookups.get_table("lemma_lookup")
    nlp.disable_pipe("lemmatizer")  # lemmas are looked up on the lower-cased norm instead
    return nlp, table


def _morph_vocab() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymorphy2 imports the deprecated pkg_resources
        from natasha import MorphVocab

        return MorphVocab()
