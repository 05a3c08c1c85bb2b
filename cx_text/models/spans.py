"""Message and clause embeddings from one forward pass.

Per-topic sentiment is judged on clauses. Encoding every clause as a separate text would cost a
second encoder pass; instead the token states of the message are mean-pooled over each clause's
tokens (found through the tokenizer's character offsets). The message embedding is pooled exactly
as :meth:`Encoder.encode` pools it, so the heads see the same vectors they were trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cx_text.models import windows
from cx_text.models.inference import mean_pool

Span = tuple[int, int]


@dataclass(frozen=True)
class Parts:
    """A batch's vectors, all L2-normalised: ``messages`` (n, dim); ``clauses[i]``
    (len(spans[i]), dim); ``windows[i]`` (windows, dim) for a message longer than the encoder's
    window (each window's own tokens pooled), else None."""

    messages: np.ndarray
    clauses: list[np.ndarray]
    windows: list[np.ndarray | None]


def encode_with_spans(
    encoder: Any, texts: Sequence[str], spans: Sequence[Sequence[Span]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(messages (n, dim), [clauses (len(spans[i]), dim) for each i])``: :func:`encode_parts`
    without the window vectors."""
    parts = encode_parts(encoder, texts, spans)
    return parts.messages, parts.clauses


def encode_parts(encoder: Any, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> Parts:
    """Message, clause and window vectors of ``texts`` from one encoder pass.

    ``spans[i]`` are character offsets into ``texts[i]``; a span with no tokens (empty, or past
    :data:`~cx_text.models.windows.MAX_TOKENS`) gets the message embedding. A message longer
    than the encoder's window is read in windows (:mod:`cx_text.models.windows`). A text
    repeated with the same spans ("Спасибо!", "ok") is encoded once.
    """
    first: dict[tuple[str, tuple[Span, ...]], int] = {}
    owner = [
        first.setdefault((str(t), tuple((a, b) for a, b in s)), i)
        for i, (t, s) in enumerate(zip(texts, spans, strict=True))
    ]
    unique = sorted(set(owner))
    got = _encode_unique(encoder, [texts[i] for i in unique], [spans[i] for i in unique])
    row_of = {i: k for k, i in enumerate(unique)}
    rows = [row_of[o] for o in owner]
    return Parts(
        got.messages[rows],
        [got.clauses[k].copy() for k in rows],
        [_copy(got.windows[k]) for k in rows],
    )


def _copy(vectors: np.ndarray | None) -> np.ndarray | None:
    return None if vectors is None else vectors.copy()


def _encode_unique(encoder: Any, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> Parts:
    prefix = encoder.default_prefix
    full = [prefix + str(t) for t in texts]
    dim = encoder.dim
    messages = np.zeros((len(full), dim), dtype=np.float32)
    clauses = [np.zeros((len(s), dim), dtype=np.float32) for s in spans]
    per_window: list[np.ndarray | None] = [None] * len(full)
    if not full:
        return Parts(messages, clauses, per_window)
    ids, offsets, heads = windows.tokenize(encoder, full, len(prefix), offsets=True)
    assert offsets is not None
    for batch, hidden, mask in windows.forward_texts(encoder, ids, heads):
        fp32 = hidden.float()  # a bf16 model's states, converted once for both poolings
        messages[batch] = mean_pool(fp32, mask).numpy()
        states = fp32.numpy()
        for row, i in enumerate(batch):
            clauses[i] = _pool_spans(states[row], offsets[i], spans[i], len(prefix), messages[i])
            if len(ids[i]) > encoder.max_length:
                per_window[i] = windows.window_vectors(
                    states[row], windows.cut(ids[i], heads[i], encoder.max_length)
                )
    return Parts(messages, clauses, per_window)


def token_ranges(
    offsets: Sequence[tuple[int, int]], spans: Sequence[Span], shift: int
) -> list[list[int]]:
    """Indices of the (non-special) tokens overlapping each character span.

    Binary search over the tokens' offsets (a long message has thousands of tokens and hundreds
    of clauses); a tokenizer whose offsets are not in order gets the plain scan.
    """
    arr = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    real = np.flatnonzero(arr[:, 1] > arr[:, 0])
    starts, ends = arr[real, 0], arr[real, 1]
    if np.any(np.diff(starts) < 0) or np.any(np.diff(ends) < 0):
        return [
            [j for j, (a, b) in enumerate(offsets) if b > a and b > s + shift and a < e + shift]
            for s, e in spans
        ]
    out = []
    for start, end in spans:
        lo = int(np.searchsorted(ends, start + shift, side="right"))
        hi = int(np.searchsorted(starts, end + shift, side="left"))
        out.append(real[lo:hi].tolist() if hi > lo else [])
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
