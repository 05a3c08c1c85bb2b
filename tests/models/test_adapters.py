"""LoRA adapters: registry pins, deterministic merge into a stamped copy, tamper refusal,
``models prepare`` / ``models list`` and the default-encoder switch — on a tiny local BERT;
the xz-packed form of the weights (what the package ships) against the raw one, and the
shipped adapter itself."""

from __future__ import annotations

import hashlib
import json
import lzma
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cx_text.core.config import FINETUNED_ENCODER, Settings, default_encoder
from cx_text.models.registry import encoder_pin, load_registry, verify_stamp, write_encoder_entry
from tests.error_codes import raises_code
from tests.tiny_models import TEXTS, save_tiny_bert

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-base"))


def _write_adapter(base_dir: Path, out: Path, seed: int = 1) -> None:
    """A random (non-zero B) LoRA adapter of the tiny base, in peft's format."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    base = transformers.BertModel.from_pretrained(base_dir, add_pooling_layer=False)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["query", "key", "value", "dense"],
        init_lora_weights=False,
    )
    get_peft_model(base, config).save_pretrained(str(out))


def _ship(settings: Settings, base_dir: Path) -> Path:
    from cx_text.models.adapters import adapter_hashes

    adapter = settings.models_dir / "adapters" / FINETUNED_ENCODER
    _write_adapter(base_dir, adapter)
    write_encoder_entry(
        settings.models_dir,
        FINETUNED_ENCODER,
        {
            "kind": "encoder",
            "base": str(base_dir),
            "adapter": f"adapters/{FINETUNED_ENCODER}",
            "version": "test",
            "recipe": "random r4",
            "sha256": adapter_hashes(adapter),
        },
    )
    return adapter


@pytest.fixture()
def shipped(tmp_path: Path, base_dir: Path) -> Settings:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "registry.toml").write_text('[encoder.e5-small]\nkind = "encoder"\n')
    settings = Settings(
        cache_dir=tmp_path / "cache",
        models_dir=models_dir,
        num_threads=1,
        batch_size=4,
        precision="fp32",
    )
    _ship(settings, base_dir)
    return settings.with_(encoder=default_encoder(models_dir))


def _inputs(model_dir: Path) -> dict:
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    return tokenizer(TEXTS[:4], padding=True, return_tensors="pt")


def _hidden(model_dir: Path) -> np.ndarray:
    model = transformers.BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    enc = _inputs(model_dir)
    with torch.no_grad():
        return model(**enc).last_hidden_state.numpy()


def test_adapters_registry_entry_round_trips(shipped: Settings):
    entry = load_registry(shipped.models_dir)["encoder"][FINETUNED_ENCODER]
    assert entry["adapter"] == f"adapters/{FINETUNED_ENCODER}" and len(entry["sha256"]) == 2
    assert "e5-small" in load_registry(shipped.models_dir)["encoder"]  # the rest is kept
    write_encoder_entry(shipped.models_dir, FINETUNED_ENCODER, {**entry, "version": "v2"})
    again = load_registry(shipped.models_dir)["encoder"]
    assert again[FINETUNED_ENCODER]["version"] == "v2" and again[FINETUNED_ENCODER]["sha256"]


def test_adapters_default_encoder_switches_only_when_shipped(shipped: Settings, tmp_path: Path):
    assert default_encoder(shipped.models_dir) == FINETUNED_ENCODER
    assert Settings(models_dir=shipped.models_dir).encoder == FINETUNED_ENCODER
    assert Settings(models_dir=tmp_path / "empty").encoder == "e5-small"
    assert Settings(models_dir=shipped.models_dir, encoder="e5-small").encoder == "e5-small"


def test_adapters_merge_matches_peft_and_is_deterministic(
    shipped: Settings, base_dir: Path, tmp_path: Path
):
    from peft import PeftModel

    from cx_text.models.adapters import merge_lora

    adapter = shipped.models_dir / "adapters" / FINETUNED_ENCODER
    merge_lora(base_dir, adapter, tmp_path / "a")
    merge_lora(base_dir, adapter, tmp_path / "b")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (
        tmp_path / "b" / "model.safetensors"
    ).read_bytes()
    base = transformers.BertModel.from_pretrained(base_dir, add_pooling_layer=False)
    reference = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload().eval()
    enc = _inputs(base_dir)
    with torch.no_grad():
        expected = reference(**enc).last_hidden_state.numpy()
    merged = _hidden(tmp_path / "a")
    np.testing.assert_allclose(merged, expected, atol=1e-5)
    assert np.abs(merged - _hidden(base_dir)).max() > 1e-3  # the adapter does something


def test_adapters_prepare_stamps_verifies_and_is_idempotent(shipped: Settings):
    from cx_text.models.cache import prepare_model

    first = prepare_model(shipped, FINETUNED_ENCODER)
    assert first.built and first.info.source == "adapter-merge"
    assert first.info.details["adapter_checksum"].startswith("sha256:")
    assert first.info.details["base_checksum"].startswith("sha256:")
    stamped = verify_stamp(Path(str(first.info.path)))
    assert stamped is not None and stamped.checksum == first.info.checksum
    again = prepare_model(shipped, FINETUNED_ENCODER)
    assert not again.built and again.info.checksum == first.info.checksum


def _adapter_dir(settings: Settings) -> Path:
    return settings.models_dir / "adapters" / FINETUNED_ENCODER


def _assert_refused(settings: Settings, noun: str = "sha256") -> None:
    from cx_text.models.cache import prepare_model
    from cx_text.models.catalog import list_models

    with raises_code("CX-E050", noun):
        prepare_model(settings, FINETUNED_ENCODER)
    status = {m.name: m.status for m in list_models(settings)}
    assert status[f"{FINETUNED_ENCODER}:adapter"] == "checksum mismatch"


def test_adapters_tampered_adapter_is_refused(shipped: Settings):
    from cx_text.models.cache import prepare_model

    prepare_model(shipped, FINETUNED_ENCODER)
    weights = _adapter_dir(shipped) / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    _assert_refused(shipped)


def test_adapters_packed_verifies_and_merges_to_the_same_weights(
    shipped: Settings, base_dir: Path, tmp_path: Path
):
    from cx_text.models.adapters import (
        adapter_hashes,
        merge_lora,
        pack_adapter,
        unxz,
        verified_adapter,
    )
    from cx_text.models.cache import prepare_model

    adapter, pin = _adapter_dir(shipped), encoder_pin(shipped, FINETUNED_ENCODER)
    raw = (adapter / "adapter_model.safetensors").read_bytes()
    _, raw_sum = verified_adapter(shipped, FINETUNED_ENCODER, pin)
    merge_lora(base_dir, adapter, tmp_path / "raw")
    raw_model = prepare_model(shipped, FINETUNED_ENCODER).info

    packed = pack_adapter(adapter)
    assert packed.name == "adapter_model.safetensors.xz" and unxz(packed) == raw
    assert not (adapter / "adapter_model.safetensors").exists()
    assert lzma.decompress(packed.read_bytes()) == raw  # a plain .xz: `xz -d` reads it
    assert adapter_hashes(adapter) == pin["sha256"]  # the pins stay on the decompressed bytes
    assert verified_adapter(shipped, FINETUNED_ENCODER, pin)[1] == raw_sum
    merge_lora(base_dir, adapter, tmp_path / "packed")
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        assert (tmp_path / "packed" / name).read_bytes() == (tmp_path / "raw" / name).read_bytes()
    fresh = prepare_model(shipped.with_(cache_dir=tmp_path / "fresh-cache"), FINETUNED_ENCODER)
    assert fresh.built and fresh.info.checksum == raw_model.checksum


def _pack(settings: Settings) -> Path:
    from cx_text.models.adapters import pack_adapter
    from cx_text.models.cache import prepare_model

    packed = pack_adapter(_adapter_dir(settings))
    prepare_model(settings, FINETUNED_ENCODER)  # verified (and remembered) before the damage
    return packed


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:100] + bytes([b[100] ^ 0x01]) + b[101:],  # one bit in the header
        lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 0x40]) + b[len(b) // 2 + 1 :],
        lambda b: b[:-4] + b"\0\0\0\0",  # the stream footer
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b + b"trailing",  # followed by other data
        lambda b: lzma.decompress(b),  # the raw bytes under the .xz name
    ],
    ids=["header-bit", "middle-bit", "footer", "truncated", "trailing", "not-xz"],
)
def test_adapters_corrupted_xz_is_refused(shipped: Settings, damage):
    packed = _pack(shipped)
    packed.write_bytes(damage(packed.read_bytes()))
    _assert_refused(shipped)


def test_adapters_xz_of_other_weights_is_refused(shipped: Settings, base_dir: Path, tmp_path):
    """A valid .xz whose content is not the pinned adapter (another seed) is refused."""
    from cx_text.models.adapters import pack_adapter

    packed = _pack(shipped)
    _write_adapter(base_dir, tmp_path / "other", seed=2)
    packed.write_bytes(pack_adapter(tmp_path / "other").read_bytes())
    _assert_refused(shipped, "decompresses to sha256")


def test_adapters_xz_content_is_remembered_by_the_xz_sha256(shipped: Settings, monkeypatch):
    """Verification decompresses a given .xz once; the memo is keyed by the .xz's own bytes."""
    from cx_text.models import adapters

    packed = _pack(shipped)
    xz_sha = hashlib.sha256(packed.read_bytes()).hexdigest()
    memo = shipped.cache_dir / "adapters" / f"{xz_sha}.sha256"
    content_sha = hashlib.sha256(adapters.unxz(packed)).hexdigest()
    assert memo.read_text().strip() == content_sha

    def no_unxz(path: Path) -> bytes:
        raise AssertionError(f"decompressed {path} again")

    monkeypatch.setattr(adapters, "unxz", no_unxz)
    pin = encoder_pin(shipped, FINETUNED_ENCODER)
    adapters.verified_adapter(shipped, FINETUNED_ENCODER, pin)
    memo.write_text("0" * 64)  # a wrong memo is a wrong content hash
    with raises_code("CX-E050", "sha256"):
        adapters.verified_adapter(shipped, FINETUNED_ENCODER, pin)


