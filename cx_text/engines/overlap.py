"""Run the language half of the *next* chunk in a worker process while this process encodes
and classifies the current one (the encoder already uses the machine's cores for its matrix
work; the language layer is pure Python and would otherwise wait its turn).

The worker is *spawned* (forking a process that has started torch's thread pool can deadlock)
and builds its own language resources and cue matcher once.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import pandas as pd

from cx_text.classify.signals import cue_patterns
from cx_text.core.config import Settings

_STATE: dict[str, Any] = {}  # per worker process only: built once by _init


def _init(settings: Settings) -> None:
    from cx_text.core.taxonomy import load_taxonomy
    from cx_text.text.nlp import CueMatcher, NlpResources

    nlp = NlpResources.load()
    _STATE.update(
        nlp=nlp,
        mask=settings.mask_pii,
        matcher=CueMatcher(cue_patterns(load_taxonomy(settings.taxonomy_path)), nlp),
    )


def _prepare(chunk: pd.DataFrame) -> Any:
    from cx_text.classify.tagger import prepare_chunk

    return prepare_chunk(chunk, _STATE["nlp"], _STATE["matcher"], mask_pii=_STATE["mask"])


class PrepareAhead:
    """``submit(chunk)`` -> a future of ``pipeline.Prepared``, computed in one worker process."""

    def __init__(self, settings: Settings) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_init, initargs=(settings,))

    def submit(self, chunk: pd.DataFrame) -> Future[Any]:
        return self._pool.submit(_prepare, chunk)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> PrepareAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
