"""LoRA adapters: a compact fine-tune of an encoder, merged into a copy of its base.

An adapter is peft's own format (``adapter_model.safetensors`` + ``adapter_config.json``), a
few MB, shipped as package data under ``<models_dir>/adapters/<name>/`` and pinned in
``registry.toml``::

    [encoder.e5-small-cx]
    kind = "encoder"
    base = "e5-small"                 # the encoder it was fine-tuned from
    adapter = "adapters/e5-small-cx"  # relative to the models dir
    version = "2026-12-06"
    recipe = "lora r16 q/k/v/dense, 1 epoch …"
    [encoder.e5-small-cx.sha256]
    "adapter_model.safetensors" = "<sha256>"
    "adapter_config.json" = "<sha256>"

The weights may be stored raw (``adapter_model.safetensors``: what ``cx-text train --finetune``
and peft write) or xz-compressed (``adapter_model.safetensors.xz``: what the package ships, to
stay under the 5 MB line for tracked files; :func:`pack_adapter` makes it). When both exist the
**raw file is used** and the .xz ignored (:func:`weights_path`). Either way the pin is the sha256
of the *decompressed* bytes under the key ``"adapter_model.safetensors"``, so packing changes
neither the pin, nor the merged model, nor the heads fitted on it. A .xz is decompressed with
:mod:`lzma` in memory; the sha256 of its content is remembered in
``<cache_dir>/adapters/<sha256 of the .xz>.sha256``, so a given .xz is decompressed once for
verification (a changed .xz has another sha256, so it is decompressed and checked again).

:func:`merge_lora` folds every ``B @ A * alpha / r`` into the base weight it adapts, in float64
rounded once to float32 — deterministic, and without peft (peft is needed only to train). An
adapter whose files do not match their pins, or whose .xz does not decompress, is refused with
a :class:`ModelError` (:func:`verified_adapter`).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cx_text.core.config import ADAPTER_CONFIG, Settings
from cx_text.core.errors import ModelError
from cx_text.models.registry import STAMP_FILE, file_sha256, files_checksum

ADAPTER_WEIGHTS = "adapter_model.safetensors"
#: the shipped, xz-compressed form of ADAPTER_WEIGHTS (pinned on the decompressed bytes)
PACKED_WEIGHTS = ADAPTER_WEIGHTS + ".xz"
#: the pinned names (the weights' pin holds for either form)
ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG)
#: a .xz decompressing to more than this is refused (an adapter is a few MB)
MAX_WEIGHTS_BYTES = 1 << 30
UNPACKED_SUBDIR = "adapters"
WEIGHTS = "model.safetensors"
MERGE_VERSION = 1
_PREFIX = "base_model.model."
_A, _B = ".lora_A.weight", ".lora_B.weight"


def adapter_path(settings: Settings, pin: Mapping[str, Any]) -> Path:
    """The adapter dir a registry entry points at (relative to the models dir)."""
    return settings.models_dir / str(pin.get("adapter", ""))


def verified_adapter(settings: Settings, name: str, pin: Mapping[str, Any]) -> tuple[Path, str]:
    """(adapter dir, checksum over its files) once every file matches its registry pin.

    The weights are checked raw or, when only the .xz is there, by their decompressed bytes.
    Raises :class:`ModelError` when a file is missing, unpinned, tampered with or not valid xz.
    """
    directory = adapter_path(settings, pin)
    pins = pin.get("sha256")
    if not isinstance(pins, Mapping) or set(pins) != set(ADAPTER_FILES):
        raise ModelError(
            f"registry.toml pins no sha256 for the files of adapter {name} "
            f"(expected {', '.join(ADAPTER_FILES)}).",
            "Re-run cx-text train --finetune, which writes the pins.",
        )
    hashes = {}
    for fname in ADAPTER_FILES:
        path = weights_path(directory) if fname == ADAPTER_WEIGHTS else directory / fname
        if not path.is_file():
            raise ModelError(
                f"adapter file {_shown(directory, fname)} of encoder {name} is missing.",
                "Reinstall cx_text, or set CX_TEXT_ENCODER=e5-small.",
            )
        hashes[fname] = _content_sha256(settings, path)
        if hashes[fname] != pins[fname]:
            has = "decompresses to" if path.name == PACKED_WEIGHTS else "has"
            raise ModelError(
                f"adapter file {path} {has} sha256 {hashes[fname][:12]}…, but registry.toml "
                f"pins {str(pins[fname])[:12]}…; it was changed after training.",
                "Restore the file (git checkout / reinstall), or pin the new one deliberately.",
            )
    return directory, files_checksum(hashes)


def _shown(directory: Path, fname: str) -> str:
    path = str(directory / fname)
    return f"{path} (or {PACKED_WEIGHTS})" if fname == ADAPTER_WEIGHTS else path


def adapter_hashes(directory: Path) -> dict[str, str]:
    """``{file: sha256}`` of an adapter dir (what registry.toml pins): the weights' sha256 is
    that of their decompressed bytes when the dir holds them as .xz."""
    return {
        ADAPTER_WEIGHTS: hashlib.sha256(read_weights(directory)).hexdigest(),
        ADAPTER_CONFIG: file_sha256(directory / ADAPTER_CONFIG),
    }


def weights_path(directory: Path) -> Path:
    """The weights file of an adapter dir: ``adapter_model.safetensors`` when it exists (the raw
    form wins when both do), else ``adapter_model.safetensors.xz`` (which may not exist)."""
    raw = directory / ADAPTER_WEIGHTS
    return raw if raw.is_file() else directory / PACKED_WEIGHTS


def read_weights(directory: Path) -> bytes:
    """The (decompressed) safetensors bytes of an adapter dir's weights."""
    path = weights_path(directory)
    return unxz(path) if path.name == PACKED_WEIGHTS else path.read_bytes()