def test_adapters_raw_weights_win_over_xz(shipped: Settings, base_dir: Path, tmp_path: Path):
    """With both files present the raw one is read (and verified): documented and consistent."""
    from cx_text.models.adapters import pack_adapter, verified_adapter, weights_path

    adapter, pin = _adapter_dir(shipped), encoder_pin(shipped, FINETUNED_ENCODER)
    _write_adapter(base_dir, tmp_path / "other", seed=2)
    (adapter / "adapter_model.safetensors.xz").write_bytes(
        pack_adapter(tmp_path / "other").read_bytes()
    )
    assert weights_path(adapter).name == "adapter_model.safetensors"
    verified_adapter(shipped, FINETUNED_ENCODER, pin)  # the raw file matches: ok
    (adapter / "adapter_model.safetensors").unlink()  # now the .xz of other weights is read
    _assert_refused(shipped, "decompresses to sha256")


def test_adapters_missing_weights_names_both_forms(shipped: Settings):
    from cx_text.models.catalog import list_models

    (_adapter_dir(shipped) / "adapter_model.safetensors").unlink()
    status = {m.name: m for m in list_models(shipped)}[f"{FINETUNED_ENCODER}:adapter"]
    assert status.status == "missing" and ".xz" in str(status.details["error"])


def test_adapters_shipped_adapter_is_packed_and_verifies(tmp_path: Path):
    """The package ships the weights as .xz only, under the 5 MB line, matching their pins."""
    from cx_text.models.adapters import adapter_hashes, lora_deltas, verified_adapter

    settings = Settings(cache_dir=tmp_path / "cache")
    adapter = settings.models_dir / "adapters" / FINETUNED_ENCODER
    packed = adapter / "adapter_model.safetensors.xz"
    assert packed.is_file() and not (adapter / "adapter_model.safetensors").exists()
    assert packed.stat().st_size < 5_000_000
    pin = encoder_pin(settings, FINETUNED_ENCODER)
    assert pin["adapter"] == f"adapters/{FINETUNED_ENCODER}"
    assert adapter_hashes(adapter) == pin["sha256"]
    directory, checksum = verified_adapter(settings, FINETUNED_ENCODER, pin)
    assert directory == adapter and checksum.startswith("sha256:")
    deltas = lora_deltas(adapter)
    assert len(deltas) == 12 * 6  # q, k, v, attention output, both FFN linears of 12 layers
    from safetensors.numpy import load

    from cx_text.models.adapters import read_weights

    assert {t.dtype for t in load(read_weights(adapter)).values()} == {np.dtype(np.float16)}
    facts = json.loads((adapter / "finetune.json").read_text(encoding="utf-8"))
    assert facts["weights_dtype"] == "float16" and facts["packed_bytes"] == packed.stat().st_size


