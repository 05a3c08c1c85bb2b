"""English tokenization, sentences and lemmas through spaCy.

``spacy.blank("en")`` with the sentencizer, and lemmas from spacy-lookups-data's English lookup
table (the ``lookup`` lemmatizer), looked up on spaCy's lower-cased norm so "Deliveries" ->
"delivery" and "wo"/"n't" -> "will"/"not". Cyrillic words inside get Russian lemmas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cx_text.text.nlp.clauses import RawSentence
from cx_text.text.nlp.tokens import make_token, merge_placeholders

if TYPE_CHECKING:
    from cx_text.text.nlp.resources import NlpResources


def analyze_en(texts: Sequence[str], res: NlpResources) -> list[list[RawSentence]]:
    """Sentences with lemmatized tokens for each text (batch, via ``nlp.pipe``)."""
    out = []
    for text, doc in zip(texts, res.en_nlp.pipe(texts, batch_size=256), strict=True):
        sentences = []
        for sent in doc.sents:
            raw = [(t.text, t.idx, t.idx + len(t.text), t.norm_) for t in sent if not t.is_space]
            merged = merge_placeholders(text, [(w, a, b) for w, a, b, _ in raw])
            norms = {a: n for _, a, _, n in raw}
            tokens = tuple(make_token(w, a, b, res, en_norm=norms.get(a)) for w, a, b in merged)
            if tokens:
                sentences.append(RawSentence(tokens[0].start, tokens[-1].end, tokens))
        out.append(sentences)
    return out
