"""Step 3 of the int8 recipe (:mod:`cx_text.models.onnx_int8`): which weights become int8.

``VARIANTS`` are tried in order until the build passes the cosine gate:

* ``all`` — every MatMul and fused Attention weight int8 (per output channel), except the FFN
  output projections of layers with activation outliers. The frozen e5-small passes with it
  (min cosine 0.9937 on 5,000 demo texts).
* ``ffn`` — only the FFN MatMuls int8; the attention projections stay fp32. A fine-tuned encoder
  spreads its embeddings over more directions, and quantised attention then costs more cosine:
  the LoRA-tuned e5-small measured min 0.9848 with ``all`` (keeping more FFN layers in fp32 did
  not help: 0.988–0.992) and 0.9942 with ``ffn``. About a third of the linear-layer work stays
  fp32, so it is slower than ``all`` (see benchmarks/encoder.py).

On an x86 CPU without VNNI (AVX2 only, or AVX-512 without VNNI: older Intel, AMD before Zen 4)
the weights are quantised to 7 bits (``reduce_range``; ``inference.int8_needs_7_bits`` says
why). Measured on an AMD EPYC (AVX2) with e5-small-cx: the 8-bit ``ffn`` build reached min
cosine 0.964 on the verify texts (rejected); with 7-bit weights 0.991.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VARIANTS = ("all", "ffn")
OUTLIER_RATIO = 100.0


def quantize(
    src: Path,
    dst: Path,
    fp32_layers: tuple[int, ...],
    variant: str = "all",
    *,
    reduce_range: bool = False,
) -> None:
    """Dynamic int8 copy of ``src`` at ``dst`` by ``variant`` (see :data:`VARIANTS`), with
    7-bit weights when ``reduce_range`` (for CPUs without VNNI)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if variant not in VARIANTS:
        raise ValueError(f"unknown quantisation variant {variant!r}")
    ffn_out = ffn_output_matmuls(onnx.load(str(src), load_external_data=False))
    keep = [ffn_out[i] for i in fp32_layers if i < len(ffn_out)]
    ops = None if variant == "all" else ["MatMul"]
    with quiet():
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            nodes_to_exclude=keep,
            op_types_to_quantize=ops,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def ffn_output_matmuls(model: Any) -> list[str]:
    """MatMul nodes fed by a GELU (the FFN output projections), in layer order."""
    gelu = {"Gelu", "BiasGelu", "FastGelu", "QuickGelu"}
    gelu_outputs = {out for node in model.graph.node if node.op_type in gelu for out in node.output}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul" and any(i in gelu_outputs for i in node.input)
    ]


def outlier_ffn_layers(model: Any, tokenizer: Any, texts: list[str]) -> tuple[int, ...]:
    """Layers whose GELU output has outliers (max |x| >= OUTLIER_RATIO x std) on ``texts``.

    The FFN output projection of such a layer is kept in fp32: a per-tensor int8 scale set
    by one huge activation flattens everything else. On e5-small these are layers 0, 4 and 5
    (ratios 128, 140, 106; the others 27-84); keeping them moved the worst cosine to fp32 on
    5,000 demo texts from 0.989 to 0.995 and the mean from 0.996 to 0.999, at ~8 % of speed.
    """
    import torch

    ratios: dict[int, float] = {}
    activations = [m for m in model.modules() if "gelu" in type(m).__name__.lower()]
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=max_tokens(model, tokenizer),
        padding=True,
        return_tensors="pt",
    )
    real = enc["attention_mask"].bool()

    def hook(index: int) -> Any:
        def record(_module: Any, _inputs: Any, output: Any) -> None:
            values = output[real].float()
            ratios[index] = float(values.abs().max() / (values.std() + 1e-6))

        return record

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(activations)]
    try:
        with torch.inference_mode():
            model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    finally:
        for handle in handles:
            handle.remove()
    return tuple(i for i in sorted(ratios) if ratios[i] >= OUTLIER_RATIO)


def max_tokens(model: Any, tokenizer: Any) -> int:
    """The longest input both the tokenizer and the position table allow (at most 256)."""
    limits = [
        256,
        int(getattr(tokenizer, "model_max_length", 256) or 256),
        int(getattr(model.config, "max_position_embeddings", 256) or 256),
    ]
    return min(limits)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the optimizer's/quantizer's warnings and info logging."""
    previous = logging.root.manager.disable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)