def test_adapters_shipped_form_is_float16_packed_and_merges_close(
    shipped: Settings, base_dir: Path, tmp_path: Path
):
    """ship_adapter: float16 weights (deterministic bytes), xz-packed, facts in finetune.json;
    the merged model is the float32 adapter's up to float16 rounding."""
    from safetensors.numpy import load, load_file

    from cx_text.models.adapters import merge_lora, read_weights
    from cx_text.training.run import ship_adapter

    adapter = _adapter_dir(shipped)
    merge_lora(base_dir, adapter, tmp_path / "fp32")
    fp32 = load((adapter / "adapter_model.safetensors").read_bytes())
    (adapter / "finetune.json").write_text('{"steps": 1}', encoding="utf-8")
    twin = tmp_path / "twin"
    twin.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (twin / name).write_bytes((adapter / name).read_bytes())

    facts = ship_adapter(adapter)
    ship_adapter(twin)
    assert facts["weights_dtype"] == "float16"
    assert not (adapter / "adapter_model.safetensors").exists()
    assert facts["packed_bytes"] == (adapter / "adapter_model.safetensors.xz").stat().st_size
    assert read_weights(adapter) == read_weights(twin)  # the same weights give the same bytes
    half = load(read_weights(adapter))
    assert set(half) == set(fp32)
    for name, tensor in half.items():
        assert tensor.dtype == np.float16
        np.testing.assert_array_equal(tensor, fp32[name].astype(np.float16))
    recorded = json.loads((adapter / "finetune.json").read_text(encoding="utf-8"))
    assert recorded == {"steps": 1, **facts}
    merge_lora(base_dir, adapter, tmp_path / "fp16")
    a = load_file(str(tmp_path / "fp32" / "model.safetensors"))
    b = load_file(str(tmp_path / "fp16" / "model.safetensors"))
    assert any(not np.array_equal(a[k], b[k]) for k in a)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=2e-3)


