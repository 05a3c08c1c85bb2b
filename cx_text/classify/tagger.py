"""The tagging pipeline: a canonical chunk in, the same rows out with the tagging contract's
columns.

``Resources.load(settings)`` builds everything heavy once (language resources, encoder, heads,
cue matcher); :func:`tag_frame` runs normalize (+PII) -> langid -> analysis -> embeddings ->
sentiment / topics / per-topic sentiment / evidence. :func:`build_tagger` returns the
``Tagger`` callable the engines use (local and Spark).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cx_text.classify import Classifier, Clause, MessageFeatures, load_heads
from cx_text.classify.signals import cue_patterns
from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.taxonomy import Taxonomy, load_taxonomy
from cx_text.models.registry import ModelInfo

_LOG = logging.getLogger(__name__)

HEADS_SUBDIR = "heads"
_TAGGABLE = (schema.STATUS_OK, schema.STATUS_TRUNCATED, schema.STATUS_FLAGGED)


@dataclass(eq=False)
class Resources:
    """Every model the pipeline needs, built once per process and passed down."""

    settings: Settings
    taxonomy: Taxonomy
    nlp: Any
    encoder: Any
    classifier: Classifier
    matcher: Any

    @classmethod
    def load(cls, settings: Settings) -> Resources:
        """Load from local paths only (``settings.allow_network`` gates a named hub model)."""
        from cx_text.models.encoder import Encoder
        from cx_text.models.versions import check_version
        from cx_text.text.nlp import CueMatcher, NlpResources

        check_version(settings)  # a trained version must exist and match its checksums
        taxonomy = load_taxonomy(settings.taxonomy_path)
        nlp = NlpResources.load()
        encoder = Encoder.load(settings)
        heads = load_heads(settings.models_dir / HEADS_SUBDIR)
        if (mismatch := heads_encoder_mismatch(heads, encoder.info)) is not None:
            _LOG.warning(mismatch)
        text_model = _text_sentiment_model(settings)
        classifier = Classifier(heads, taxonomy, text_model)
        matcher = CueMatcher(cue_patterns(taxonomy), nlp)
        return cls(settings, taxonomy, nlp, encoder, classifier, matcher)

    def model_infos(self) -> list[ModelInfo]:
        """Identity of every model artefact used (for the run manifest)."""
        infos = [self.encoder.info]
        for head in self.classifier.heads.values():
            infos.append(
                ModelInfo(
                    name=f"head:{head.name}",
                    kind="head",
                    source=self._heads_source(),
                    version=str(head.meta.get("trained_on", {}).get("sha256", ""))[:12],
                    checksum="sha256:" + head.checksum(),
                    path=str(self.settings.models_dir / HEADS_SUBDIR),
                )
            )
        if self.classifier.text_sentiment is not None:
            infos.append(self.classifier.text_sentiment.info)  # type: ignore[attr-defined]
        from cx_text.models.versions import check_version

        version = check_version(self.settings)
        return infos + ([version] if version is not None else [])

    def _heads_source(self) -> str:
        version = self.settings.model_version
        return "committed" if version == "shipped" else f"version:{version}"

    def manifest(self, **extra: Any) -> dict[str, Any]:
        """The run manifest: models, versions, checksums, taxonomy, settings."""
        from cx_text.models.manifest import build_manifest

        infos = self.model_infos()
        fingerprint = hashlib.sha256(
            json.dumps(
                [i.checksum for i in infos] + [self.taxonomy.checksum, self.settings.mask_pii]
            ).encode()
        ).hexdigest()[:16]
        return build_manifest(
            self.settings,
            infos,
            {
                "taxonomy": {
                    "name": self.taxonomy.name,
                    "version": self.taxonomy.version,
                    "checksum": self.taxonomy.checksum,
                    "path": self.taxonomy.path,
                },
                "fingerprint": fingerprint,
                "model_version": self.settings.model_version,
                **extra,
            },
        )


def _text_sentiment_model(settings: Settings) -> Any:
    if not settings.sentiment_model:
        return None
    from cx_text.models.hf import HFSentimentModel

    return HFSentimentModel.load(settings.sentiment_model, settings.sentiment_label_map, settings)


@dataclass(frozen=True)
class Prepared:
    """A chunk after the language layer (text_clean, lang, analysis …) plus its cue matches."""

    frame: pd.DataFrame
    matches: list[list[Any]]


class Tagger:
    """The engines' tagger: ``tagger(chunk)`` tags in-process; ``prepare`` / ``finish`` are the
    two halves, so an engine can run the language layer of the next chunk in a worker process
    while this process encodes and classifies the current one."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.settings = resources.settings

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        return tag_frame(chunk, self.resources)

    def prepare(self, chunk: pd.DataFrame) -> Prepared:
        res = self.resources
        return prepare_chunk(chunk, res.nlp, res.matcher, mask_pii=res.settings.mask_pii)

    def finish(self, prepared: Prepared) -> pd.DataFrame:
        return finish_chunk(prepared, self.resources)


def build_tagger(settings: Settings) -> Tagger:
    """A ``Tagger`` (chunk -> tagged chunk) with its models loaded once."""
    return Tagger(Resources.load(settings))