def unxz(path: Path) -> bytes:
    """The content of a single-stream .xz file (its integrity check verified by liblzma).

    Raises :class:`ModelError` when it is not xz, is truncated or corrupt, is followed by other
    data, or decompresses to more than :data:`MAX_WEIGHTS_BYTES`.
    """
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        data = decompressor.decompress(path.read_bytes(), max_length=MAX_WEIGHTS_BYTES + 1)
    except lzma.LZMAError as exc:
        raise _not_xz(path, str(exc)) from exc
    if not decompressor.eof or decompressor.unused_data:
        raise _not_xz(path, "truncated, too large, or followed by other data")
    return data


def _not_xz(path: Path, why: str) -> ModelError:
    return ModelError(
        f"adapter file {path} does not decompress ({why}), so it cannot match its sha256 pin; "
        "it was changed after training.",
        "Restore the file (git checkout / reinstall), or pin the new one deliberately.",
    )


def _content_sha256(settings: Settings, path: Path) -> str:
    """sha256 of a file's content: of its decompressed bytes for a .xz, remembered in the cache
    under the .xz's own sha256 (so each .xz is decompressed once)."""
    if path.name != PACKED_WEIGHTS:
        return file_sha256(path)
    memo = settings.cache_dir / UNPACKED_SUBDIR / f"{file_sha256(path)}.sha256"
    try:
        known = memo.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        known = ""
    if len(known) == 64 and set(known) <= set("0123456789abcdef"):
        return known
    digest = hashlib.sha256(unxz(path)).hexdigest()
    _remember(memo, digest)
    return digest


def _remember(memo: Path, digest: str) -> None:
    """Write ``digest`` to ``memo`` atomically; a read-only cache only costs a decompression."""
    tmp = memo.with_name(f".{memo.name}.tmp-{os.getpid()}")
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(digest + "\n", encoding="ascii")
        os.replace(tmp, memo)
    except OSError:
        tmp.unlink(missing_ok=True)


