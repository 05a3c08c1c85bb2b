"""Models: local-dir encoders and sentiment classifiers built tiny here, errors, offline refusal."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from cx_text.core.config import Settings
from cx_text.core.schema import SENTIMENTS
from cx_text.models import windows
from cx_text.models.inference import check_precision, sorted_batches
from cx_text.models.spans import encode_parts
from tests.error_codes import raises_code
from tests.tiny_models import CORPUS, TEXTS, save_tiny_bert, save_tiny_classifier

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="module")
def tiny_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("tiny-classifier"), ["NEG", "POS", "NEU"])


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(
        cache_dir=tmp_path / "cache", models_dir=tmp_path / "models", num_threads=1, batch_size=4
    )


def _load_encoder(path: Path, settings: Settings, **kwargs: object):
    from cx_text.models.encoder import Encoder

    return Encoder.load(settings.with_(encoder=str(path)), **kwargs)


# --------------------------------------------------------------------------- encoder
def test_models_encoder_local_dir_shapes_and_norms(tiny_encoder_dir: Path, settings: Settings):
    enc = _load_encoder(tiny_encoder_dir, settings, precision="fp32")
    vectors = enc.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert enc.info.source == "local-dir" and enc.info.checksum.startswith("sha256:")
    assert enc.info.dim == 32 and enc.default_prefix == ""  # not an e5 model: no prefix


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_models_encoder_batches_match_one_by_one(
    tiny_encoder_dir: Path, settings: Settings, precision: str
):
    """Length-sorted dynamic padding must not change any vector."""
    enc = _load_encoder(tiny_encoder_dir, settings, precision=precision, cache_size=0)
    batched = enc.encode(TEXTS, batch_size=3)
    single = np.vstack([enc.encode([t]) for t in TEXTS])
    tol = 1e-5 if precision == "fp32" else 2e-2
    np.testing.assert_allclose(batched, single, atol=tol)


def test_models_encoder_precisions_close_to_fp32(tiny_encoder_dir: Path, settings: Settings):
    exact = _load_encoder(tiny_encoder_dir, settings, precision="fp32").encode(TEXTS)
    for precision in ("bf16",):
        fast = _load_encoder(tiny_encoder_dir, settings, precision=precision).encode(TEXTS)
        assert (fast * exact).sum(axis=1).min() > 0.98, precision


def test_models_encoder_cache_and_duplicates(tiny_encoder_dir: Path, settings: Settings):
    enc = _load_encoder(tiny_encoder_dir, settings, precision="fp32")
    calls: list[int] = []
    enc.inference_model.register_forward_hook(lambda m, i, o: calls.append(1))
    texts = [TEXTS[0], TEXTS[2], TEXTS[0], TEXTS[0]]
    first = enc.encode(texts)
    np.testing.assert_array_equal(first[0], first[2])
    n_calls = len(calls)
    again = enc.encode(list(reversed(texts)))
    assert len(calls) == n_calls  # served from the LRU cache
    np.testing.assert_array_equal(again, first[::-1])
    other = enc.encode([TEXTS[0]], prefix="passage: ")
    assert len(calls) > n_calls and not np.allclose(other[0], first[0])


def test_models_encoder_cache_is_bounded(tiny_encoder_dir: Path, settings: Settings):
    enc = _load_encoder(tiny_encoder_dir, settings, precision="fp32", cache_size=3)
    enc.encode(TEXTS)
    assert len(enc._cache) == 3


def test_models_encoder_reads_a_long_text_whole_in_windows(
    tiny_encoder_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    enc = _load_encoder(tiny_encoder_dir, settings, precision="fp32", max_length=16, cache_size=0)
    long_ru = " ".join(CORPUS * 3)
    assert len(enc.tokenizer(long_ru)["input_ids"]) > 4 * 16
    vectors = enc.encode([long_ru, long_ru + " и ещё немного", TEXTS[0]])
    assert float(vectors[0] @ vectors[1]) < 1 - 1e-6  # the end of a long text counts
    np.testing.assert_allclose(vectors[2], enc.encode([TEXTS[0]])[0], atol=1e-6)  # short: as before
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    parts = encode_parts(
        enc, [long_ru, TEXTS[0]], [[(0, 20), (len(long_ru) - 20, len(long_ru))], []]
    )
    np.testing.assert_allclose(parts.messages[0], vectors[0], atol=1e-6)  # same vector both ways
    assert parts.windows[1] is None and parts.windows[0] is not None and len(parts.windows[0]) > 4
    first, last = parts.clauses[0]
    assert float(first @ last) < 0.999 and float(last @ parts.messages[0]) < 0.999  # a tail clause
    monkeypatch.setattr(windows, "MAX_TOKENS", 40)  # past MAX_TOKENS a message is still cut
    cut = enc.encode([long_ru, long_ru + " и ещё немного"])
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)


def test_models_loading_draws_no_progress_bar_and_restores_the_setting(
    tiny_encoder_dir: Path, settings: Settings, capfd: pytest.CaptureFixture[str]
):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    _load_encoder(tiny_encoder_dir, settings, precision="fp32")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # the caller's own choice is left as it was
    hf_logging.disable_progress_bar()
    _load_encoder(tiny_encoder_dir, settings, precision="fp32")
    assert not hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()


def test_models_encoder_missing_values_are_empty_text(tiny_encoder_dir: Path, settings: Settings):
    import pandas as pd

    enc = _load_encoder(tiny_encoder_dir, settings, precision="fp32")
    vectors = enc.encode(["", None, float("nan"), pd.NA])  # type: ignore[list-item]
    np.testing.assert_allclose(vectors, np.repeat(vectors[:1], 4, axis=0), atol=1e-6)


def test_models_encoder_empty_input(tiny_encoder_dir: Path, settings: Settings):
    enc = _load_encoder(tiny_encoder_dir, settings, precision="fp32")
    assert enc.encode([]).shape == (0, 32)


def test_models_encoder_model_is_trainable_fp32(tiny_encoder_dir: Path, settings: Settings):
    enc = _load_encoder(tiny_encoder_dir, settings, precision="bf16")
    model = enc.model
    assert all(p.requires_grad and p.dtype == torch.float32 for p in model.parameters())
    assert model is not enc.inference_model  # the bf16 inference copy is not trained
    assert enc.tokenizer("Курьер опоздал")["input_ids"][0] == enc.tokenizer.cls_token_id


def test_models_bf16_encoder_is_bf16_whole_without_autocast(
    tiny_encoder_dir: Path, settings: Settings
):
    import contextlib

    from cx_text.models.inference import inference_context

    enc = _load_encoder(tiny_encoder_dir, settings, precision="bf16", cache_size=0)
    assert {p.dtype for p in enc.inference_model.parameters()} == {torch.bfloat16}
    assert isinstance(inference_context(enc.inference_model, "bf16"), contextlib.nullcontext)
    fp32 = _load_encoder(tiny_encoder_dir, settings, precision="fp32", cache_size=0)
    autocast = inference_context(fp32.inference_model, "bf16")  # an fp32 model asked for bf16
    assert isinstance(autocast, torch.autocast)
    assert isinstance(inference_context(fp32.inference_model, "fp32"), contextlib.nullcontext)
    bf16, exact = enc.encode(TEXTS), fp32.encode(TEXTS)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert (bf16 * exact).sum(axis=1).min() > 0.999


def test_models_auto_precision_follows_the_cpu(
    tiny_encoder_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from cx_text.models import encoder, inference

    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert inference.auto_prefers_bf16() and inference.cpu_has_fast_bf16()
    enc = _load_encoder(tiny_encoder_dir, settings)  # precision auto
    assert enc.precision == "bf16" and enc.inference_model is not None
    assert not (settings.cache_dir / "onnx").exists()  # no int8 build made or needed
    assert encoder.prepare_fast_path(settings.with_(encoder=str(tiny_encoder_dir))) is None
    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert not inference.auto_prefers_bf16() and inference.cpu_has_fast_bf16()
    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset({"avx2"}))
    assert check_precision("auto") == "fp32"


@pytest.mark.parametrize(
    "flags, auto_int8",
    [({"avx2"}, False), ({"avx2", "avx512_vnni"}, True), ({"avx2", "avx_vnni"}, True)],
)
def test_models_auto_skips_the_int8_build_on_cpus_without_vnni(
    tiny_encoder_dir: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    flags: set[str],
    auto_int8: bool,
):
    """Without VNNI an int8 build needs 7-bit weights, which moved real figures: ``auto`` runs
    torch fp32 there and builds nothing; ``onnx-int8`` by name still builds and uses it."""
    import platform

    from cx_text.models import inference

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset(flags))
    assert inference.auto_prefers_torch() is not auto_int8
    enc = _load_encoder(tiny_encoder_dir, settings)  # precision auto
    assert enc.precision == ("onnx-int8" if auto_int8 else "fp32")
    assert (settings.cache_dir / "onnx").exists() is auto_int8
    named = _load_encoder(tiny_encoder_dir, settings, precision="onnx-int8")
    assert named.precision == "onnx-int8"
    assert named.info.details["onnx_weight_bits"] == (8 if auto_int8 else 7)


# --------------------------------------------------------------------------- sentiment
LABEL_MAP_YAML = "labels:\n  NEG: negative\n  NEU: neutral\n  POS: positive\n"


def test_models_sentiment_local_dir_with_label_map(
    tiny_classifier_dir: Path, settings: Settings, tmp_path: Path
):
    from cx_text.models.hf import HFSentimentModel

    label_map = tmp_path / "labels.yaml"
    label_map.write_text(LABEL_MAP_YAML, encoding="utf-8")
    model = HFSentimentModel.load(tiny_classifier_dir, label_map, settings, precision="fp32")
    probs = model.predict_proba(TEXTS)
    assert probs.shape == (len(TEXTS), 3) and model.labels == SENTIMENTS
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    enc = model.tokenizer(TEXTS[:1], return_tensors="pt")
    with torch.inference_mode():
        raw = torch.softmax(model.model(**enc).logits, -1)[0].numpy()
    np.testing.assert_allclose(probs[0], raw[[0, 2, 1]], atol=1e-5)  # NEG, NEU, POS
    assert model.predict(TEXTS) == [SENTIMENTS[i] for i in probs.argmax(axis=1)]


def test_models_sentiment_long_text_is_read_whole_in_windows(
    tiny_classifier_dir: Path, settings: Settings
):
    from cx_text.models.hf import HFSentimentModel
    from cx_text.models.windows import cut

    mapping = {"NEG": "negative", "NEU": "neutral", "POS": "positive"}
    model = HFSentimentModel.load(tiny_classifier_dir, mapping, settings, precision="fp32")
    model.max_length = 16
    head = "курьер опоздал " * 6
    long_a, long_b = head + "всё отлично спасибо " * 4, head + "ужасно грубый оператор " * 4
    short = TEXTS[0][:20]
    probs = model.predict_proba([long_a, short, long_b])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # a long text's probabilities are the mean of its windows', read as texts of their own
    ids = model.tokenizer([long_a])["input_ids"][0]
    pieces = cut(ids, 1, 16).pieces
    assert len(pieces) >= 3 and all(len(p) == 16 for p in pieces)
    with torch.inference_mode():
        each = torch.softmax(model.model(input_ids=torch.tensor(pieces)).logits, -1).numpy()
    np.testing.assert_allclose(probs[0], each.mean(axis=0)[[0, 2, 1]], atol=1e-5)
    # every window is read, the last one ends where the text ends; a short text is one row
    assert pieces[-1][-2:] == ids[-2:] and pieces[0][:1] == ids[:1]
    rows: list[list[int]] = []
    forward = model.model.forward

    def spy(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> object:
        rows.extend(r[m.bool()].tolist() for r, m in zip(input_ids, attention_mask, strict=True))
        return forward(input_ids=input_ids, attention_mask=attention_mask)

    model.model.forward = spy
    model.predict_proba([long_a, short, long_b])
    windows_b = cut(model.tokenizer([long_b])["input_ids"][0], 1, 16).pieces
    expected = [*pieces, model.tokenizer([short])["input_ids"][0], *windows_b]
    assert sorted(map(tuple, rows)) == sorted(map(tuple, expected))
    np.testing.assert_allclose(probs[1], model.predict_proba([short])[0], atol=1e-6)


def test_models_sentiment_ignored_label_is_renormalised(
    tiny_classifier_dir: Path, settings: Settings
):
    from cx_text.models.hf import HFSentimentModel

    mapping = {"NEG": "ignore", "NEU": "neutral", "POS": "positive"}
    model = HFSentimentModel.load(tiny_classifier_dir, mapping, settings, precision="fp32")
    probs = model.predict_proba(TEXTS)
    assert np.all(probs[:, 0] == 0.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_models_sentiment_many_labels_sum_into_ours(
    tiny_classifier_dir: Path, settings: Settings, tmp_path: Path
):
    from cx_text.models.hf import HFSentimentModel

    label_map = tmp_path / "labels.json"
    label_map.write_text(json.dumps({"NEG": "negative", "NEU": "negative", "POS": "positive"}))
    model = HFSentimentModel.load(tiny_classifier_dir, label_map, settings, precision="fp32")
    probs = model.predict_proba(TEXTS)
    assert np.all(probs[:, 1] == 0.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("NEG: negative\n", "POS, NEU"),  # the labels to add
        ("NEG: negative\nNEU: meh\nPOS: positive\n", "meh"),
        ("- just\n- a list\n", "mapping"),
        ("NEG: [negative\n", "labels.yaml"),
    ],
)
def test_models_sentiment_bad_label_map(
    tiny_classifier_dir: Path, settings: Settings, tmp_path: Path, content: str, message: str
):
    from cx_text.models.hf import HFSentimentModel

    label_map = tmp_path / "labels.yaml"
    label_map.write_text(content, encoding="utf-8")
    with raises_code("CX-E050", message):
        HFSentimentModel.load(tiny_classifier_dir, label_map, settings)


def test_models_sentiment_needs_label_map(tiny_classifier_dir: Path, settings: Settings):
    from cx_text.models.hf import HFSentimentModel

    with raises_code("CX-E050", "--label-map"):
        HFSentimentModel.load(tiny_classifier_dir, None, settings)


# --------------------------------------------------------------------------- resolution errors
def test_models_missing_dir(settings: Settings, tmp_path: Path):
    from cx_text.models.hf import resolve

    with raises_code("CX-E050", "no-such-model"):
        resolve(str(tmp_path / "no-such-model"), settings)


def test_models_dir_without_safetensors(settings: Settings, tmp_path: Path, tiny_encoder_dir: Path):
    from cx_text.models.hf import resolve

    bad = tmp_path / "pickled"
    bad.mkdir()
    (bad / "config.json").write_text((tiny_encoder_dir / "config.json").read_text())
    (bad / "pytorch_model.bin").write_bytes(b"not unpickled")
    with raises_code("CX-E050", "safetensors"):
        resolve(str(bad), settings)
    (bad / "config.json").unlink()
    with raises_code("CX-E050", "config.json"):
        resolve(str(bad), settings)


@pytest.mark.parametrize(
    "hub_id",
    [
        "intfloat/multilingual-e5-small",
        "blanchefort/rubert-base-cased-sentiment",
        "bert-base-cased",
    ],
)
def test_models_hub_id_refused_without_network(
    settings: Settings, hub_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from cx_text.models.encoder import Encoder

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("cx_text tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty local HF cache
    start = time.perf_counter()
    with raises_code("CX-E050", "--allow-network"):
        Encoder.load(settings.with_(encoder=hub_id))
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------------- helpers
@pytest.mark.parametrize(
    ("lengths", "batch_size", "budget"),
    [
        ([5, 60, 7, 7, 250, 3, 12], 3, 8192),
        ([256] * 10 + [4] * 10, 64, 1024),
        ([1], 8, 10),
    ],
)
def test_models_sorted_batches_cover_each_index_once(
    lengths: list[int], batch_size: int, budget: int
):
    batches = list(sorted_batches(lengths, batch_size, budget))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= batch_size
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= budget
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)


def test_models_precision_names():
    assert check_precision("auto") in {"bf16", "fp32"}
    assert check_precision("fp32") == "fp32"
    for gone in ("fp8", "int8"):  # torch per-tensor int8 was dropped for the verified onnx-int8
        with raises_code("CX-E010", gone):
            check_precision(gone)
