"""The language layer's analysis: natasha for Russian, spaCy for English, clauses, cue matching.

Typical use::

    from cx_text.text.nlp import NlpResources, prepare_text
    res = NlpResources.load()                 # once per process
    tagged = prepare_text(frame, res)         # text_clean, dedupe_key, pii_found, lang, analysis
"""

from cx_text.text.nlp.clauses import Cues
from cx_text.text.nlp.matcher import CueMatcher, Match
from cx_text.text.nlp.model import Analysis, Clause, Sentence, Token
from cx_text.text.nlp.pipeline import analyze, analyze_frame, analyze_one, prepare_text
from cx_text.text.nlp.resources import NlpResources

__all__ = [
    "Analysis",
    "Clause",
    "CueMatcher",
    "Cues",
    "Match",
    "NlpResources",
    "Sentence",
    "Token",
    "analyze",
    "analyze_frame",
    "analyze_one",
    "prepare_text",
]
