"""A distilled student encoder: some layers of its teacher, re-trained to reproduce its vectors.

A registry entry with ``layers`` is a student of its ``base`` (the teacher)::

    [encoder.e5-small-cx6]
    kind = "encoder"
    base = "e5-small-cx"              # the teacher
    layers = [1, 3, 5, 7, 9, 11]      # the teacher's layers the student starts from, in order
    adapter = "adapters/e5-small-cx6" # LoRA trained to match the teacher's token states

``cx-text models prepare`` copies the teacher with only those layers (renumbered 0..k-1, the
config's ``num_hidden_layers`` set to k), then merges the adapter like any other
(:func:`cx_text.models.adapters.merge_lora`). The student was trained to give the teacher's
vectors, so it **reads the heads fitted on the teacher** (:func:`reads_heads_of`): no second set
of heads ships. ``cx-text train --distil`` makes the adapter (:mod:`cx_text.training.distil`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cx_text.core.errors import ModelError

#: a weight of one encoder layer: (prefix, layer index, rest)
_LAYER = re.compile(r"^(.*?encoder\.layer\.)(\d+)(\..+)$")


def checked_layers(layers: Any, n_layers: int, where: Path | str) -> list[int]:
    """``layers`` as a list of layer indices, once they are valid for a stack of ``n_layers``:
    distinct, increasing, each in ``0..n_layers-1``, at least one."""
    ok = (
        isinstance(layers, Sequence)
        and not isinstance(layers, str)
        and len(layers) > 0
        and all(isinstance(i, int) and not isinstance(i, bool) for i in layers)
    )
    values = [int(i) for i in layers] if ok else []
    if not ok or values != sorted(set(values)) or values[0] < 0 or values[-1] >= n_layers:
        raise ModelError(
            f"layers = {layers!r} for {where} is not a list of increasing layer indices "
            f"of a {n_layers}-layer encoder.",
            "Fix the registry entry: e.g. layers = [1, 3, 5, 7, 9, 11].",
        )
    return values


def keep_layers(weights: Mapping[str, Any], layers: Sequence[int]) -> dict[str, Any]:
    """``weights`` with only the encoder layers in ``layers``, renumbered 0..k-1 in that order;
    every weight outside the layer stack (embeddings, pooler) kept as is."""
    index = {old: new for new, old in enumerate(layers)}
    out = {}
    for name, tensor in weights.items():
        match = _LAYER.match(name)
        if match is None:
            out[name] = tensor
        elif int(match.group(2)) in index:
            out[f"{match.group(1)}{index[int(match.group(2))]}{match.group(3)}"] = tensor
    return out


def cut_config(config: Mapping[str, Any], layers: Sequence[int]) -> dict[str, Any]:
    """A copy of a model ``config.json`` with ``len(layers)`` hidden layers."""
    return {**config, "num_hidden_layers": len(layers)}


def reads_heads_of(details: Mapping[str, Any]) -> str:
    """The checksum of the encoder whose heads a prepared encoder reads: its teacher's for a
    student (recorded at prepare time), else empty."""
    return str(details.get("heads_of", ""))
