"""A distilled student (registry ``layers``): the layer cut, its merge with the student's adapter
against peft's own model, ``models prepare`` of a student of a fine-tuned teacher, and the heads
it may read — on tiny local BERTs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cx_text.core.config import FINETUNED_ENCODER, Settings
from cx_text.models.registry import ModelInfo, write_encoder_entry
from cx_text.models.student import checked_layers, cut_config, keep_layers, reads_heads_of
from tests.error_codes import raises_code
from tests.tiny_models import TEXTS, save_tiny_bert

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

STUDENT = "tiny-student"


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-teacher"), num_hidden_layers=4)


@pytest.mark.parametrize("layers", [[], [2, 1], [1, 1], [0, 4], [-1, 2], "13", [1.0], [True]])
def test_student_bad_layers_are_refused(layers):
    with raises_code("CX-E050", "layers"):
        checked_layers(layers, 4, "registry")


def test_student_keeps_and_renumbers_layers_in_order():
    weights = {
        "embeddings.word_embeddings.weight": 0,
        "encoder.layer.0.attention.self.query.weight": 10,
        "encoder.layer.1.output.dense.bias": 11,
        "encoder.layer.3.attention.self.query.weight": 13,
        "encoder.layer.10.output.dense.bias": 110,
    }
    kept = keep_layers(weights, checked_layers((1, 3, 10), 12, "x"))
    assert kept == {
        "embeddings.word_embeddings.weight": 0,
        "encoder.layer.0.output.dense.bias": 11,
        "encoder.layer.1.attention.self.query.weight": 13,
        "encoder.layer.2.output.dense.bias": 110,
    }
    assert cut_config({"num_hidden_layers": 12, "hidden_size": 8}, [1, 3]) == {
        "num_hidden_layers": 2,
        "hidden_size": 8,
    }


def _student_adapter(teacher_dir: Path, out: Path, layers: list[int]) -> object:
    """A random LoRA adapter of the teacher cut to ``layers`` (peft's model, as distilled)."""
    from peft import LoraConfig, get_peft_model

    model = transformers.BertModel.from_pretrained(teacher_dir, add_pooling_layer=False)
    model.encoder.layer = torch.nn.ModuleList([model.encoder.layer[i] for i in layers])
    model.config.num_hidden_layers = len(layers)
    torch.manual_seed(3)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["query", "dense"], init_lora_weights=False
    )
    student = get_peft_model(model, config)
    student.save_pretrained(str(out))
    return student.eval()


