"""Message and clause embeddings from one forward pass.

Per-topic sentiment is judged on clauses. Encoding every clause as a separate text would cost a
second encoder pass; instead the token states of the message are mean-pooled over each clause's
tokens (found through the tokenizer's character offsets). The message embedding is pooled exactly
as :meth:`Encoder.encode` pools it, so the heads see the same vectors they were trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cx_text.models.inference import mean_pool

Span = tuple[int, int]


def encode_with_spans(
    encoder: Any, texts: Sequence[str], spans: Sequence[Sequence[Span]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(messages (n, dim), [clauses (len(spans[i]), dim) for each i])``, all L2-normalised.

    ``spans[i]`` are character offsets into ``texts[i]``; a span with no tokens (empty or cut by
    truncation) gets the message embedding. A text repeated with the same spans ("Спасибо!",
    "ok") is encoded once.
    """
    first: dict[tuple[str, tuple[Span, ...]], int] = {}
    owner = [
        first.setdefault((str(t), tuple((a, b) for a, b in s)), i)
        for i, (t, s) in enumerate(zip(texts, spans, strict=True))
    ]
    unique = sorted(set(owner))
    messages, clauses = _encode_unique(
        encoder, [texts[i] for i in unique], [spans[i] for i in unique]
    )
    row_of = {i: k for k, i in enumerate(unique)}
    rows = [row_of[o] for o in owner]
    return messages[rows], [clauses[k].copy() for k in rows]


def _encode_unique(
    encoder: Any, texts: Sequence[str], spans: Sequence[Sequence[Span]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    prefix = encoder.default_prefix
    full = [prefix + str(t) for t in texts]
    enc = encoder.tokenizer(
        full, truncation=True, max_length=encoder.max_length, return_offsets_mapping=True
    )
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    dim = encoder.dim
    messages = np.zeros((len(full), dim), dtype=np.float32)
    clauses = [np.zeros((len(s), dim), dtype=np.float32) for s in spans]
    if not full:
        return messages, clauses
    for batch, hidden, mask in encoder.forward_batches(ids):
        fp32 = hidden.float()  # a bf16 model's states, converted once for both poolings
        messages[batch] = mean_pool(fp32, mask).numpy()
        states = fp32.numpy()
        for row, i in enumerate(batch):
            clauses[i] = _pool_spans(states[row], offsets[i], spans[i], len(prefix), messages[i])
    return messages, clauses


def token_ranges(
    offsets: Sequence[tuple[int, int]], spans: Sequence[Span], shift: int
) -> list[list[int]]:
    """Indices of the (non-special) tokens overlapping each character span."""
    out = []
    for start, end in spans:
        s, e = start + shift, end + shift
        out.append([j for j, (a, b) in enumerate(offsets) if b > a and b > s and a < e])
    return out


def _pool_spans(
    states: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    spans: Sequence[Span],
    shift: int,
    fallback: np.ndarray,
) -> np.ndarray:
    out = np.empty((len(spans), states.shape[1]), dtype=np.float32)
    for k, tokens in enumerate(token_ranges(offsets, spans, shift)):
        if not tokens:
            out[k] = fallback
            continue
        vec = states[tokens].mean(axis=0)
        out[k] = vec / (np.linalg.norm(vec) + 1e-9)
    return out
