"""Distilling a student from a tiny 4-layer teacher: seeded and reproducible to the byte, the
student ends closer to its teacher than the plain layer cut it starts from; the batches, the
texts; ``cx-text train --distil`` pins a student that ``models prepare`` builds and the encoder
runs."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cx_text.training.distil import DistilRecipe, batches, distil, distil_texts
from tests.tiny_models import CORPUS, TEXTS, save_tiny_bert

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

RECIPE = DistilRecipe(
    teacher="tiny",
    layers=(1, 3),
    lora_r=4,
    lora_alpha=8,
    batch=4,
    max_len=32,
    lr=1e-2,
    passes=4,
    warmup=0.1,
)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 256 positions: the encoder embeds up to 256 tokens
    out = tmp_path_factory.mktemp("tiny-teacher")
    # initializer_range 0.2: every layer moves the states, so a cut is far from the teacher
    return save_tiny_bert(
        out, num_hidden_layers=4, max_position_embeddings=256, initializer_range=0.2
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _last_states(model_dir: Path) -> np.ndarray:
    model = transformers.BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    enc = transformers.AutoTokenizer.from_pretrained(model_dir)(
        TEXTS[:4] + CORPUS, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        states = model(**enc).last_hidden_state.numpy()
    return states[enc["attention_mask"].numpy().astype(bool)]


def test_distil_is_seeded_and_brings_the_student_to_its_teacher(teacher_dir: Path, tmp_path: Path):
    from cx_text.models.adapters import merge_lora

    texts = CORPUS * 4
    facts = distil(teacher_dir, texts, tmp_path / "a", RECIPE, log=lambda _: None)
    distil(teacher_dir, texts, tmp_path / "b", RECIPE, log=lambda _: None)
    weights = "adapter_model.safetensors"
    assert _sha(tmp_path / "a" / weights) == _sha(tmp_path / "b" / weights)
    assert facts["steps"] == facts["planned_steps"] == 4 * 8 and not facts["stopped_by_budget"]
    assert facts["loss_last"]["last"] < facts["loss_first"]["last"]
    recorded = json.loads((tmp_path / "a" / "distil.json").read_text(encoding="utf-8"))
    assert recorded["recipe"]["layers"] == [1, 3] and recorded["texts"] == len(texts)
    config = json.loads((tmp_path / "a" / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["base_model_name_or_path"] == "tiny"

    merge_lora(teacher_dir, tmp_path / "a", tmp_path / "student", layers=[1, 3])
    zero = tmp_path / "zero"  # the cut it started from: the same adapter with B = 0
    zero.mkdir()
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(tmp_path / "a" / weights))
    save_file({k: v * 0 if "lora_B" in k else v for k, v in tensors.items()}, str(zero / weights))
    (zero / "adapter_config.json").write_bytes(
        (tmp_path / "a" / "adapter_config.json").read_bytes()
    )
    merge_lora(teacher_dir, zero, tmp_path / "cut", layers=[1, 3])
    want = _last_states(teacher_dir)
    distilled = float(np.mean((_last_states(tmp_path / "student") - want) ** 2))
    cut = float(np.mean((_last_states(tmp_path / "cut") - want) ** 2))
    assert distilled < 0.5 * cut


def test_distil_batches_read_every_text_once_per_pass():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6, 1]
    recipe = DistilRecipe(batch=4, passes=3)
    plan = batches(lengths, recipe)
    assert all(1 <= len(b) <= 4 for b in plan)
    flat = [i for b in plan for i in b]
    assert sorted(flat) == sorted(list(range(len(lengths))) * 3)
    assert plan == batches(lengths, recipe)  # seeded
    assert plan != batches(lengths, DistilRecipe(batch=4, passes=3, seed=14))


def test_distil_texts_are_train_texts_capped_per_source():
    data = pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(12)] + ["  "],
            "split": ["train"] * 8 + ["dev", "test", "train", "train", "train"],
            "origin": ["corpus"] * 5 + ["mams"] * 3 + ["corpus"] * 2 + ["cfpb"] * 3,
        }
    )
    texts = distil_texts(data, DistilRecipe(caps={"corpus": 3, "mams": 10}))
    assert len([t for t in texts if t in {f"t{i}" for i in range(5)}]) == 3
    assert {"t5", "t6", "t7", "t10", "t11"} <= set(texts)
    assert not {"t8", "t9", "  "} & set(texts)


def _corpus(tmp_path: Path) -> Path:
    rows = [
        {"id": f"t-{i}", "lang": "en", "channel": "review", "text": f"{text} ({i})"}
        | {"sentiment": "negative", "topics": [], "aspects": {}, "tags": []}
        for i, text in enumerate(CORPUS * 6)
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    return path


def test_distil_cli_pins_a_student_the_encoder_runs(
    teacher_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from cx_text.cli.main import cli
    from cx_text.core.config import Settings
    from cx_text.models.encoder import Encoder
    from cx_text.models.registry import load_registry
    from cx_text.training import distil as distil_module

    recipe = functools.partial(
        DistilRecipe, teacher=str(teacher_dir), layers=(0, 3), lora_r=4, batch=8, max_len=32
    )
    monkeypatch.setattr(distil_module, "DistilRecipe", recipe)
    monkeypatch.setenv("CX_TEXT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CX_TEXT_PRECISION", "fp32")
    monkeypatch.delenv("CX_TEXT_SHARED_DATA", raising=False)
    out = tmp_path / "models"
    args = ["train", "--distil", "--out", str(out), "--data", str(_corpus(tmp_path))]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "registry entry [encoder.e5-small-cx6]" in result.output
    assert "no --shared-data" in result.output  # the corpus alone, said so
    entry = load_registry(out)["encoder"]["e5-small-cx6"]
    assert entry["layers"] == [0, 3] and entry["base"] == str(teacher_dir)
    assert not (out / "heads").exists()  # the student reads its teacher's heads
    settings = Settings.from_env(models_dir=out, encoder="e5-small-cx6")
    encoder = Encoder.load(settings)
    assert encoder.info.details["layers"] == [0, 3]
    vectors = encoder.encode(TEXTS[:4])
    assert vectors.shape == (4, 32) and np.isfinite(vectors).all()


def test_distil_cli_refuses_distil_with_finetune(tmp_path: Path):
    from cx_text.cli.main import cli

    args = ["train", "--distil", "--finetune", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "pick one" in result.output
    assert not any(tmp_path.iterdir())
