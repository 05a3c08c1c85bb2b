"""The int8 ONNX Runtime fast path: build, verify, fall back, list — on a tiny local BERT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cx_text.core.config import Settings

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")

from cx_text.models import onnx_int8, onnx_quant  # noqa: E402
from cx_text.models.encoder import Encoder, prepare_fast_path  # noqa: E402
from cx_text.models.spans import encode_with_spans  # noqa: E402
from tests.error_codes import raises_code  # noqa: E402
from tests.tiny_models import TEXTS, save_tiny_bert  # noqa: E402


@pytest.fixture(autouse=True)
def _auto_means_int8(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the int8 build: ``auto`` uses it whatever this machine's CPU (on
    AMX-BF16 CPUs and x86 ones without VNNI ``auto`` runs torch instead; test_models.py)."""
    from cx_text.models import inference

    monkeypatch.setattr(inference, "auto_prefers_torch", lambda: False)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-onnx-encoder"))


@pytest.fixture()
def settings(tmp_path: Path, tiny_dir: Path) -> Settings:
    return Settings(
        cache_dir=tmp_path / "cache",
        models_dir=tmp_path / "models",
        num_threads=1,
        batch_size=4,
        encoder=str(tiny_dir),
    )


def _build_dirs(settings: Settings) -> list[Path]:
    root = settings.cache_dir / "onnx"
    return (
        sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if root.is_dir()
        else []
    )


def test_onnx_int8_encoder_is_close_to_fp32_and_records_the_build(settings: Settings):
    exact = Encoder.load(settings, precision="fp32").encode(TEXTS)
    fast = Encoder.load(settings, precision="onnx-int8")
    vectors = fast.encode(TEXTS)
    assert fast.precision == "onnx-int8" and fast.inference_model is None
    assert vectors.shape == exact.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors * exact).sum(axis=1).min() >= 0.98
    details = fast.info.details
    assert details["onnx_checksum"].startswith("sha256:") and details["onnx_min_cosine"] >= 0.99
    [build_dir] = _build_dirs(settings)
    stamp = json.loads((build_dir / onnx_int8.STAMP).read_text())
    assert stamp["accepted"] and stamp["texts"] == len(onnx_int8.verify_texts())
    assert stamp["model_checksum"] == fast.info.checksum


def test_onnx_int8_auto_prefers_the_verified_build(settings: Settings):
    assert Encoder.load(settings).precision == "onnx-int8"


def test_onnx_int8_spans_pool_the_same_hidden_states(settings: Settings):
    fast = Encoder.load(settings, precision="onnx-int8", cache_size=0)
    texts = ["Курьер опоздал, но вежливый", "The app is slow and keeps logging me out"]
    spans = [[(0, 15), (17, 27)], [(0, 15), (20, 40)]]
    messages, clauses = encode_with_spans(fast, texts, spans)
    np.testing.assert_allclose(messages, fast.encode(texts), atol=1e-4)
    assert [c.shape for c in clauses] == [(2, 32), (2, 32)]
    assert not np.allclose(clauses[0][0], clauses[0][1])


