"""Fast CPU inference helpers shared by the encoder and HF classifiers.

Length-sorted batches with dynamic padding (each batch padded only to its own longest text),
``torch.inference_mode``, thread count from Settings, and a precision choice:

* ``bf16`` — bfloat16. The encoder is cast to bf16 whole (:func:`bf16_model`: weights,
  LayerNorms and embeddings; CPU kernels accumulate LayerNorm, softmax and matmuls in fp32) and
  runs without autocast; HF classifiers run under bfloat16 autocast. On CPUs with native bf16
  (AVX512-BF16/AMX) it is several times faster than fp32 at cosine >= 0.9998 to fp32.
* ``fp32`` — exact.
* ``onnx-int8`` — the encoder only: a verified per-channel int8 ONNX Runtime build
  (:mod:`cx_text.models.onnx_int8`). Classifiers treat it as ``auto``.

``auto`` for the encoder (:func:`auto_prefers_bf16`): torch bf16 on CPUs with AMX-BF16 tiles —
measured 2026-12-07 on a 2-core Sapphire Rapids VM with e5-small-cx, 2,000 demo texts: bf16
(Linear weights stored bf16, autocast) 392–422 texts/s at min cosine 0.99995 to fp32, against
222–242 texts/s for the verified int8 build at min cosine 0.986; the whole model in bf16
(session 10) a further 1.15× (404 against 348–351 texts/s in one run) at min cosine 0.99986 —
else the int8 build, and when that is
missing or rejected, bf16 where the CPU computes it natively, else fp32. On x86 CPUs without
VNNI (:func:`int8_needs_7_bits`) ``auto`` is torch too: bf16 where native, else fp32.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

PRECISIONS = ("auto", "onnx-int8", "bf16", "fp32")
DEFAULT_MAX_LENGTH = 256
#: a batch holds at most this many (padded) tokens, so long texts make smaller batches
TOKEN_BUDGET = 4096


def as_text(value: Any) -> str:
    """A text cell as a string; None/NaN/NA become empty."""
    if isinstance(value, str):
        return value
    if value is None or type(value).__name__ == "NAType":
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    return str(value)


def set_threads(num_threads: int) -> None:
    """Use ``num_threads`` intra-op threads for torch (the machine's cores by default)."""
    import torch

    if torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)


def sorted_batches(
    lengths: Sequence[int], batch_size: int, token_budget: int = TOKEN_BUDGET
) -> Iterator[np.ndarray]:
    """Indices grouped into batches of similar length, longest first.

    A batch stops at ``batch_size`` texts or when padding to its longest text would exceed
    ``token_budget`` tokens.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, token_budget // longest))
        yield order[start : start + size]
        start += size


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)`` int64 tensors padded to the batch's longest sequence."""
    import torch

    width = max(len(seq) for seq in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of token vectors where ``mask`` is 1, then L2-normalised (the e5 recipe)."""
    import torch

    hidden = hidden.float()  # a bf16 model's states: sum in fp32
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    pooled = summed / weights.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, p=2, dim=-1)


def validate_precision(precision: str) -> str:
    """``precision`` when it is one of :data:`PRECISIONS`, else a ConfigError."""
    from cx_text.core.errors import ConfigError

    if precision not in PRECISIONS:
        raise ConfigError(
            f"precision {precision!r} is not one of {', '.join(PRECISIONS)}.",
            "Use 'auto' (default), 'onnx-int8', 'bf16' or 'fp32' (exact).",
        )
    return precision


def check_precision(precision: str) -> str:
    """Validate a precision name and resolve it to a torch precision for this machine.

    ``auto`` and ``onnx-int8`` become ``bf16`` where the CPU computes it natively, else ``fp32``.
    """
    if validate_precision(precision) in ("auto", "onnx-int8"):
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return precision


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def auto_prefers_bf16() -> bool:
    """True when ``auto`` should run the encoder in torch bf16 rather than the int8 ONNX build:
    on CPUs with AMX-BF16 tiles, where oneDNN's bf16 matmuls outrun ONNX Runtime's int8 ones
    (module docstring). ``CX_TEXT_PRECISION=onnx-int8`` still asks for the int8 build."""
    return "amx_bf16" in cpu_flags()


def auto_runs_bf16(precision: str) -> bool:
    """True when ``precision`` is ``auto`` and this CPU makes that torch bf16 (no int8 build)."""
    return precision == "auto" and auto_prefers_bf16()


#: x86 CPU flags of 8-bit dot products that accumulate in 32 bits (no 16-bit saturation)
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
_X86 = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})


def int8_needs_7_bits() -> bool:
    """True on an x86 CPU without VNNI (AVX2 only, or AVX-512 without VNNI: older Intel, AMD
    before Zen 4), where the int8 build must quantise weights to 7 bits.

    ONNX Runtime's u8 x s8 kernels there multiply with VPMADDUBSW, which adds each pair of 8-bit
    products into a 16-bit lane and saturates when the sum does not fit; a 7-bit weight cannot
    overflow it. ARM CPUs, and x86 ones with VNNI or AMX, accumulate in 32 bits.
    """
    import platform

    return platform.machine().lower() in _X86 and not cpu_flags() & VNNI_FLAGS


def auto_prefers_torch() -> bool:
    """True when ``auto`` should run the encoder in torch rather than its int8 ONNX build: with
    AMX-BF16 (bf16 is faster there and closer to fp32), and on an x86 CPU without VNNI, where the
    7-bit build is 1.3x torch fp32 but moved the real test-split figures (CEBaB per-topic
    polarity 0.906 -> 0.886) and a regression case (docs/MODELS.md, "CPUs without VNNI")."""
    return auto_prefers_bf16() or int8_needs_7_bits()


def auto_runs_torch(precision: str) -> bool:
    """True when ``precision`` is ``auto`` and this CPU makes that torch (no int8 build)."""
    return precision == "auto" and auto_prefers_torch()


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_model(model: Any) -> Any:
    """``model`` cast to bfloat16 whole, in place, for bf16 inference without autocast.

    Until session 10 only the Linear weights were stored bf16 and the model ran under autocast,
    which kept LayerNorms, the residual stream and the embeddings fp32 and converted between the
    two around every Linear. Cast whole, no op converts: 1.15× the encoder's speed (e5-small-cx,
    2,000 demo texts, 2 cores with AMX) at min cosine 0.99986 to fp32 (against 0.99994). The CPU
    kernels accumulate LayerNorm, softmax and matmuls in fp32, and :func:`mean_pool` sums in
    fp32.
    """
    import torch

    return model.to(torch.bfloat16)


def inference_context(model: Any, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Autocast for a ``bf16`` model whose weights are still fp32; nothing for a model cast
    whole (:func:`bf16_model`) or fp32."""
    import torch

    first = next(iter(model.parameters()), None) if model is not None else None
    if precision == "bf16" and first is not None and first.dtype != torch.bfloat16:
        return precision_context(precision)
    return contextlib.nullcontext()


def precision_context(precision: str) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast for ``bf16``; a no-op otherwise."""
    import torch

    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
