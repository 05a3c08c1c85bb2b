"""The lite BERT forward pass and tokenizer against transformers' (tiny models built here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cx_text.core.config import Settings
from cx_text.models.inference import pad_batch
from tests.tiny_models import CORPUS, TEXTS, save_tiny_bert

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from cx_text.models.bert_lite import LiteBert, LiteTokenizer, load_lite  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-lite"), seed=3)


def _reference(path: Path):
    model = transformers.AutoModel.from_pretrained(path, add_pooling_layer=False).eval()
    return model, transformers.AutoTokenizer.from_pretrained(path)


def test_bert_lite_tokenizer_matches_transformers(tiny_dir: Path):
    lite, (_, ref) = LiteTokenizer.from_dir(tiny_dir), _reference(tiny_dir)
    assert lite is not None
    texts = [*TEXTS, " ".join(CORPUS * 4)]
    for limit in (8, 64):
        ours = lite(texts, truncation=True, max_length=limit, return_offsets_mapping=True)
        theirs = ref(texts, truncation=True, max_length=limit, return_offsets_mapping=True)
        assert ours["input_ids"] == theirs["input_ids"]
        assert [list(map(tuple, o)) for o in ours["offset_mapping"]] == [
            list(map(tuple, o)) for o in theirs["offset_mapping"]
        ]
    assert lite(texts)["input_ids"] == ref(texts)["input_ids"]  # no truncation after a limit
    assert lite(TEXTS[0])["input_ids"] == ref(TEXTS[0])["input_ids"]  # one text, not a list
    assert (lite.pad_token_id, lite.cls_token_id) == (ref.pad_token_id, ref.cls_token_id)
    assert lite.num_special_tokens_to_add(pair=False) == ref.num_special_tokens_to_add(pair=False)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_bert_lite_forward_matches_bert_model(tiny_dir: Path, dtype: str):
    loaded = load_lite(tiny_dir)
    assert loaded is not None
    lite, tokenizer = loaded
    ref, _ = _reference(tiny_dir)
    kind = getattr(torch, dtype)
    lite, ref = lite.to(kind), ref.to(kind)
    ids, mask = pad_batch(tokenizer(TEXTS + CORPUS, truncation=True, max_length=64)["input_ids"], 0)
    with torch.inference_mode():
        ours = lite(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        theirs = ref(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    real = mask.bool()
    np.testing.assert_allclose(ours[real].numpy(), theirs[real].numpy(), atol=1e-5)
    assert lite.config.hidden_size == ref.config.hidden_size


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("model_type", "roberta"),
        ("hidden_act", "relu"),
        ("position_embedding_type", "relative_key"),
    ],
)
def test_bert_lite_leaves_other_models_to_transformers(
    tiny_dir: Path, tmp_path: Path, change: str, value: str
):
    other = tmp_path / "other"
    shutil.copytree(tiny_dir, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, change: value}))
    assert LiteBert.from_dir(other) is None and load_lite(other) is None
    (tmp_path / "slow").mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dir / name, tmp_path / "slow" / name)
    assert LiteTokenizer.from_dir(tmp_path / "slow") is None  # no tokenizer.json


def test_bert_lite_encoder_runs_without_importing_transformers(tiny_dir: Path, tmp_path: Path):
    """The claim that saves ~3 s of start-up, checked in a fresh interpreter; fine-tuning still
    gets transformers' model."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from cx_text.core.config import Settings\n"
        "from cx_text.models.encoder import Encoder\n"
        f"s = Settings(cache_dir=Path({str(tmp_path)!r}), num_threads=1, batch_size=4)\n"
        f"enc = Encoder.load(s.with_(encoder={str(tiny_dir)!r}), precision='fp32')\n"
        "v = enc.encode(['Курьер опоздал', 'ok'])\n"
        "assert v.shape[0] == 2 and getattr(enc.inference_model, 'lite', False)\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
        "assert type(enc.model).__name__ == 'BertModel'\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().endswith("ok")


def test_bert_lite_encoder_vectors_match_the_transformers_path(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from cx_text.models import bert_lite, encoder

    settings = Settings(cache_dir=tmp_path, num_threads=1, batch_size=4).with_(
        encoder=str(tiny_dir)
    )
    lite = encoder.Encoder.load(settings, precision="fp32").encode(TEXTS)
    monkeypatch.setattr(bert_lite, "load_lite", lambda path: None)  # transformers' path
    monkeypatch.setattr(bert_lite.LiteTokenizer, "from_dir", classmethod(lambda cls, p: None))
    ref_encoder = encoder.Encoder.load(settings, precision="fp32")
    assert not getattr(ref_encoder.inference_model, "lite", False)
    np.testing.assert_allclose(lite, ref_encoder.encode(TEXTS), atol=1e-6)
