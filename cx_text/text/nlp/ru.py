"""Russian (and mixed / other) tokenization and lemmas through natasha.

natasha's segmenter (razdel) gives sentences and tokens. Lemmas: by default pymorphy3's most
probable parse, cached per word form (fast, context-free); with ``morph_tagger=True`` natasha's
NewsMorphTagger tags each sentence in context and MorphVocab lemmatizes by tag (slower, better on
ambiguous forms such as "стали"). Latin words get English lookup lemmas, so mixed text works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cx_text.text.nlp.clauses import RawSentence
from cx_text.text.nlp.model import Token
from cx_text.text.nlp.persons import single_blas_thread
from cx_text.text.nlp.tokens import make_token, merge_placeholders

if TYPE_CHECKING:
    from cx_text.text.nlp.resources import NlpResources


def segment(text: str, res: NlpResources) -> list[tuple[int, int, list[tuple[str, int, int]]]]:
    """Sentences as ``(start, end, [(token, start, end), …])`` with placeholders kept whole."""
    out = []
    for sent in res.segmenter.sentenize(text):
        raw = [
            (t.text, sent.start + t.start, sent.start + t.stop)
            for t in res.segmenter.tokenize(sent.text)
        ]
        out.append((sent.start, sent.stop, merge_placeholders(text, raw)))
    return out


def analyze_ru(
    texts: Sequence[str], res: NlpResources, translit: Sequence[bool] | None = None
) -> list[list[RawSentence]]:
    """Sentences with lemmatized tokens for each text (batch). ``translit[i]``: text ``i`` is
    Russian, so its Latin words may be transliterated Russian ("dostavka")."""
    segmented = [segment(text, res) for text in texts]
    if res.morph_tagger is not None:
        return _tagged(segmented, res)
    flags = translit or [False] * len(texts)
    return [
        [
            RawSentence(s, e, tuple(make_token(w, a, b, res, translit=tr) for w, a, b in toks))
            for s, e, toks in doc
        ]
        for doc, tr in zip(segmented, flags, strict=True)
    ]


def _tagged(
    segmented: list[list[tuple[int, int, list[tuple[str, int, int]]]]], res: NlpResources
) -> list[list[RawSentence]]:
    """Lemmas from natasha's morph tagger, all sentences of the batch tagged together."""
    flat = [[w for w, _, _ in toks] for doc in segmented for _, _, toks in doc]
    tagger: Any = res.morph_tagger
    with single_blas_thread(res.persons.blas):
        tagged = iter(list(tagger.map(flat)) if flat else [])
    out = []
    for doc in segmented:
        sentences = []
        for start, end, toks in doc:
            markup = next(tagged)
            tokens: list[Token] = []
            for (w, a, b), mt in zip(toks, markup.tokens, strict=True):
                lemma = res.ru_tagged_lemma(w, mt.pos, tuple(sorted(mt.feats.items())))
                tokens.append(make_token(w, a, b, res, ru_lemma=lemma))
            sentences.append(RawSentence(start, end, tuple(tokens)))
        out.append(sentences)
    return out