def _hidden(model: object, model_dir: Path) -> np.ndarray:
    enc = transformers.AutoTokenizer.from_pretrained(model_dir)(
        TEXTS[:4], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        return model(**enc).last_hidden_state.numpy()  # type: ignore[operator]


def test_student_merge_matches_peft_student_and_loads_lite(teacher_dir: Path, tmp_path: Path):
    from cx_text.models.adapters import merge_lora
    from cx_text.models.bert_lite import load_lite

    peft_student = _student_adapter(teacher_dir, tmp_path / "adapter", [1, 3])
    facts = merge_lora(teacher_dir, tmp_path / "adapter", tmp_path / "merged", layers=[1, 3])
    assert facts["layers"] == [1, 3]
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2
    merged = transformers.BertModel.from_pretrained(tmp_path / "merged", add_pooling_layer=False)
    want = _hidden(peft_student, teacher_dir)
    np.testing.assert_allclose(_hidden(merged.eval(), tmp_path / "merged"), want, atol=1e-5)
    lite = load_lite(tmp_path / "merged")
    assert lite is not None and len(lite[0].encoder.layer) == 2
    # a cut past the teacher's last layer is refused before anything is written
    with raises_code("CX-E050", "layers"):
        merge_lora(teacher_dir, tmp_path / "adapter", tmp_path / "bad", layers=[1, 4])


def _settings(tmp_path: Path, teacher_dir: Path) -> Settings:
    """A models dir whose fine-tuned encoder is ``teacher_dir`` + a zero adapter, and whose
    student keeps its layers 1 and 3."""
    from peft import LoraConfig, get_peft_model

    from cx_text.models.adapters import adapter_hashes

    models_dir = tmp_path / "models"
    (models_dir / "adapters").mkdir(parents=True)
    (models_dir / "registry.toml").write_text('[encoder.e5-small]\nkind = "encoder"\n')
    base = transformers.BertModel.from_pretrained(teacher_dir, add_pooling_layer=False)
    teacher_adapter = models_dir / "adapters" / FINETUNED_ENCODER
    get_peft_model(base, LoraConfig(r=2, target_modules=["query"])).save_pretrained(
        str(teacher_adapter)
    )
    student_adapter = models_dir / "adapters" / STUDENT
    _student_adapter(teacher_dir, student_adapter, [1, 3])
    for name, base_name, adapter, extra in (
        (FINETUNED_ENCODER, str(teacher_dir), teacher_adapter, {}),
        (STUDENT, FINETUNED_ENCODER, student_adapter, {"layers": [1, 3]}),
    ):
        entry = {"kind": "encoder", "base": base_name, "adapter": f"adapters/{adapter.name}"}
        write_encoder_entry(models_dir, name, {**entry, **extra, "sha256": adapter_hashes(adapter)})
    return Settings(
        cache_dir=tmp_path / "cache", models_dir=models_dir, num_threads=1, precision="fp32"
    )


def test_student_prepare_records_layers_and_teacher_heads(teacher_dir: Path, tmp_path: Path):
    from cx_text.models.cache import prepare_model

    settings = _settings(tmp_path, teacher_dir)
    first = prepare_model(settings, STUDENT)
    teacher = prepare_model(settings, FINETUNED_ENCODER).info
    assert first.built and first.info.details["layers"] == [1, 3]
    assert reads_heads_of(first.info.details) == teacher.checksum
    assert reads_heads_of(teacher.details) == ""
    config = json.loads((Path(first.info.path) / "config.json").read_text())
    assert config["num_hidden_layers"] == 2
    assert not prepare_model(settings, STUDENT).built  # idempotent
    # another cut of the same adapter is another model: rebuilt, not reused
    registry = settings.models_dir / "registry.toml"
    registry.write_text(registry.read_text().replace("[1, 3]", "[0, 3]"))
    again = prepare_model(settings, STUDENT)
    assert again.built and again.info.details["layers"] == [0, 3]


def _heads(checksum: str) -> dict:
    from types import SimpleNamespace

    meta = {"encoder": {"name": FINETUNED_ENCODER, "checksum": checksum}}
    return {"sentiment": SimpleNamespace(meta=meta)}


def test_student_reads_its_teachers_heads_and_no_others():
    from cx_text.classify.tagger import heads_encoder_mismatch

    def encoder(checksum: str, **details: object) -> ModelInfo:
        return ModelInfo(
            name="e",
            kind="encoder",
            source="adapter-merge",
            version="v",
            checksum=checksum,
            details=dict(details),
        )

    assert heads_encoder_mismatch(_heads("sha256:t"), encoder("sha256:t")) is None
    assert (
        heads_encoder_mismatch(_heads("sha256:t"), encoder("sha256:s", heads_of="sha256:t")) is None
    )
    why = heads_encoder_mismatch(_heads("sha256:t"), encoder("sha256:s", heads_of="sha256:x"))
    assert why is not None and "fitted on encoder" in why
    assert heads_encoder_mismatch(_heads("sha256:t"), encoder("sha256:s")) is not None


@pytest.mark.slow
def test_student_shipped_reproduces_its_teacher_and_reads_its_heads():
    """The shipped e5-small-cx6: packed under the 5 MB line, pinned, six layers of e5-small-cx;
    its vectors stay close to the teacher's, and the teacher's heads are its own."""
    from cx_text.classify import load_heads
    from cx_text.classify.tagger import heads_encoder_mismatch
    from cx_text.models.adapters import adapter_hashes, read_weights
    from cx_text.models.encoder import Encoder
    from cx_text.models.registry import encoder_pin
    from tests.models.test_models_e5 import SAMPLE

    settings = Settings.from_env()
    pin = encoder_pin(settings, "e5-small-cx6")
    adapter = settings.models_dir / str(pin["adapter"])
    packed = adapter / "adapter_model.safetensors.xz"
    assert packed.is_file() and packed.stat().st_size < 5_000_000
    assert adapter_hashes(adapter) == pin["sha256"]
    assert pin["base"] == FINETUNED_ENCODER and pin["layers"] == [1, 3, 5, 7, 9, 11]
    from safetensors.numpy import load

    assert {t.dtype for t in load(read_weights(adapter)).values()} == {np.dtype(np.float16)}

    teacher = Encoder.load(settings.with_(encoder=FINETUNED_ENCODER), precision="fp32")
    student = Encoder.load(settings.with_(encoder="e5-small-cx6"), precision="fp32")
    assert student.info.details["layers"] == [1, 3, 5, 7, 9, 11]
    assert reads_heads_of(student.info.details) == teacher.info.checksum
    cosine = (teacher.encode(SAMPLE) * student.encode(SAMPLE)).sum(axis=1)
    assert cosine.mean() > 0.93 and cosine.min() > 0.85, cosine
    heads = load_heads(settings.models_dir / "heads")
    assert heads_encoder_mismatch(heads, student.info) is None


@pytest.mark.parametrize("amx", [False, True])
def test_student_prepare_names_the_student_where_the_teacher_runs_fp32(monkeypatch, amx: bool):
    """`models prepare` on a CPU without VNNI (torch fp32) points at the faster student; on an
    AMX CPU (torch bf16, already fast) it does not."""
    from types import SimpleNamespace

    from click.testing import CliRunner

    from cx_text.cli.main import cli

    info = ModelInfo(
        name=FINETUNED_ENCODER, kind="encoder", source="adapter-merge", version="v", checksum="c"
    )
    result = SimpleNamespace(info=info, built=False, seconds=0.0)
    monkeypatch.setattr("cx_text.models.cache.prepare_model", lambda *a, **k: result)
    monkeypatch.setattr("cx_text.models.encoder.prepare_fast_path", lambda *a, **k: None)
    monkeypatch.setattr("cx_text.models.inference.auto_runs_torch", lambda p: True)
    monkeypatch.setattr("cx_text.models.inference.auto_runs_bf16", lambda p: amx)
    out = CliRunner().invoke(cli, ["models", "prepare"], env={"CX_TEXT_PRECISION": "auto"})
    assert out.exit_code == 0, out.output
    assert ("--model e5-small-cx6" in out.output) != amx
