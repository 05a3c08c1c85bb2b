"""A BERT encoder's inference forward pass in plain torch, and its tokenizer without transformers.

Why: importing transformers costs ~2.6 s of every start-up and ``from_pretrained`` with
``AutoTokenizer`` another ~0.8 s — more than a third of a small ``cx-text tag`` run (session 11,
docs/MODELS.md "Speed and precision"). The encoders cx_text ships (``e5-small``, ``e5-small-cx``)
are BERT models in the Hugging Face layout, so this module reads the same ``config.json``,
``model.safetensors`` and ``tokenizer.json`` and runs the same computation as
``transformers.BertModel`` in eval mode: word + position + token-type-0 embeddings, LayerNorm;
per layer scaled-dot-product self-attention over the unpadded keys, dense + residual + LayerNorm,
GELU (erf) feed-forward, dense + residual + LayerNorm. Parameter names are transformers', so the
state dict loads strictly. Tests compare it with ``BertModel`` and the tokenizer with
``AutoTokenizer`` (``tests/models/test_bert_lite.py``).

Only inference: fine-tuning and the ONNX export keep transformers' model. A directory this module
does not fully understand (another architecture, a decoder, relative positions, another
activation, a slow tokenizer) returns None, and the caller loads it through transformers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

_PLAIN = {
    "model_type": ("bert",),
    "hidden_act": ("gelu",),
    "position_embedding_type": ("absolute", None),
    "is_decoder": (False, None),
    "add_cross_attention": (False, None),
}


def read_config(path: Path) -> dict[str, Any] | None:
    """``config.json`` of a plain BERT encoder, or None when it is anything else."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    if any(config.get(key) not in allowed for key, allowed in _PLAIN.items()):
        return None
    if int(config.get("hidden_size", 0)) % max(int(config.get("num_attention_heads", 1)), 1):
        return None
    return config


class _Embeddings(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x + self.position_embeddings(positions))


class _SelfAttention(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        shape = (batch, length, self.heads, width // self.heads)
        q, k, v = (m(x).view(shape).transpose(1, 2) for m in (self.query, self.key, self.value))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return out.transpose(1, 2).reshape(batch, length, width)


class _DenseNorm(nn.Module):
    def __init__(self, width_in: int, width: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(width_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.self = _SelfAttention(c)  # transformers' parameter names
        self.output = _DenseNorm(c.hidden_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, keep), x)


class _Intermediate(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _DenseNorm(c.intermediate_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, keep)
        return self.output(self.intermediate(x), x)


class _Stack(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class LiteBert(nn.Module):
    """``transformers.BertModel`` (no pooler) for inference: ``model(input_ids=,
    attention_mask=).last_hidden_state``; ``config.hidden_size`` as transformers has it."""

    lite = True

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = SimpleNamespace(
            **{"type_vocab_size": 2, "layer_norm_eps": 1e-12, **config},
        )
        self.embeddings = _Embeddings(self.config)
        self.encoder = _Stack(self.config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        keep = attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, keys): padding not attended
        x = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return SimpleNamespace(last_hidden_state=x)

    @classmethod
    def from_dir(cls, path: Path) -> LiteBert | None:
        """The model in ``path`` (fp32, eval mode), or None when it is not a plain BERT encoder
        whose weights load strictly from ``model.safetensors``."""
        from safetensors.torch import load_file

        config = read_config(path)
        weights = path / "model.safetensors"
        if config is None or not weights.is_file():
            return None
        with _no_init():  # no random init of weights about to be replaced (~0.4 s)
            model = cls(config)
        state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("pooler.")}
        state = {k.removeprefix("bert."): v for k, v in state.items()}
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError:
            return None
        return model.float().eval()


@contextlib.contextmanager
def _no_init() -> Iterator[None]:
    """``nn.init``'s fillers as no-ops while modules are built (as transformers'
    ``no_init_weights``); a ``meta`` device would do it too but imports ~1.5 s of torch."""
    names = ("normal_", "uniform_", "kaiming_uniform_", "ones_", "zeros_", "constant_")
    saved = {name: getattr(nn.init, name) for name in names}
    try:
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


class LiteTokenizer:
    """The ``tokenizer.json`` of a model dir behind the slice of the transformers tokenizer API
    the encoder uses: ``tok(texts, truncation=True, max_length=N, return_offsets_mapping=…)`` →
    ``{"input_ids": [...], "offset_mapping": [...]}``, ``pad_token_id``, ``cls_token_id``,
    ``is_fast``, ``num_special_tokens_to_add``."""

    is_fast = True

    def __init__(self, backend: Any, special: dict[str, Any]) -> None:
        self._backend = backend
        backend.no_padding()
        backend.no_truncation()
        self._limit: int | None = None
        ids = {name: backend.token_to_id(_content(token)) for name, token in special.items()}
        self.pad_token_id = ids.get("pad_token")
        self.cls_token_id = ids.get("cls_token")
        self.model_max_length = int(special.get("model_max_length") or 512)

    @classmethod
    def from_dir(cls, path: Path) -> LiteTokenizer | None:
        """``path``'s fast tokenizer, or None without a ``tokenizer.json`` (a slow one)."""
        from tokenizers import Tokenizer

        if not (path / "tokenizer.json").is_file():
            return None
        try:
            special = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
            backend = Tokenizer.from_file(str(path / "tokenizer.json"))
        except Exception:  # OSError, bad JSON, or tokenizers' own parse error: use transformers
            return None
        return cls(backend, special if isinstance(special, dict) else {})

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        processor = self._backend.post_processor
        return int(processor.num_special_tokens_to_add(pair)) if processor is not None else 0

    def __call__(
        self,
        texts: str | list[str],
        *,
        truncation: bool = False,
        max_length: int | None = None,
        return_offsets_mapping: bool = False,
        add_special_tokens: bool = True,
    ) -> dict[str, Any]:
        one = isinstance(texts, str)
        self._truncate(max_length if truncation else None)
        batch = [texts] if one else list(texts)
        encoded = self._backend.encode_batch(batch, add_special_tokens=add_special_tokens)
        out: dict[str, Any] = {"input_ids": [e.ids for e in encoded]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encoded]
        return {k: v[0] for k, v in out.items()} if one else out

    def _truncate(self, limit: int | None) -> None:
        if limit == self._limit:
            return
        if limit is None:
            self._backend.no_truncation()
        else:
            self._backend.enable_truncation(max_length=limit)
        self._limit = limit


def _content(token: Any) -> str:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken dict."""
    if isinstance(token, dict):
        return str(token.get("content", ""))
    return token if isinstance(token, str) else ""


def load_lite(path: Path) -> tuple[LiteBert, LiteTokenizer] | None:
    """Model and tokenizer of a plain BERT dir without transformers, or None (use transformers)."""
    tokenizer = LiteTokenizer.from_dir(path)
    if tokenizer is None:
        return None
    model = LiteBert.from_dir(path)
    return None if model is None else (model, tokenizer)
