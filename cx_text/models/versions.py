"""Model versions: the shipped heads and versions trained on an organisation's labels.

A trained version is a complete models dir in ``<cache_dir>/versions/<name>/``::

    heads/            the heads (safetensors + JSON) and metrics.json
    taxonomy.yaml     the taxonomy it was trained with (new topics included)
    registry.toml     the parent's encoder pins plus an [[artifact]] pin for every head file
    label_split.json  {message id: "train" | "held_back"} — held-back labels are never trained on
    version.json      name, parent, created_at, label counts, training-data fingerprint, encoder,
                      taxonomy, and the sha256 of every file above (one ``checksum`` over them)

``shipped`` (the committed heads) is always available: ``Settings.model_version`` or
``CX_TEXT_MODEL_VERSION`` picks a version, and ``shipped`` goes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cx_text.core.config import (
    SHIPPED_MODELS_DIR,
    SHIPPED_VERSION,
    VERSIONS_SUBDIR,
    Settings,
    version_dir,
)
from cx_text.core.errors import ModelError
from cx_text.models.registry import (
    REGISTRY_FILE,
    ModelInfo,
    files_checksum,
    hash_files,
    load_registry,
    write_encoder_entry,
)

VERSION_FILE = "version.json"
SPLIT_FILE = "label_split.json"
HEADS_SUBDIR = "heads"
TRAIN, HELD_BACK = "train", "held_back"


def versions_root(settings: Settings) -> Path:
    """The folder holding every trained version."""
    return Path(settings.cache_dir) / VERSIONS_SUBDIR


def version_files(directory: Path) -> list[str]:
    """The files a version's checksum covers (relative names; version.json itself excluded)."""
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and p.name != VERSION_FILE
    )


def write_version(
    directory: Path, facts: Mapping[str, Any], parent_models_dir: Path
) -> dict[str, Any]:
    """Pin every file of ``directory`` (registry.toml + version.json); returns the version
    record."""
    heads = sorted(
        p for p in (directory / HEADS_SUBDIR).glob("*") if p.suffix in (".safetensors", ".json")
    )
    for name, entry in load_registry(parent_models_dir).get("encoder", {}).items():
        write_encoder_entry(directory, name, entry)
    blocks = [
        f'[[artifact]]\nname = "{p.stem}"\nkind = "head"\npath = "{HEADS_SUBDIR}/{p.name}"\n'
        f'version = "{facts["name"]}"\nsha256 = "{hash_files(p.parent, [p.name])[p.name]}"\n'
        for p in heads
        if p.name != "metrics.json"
    ]
    registry = directory / REGISTRY_FILE
    existing = registry.read_text(encoding="utf-8") if registry.is_file() else ""
    registry.write_text(existing + ("\n" if existing else "") + "\n".join(blocks), encoding="utf-8")
    files = hash_files(directory, version_files(directory))
    record = {**facts, "files": files, "checksum": files_checksum(files)}
    (directory / VERSION_FILE).write_text(
        json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return record


def read_version(directory: Path) -> dict[str, Any] | None:
    """The ``version.json`` record of a version dir, or None."""
    path = directory / VERSION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def version_info(directory: Path) -> ModelInfo:
    """A trained version as a ModelInfo, its files checked against their recorded sha256."""
    record = read_version(directory) or {}
    files = record.get("files") or {}
    try:
        ok = (
            bool(files)
            and hash_files(directory, files) == files
            and files_checksum(files) == record.get("checksum")
        )
    except OSError:
        ok = False
    details = {
        k: record.get(k)
        for k in (
            "parent",
            "created_at",
            "labels",
            "trained_on",
            "encoder",
            "taxonomy",
            "new_topics",
        )
    }
    return ModelInfo(
        name=directory.name,
        kind="model-version",
        source="trained",
        version=str(record.get("created_at", "")),
        checksum=str(record.get("checksum", "")),
        path=str(directory),
        status="ok" if ok else "checksum mismatch",
        details=details,
    )


def shipped_info() -> ModelInfo:
    """The committed heads as a version (always available)."""
    heads = SHIPPED_MODELS_DIR / HEADS_SUBDIR
    names = sorted(p.name for p in heads.glob("*") if p.suffix in (".safetensors", ".json"))
    return ModelInfo(
        name=SHIPPED_VERSION,
        kind="model-version",
        source="committed",
        version="package",
        checksum=files_checksum(hash_files(heads, names)),
        path=str(heads),
        details={"parent": None},
    )


def list_versions(settings: Settings) -> list[ModelInfo]:
    """``shipped`` first, then every trained version in the cache, oldest first."""
    root = versions_root(settings)
    found = (
        [version_info(d) for d in root.iterdir() if (d / VERSION_FILE).is_file()]
        if root.is_dir()
        else []
    )
    return [shipped_info(), *sorted(found, key=lambda m: (m.version, m.name))]


def check_version(settings: Settings) -> ModelInfo | None:
    """The ModelInfo of the version ``settings`` use (None for shipped); a ModelError when it is
    missing or its files changed."""
    name = settings.model_version
    if name == SHIPPED_VERSION:
        return None
    directory = Path(settings.models_dir)
    if not (directory / VERSION_FILE).is_file():
        known = ", ".join(m.name for m in list_versions(settings))
        raise ModelError(
            f"model version {name!r} does not exist in {versions_root(settings)}.",
            f"Versions are: {known}. Train one with `cx-text train --labels FILE`, "
            "or use --model-version shipped.",
        )
    info = version_info(directory)
    if info.status != "ok":
        raise ModelError(
            f"model version {name!r} in {directory} does not match its checksums.",
            "Re-train it with `cx-text train --labels … --name …` or go back to shipped.",
        )
    return info


def label_roles(settings: Settings) -> dict[str, str]:
    """``{message id: train | held_back}`` over every trained version: a label once held back
    stays held back on every later retrain (and a trained one stays trained)."""
    roles: dict[str, str] = {}
    for info in list_versions(settings)[1:]:
        path = Path(str(info.path)) / SPLIT_FILE
        if path.is_file():
            for key, role in json.loads(path.read_text(encoding="utf-8")).items():
                roles.setdefault(str(key), str(role))
    return roles


def held_back_ids(settings: Settings, name: str) -> set[str]:
    """The ids a version held back (empty for shipped: it saw none of the labels)."""
    path = version_dir(Path(settings.cache_dir), name) / SPLIT_FILE
    if name == SHIPPED_VERSION or not path.is_file():
        return set()
    return {k for k, v in json.loads(path.read_text(encoding="utf-8")).items() if v == HELD_BACK}