def test_onnx_int8_build_is_reused_and_rebuilt_when_tampered(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    first = prepare_fast_path(settings)
    calls: list[Path] = []
    real_build = onnx_int8._build
    monkeypatch.setattr(onnx_int8, "_build", lambda *a: calls.append(a[2]) or real_build(*a))
    assert prepare_fast_path(settings) == first and calls == []  # stamp verifies: no rebuild
    Path(first.path).write_bytes(b"not a model")
    again = prepare_fast_path(settings)
    assert len(calls) == 1 and again.checksum == first.checksum  # rebuilt, same recipe -> same file


@pytest.mark.parametrize("precision, falls_back", [("auto", True), ("onnx-int8", False)])
def test_onnx_int8_without_onnxruntime(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, precision: str, falls_back: bool
):
    monkeypatch.setattr(onnx_int8, "available", lambda: False)
    if falls_back:
        assert Encoder.load(settings, precision=precision).precision in ("bf16", "fp32")
        assert prepare_fast_path(settings) is None
    else:
        with raises_code("CX-E050", "onnxruntime"):
            Encoder.load(settings, precision=precision)


def test_onnx_int8_rejected_build_falls_back_and_is_not_retried(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(onnx_int8, "MIN_COSINE", 1.01)  # no int8 build can pass this
    enc = Encoder.load(settings)
    assert enc.precision in ("bf16", "fp32") and enc.inference_model is not None
    [build_dir] = _build_dirs(settings)
    assert not (build_dir / onnx_int8.ONNX_FILE).exists()  # rejected builds keep only the stamp
    monkeypatch.setattr(onnx_int8, "_build", lambda *a: pytest.fail("rejected build retried"))
    assert Encoder.load(settings).precision in ("bf16", "fp32")
    with raises_code("CX-E050", "fp32"):
        Encoder.load(settings, precision="onnx-int8")
    [listed] = onnx_int8.list_builds(settings)
    assert listed.status == "rejected" and "min cosine" in listed.details["note"]


def test_onnx_int8_list_builds_and_models_list(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner

    from cx_text.cli.main import cli

    build = prepare_fast_path(settings)
    [listed] = onnx_int8.list_builds(settings)
    assert listed.status == "ok" and listed.checksum == build.checksum
    assert listed.kind == "encoder-fast" and listed.name.endswith(":onnx-int8")
    monkeypatch.setenv("CX_TEXT_CACHE", str(settings.cache_dir))
    out = CliRunner().invoke(cli, ["models", "list"]).output
    assert ":onnx-int8" in out and build.checksum[:19] in out


def test_onnx_int8_a_new_recipe_replaces_old_builds(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    old = prepare_fast_path(settings)
    monkeypatch.setattr(onnx_int8, "RECIPE", onnx_int8.RECIPE + 1)
    new = prepare_fast_path(settings)
    assert new.recipe == old.recipe + 1 and not Path(old.path).exists()
    assert [p.name for p in _build_dirs(settings)] == [Path(new.path).parent.name]


def test_onnx_int8_keeps_outlier_ffn_layers_in_fp32(
    tiny_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    import onnx

    model = transformers.AutoModel.from_pretrained(tiny_dir, attn_implementation="eager").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_dir)
    monkeypatch.setattr(onnx_quant, "OUTLIER_RATIO", 0.0)  # every layer counts as an outlier
    assert onnx_quant.outlier_ffn_layers(model, tokenizer, TEXTS[:4]) == (0, 1)
    monkeypatch.setattr(onnx_quant, "OUTLIER_RATIO", 1e9)  # none does
    assert onnx_quant.outlier_ffn_layers(model, tokenizer, TEXTS[:4]) == ()
    monkeypatch.setattr(onnx_quant, "OUTLIER_RATIO", 0.0)
    build = prepare_fast_path(settings)
    assert build.fp32_layers == (0, 1)
    graph = onnx.load(build.path)
    float_matmuls = [n.name for n in graph.graph.node if n.op_type == "MatMul"]
    assert len(float_matmuls) == 2 and all("output/dense" in n for n in float_matmuls)


def test_onnx_int8_falls_back_to_fp32_attention_when_the_gate_fails(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    import onnx

    verify, calls = onnx_int8._verify, []

    def first_fails(*args: object, **kwargs: object) -> np.ndarray:
        cosines = verify(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(float(cosines.min()))
        return cosines * 0.5 if len(calls) == 1 else cosines

    monkeypatch.setattr(onnx_int8, "_verify", first_fails)
    build = prepare_fast_path(settings)
    assert len(calls) == 2 and build.accepted and build.variant == "ffn"
    assert build.as_details()["onnx_variant"] == "ffn"
    ops = {n.op_type for n in onnx.load(build.path).graph.node}
    assert "Attention" in ops and "QAttention" not in ops  # attention stays fp32
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul"}  # the FFN is int8


def test_onnx_int8_a_build_no_variant_passes_is_rejected(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(onnx_int8, "MIN_COSINE", 1.01)
    build = prepare_fast_path(settings)
    assert not build.accepted and build.variant == onnx_quant.VARIANTS[-1]
    assert "falls back to torch" in build.note


def _int8_weight_magnitude(path: str) -> int:
    """The largest |value| among the build's int8 weight tensors."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    return max(
        int(np.abs(numpy_helper.to_array(t).astype(np.int32)).max())
        for t in graph.initializer
        if t.data_type == onnx.TensorProto.INT8
    )


def test_onnx_int8_cpus_without_vnni_get_7_bit_weights_in_a_build_of_their_own(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from cx_text.models import inference

    monkeypatch.setattr(inference, "int8_needs_7_bits", lambda: False)
    wide = prepare_fast_path(settings)
    monkeypatch.setattr(inference, "int8_needs_7_bits", lambda: True)
    narrow = prepare_fast_path(settings)
    assert narrow.accepted and narrow.reduce_range and not wide.reduce_range
    assert Path(narrow.path).parent.name == Path(wide.path).parent.name + "-u7"
    assert _int8_weight_magnitude(narrow.path) <= 64 < _int8_weight_magnitude(wide.path)
    bits = [b.as_details()["onnx_weight_bits"] for b in (narrow, wide)]
    assert bits == [7, 8]
    assert len(_build_dirs(settings)) == 2  # a cache two kinds of CPU share keeps both
    [listed] = onnx_int8.list_builds(settings)  # this CPU's build only
    assert listed.path == str(Path(narrow.path).parent) and listed.checksum == narrow.checksum
    monkeypatch.setattr(onnx_int8, "_build", lambda *a: pytest.fail("a stamped build was rebuilt"))
    assert prepare_fast_path(settings) == narrow
    monkeypatch.setattr(inference, "int8_needs_7_bits", lambda: False)
    assert prepare_fast_path(settings) == wide


@pytest.mark.parametrize(
    "machine, flags, reduced",
    [
        ("x86_64", {"avx2", "fma"}, True),  # AVX2 only: AMD before Zen 4, older Intel
        ("x86_64", {"avx2", "avx512f", "avx512bw"}, True),  # AVX-512 without VNNI
        ("x86_64", {"avx2", "avx512_vnni"}, False),
        ("x86_64", {"avx2", "avx_vnni"}, False),
        ("x86_64", {"amx_int8", "amx_bf16"}, False),
        ("aarch64", set(), False),
    ],
)
def test_onnx_int8_weight_width_follows_the_cpu(
    monkeypatch: pytest.MonkeyPatch, machine: str, flags: set[str], reduced: bool
):
    import platform

    from cx_text.models import inference

    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset(flags))
    assert inference.int8_needs_7_bits() is reduced


def test_onnx_int8_verify_sample_is_bilingual_and_varied():
    texts = onnx_int8.verify_texts()
    cyrillic = sum(any("а" <= ch <= "я" for ch in t.lower()) for t in texts)
    assert len(texts) >= 100 and 0.3 < cyrillic / len(texts) < 0.7
    assert min(map(len, texts)) <= 3 and max(map(len, texts)) >= 300


@pytest.mark.parametrize("precision", ["onnx-int8", "fp32"])
def test_spans_encode_a_repeated_text_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, precision: str
):
    enc = Encoder.load(settings, precision=precision, cache_size=0)
    texts = ["Спасибо!", "Курьер опоздал, но вежливый", "Спасибо!", "ok", "Спасибо!"]
    spans = [[(0, 8)], [(0, 15), (17, 27)], [(0, 8)], [(0, 2)], [(0, 3)]]  # last: other spans
    rows: list[int] = []
    real = enc.hidden_states
    monkeypatch.setattr(
        enc, "hidden_states", lambda ids, mask: rows.append(len(ids)) or real(ids, mask)
    )
    messages, clauses = encode_with_spans(enc, texts, spans)
    assert sum(rows) == 4  # "Спасибо!" with the same spans once; with other spans again
    np.testing.assert_array_equal(messages[0], messages[2])
    np.testing.assert_allclose(messages[0], messages[4], atol=1e-6)
    assert [c.shape[0] for c in clauses] == [1, 2, 1, 1, 1]
    clauses[0][0, 0] = 99.0  # each row owns its arrays
    assert clauses[2][0, 0] != 99.0
