"""Tiny BERT models built locally for the transformers path (models, ONNX, adapters, fine-tuning).

A 2-layer, 32-wide BERT with a WordPiece tokenizer trained on :data:`CORPUS` — saved in seconds,
never downloaded. Callers import torch/transformers with ``pytest.importorskip`` first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CORPUS = [
    "Доставка опоздала на три дня, курьер был груб.",
    "Оператор быстро решил мою проблему, спасибо!",
    "Приложение вылетает при оплате картой.",
    "Цены выросли, а качество упало.",
    "The courier was late again and the box was damaged.",
    "Great support, they refunded me within an hour.",
    "The app crashes every time I open my cart.",
    "Prices went up but the quality went down.",
]
TEXTS = [
    "Курьер опоздал на два часа",
    "Спасибо за быстрый возврат денег!",
    "The app is slow and keeps logging me out",
    "Friendly staff, great experience",
    "ok",
    "",
]


def tiny_tokenizer() -> Any:
    """A fast WordPiece tokenizer (vocabulary 300) trained on :data:`CORPUS`."""
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        CORPUS * 3, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )


def tiny_config(**kwargs: Any) -> Any:
    """The tiny ``BertConfig`` (``kwargs`` override or add fields, e.g. ``num_labels``)."""
    import transformers

    fields: dict[str, Any] = {
        "vocab_size": 300,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
        "pad_token_id": 0,
        **kwargs,
    }
    return transformers.BertConfig(**fields)


def save_tiny_bert(out: Path, *, seed: int = 0, tokenizer: Any = None, **config: Any) -> Path:
    """A seeded tiny ``BertModel`` (no pooler) and its tokenizer saved in ``out``."""
    import torch
    import transformers

    torch.manual_seed(seed)
    transformers.BertModel(tiny_config(**config), add_pooling_layer=False).save_pretrained(out)
    (tokenizer or tiny_tokenizer()).save_pretrained(out)
    return out


def save_tiny_classifier(out: Path, labels: list[str], *, seed: int = 1) -> Path:
    """A seeded tiny ``BertForSequenceClassification`` with ``labels`` and its tokenizer in
    ``out``."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = tiny_config(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    transformers.BertForSequenceClassification(config).save_pretrained(out)
    tiny_tokenizer().save_pretrained(out)
    return out