def test_adapters_encoder_loads_merged_and_manifest_records_adapter(shipped: Settings):
    from cx_text.models.encoder import Encoder

    encoder = Encoder.load(shipped)
    assert encoder.info.name == FINETUNED_ENCODER
    details = encoder.info.details
    assert details["adapter_sha256"] and details["base_checksum"] and details["recipe"]
    vectors = encoder.encode(TEXTS[:3])
    assert vectors.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_adapters_cli_prepare_builds_merge_and_int8(shipped: Settings):
    pytest.importorskip("onnxruntime")
    from cx_text.cli.main import cli

    env = {
        "CX_TEXT_CACHE": str(shipped.cache_dir),
        "CX_TEXT_MODELS_DIR": str(shipped.models_dir),
        "CX_TEXT_THREADS": "1",
        "CX_TEXT_PRECISION": "onnx-int8",  # auto skips the int8 build on AMX-BF16 CPUs
    }
    result = CliRunner().invoke(cli, ["models", "prepare"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{FINETUNED_ENCODER}: built" in result.output
    assert f"{FINETUNED_ENCODER}:onnx-int8:" in result.output
    listed = CliRunner().invoke(cli, ["models", "list"], env=env).output
    assert f"{FINETUNED_ENCODER}:adapter" in listed and "adapter-merge" in listed
    builds = list((shipped.cache_dir / "onnx").glob("*/cx_onnx.json"))
    assert builds and json.loads(builds[0].read_text())["model"] == FINETUNED_ENCODER
