"""Long messages in windows: cutting, re-assembling token states, prefix tokens, span lookup."""

from __future__ import annotations

import numpy as np
import pytest

from cx_text.models import windows
from cx_text.models.spans import token_ranges


def _ids(n_content: int, head: int = 3) -> list[int]:
    """``<s>`` (0), ``head - 1`` prefix tokens (1…), content tokens 100…, ``</s>`` (2)."""
    return [0, *range(10, 10 + head - 1), *range(100, 100 + n_content), 2]


@pytest.mark.parametrize("n_content", [13, 14, 40, 97, 500])
def test_windows_cover_every_token_with_the_message_frame(n_content: int):
    ids = _ids(n_content)
    cut = windows.cut(ids, 3, 16)
    width = 16 - 3 - 1
    assert all(len(p) == 16 for p in cut.pieces)
    assert all(p[:3] == ids[:3] and p[-1] == 2 for p in cut.pieces)  # start + prefix, end
    covered = {t for p in cut.pieces for t in p[3:-1]}
    assert covered == set(ids[3:-1])
    assert cut.starts[0] == 0 and cut.starts[-1] + width == n_content  # last window ends at the end
    assert all(
        b - a <= width - width // 4 for a, b in zip(cut.starts, cut.starts[1:], strict=False)
    )  # overlap


def test_windows_assemble_takes_each_token_once_from_its_most_central_window():
    ids = _ids(60)
    cut = windows.cut(ids, 3, 16)
    # a window's state for a token = (token id, window index): shows which window it came from
    states = [
        np.array([[t, k] for t in piece], dtype=np.float32) for k, piece in enumerate(cut.pieces)
    ]
    whole = windows.assemble(cut, states)
    assert whole.shape == (len(ids), 2)
    np.testing.assert_array_equal(whole[:, 0], ids)  # every position gets its own token's state
    width, centres = 12, np.array(cut.starts) + 5.5
    for pos in range(60):
        k = int(whole[3 + pos, 1])
        assert cut.starts[k] <= pos < cut.starts[k] + width
        assert abs(pos - centres[k]) == np.abs(pos - centres).min()


def test_windows_window_vectors_pool_each_windows_own_tokens():
    ids = _ids(30)
    cut = windows.cut(ids, 3, 16)
    states = np.zeros((len(ids), 4), dtype=np.float32)
    states[3 + 29, 0] = 1.0  # only the last content token says anything
    states[:, 3] = 0.01
    vectors = windows.window_vectors(states, cut)
    assert vectors.shape == (len(cut.starts), 4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[-1, 0] > 0.9 and vectors[0, 0] == 0.0  # only the window holding it sees it


def test_windows_head_length_counts_the_prefix_tokens():
    # "query: hello": <s>, "▁query" (0, 5), ":" (5, 6), "▁hello" (7, 12), </s>
    offsets = [(0, 0), (0, 5), (5, 6), (7, 12), (0, 0)]
    assert windows.head_length(offsets, len("query: ")) == 3
    assert windows.head_length(offsets, 0) == 1
    assert windows.head_length(None, 7) == 1


def test_windows_cut_refuses_a_window_with_no_room():
    with pytest.raises(ValueError, match="no room"):
        windows.cut(_ids(40, head=10), 10, 16)


def test_spans_token_ranges_binary_search_matches_the_scan():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = rng.integers(1, 6, size=40)
        gaps = rng.integers(0, 2, size=40)
        starts = np.cumsum(lengths + gaps) - lengths
        offsets = (
            [(0, 0)]
            + [(int(a), int(a + n)) for a, n in zip(starts, lengths, strict=True)]
            + [(0, 0)]
        )
        spans = [tuple(sorted(rng.integers(0, int(starts[-1]) + 8, size=2))) for _ in range(12)]
        shift = int(rng.integers(0, 3))
        scan = [
            [j for j, (a, b) in enumerate(offsets) if b > a and b > s + shift and a < e + shift]
            for s, e in spans
        ]
        assert token_ranges(offsets, spans, shift) == scan
    unordered = [(0, 0), (5, 8), (0, 3), (0, 0)]
    assert token_ranges(unordered, [(0, 4)], 0) == [[2]]
