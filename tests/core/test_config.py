"""Settings: one frozen object, read from the environment only at the edges."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from cx_text.core.config import Settings, default_encoder
from tests.error_codes import raises_code


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"CX_TEXT_DB": "/data/cx.duckdb"}, "db_path", Path("/data/cx.duckdb")),
        ({"CX_TEXT_CACHE": "/models"}, "cache_dir", Path("/models")),
        ({"CX_TEXT_ENCODER": "/opt/my-encoder"}, "encoder", "/opt/my-encoder"),
        ({"CX_TEXT_ALLOW_NETWORK": "yes"}, "allow_network", True),
        ({"CX_TEXT_ALLOW_NETWORK": "0"}, "allow_network", False),
        ({"CX_TEXT_THREADS": "1"}, "num_threads", 1),
        ({"CX_TEXT_WORKERS": "2"}, "workers", 2),
        ({"CX_TEXT_MAX_ERROR_SHARE": "0.2"}, "max_error_share", 0.2),
        ({}, "max_error_share", 0.05),
        (
            {"CX_TEXT_TAGGER": "tests.fault_taggers:keyword"},
            "tagger",
            "tests.fault_taggers:keyword",
        ),
        ({"CX_TEXT_TAGGER": ""}, "tagger", None),
    ],
)
def test_config_from_env(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(Settings.from_env(env), field) == value


def test_config_defaults_are_offline_and_masking() -> None:
    s = Settings.from_env({})
    assert s.allow_network is False and s.mask_pii is True
    assert s.encoder == default_encoder(s.models_dir) == "e5-small-cx"  # the shipped adapter


def test_config_overrides_beat_env_and_none_is_ignored() -> None:
    s = Settings.from_env({"CX_TEXT_DB": "a.duckdb"}, db_path=Path("b.duckdb"), encoder=None)
    assert s.db_path == Path("b.duckdb") and s.encoder == default_encoder(s.models_dir)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CX_TEXT_THREADS": "two"}, "CX_TEXT_THREADS"),
        ({"CX_TEXT_WORKERS": "0"}, "workers"),
        ({"CX_TEXT_MAX_ERROR_SHARE": "5%"}, "CX_TEXT_MAX_ERROR_SHARE"),
        ({"CX_TEXT_MAX_ERROR_SHARE": "5"}, "between 0 and 1"),
    ],
)  # the fix: the range
def test_config_bad_values_explain(env: dict[str, str], message: str) -> None:
    with raises_code("CX-E010", message):
        Settings.from_env(env)


def test_config_is_frozen_and_copies_with_changes() -> None:
    s = Settings()
    with pytest.raises(FrozenInstanceError):
        s.batch_size = 3  # type: ignore[misc]
    t = s.with_(batch_size=3, encoder=None)
    assert (s.batch_size, t.batch_size, t.encoder) == (64, 3, s.encoder)
    assert t.as_dict()["db_path"] == "cx.duckdb"


def test_config_error_codes_are_stable_and_documented() -> None:
    from pathlib import Path

    from cx_text.core import errors

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ERRORS.md").read_text(encoding="utf-8")
    assert len(set(errors.CODES)) == len(errors.CODES) == 10
    for code, name in errors.CODES.items():
        assert f"| `{code}` | `{name}` |" in doc
    assert errors.IngestError("x").code == "CX-E020"
    assert errors.StoreError("x", code="CX-E061").code == "CX-E061"


def test_config_cli_prints_the_error_code(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from cx_text.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["inspect", str(tmp_path / "missing.csv")])
    assert exited.value.code == 2
    assert "Error CX-E020:" in capsys.readouterr().err