def pack_adapter(directory: Path) -> Path:
    """Replace the raw weights of an adapter dir by ``adapter_model.safetensors.xz`` (the form
    the package ships): ``xz -9e``, checked to decompress to the same bytes before the raw file
    is removed. The registry pins do not change (they are on the decompressed bytes).
    Returns the .xz path."""
    raw = directory / ADAPTER_WEIGHTS
    data = raw.read_bytes()
    packed = directory / PACKED_WEIGHTS
    tmp = packed.with_name(f".{packed.name}.tmp-{os.getpid()}")
    tmp.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    if unxz(tmp) != data:
        tmp.unlink()
        raise ModelError(f"xz did not round-trip {raw}.", "Report this as a bug.")
    os.replace(tmp, packed)
    raw.unlink()
    return packed


def half_adapter(directory: Path) -> int:
    """Store an adapter dir's raw weights as float16 in place (the shipped form, before
    :func:`pack_adapter`): half the bytes, and the merged encoder's embeddings stay within
    cosine 0.99999 of the float32 adapter's (docs/MODELS.md). Deterministic: the same float32
    weights give the same bytes. Returns the new size in bytes."""
    from safetensors.numpy import load, save

    raw = directory / ADAPTER_WEIGHTS
    tensors = load(raw.read_bytes())
    half = {name: np.ascontiguousarray(t, dtype=np.float16) for name, t in sorted(tensors.items())}
    data = save(half)
    tmp = raw.with_name(f".{raw.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, raw)
    return len(data)


def lora_scaling(config: Mapping[str, Any]) -> float:
    """peft's scaling of ``B @ A``: alpha / r (alpha / sqrt(r) with rsLoRA)."""
    rank, alpha = int(config["r"]), float(config.get("lora_alpha", config["r"]))
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def _check_config(config: Mapping[str, Any], where: Path) -> None:
    if config.get("peft_type", "LORA") != "LORA" or config.get("fan_in_fan_out"):
        raise ModelError(
            f"{where} is not a plain LoRA adapter of Linear layers.",
            "Train it with cx-text train --finetune.",
        )
    if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("use_dora"):
        raise ModelError(
            f"{where} uses per-layer ranks or DoRA, which cx_text cannot merge.",
            "Train it with cx-text train --finetune.",
        )


def lora_deltas(adapter_dir: Path) -> dict[str, np.ndarray]:
    """``{base weight name: float64 delta}`` of every LoRA pair in the adapter."""
    from safetensors.numpy import load

    config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    _check_config(config, adapter_dir)
    tensors = load(read_weights(adapter_dir))
    unknown = [k for k in tensors if not k.endswith((_A, _B))]
    if unknown:
        raise ModelError(
            f"{adapter_dir} holds tensors other than LoRA pairs: {unknown[:3]}.",
            "Save the adapter without modules_to_save.",
        )
    scaling = lora_scaling(config)
    out = {}
    for key in sorted(k for k in tensors if k.endswith(_A)):
        module = key.removeprefix(_PREFIX)[: -len(_A)]
        a = tensors[key].astype(np.float64)
        b = tensors[key[: -len(_A)] + _B].astype(np.float64)
        out[f"{module}.weight"] = (b @ a) * scaling
    return out


def copy_base_files(base_dir: Path, out_dir: Path, skip: frozenset[str] = frozenset()) -> None:
    """Every file of ``base_dir`` but its weights, its stamp and ``skip`` (config, tokenizer,
    vocabulary map) into ``out_dir``: what a model dir derived from the base keeps as is."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(base_dir.iterdir()):
        if path.is_file() and path.name not in {WEIGHTS, STAMP_FILE, *skip}:
            shutil.copyfile(path, out_dir / path.name)


def merge_lora(
    base_dir: Path, adapter_dir: Path, out_dir: Path, layers: Any = None
) -> dict[str, Any]:
    """Write ``base_dir`` with the adapter folded into its weights to ``out_dir``.

    Every other file of the base (config, tokenizer, vocabulary map) is copied as is. With
    ``layers`` (a distilled student, :mod:`cx_text.models.student`) only those layers of the
    base are kept, renumbered, before the adapter is merged, and the config says so.
    Returns facts for the stamp (adapted weights, rank, scaling, kept layers).
    """
    from safetensors.numpy import load_file, save_file

    weights = load_file(str(base_dir / WEIGHTS))
    skip: frozenset[str] = frozenset()
    cut: dict[str, Any] = {}
    config: Any = None
    if layers is not None:
        weights, config, kept = _cut(base_dir, weights, layers)
        skip, cut = frozenset({"config.json"}), {"layers": kept}
    deltas = lora_deltas(adapter_dir)
    for name, delta in deltas.items():
        if name not in weights or weights[name].shape != delta.shape:
            raise ModelError(
                f"adapter {adapter_dir} adapts {name}, which the base {base_dir} "
                "does not have (in that shape).",
                "The adapter was trained on another base model.",
            )
        weights[name] = (weights[name].astype(np.float64) + delta).astype(np.float32)
    copy_base_files(base_dir, out_dir, skip=skip)
    if config is not None:
        text = json.dumps(config, indent=2, sort_keys=True) + "\n"
        (out_dir / "config.json").write_text(text, encoding="utf-8")
    save_file(weights, str(out_dir / WEIGHTS), metadata={"format": "pt"})
    lora = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    return {
        "adapted_weights": len(deltas),
        "lora_r": int(lora["r"]),
        "lora_scaling": lora_scaling(lora),
        "merge_version": MERGE_VERSION,
        **cut,
    }


def _cut(
    base_dir: Path, weights: dict[str, Any], layers: Any
) -> tuple[dict[str, Any], dict[str, Any], list[int]]:
    """(weights, config.json, layers) of ``base_dir`` with only ``layers`` of its stack."""
    from cx_text.models.student import checked_layers, cut_config, keep_layers

    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    kept = checked_layers(layers, int(config.get("num_hidden_layers", 0)), base_dir)
    return keep_layers(weights, kept), cut_config(config, kept), kept


def extract_lora(
    base_dir: Path, tuned_dir: Path, out_dir: Path, rank: int, targets: tuple[str, ...]
) -> dict[str, Any]:
    """The best rank-``rank`` LoRA adapter (truncated SVD of each weight delta) of a fully
    fine-tuned ``tuned_dir`` over ``base_dir``, in peft's format: what the compact form keeps of
    a full fine-tune. Only the 2-D weights of modules named in ``targets`` are kept (biases,
    LayerNorms and the pooler fall back to the base's). Returns the share of the deltas'
    squared norm the adapter keeps."""
    from safetensors.numpy import load_file, save_file

    base, tuned = load_file(str(base_dir / WEIGHTS)), load_file(str(tuned_dir / WEIGHTS))
    tensors, kept, total, modules = {}, 0.0, 0.0, set()
    for name in sorted(base):
        module = name.removesuffix(".weight")
        if name == module or base[name].ndim != 2 or module.rsplit(".", 1)[-1] not in targets:
            continue
        delta = tuned[name].astype(np.float64) - base[name].astype(np.float64)
        u, s, vt = np.linalg.svd(delta, full_matrices=False)
        tensors[_PREFIX + module + _B] = (u[:, :rank] * s[:rank]).astype(np.float32)
        tensors[_PREFIX + module + _A] = vt[:rank].astype(np.float32)
        kept, total = kept + float((s[:rank] ** 2).sum()), total + float((s**2).sum())
        modules.add(module.rsplit(".", 1)[-1])
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / ADAPTER_WEIGHTS))
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": rank, "target_modules": sorted(modules)}
    (out_dir / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return {"svd_rank": rank, "energy_kept": kept / max(total, 1e-30), "pairs": len(tensors) // 2}
