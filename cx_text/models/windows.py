"""Messages longer than the encoder's window, read whole in overlapping windows.

The encoder reads at most ``max_length`` tokens at once (256). A longer message (a complaint
narrative, an e-mail thread, a long hotel review) used to be cut there: its vector ignored the
rest, and clauses past the cut were judged by that vector too. Now its tokens are cut into
overlapping windows of ``max_length`` tokens, each read with the message's own start (``<s>`` and
the prefix's tokens, e.g. ``query:``) and end (``</s>``). Every token takes its state from the
window where it sits most central, so each keeps at least ``overlap / 2`` tokens of context on
both sides; the message is then pooled over those states exactly as a short message is (its
start, each token once, its end), and clause spans are pooled from them as before.

A message longer than :data:`MAX_TOKENS` tokens (about 8,000 characters) is still cut there.
Messages within ``max_length`` take the unchanged path, batch for batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: the most tokens of one message the encoder reads: about 10 windows of 256, ~8,000 characters
#: (the longest real complaint narrative here, CFPB's, is 1,517 tokens); it bounds what a pasted
#: log or a 100,000-character thread costs.
MAX_TOKENS = 2048
#: long messages whose windows are read in one go (bounds memory: ~400 KB of states a window)
WINDOWS_PER_GROUP = 128


@dataclass(frozen=True)
class Windows:
    """One long message cut into windows: token ids per window and where each came from."""

    pieces: list[list[int]]
    starts: list[int]  # each window's first content token, as an index into the content
    head: int  # tokens every window starts with: <s> and the prefix's tokens
    length: int  # the message's tokens, start and end included


def tokenize(
    encoder: Any, texts: Sequence[str], prefix_chars: int, *, offsets: bool = False
) -> tuple[list[list[int]], list[Any] | None, list[int]]:
    """``(ids, offsets or None, head lengths)`` of ``texts`` (each starting with the prefix).

    Up to :data:`MAX_TOKENS` tokens a text when the tokenizer is a fast one that frames a text
    as ``<s> … </s>`` (the windows need its offsets and that frame); else cut at
    ``encoder.max_length`` as before.
    """
    tokenizer = encoder.tokenizer
    whole = reads_whole(tokenizer)
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=max(MAX_TOKENS, encoder.max_length) if whole else encoder.max_length,
        return_offsets_mapping=offsets or whole,
    )
    spans = enc["offset_mapping"] if (offsets or whole) else None
    heads = [head_length(o, prefix_chars) for o in spans] if whole and spans else [1] * len(texts)
    return enc["input_ids"], spans, heads


def reads_whole(tokenizer: Any) -> bool:
    """True when texts past ``max_length`` can be read in windows with this tokenizer: a fast
    one (offsets) that frames a text with two special tokens (``<s> … </s>``)."""
    return bool(getattr(tokenizer, "is_fast", False)) and _frames_with_two(tokenizer)


def _frames_with_two(tokenizer: Any) -> bool:
    try:
        return int(tokenizer.num_special_tokens_to_add(pair=False)) == 2
    except (AttributeError, TypeError, NotImplementedError):
        return False


def head_length(offsets: Sequence[tuple[int, int]] | None, prefix_chars: int) -> int:
    """``<s>`` plus the tokens that lie within the prefix's first ``prefix_chars`` characters."""
    if not offsets:
        return 1
    count = 1
    for start, end in offsets[1:]:
        if end <= start or end > prefix_chars:
            break
        count += 1
    return count


def cut(ids: Sequence[int], head: int, max_length: int) -> Windows:
    """Windows of ``max_length`` tokens over ``ids`` (``<s>``, prefix, content, ``</s>``)."""
    content = list(ids[head:-1])
    width = max_length - head - 1
    if width < 8:
        raise ValueError(f"max_length {max_length} leaves no room beside a {head}-token start")
    stride = max(1, width - width // 4)
    starts = list(range(0, max(len(content) - width, 0) + 1, stride))
    if starts[-1] + width < len(content):
        starts.append(len(content) - width)  # the last window ends where the message ends
    pieces = [list(ids[:head]) + content[s : s + width] + [ids[-1]] for s in starts]
    return Windows(pieces, starts, head, len(ids))


def assemble(windows: Windows, states: Sequence[np.ndarray]) -> np.ndarray:
    """(length, dim) token states of the whole message from its windows' states."""
    width = len(windows.pieces[0]) - windows.head - 1
    content = windows.length - windows.head - 1
    centres = np.asarray(windows.starts, dtype=np.float64) + (width - 1) / 2
    positions = np.arange(content)
    best = np.abs(positions[:, None] - centres[None, :]).argmin(axis=1)
    out = np.empty((windows.length, states[0].shape[1]), dtype=np.float32)
    out[: windows.head] = states[0][: windows.head]
    out[-1] = states[-1][-1]
    for k, start in enumerate(windows.starts):
        mine = positions[best == k]
        out[windows.head + mine] = states[k][windows.head + mine - start]
    return out


def window_vectors(states: np.ndarray, windows: Windows) -> np.ndarray:
    """(windows, dim) L2-normalised: each window's own content tokens mean-pooled from the
    message's assembled ``states`` (what a topic said in one part of a long message)."""
    width = len(windows.pieces[0]) - windows.head - 1
    out = np.stack(
        [states[windows.head + s : windows.head + s + width].mean(axis=0) for s in windows.starts]
    ).astype(np.float32)
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-9)


def forward_texts(
    encoder: Any,
    ids: Sequence[Sequence[int]],
    heads: Sequence[int],
    batch_size: int | None = None,
) -> Iterator[tuple[np.ndarray, Any, Any]]:
    """``(rows, hidden states, mask)`` like ``encoder.forward_batches`` for texts of any length.

    Texts within ``encoder.max_length`` tokens come batched as before; each longer one comes
    alone, its states assembled from its windows (fp32, unpadded, mask all ones).
    """
    limit = encoder.max_length
    short = [i for i, seq in enumerate(ids) if len(seq) <= limit]
    if short:
        rows = np.asarray(short)
        for batch, hidden, mask in encoder.forward_batches([ids[i] for i in short], batch_size):
            yield rows[batch], hidden, mask
    group: list[tuple[int, Windows]] = []
    for i in (i for i, seq in enumerate(ids) if len(seq) > limit):
        group.append((i, cut(ids[i], heads[i], limit)))
        if sum(len(w.pieces) for _, w in group) >= WINDOWS_PER_GROUP:
            yield from _read_group(encoder, group, batch_size)
            group = []
    yield from _read_group(encoder, group, batch_size)


def _read_group(
    encoder: Any, group: list[tuple[int, Windows]], batch_size: int | None
) -> Iterator[tuple[np.ndarray, Any, Any]]:
    import torch

    pieces = [p for _, w in group for p in w.pieces]
    if not pieces:
        return
    states: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(pieces)
    for batch, hidden, mask in encoder.forward_batches(pieces, batch_size):
        fp32 = hidden.float().numpy()
        for row, k in enumerate(batch):
            states[k] = fp32[row, : int(mask[row].sum())]
    first = 0
    for i, windows in group:
        whole = assemble(windows, states[first : first + len(windows.pieces)])
        first += len(windows.pieces)
        yield (
            np.asarray([i]),
            torch.from_numpy(whole[None]),
            torch.ones((1, len(whole)), dtype=torch.int64),
        )
