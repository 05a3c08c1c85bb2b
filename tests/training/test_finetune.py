"""LoRA fine-tune of a tiny BERT: seeded, reproducible to the byte, changes the embeddings;
the source-balanced sample of rows and the joint targets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cx_text.training.finetune import FinetuneRecipe, finetune, finetune_rows
from cx_text.training.multitask import class_weights, targets
from tests.tiny_models import CORPUS, TEXTS, save_tiny_bert

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

TOPICS = ("delivery", "staff", "pricing", "usability")
SENTS = [
    "negative",
    "positive",
    "negative",
    "negative",
    "negative",
    "positive",
    "negative",
    "neutral",
]
GOLD_TOPICS = [
    ["delivery", "staff"],
    ["staff"],
    ["usability"],
    ["pricing"],
    ["delivery"],
    ["staff"],
    ["usability"],
    ["pricing"],
]


def _rows(n_copies: int = 3) -> pd.DataFrame:
    n = len(CORPUS) * n_copies
    return pd.DataFrame(
        {
            "text": CORPUS * n_copies,
            "sentiment": SENTS * n_copies,
            "topics": GOLD_TOPICS * n_copies,
            "aspects": [
                {t: s for t in ts} if s != "neutral" else {}
                for ts, s in zip(GOLD_TOPICS, SENTS, strict=True)
            ]
            * n_copies,
            "origin": (["corpus", "mams"] * n)[:n],
            "split": "train",
            "topic_scope": [TOPICS, ("staff", "pricing")] * (n // 2),
            "counterfactual": False,
        }
    )


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-base"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


RECIPE = FinetuneRecipe(
    base="tiny", steps=4, batch=4, lora_r=4, lora_alpha=8, lr=5e-3, head_lr=1e-2, max_len=32
)


def test_finetune_is_seeded_and_changes_embeddings(base_dir: Path, tmp_path: Path):
    from cx_text.models.adapters import merge_lora

    rows = finetune_rows(_rows(), RECIPE)
    first = finetune(base_dir, rows, TOPICS, tmp_path / "a", RECIPE, log=lambda _: None)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "adapter_model.safetensors.xz").write_bytes(b"an earlier run's weights")
    finetune(base_dir, rows, TOPICS, tmp_path / "b", RECIPE, log=lambda _: None)
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        assert _sha(tmp_path / "a" / name) == _sha(tmp_path / "b" / name), name
    assert not (tmp_path / "b" / "adapter_model.safetensors.xz").exists()  # raw form only
    other = finetune(
        base_dir,
        rows,
        TOPICS,
        tmp_path / "c",
        FinetuneRecipe(**{**RECIPE.as_dict(), "seed": 7}),
        log=lambda _: None,
    )
    assert _sha(other.adapter_dir / "adapter_model.safetensors") != _sha(
        first.adapter_dir / "adapter_model.safetensors"
    )
    assert first.facts["steps"] == 4 and first.facts["adapter_bytes"] > 0
    assert not (first.adapter_dir / "README.md").exists()
    merge_lora(base_dir, first.adapter_dir, tmp_path / "merged")
    tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir)
    enc = tokenizer(TEXTS[:4], padding=True, return_tensors="pt")
    hidden = []
    for model_dir in (base_dir, tmp_path / "merged"):
        model = transformers.BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
        with torch.no_grad():
            hidden.append(model(**enc).last_hidden_state.numpy())
    assert np.abs(hidden[0] - hidden[1]).max() > 1e-4


def test_finetune_freezes_word_embeddings(base_dir: Path):
    from cx_text.models.loading import load_fp32
    from cx_text.training.finetune import lora_model

    base, _ = load_fp32(base_dir)
    model = lora_model(base, RECIPE)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("attention.self.query" in n for n in trainable)
    assert any("intermediate.dense" in n for n in trainable)


def test_finetune_rows_are_capped_seeded_and_leave_families_out():
    data = pd.concat(
        [_rows(4).assign(origin=o) for o in ("corpus", "goemotions", "ru_goemotions", "cebab")],
        ignore_index=True,
    )
    recipe = FinetuneRecipe(caps={"corpus": 10, "cebab": 5}, exclude=("goemotions",))
    rows = finetune_rows(data, recipe)
    counts = rows["origin"].value_counts().to_dict()
    assert counts == {"corpus": 10, "cebab": 5}  # ru_goemotions left out with its family
    again = finetune_rows(data, recipe)
    assert rows["text"].tolist() == again["text"].tolist()


def test_finetune_targets_mask_unlabeled_topics():
    y = targets(_rows(1), TOPICS)
    assert y["topic_m"][0].tolist() == [1, 1, 1, 1]  # corpus labels every topic
    assert y["topic_m"][1].tolist() == [0, 1, 1, 0]  # this source labels staff, pricing only
    assert y["asp"][0].tolist()[:2] == [0, 0]  # delivery, staff negative
    weights = class_weights(y["sent"])
    assert weights.shape == (3,) and weights.max() <= 5.0


@pytest.mark.slow
@pytest.mark.parametrize("shipped", [False, True], ids=["other-dir", "shipped-dir"])
def test_finetune_run_pins_adapter_and_retrains_heads(
    base_dir: Path, tmp_path: Path, shipped: bool, monkeypatch: pytest.MonkeyPatch
):
    """`cx-text train --finetune` end to end on a tiny base and a slice of the corpus: a models
    dir other than the shipped one keeps peft's raw weights; the shipped one gets them xz-packed
    (the form the package ships), pinned by the same sha256 of the decompressed bytes, and the
    heads are fitted through the .xz."""
    from cx_text.classify import load_heads
    from cx_text.core.config import FINETUNED_ENCODER, Settings
    from cx_text.models.adapters import unxz
    from cx_text.models.registry import load_registry
    from cx_text.training.run import run_finetune

    corpus = Path(__file__).resolve().parents[2] / "data" / "corpus"
    sample = tmp_path / "corpus.jsonl"
    lines = [
        line
        for f in sorted(corpus.glob("*.jsonl"))
        for line in f.read_text(encoding="utf-8").splitlines()[:60]
        if line.strip()
    ]
    sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
    long_base = tmp_path / "base"  # the encoder embeds up to 256 tokens
    save_tiny_bert(
        long_base,
        tokenizer=transformers.AutoTokenizer.from_pretrained(base_dir),
        max_position_embeddings=256,
    )
    settings = Settings(
        cache_dir=tmp_path / "cache",
        models_dir=tmp_path / "unused",
        num_threads=1,
        batch_size=16,
        precision="fp32",
    )
    recipe = FinetuneRecipe(
        base=str(long_base), steps=2, batch=8, lora_r=4, lora_alpha=8, max_len=32
    )
    out = tmp_path / "models"
    if shipped:
        monkeypatch.setattr("cx_text.core.config.SHIPPED_MODELS_DIR", out)
    report = run_finetune(settings, [sample], None, out, recipe, log=lambda _: None)
    entry = load_registry(out)["encoder"][FINETUNED_ENCODER]
    assert entry["base"] == str(long_base) and set(entry["sha256"]) == {
        "adapter_model.safetensors",
        "adapter_config.json",
    }
    raw, packed = (report.adapter_dir / f"adapter_model.safetensors{x}" for x in ("", ".xz"))
    assert raw.is_file() != shipped and packed.is_file() == shipped
    weights = unxz(packed) if shipped else raw.read_bytes()
    assert entry["sha256"]["adapter_model.safetensors"] == hashlib.sha256(weights).hexdigest()
    assert ("shipped float16 and packed" in report.render()) == shipped
    if shipped:  # the shipped form: float16 weights, recorded in finetune.json
        from safetensors.numpy import load

        assert {t.dtype.name for t in load(weights).values()} == {"float16"}
        facts = json.loads((report.adapter_dir / "finetune.json").read_text(encoding="utf-8"))
        assert facts["weights_dtype"] == "float16"
    heads = load_heads(out / "heads")
    assert {"sentiment", "topics"} <= set(heads)
    assert heads["sentiment"].meta["encoder"]["name"] == FINETUNED_ENCODER
    assert (
        "e5-small-cx" in report.render() and Settings(models_dir=out).encoder == FINETUNED_ENCODER
    )


def test_finetune_full_mode_trains_all_but_word_embeddings_and_svd_keeps_it(
    base_dir: Path, tmp_path: Path
):
    """The measuring stick for the adapter: a full fine-tune writes a model dir; its rank-r SVD
    adapter at full rank merges back to the same attention/FFN weights."""
    from safetensors.numpy import load_file

    from cx_text.models.adapters import extract_lora, merge_lora

    recipe = FinetuneRecipe(**{**RECIPE.as_dict(), "mode": "full", "lr": 1e-3})
    rows = finetune_rows(_rows(), recipe)
    result = finetune(base_dir, rows, TOPICS, tmp_path / "full", recipe, log=lambda _: None)
    assert result.facts["model_bytes"] > 0 and "full fine-tune" in recipe.summary()
    base, tuned = (load_file(str(d / "model.safetensors")) for d in (base_dir, result.adapter_dir))
    word = "embeddings.word_embeddings.weight"
    assert np.array_equal(base[word], tuned[word])
    query = "encoder.layer.0.attention.self.query.weight"
    assert np.abs(base[query] - tuned[query]).max() > 1e-5
    rank = min(base[query].shape)  # full rank: the SVD loses nothing
    facts = extract_lora(base_dir, result.adapter_dir, tmp_path / "svd", rank, ("query", "dense"))
    assert facts["energy_kept"] == pytest.approx(1.0)
    merge_lora(base_dir, tmp_path / "svd", tmp_path / "merged")
    merged = load_file(str(tmp_path / "merged" / "model.safetensors"))
    np.testing.assert_allclose(merged[query], tuned[query], atol=1e-5)
    key = "encoder.layer.0.attention.self.key.weight"  # not a target: the base's
    assert np.array_equal(merged[key], base[key])
    low = extract_lora(base_dir, result.adapter_dir, tmp_path / "svd1", 1, ("query",))
    assert 0 < low["energy_kept"] < 1


def test_finetune_unknown_mode_is_refused(base_dir: Path):
    from cx_text.models.loading import load_fp32
    from cx_text.training.finetune import trainable_model

    base, _ = load_fp32(base_dir)
    with pytest.raises(ValueError, match="lora or full"):
        trainable_model(base, FinetuneRecipe(mode="half"))


def test_finetune_clause_pool_trains_polarity_on_clause_tokens(base_dir: Path, tmp_path: Path):
    rows = finetune_rows(_rows(), RECIPE)
    clauses = FinetuneRecipe(**{**RECIPE.as_dict(), "aspect_pool": "clauses"})
    with pytest.raises(ValueError, match="clause_spans"):
        finetune(base_dir, rows, TOPICS, tmp_path / "x", clauses, log=lambda _: None)
    # first clause of each two-topic message to its first topic, the rest to the second
    spans = []
    for text, aspects in zip(rows["text"], rows["aspects"], strict=True):
        cut = text.find(",")
        labeled = list(aspects)
        spans.append(
            {labeled[0]: [(0, cut)], labeled[1]: [(cut + 1, len(text))]}
            if len(labeled) == 2 and cut > 0
            else {}
        )
    with_spans = rows.assign(clause_spans=spans)
    pooled = finetune(base_dir, with_spans, TOPICS, tmp_path / "c", clauses, log=lambda _: None)
    plain = finetune(base_dir, with_spans, TOPICS, tmp_path / "m", RECIPE, log=lambda _: None)
    assert pooled.facts["clause_polarity_pairs"] > 0
    assert plain.facts["clause_polarity_pairs"] == 0
    assert "polarity over clauses" in clauses.summary()
    assert _sha(pooled.adapter_dir / "adapter_model.safetensors") != _sha(
        plain.adapter_dir / "adapter_model.safetensors"
    )
    with pytest.raises(ValueError, match="message or clauses"):
        finetune(
            base_dir,
            with_spans,
            TOPICS,
            tmp_path / "y",
            FinetuneRecipe(**{**RECIPE.as_dict(), "aspect_pool": "tokens"}),
            log=lambda _: None,
        )
