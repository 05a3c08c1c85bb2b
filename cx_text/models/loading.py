"""Load a local Hugging Face encoder in fp32 (model + tokenizer): a leaf of ``cx_text.models``,
shared by :mod:`cx_text.models.encoder` and the ONNX export in :mod:`cx_text.models.onnx_int8`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cx_text.core.errors import ModelError


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No "Loading weights: 100%|████|" bar from transformers on every load (it reached the
    CLI's stderr and every notebook); the caller's own setting is restored afterwards."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def load_inference(path: Path) -> tuple[Any, Any]:
    """fp32 model (eval) and tokenizer to *run* a local encoder: a plain BERT dir (the shipped
    encoders) through :mod:`cx_text.models.bert_lite`, without importing transformers (~3 s of
    every start-up); anything else through transformers (:func:`load_fp32`)."""
    from cx_text.models.bert_lite import load_lite

    lite = load_lite(path)
    return lite if lite is not None else load_fp32(path)


def load_run_tokenizer(path: Path) -> Any:
    """The tokenizer to run a local encoder with (see :func:`load_inference`)."""
    from cx_text.models.bert_lite import LiteTokenizer

    return LiteTokenizer.from_dir(path) or load_tokenizer(path)


def load_fp32(path: Path, **extra: Any) -> tuple[Any, Any]:
    """fp32 model (eval mode, no pooler where the class allows) and tokenizer from a local dir.

    ``extra`` goes to ``from_pretrained`` (the ONNX export asks for eager attention).
    """
    from transformers import AutoModel

    kwargs: dict[str, Any] = {"local_files_only": True, "use_safetensors": True, **extra}
    try:
        with quiet_loading():
            try:
                model = AutoModel.from_pretrained(path, add_pooling_layer=False, **kwargs)
            except TypeError:
                model = AutoModel.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise ModelError(
            f"cannot load the encoder from {path}: {exc}.",
            "Check the dir holds config.json and *.safetensors.",
        ) from exc
    return model.eval(), load_tokenizer(path)