def tag_frame(frame: pd.DataFrame, res: Resources) -> pd.DataFrame:
    """Tag one canonical chunk; never drops, adds or reorders rows."""
    return finish_chunk(
        prepare_chunk(frame, res.nlp, res.matcher, mask_pii=res.settings.mask_pii), res
    )


def prepare_chunk(
    frame: pd.DataFrame, nlp: Any, matcher: Any, *, mask_pii: bool = True
) -> Prepared:
    """The language half: normalize (+PII) -> langid -> analysis -> cue matches (CPU, no torch)."""
    from cx_text.text.nlp import prepare_text

    schema.require_columns(frame, [schema.TEXT], "tagging")
    prepared = prepare_text(frame, nlp, mask_pii=mask_pii)
    if schema.ROW_STATUS not in prepared.columns:
        prepared[schema.ROW_STATUS] = schema.STATUS_OK
    rows = prepared[_taggable(prepared)]
    return Prepared(prepared, matcher.match(rows[schema.ANALYSIS].tolist()))


def finish_chunk(prepared: Prepared, res: Resources) -> pd.DataFrame:
    """The model half: embeddings -> sentiment, topics, per-topic sentiment, evidence."""
    frame = prepared.frame
    taggable = _taggable(frame)
    rows = frame[taggable]
    texts = rows[schema.TEXT_CLEAN].tolist()
    features = build_features(texts, rows[schema.ANALYSIS].tolist(), res, matches=prepared.matches)
    return _assign(frame, taggable, res.classifier.classify(features, texts))


def _taggable(frame: pd.DataFrame) -> np.ndarray:
    status_ok = frame[schema.ROW_STATUS].astype(str).isin(_TAGGABLE)
    has_text = frame[schema.TEXT_CLEAN].fillna("").astype(str).str.strip() != ""
    return (status_ok & has_text).to_numpy()


def build_features(
    texts: Sequence[str],
    analyses: Sequence[Any],
    res: Resources,
    matches: list[list[Any]] | None = None,
) -> list[MessageFeatures]:
    """Embeddings of messages and of clauses (multi-clause messages only) + cue matches.

    Clause vectors pool the message's token states over each clause span (one encoder pass); a
    message longer than the encoder's window also gets a vector per window.
    """
    if not texts:
        return []
    clauses = [message_clauses(a, t) for a, t in zip(analyses, texts, strict=True)]
    from cx_text.models.spans import encode_parts

    spans = [[(c.start, c.end) for c in cl] if len(cl) > 1 else [] for cl in clauses]
    parts = encode_parts(res.encoder, list(texts), spans)
    per_msg = {i: v for i, v in enumerate(parts.clauses) if len(v) > 1}
    if matches is None:
        matches = res.matcher.match(list(analyses))
    return [
        MessageFeatures(
            parts.messages[i],
            tuple(clauses[i]),
            per_msg.get(i),
            tuple(matches[i]),
            parts.windows[i],
        )
        for i in range(len(texts))
    ]


def message_clauses(analysis: Any, text: str) -> list[Clause]:
    """Clauses with the opening contrast marker ("но", "but" …) cut off: it is glue, not content."""
    out = [
        _without_marker(text, c.start, c.end, getattr(c, "marker", ""))
        for c in getattr(analysis, "clauses", ())
    ]
    out = [c for c in out if c.text.strip()]
    return out or [Clause(text, 0, len(text))]


def _without_marker(text: str, start: int, end: int, marker: str) -> Clause:
    piece = text[start:end]
    if marker and piece.lower().startswith(marker.lower()):
        cut = len(marker)
        while cut < len(piece) and not piece[cut].isalnum():
            cut += 1
        if cut < len(piece):
            start += cut
    return Clause(text[start:end], start, end, marker)


def _assign(
    frame: pd.DataFrame, taggable: np.ndarray, columns: dict[str, list[Any]]
) -> pd.DataFrame:
    out = frame.copy()
    n = len(out)
    idx = np.flatnonzero(taggable)
    for col in schema.EMPTY_TAGS:
        values: list[Any] = [schema.empty_tag(col) for _ in range(n)]
        for j, i in enumerate(idx):
            values[i] = columns[col][j]
        out[col] = pd.Series(
            values, index=out.index, dtype=object if col != schema.SENTIMENT_SCORE else "float64"
        )
    return out


def heads_encoder_mismatch(heads: Any, encoder: ModelInfo) -> str | None:
    """Why the heads do not belong to ``encoder`` (they record the encoder they were fitted on),
    or None. Heads of another encoder of the same width load fine and tag badly, silently.
    A distilled student reads its teacher's heads (:func:`~cx_text.models.student.reads_heads_of`).
    """
    from cx_text.models.student import reads_heads_of

    trained = {str(h.meta.get("encoder", {}).get("checksum", "")) for h in heads.values()} - {""}
    if not trained or {encoder.checksum, reads_heads_of(encoder.details)} & trained:
        return None
    names = sorted({str(h.meta.get("encoder", {}).get("name", "?")) for h in heads.values()})
    return (
        f"the heads were fitted on encoder {', '.join(names)}, not on {encoder.name} "
        f"({encoder.checksum[:19]}): its tags will be unreliable. Fit heads for it with "
        "`cx-text train --out DIR` and set CX_TEXT_MODELS_DIR=DIR, or drop --model."
    )
