"""The language-layer stages over DataFrames: analyze, and normalize -> langid -> analyze."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cx_text.core import schema
from cx_text.text.langid import detect_language_frame
from cx_text.text.nlp.clauses import build_analysis
from cx_text.text.nlp.en import analyze_en
from cx_text.text.nlp.model import EMPTY_ANALYSIS, Analysis
from cx_text.text.nlp.resources import NlpResources
from cx_text.text.nlp.ru import analyze_ru
from cx_text.text.normalize import mark_error, normalize_frame, row_texts


def analyze(texts: Sequence[str], langs: Sequence[str], res: NlpResources) -> list[Analysis]:
    """One :class:`Analysis` per text: English through spaCy, everything else through natasha."""
    en_idx = [i for i, lang in enumerate(langs) if lang == schema.LANG_EN and texts[i]]
    ru_idx = [i for i, lang in enumerate(langs) if lang != schema.LANG_EN and texts[i]]
    out: list[Analysis] = [EMPTY_ANALYSIS] * len(texts)
    raw_en = analyze_en([texts[i] for i in en_idx], res)
    translit = [langs[i] == schema.LANG_RU for i in ru_idx]
    raw_ru = analyze_ru([texts[i] for i in ru_idx], res, translit)
    for idx, raw in ((en_idx, raw_en), (ru_idx, raw_ru)):
        for i, sentences in zip(idx, raw, strict=True):
            out[i] = build_analysis(texts[i], langs[i], sentences, res.cues)
    return out


def analyze_one(text: str, res: NlpResources, lang: str | None = None) -> Analysis:
    """Convenience: analyze one text (language detected if not given)."""
    lang = lang or res.detector.detect_one(text).lang
    return analyze([text], [lang], res)[0]


def analyze_frame(frame: pd.DataFrame, resources: NlpResources) -> pd.DataFrame:
    """New frame with an ``analysis`` column (``Analysis`` objects) from ``text_clean`` + ``lang``.

    Empty rows get an empty Analysis; if the batch fails, rows are retried one by one and a row
    that still fails gets ``error: analyze: …``.
    """
    schema.require_columns(frame, [schema.TEXT_CLEAN, schema.LANG], "text analysis")
    out = frame.copy()
    texts = list(row_texts(out, schema.TEXT_CLEAN))
    langs = [str(v) for v in out[schema.LANG].tolist()]
    try:
        analyses = analyze(texts, langs, resources)
    except Exception:
        analyses = [
            _analyze_or_mark(out, pos, t, lang, resources)
            for pos, (t, lang) in enumerate(zip(texts, langs, strict=True))
        ]
    out[schema.ANALYSIS] = pd.Series(analyses, index=out.index, dtype=object)
    return out


def _analyze_or_mark(
    frame: pd.DataFrame, pos: int, text: str, lang: str, res: NlpResources
) -> Analysis:
    try:
        return analyze([text], [lang], res)[0]
    except Exception as exc:  # one bad row must not stop the chunk
        mark_error(frame, pos, "analyze", exc)
        return EMPTY_ANALYSIS


def prepare_text(
    frame: pd.DataFrame, resources: NlpResources, *, mask_pii: bool = True
) -> pd.DataFrame:
    """normalize (+ PII masking) -> language ID -> analysis, in one call."""
    cleaned = normalize_frame(frame, mask_pii=mask_pii, resources=resources)
    with_lang = detect_language_frame(cleaned, resources.detector)
    return analyze_frame(with_lang, resources)
