"""One frozen Settings object, read at the edges (CLI, app) and passed down.

Nothing below the CLI/app reads the environment: stages receive ``Settings``.
Environment variables (all optional) are read only by :meth:`Settings.from_env`:

=========================  ==========================================================
``CX_TEXT_CACHE``          where prepared models live (default ``~/.cache/cx_text``)
``CX_TEXT_MODELS_DIR``     committed heads and label maps (default: repo ``models/``)
``CX_TEXT_DB``             DuckDB store path (default ``cx.duckdb``)
``CX_TEXT_ENCODER``        encoder: ``e5-small-cx`` (fine-tuned, when its adapter is shipped),
                           ``e5-small`` (embedded), a local dir or a hub id
``CX_TEXT_ALLOW_NETWORK``  ``1`` lets a named hub id be downloaded (off by default)
``CX_TEXT_THREADS``        torch / ONNX Runtime intra-op threads (default: number of cores)
``CX_TEXT_PRECISION``      encoder precision: ``auto`` (default: verified int8 ONNX, else bf16
                           where the CPU has it, else fp32), ``onnx-int8``, ``bf16``, ``fp32``
``CX_TEXT_WORKERS``        ``2``+ runs the language layer of the next chunk in a worker process
                           (pays on machines with more than 2 cores; measured slower on 2)
``CX_TEXT_MAX_ERROR_SHARE`` share of rows that may fail to tag before a run is marked
                           ``failed`` and never becomes the latest run (default ``0.05``)
``CX_TEXT_MODEL_VERSION``  the model version that tags: ``shipped`` (default, the committed heads)
                           or a version trained on an organisation's labels, kept in
                           ``$CX_TEXT_CACHE/versions/<name>/`` (``cx-text train --labels``)
``CX_TEXT_TRAIN_DATA``     corpus JSONL file or dir retraining starts from (default ``data/corpus``)
``CX_TEXT_SHARED_DATA``    the public labeled sets retraining adds (e.g. ``../shared/data``)
``CX_TEXT_TAGGER``         ``module:function`` — a chunk tagger used instead of the models by
                           :func:`cx_text.load` (``cx-text tag``): demos and tests, e.g.
                           ``cx_text.testing:keyword_tagger``
=========================  ==========================================================
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cx_text.core.errors import ConfigError

CORE_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = CORE_DIR.parent
#: heads, registry.toml: package data, so an installed wheel works without the source checkout
SHIPPED_MODELS_DIR = PACKAGE_DIR / "models" / "shipped"
DEFAULT_TAXONOMY = CORE_DIR / "taxonomies" / "default.yaml"
EMBEDDED_ENCODER = "e5-small"
#: the fine-tuned encoder: e5-small + a LoRA adapter shipped under ``<models_dir>/adapters/``
FINETUNED_ENCODER = "e5-small-cx"
ADAPTERS_SUBDIR = "adapters"
ADAPTER_CONFIG = "adapter_config.json"
#: the committed heads: always available, whatever versions were trained ("a user can go back")
SHIPPED_VERSION = "shipped"
#: trained model versions live in ``<cache_dir>/versions/<name>/`` (a complete models dir)
VERSIONS_SUBDIR = "versions"
#: a version's own copy of the taxonomy it was trained with
VERSION_TAXONOMY = "taxonomy.yaml"
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def default_encoder(models_dir: Path) -> str:
    """The encoder used when none is named: ``e5-small-cx`` when ``models_dir`` ships its
    adapter (``adapters/e5-small-cx/adapter_config.json``), else the embedded ``e5-small``.

    Resolution order of ``Settings.encoder``: ``--model`` / ``CX_TEXT_ENCODER`` / an explicit
    ``Settings(encoder=...)`` -> this default. So main keeps working before an adapter lands.
    """
    shipped = models_dir / ADAPTERS_SUBDIR / FINETUNED_ENCODER / ADAPTER_CONFIG
    return FINETUNED_ENCODER if shipped.is_file() else EMBEDDED_ENCODER


def version_dir(cache_dir: Path, name: str) -> Path:
    """Where the trained model version ``name`` lives."""
    return cache_dir / VERSIONS_SUBDIR / name


def _default_cache() -> Path:
    return Path.home() / ".cache" / "cx_text"


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Every knob of a cx_text run. Immutable: use :meth:`with_` to change one."""

    db_path: Path = Path("cx.duckdb")
    cache_dir: Path = field(default_factory=_default_cache)
    models_dir: Path = SHIPPED_MODELS_DIR
    taxonomy_path: Path = DEFAULT_TAXONOMY
    encoder: str = ""  # "" -> default_encoder(models_dir), filled in by __post_init__
    precision: str = "auto"
    sentiment_model: str | None = None
    sentiment_label_map: Path | None = None
    allow_network: bool = False
    mask_pii: bool = True
    batch_size: int = 64
    chunk_size: int = 5_000
    max_text_chars: int = 20_000
    num_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    workers: int = 1
    min_n: int = 30
    seed: int = 13
    max_error_share: float = 0.05
    tagger: str | None = None
    model_version: str = SHIPPED_VERSION
    train_data: Path | None = None
    shared_data: Path | None = None

    def __post_init__(self) -> None:
        self._resolve_version()
        if not self.encoder:
            object.__setattr__(self, "encoder", default_encoder(Path(self.models_dir)))
        for name in (
            "batch_size",
            "chunk_size",
            "max_text_chars",
            "num_threads",
            "workers",
            "min_n",
        ):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"setting {name}={getattr(self, name)!r} must be >= 1.")
        if not 0.0 <= float(self.max_error_share) <= 1.0:
            raise ConfigError(
                f"setting max_error_share={self.max_error_share!r} must be between 0 and 1.",
                "E.g. CX_TEXT_MAX_ERROR_SHARE=0.05 (5 % of rows).",
            )

    def _resolve_version(self) -> None:
        """A trained version (``model_version``) reads its heads, registry and, unless another
        taxonomy is named, its own taxonomy copy from ``<cache_dir>/versions/<name>/``."""
        name = self.model_version or SHIPPED_VERSION
        object.__setattr__(self, "model_version", name)
        if name == SHIPPED_VERSION:
            return
        if not _VERSION_NAME.match(name):
            raise ConfigError(
                f"model version {name!r} is not a valid name.",
                "Use letters, digits, '.', '_' or '-' (e.g. acme-2026-12), or 'shipped'.",
            )
        if Path(self.models_dir) == SHIPPED_MODELS_DIR:
            object.__setattr__(self, "models_dir", version_dir(Path(self.cache_dir), name))
        own = Path(self.models_dir) / VERSION_TAXONOMY
        if Path(self.taxonomy_path) == DEFAULT_TAXONOMY and own.is_file():
            object.__setattr__(self, "taxonomy_path", own)

    def for_version(self, name: str) -> Settings:
        """These settings with another model version (``shipped`` goes back to the committed
        heads and the default taxonomy when they came from a version)."""
        values: dict[str, Any] = {"model_version": name or SHIPPED_VERSION}
        if self.model_version != SHIPPED_VERSION:
            current = version_dir(Path(self.cache_dir), self.model_version)
            if Path(self.models_dir) == current:
                values["models_dir"] = SHIPPED_MODELS_DIR
            if Path(self.taxonomy_path) == current / VERSION_TAXONOMY:
                values["taxonomy_path"] = DEFAULT_TAXONOMY
        return replace(self, **values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed (``None`` values are ignored)."""
        values = {k: v for k, v in changes.items() if v is not None}
        base = self.for_version(values.pop("model_version")) if "model_version" in values else self
        return replace(base, **values)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view, recorded in every run manifest."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``CX_TEXT_*`` variables, then explicit overrides."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        if "CX_TEXT_CACHE" in env:
            values["cache_dir"] = Path(env["CX_TEXT_CACHE"]).expanduser()
        if "CX_TEXT_MODELS_DIR" in env:
            values["models_dir"] = Path(env["CX_TEXT_MODELS_DIR"]).expanduser()
        if "CX_TEXT_DB" in env:
            values["db_path"] = Path(env["CX_TEXT_DB"]).expanduser()
        if "CX_TEXT_ENCODER" in env:
            values["encoder"] = env["CX_TEXT_ENCODER"]
        if "CX_TEXT_PRECISION" in env:
            values["precision"] = env["CX_TEXT_PRECISION"]
        if "CX_TEXT_ALLOW_NETWORK" in env:
            values["allow_network"] = _truthy(env["CX_TEXT_ALLOW_NETWORK"])
        if "CX_TEXT_THREADS" in env:
            values["num_threads"] = _parse_int("CX_TEXT_THREADS", env["CX_TEXT_THREADS"])
        if "CX_TEXT_WORKERS" in env:
            values["workers"] = _parse_int("CX_TEXT_WORKERS", env["CX_TEXT_WORKERS"])
        if "CX_TEXT_MAX_ERROR_SHARE" in env:
            values["max_error_share"] = _parse_share(
                "CX_TEXT_MAX_ERROR_SHARE", env["CX_TEXT_MAX_ERROR_SHARE"]
            )
        for key, name in (
            ("train_data", "CX_TEXT_TRAIN_DATA"),
            ("shared_data", "CX_TEXT_SHARED_DATA"),
        ):
            if env.get(name):
                values[key] = Path(env[name]).expanduser()
        if env.get("CX_TEXT_MODEL_VERSION"):
            values["model_version"] = env["CX_TEXT_MODEL_VERSION"]
        if env.get("CX_TEXT_TAGGER"):
            values["tagger"] = env["CX_TEXT_TAGGER"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number.", "Unset it or give e.g. 2."
        ) from exc


def _parse_share(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number.", "Give a share such as 0.05.") from exc


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def load_callable(spec: str) -> Callable[..., Any]:
    """A function named ``"package.module:function"`` (e.g. a fake tagger for tests or demos)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"{spec!r} is not 'module:function'.", "E.g. mypkg.taggers:keyword_tagger."
        )
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {spec!r}: {exc}.", "Check the module path.") from exc
    if not callable(found):
        raise ConfigError(f"{spec!r} is not callable.", "Name a function.")
    return found  # type: ignore[no-any-return]
