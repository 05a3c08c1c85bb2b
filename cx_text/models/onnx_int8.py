"""The encoder's fast path: an int8 ONNX Runtime copy of the model, built offline and verified.

Why: on a 2-core CPU e5-small is compute-bound; torch bf16 reaches ~320 msg/s. ONNX Runtime with
fused attention/GELU kernels and per-channel int8 weights (VNNI where the CPU has it) does ~420
at cosine >= 0.99 to the fp32 model.

Recipe (``RECIPE``; bump it when any step changes, old builds are then rebuilt):

1. export the fp32 model (eager attention, so it can be fused) with torch's TorchScript exporter;
2. fuse BERT-family graphs with ``onnxruntime.transformers.optimizer`` (Attention, BiasGelu,
   EmbedLayerNorm) — other architectures keep ORT's own run-time fusions;
3. quantize every MatMul/Attention weight to int8 per output channel (dynamic activations),
   except the FFN output projections of layers with activation outliers
   (:func:`~cx_text.models.onnx_quant.outlier_ffn_layers`), which stay fp32;
4. verify: encode :data:`VERIFY_FILE` with both models; the build is *accepted* only when every
   text's cosine to fp32 is >= :data:`MIN_COSINE`. When it is not, step 3 is redone with the
   next, more conservative variant (:data:`~cx_text.models.onnx_quant.VARIANTS`: the attention
   projections stay fp32 too) and verified again. On an x86 CPU without VNNI every variant
   quantises weights to 7 bits (:func:`~cx_text.models.inference.int8_needs_7_bits`: 8-bit
   ones saturate ORT's AVX2 kernels), and the build lives in its own ``-u7`` directory. A build
   no variant passes is kept as rejected (with its figures) so it is not retried on every run;
   ``Encoder.load`` then falls back to torch.

Builds live in ``<cache_dir>/onnx/<model checksum>-r<RECIPE>/`` with a ``cx_onnx.json`` stamp
(sha256 of the file, cosine figures, versions); they are written to a temp dir and renamed into
place under a file lock. ``SkipLayerNormFusion`` is disabled at load: ORT's fused kernel measured
~4x slower than LayerNormalization + Add on this CPU (25 % of the whole forward pass). Idle
intra-op threads do not spin, so the single-threaded stages between encoder calls keep a core.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from cx_text.core.config import Settings
from cx_text.core.errors import ModelError
from cx_text.models import inference
from cx_text.models.onnx_quant import VARIANTS, max_tokens, outlier_ffn_layers, quantize, quiet
from cx_text.models.registry import ModelInfo, file_sha256

RECIPE = 4
MIN_COSINE = 0.99
ONNX_FILE = "model-int8.onnx"
STAMP = "cx_onnx.json"
VERIFY_FILE = "verify_texts.txt"
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]
_BERT_TYPES = {"bert", "xlm-roberta", "roberta", "camembert"}
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxBuild:
    """One int8 build: where it is, its checksum, and how close it is to the fp32 model."""

    path: str
    checksum: str
    model: str
    model_checksum: str
    accepted: bool
    min_cosine: float
    mean_cosine: float
    texts: int
    recipe: int
    onnxruntime: str
    seconds: float
    fp32_layers: tuple[int, ...] = ()
    note: str = ""
    variant: str = VARIANTS[0]
    reduce_range: bool = False

    def as_details(self) -> dict[str, Any]:
        """The facts a run manifest records about the fast path."""
        return {
            "onnx_checksum": self.checksum,
            "onnx_fp32_ffn_layers": list(self.fp32_layers),
            "onnx_min_cosine": round(self.min_cosine, 5),
            "onnx_mean_cosine": round(self.mean_cosine, 5),
            "onnx_recipe": self.recipe,
            "onnx_variant": self.variant,
            "onnx_weight_bits": 7 if self.reduce_range else 8,
            "onnxruntime": self.onnxruntime,
        }


def available() -> bool:
    """True when onnxruntime and onnx are importable."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def build_dir(settings: Settings, model_checksum: str) -> Path:
    """Where the int8 build of the model with ``model_checksum`` lives on this CPU (7-bit
    builds in a ``-u7`` directory of their own, so a cache shared by two CPUs keeps both)."""
    key = model_checksum.split(":")[-1][:16] or "unversioned"
    suffix = _bits_suffix(inference.int8_needs_7_bits())
    return settings.cache_dir / "onnx" / f"{key}-r{RECIPE}{suffix}"


def _bits_suffix(reduce_range: bool) -> str:
    return "-u7" if reduce_range else ""


def read_build(target: Path) -> OnnxBuild | None:
    """The stamped build in ``target`` when its file still matches its checksum, else None."""
    try:
        data = json.loads((target / STAMP).read_text(encoding="utf-8"))
        build = OnnxBuild(**{**data, "fp32_layers": tuple(data.get("fp32_layers", ()))})
    except (OSError, ValueError, TypeError):
        return None
    if build.recipe != RECIPE or build.reduce_range != inference.int8_needs_7_bits():
        return None
    model = target / ONNX_FILE
    if not build.accepted:
        return build
    if not model.is_file() or f"sha256:{file_sha256(model)}" != build.checksum:
        return None
    return build


def prepare_onnx(
    model_dir: Path, info: ModelInfo, settings: Settings, *, prefix: str = "", force: bool = False
) -> OnnxBuild:
    """The verified int8 build of the encoder ``info`` (weights in ``model_dir``).

    Returns the stamped build when it exists, else builds it now (~30 s for e5-small). A
    rejected build (cosine below :data:`MIN_COSINE`) is returned with ``accepted=False``.
    """
    from cx_text.models.files import locked_dir

    if not available():
        raise ModelError(
            "onnxruntime is not installed, so the int8 fast path is unavailable.",
            "pip install onnxruntime onnx, or use precision bf16/fp32.",
        )
    target = build_dir(settings, info.checksum)
    if not force and (build := read_build(target)) is not None:
        return build
    with locked_dir(target):
        if not force and (build := read_build(target)) is not None:
            return build
        _LOG.info("building the int8 ONNX copy of %s in %s", info.name, target)
        return _build(model_dir, info, target, settings, prefix)


def _build(
    model_dir: Path, info: ModelInfo, target: Path, settings: Settings, prefix: str
) -> OnnxBuild:
    start = time.perf_counter()
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        from cx_text.models.loading import load_fp32

        model, tokenizer = load_fp32(model_dir, attn_implementation="eager")
        _export(model, tmp / "fp32.onnx")
        _optimize(model, tmp / "fp32.onnx", tmp / "opt.onnx")
        texts = [prefix + t for t in verify_texts()]
        keep = outlier_ffn_layers(model, tokenizer, texts)
        reduce_range = inference.int8_needs_7_bits()
        for variant in VARIANTS:  # the fastest variant that passes the cosine gate
            quantize(tmp / "opt.onnx", tmp / ONNX_FILE, keep, variant, reduce_range=reduce_range)
            cosines = _verify(model, tokenizer, tmp / ONNX_FILE, settings, texts)
            if cosines.min() >= MIN_COSINE:
                break
        for name in ("fp32.onnx", "opt.onnx"):
            (tmp / name).unlink(missing_ok=True)
        seconds = time.perf_counter() - start
        build = _stamp(tmp, target, info, cosines, seconds, keep, variant, reduce_range)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        _remove_older_recipes(target)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, ModelError):
            raise
        raise ModelError(
            f"building the int8 ONNX copy of {model_dir} failed: {exc}.",
            "Use precision bf16 or fp32 (CX_TEXT_PRECISION) for this model.",
        ) from exc
    return build


def _remove_older_recipes(target: Path) -> None:
    """Builds of the same model by another recipe are dead weight (~100 MB each); the build for
    the other weight width (8 or 7 bits) of this recipe stays, for a cache two CPUs share."""
    stem = target.name.rsplit("-r", 1)[0]
    current = {f"{stem}-r{RECIPE}{_bits_suffix(bits)}" for bits in (False, True)}
    for old in target.parent.glob(f"{stem}-r*"):
        if old.name not in current and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def list_builds(settings: Settings) -> list[ModelInfo]:
    """Every int8 build in the cache, for ``cx-text models list``."""
    root = settings.cache_dir / "onnx"
    out = []
    subs = [p for b in (False, True) for p in root.glob(f"*-r{RECIPE}{_bits_suffix(b)}")]
    for sub in sorted(subs) if root.is_dir() else []:
        if sub != build_dir(settings, sub.name.split("-r", 1)[0]):
            continue  # the other weight width's build: this CPU does not read it
        build = read_build(sub)
        if build is None:
            status, checksum, details = (
                "checksum mismatch",
                "",
                {"hint": "run: cx-text models prepare"},
            )
        else:
            status = "ok" if build.accepted else "rejected"
            checksum, details = build.checksum, {**build.as_details(), "note": build.note}
        name = f"{build.model if build else sub.name}:onnx-int8"
        out.append(
            ModelInfo(
                name=name,
                kind="encoder-fast",
                source="onnx-export",
                version=f"r{RECIPE}",
                checksum=checksum,
                path=str(sub),
                status=status,
                details=details,
            )
        )
    return out


def replace_path(build: OnnxBuild, target: Path) -> OnnxBuild:
    """The build with its path pointing into ``target`` (after the rename)."""
    return OnnxBuild(**{**asdict(build), "path": str(target / ONNX_FILE)})


def _hidden_module(model: Any) -> Any:
    """The model as a module (input_ids, attention_mask) -> last hidden states, for export."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return Hidden().eval()


def _export(model: Any, path: Path) -> None:
    import torch

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _hidden_module(model),
            (ids, torch.ones_like(ids)),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
        )


def _optimize(model: Any, src: Path, dst: Path) -> None:
    config = model.config
    if config.model_type not in _BERT_TYPES:
        shutil.copyfile(src, dst)
        return
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    with quiet():
        optimized = optimizer.optimize_model(
            str(src),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=0,
            optimization_options=options,
        )
        optimized.save_model_to_file(str(dst))


def verify_texts() -> list[str]:
    """The fixed RU/EN sample every build is checked on (one text per line)."""
    raw = files("cx_text.models").joinpath(VERIFY_FILE).read_text(encoding="utf-8")
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.startswith("#")]


def _verify(
    model: Any, tokenizer: Any, path: Path, settings: Settings, texts: list[str]
) -> np.ndarray:
    """Cosine of each text's int8 embedding to its fp32 embedding."""
    import torch

    from cx_text.models.inference import mean_pool, pad_batch, sorted_batches

    ids = tokenizer(texts, truncation=True, max_length=max_tokens(model, tokenizer))["input_ids"]
    session = OnnxSession(path, settings.num_threads)
    pad_id = tokenizer.pad_token_id or 0
    cosines = np.empty(len(texts), dtype=np.float64)
    with torch.inference_mode():
        for batch in sorted_batches([len(x) for x in ids], 32):
            input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
            exact = mean_pool(
                model(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask
            )
            fast = mean_pool(torch.from_numpy(session(input_ids.numpy(), mask.numpy())), mask)
            cosines[batch] = (exact * fast).sum(dim=1).double().numpy()
    return cosines


def _stamp(
    tmp: Path,
    target: Path,
    info: ModelInfo,
    cosines: np.ndarray,
    seconds: float,
    fp32_layers: tuple[int, ...],
    variant: str,
    reduce_range: bool,
) -> OnnxBuild:
    accepted = bool(cosines.min() >= MIN_COSINE)
    note = (
        ""
        if accepted
        else (f"min cosine {cosines.min():.4f} < {MIN_COSINE}: the encoder falls back to torch")
    )
    build = OnnxBuild(
        path=str(tmp / ONNX_FILE),
        checksum=f"sha256:{file_sha256(tmp / ONNX_FILE)}",
        model=info.name,
        model_checksum=info.checksum,
        accepted=accepted,
        min_cosine=float(cosines.min()),
        mean_cosine=float(cosines.mean()),
        texts=len(cosines),
        recipe=RECIPE,
        onnxruntime=metadata.version("onnxruntime"),
        seconds=round(seconds, 1),
        fp32_layers=fp32_layers,
        note=note,
        variant=variant,
        reduce_range=reduce_range,
    )
    if not accepted:
        (tmp / ONNX_FILE).unlink(missing_ok=True)
    stamped = replace_path(build, target)
    (tmp / STAMP).write_text(json.dumps(asdict(stamped), indent=2), encoding="utf-8")
    return stamped


class OnnxSession:
    """``(input_ids, attention_mask)`` int64 arrays -> float32 last hidden states."""

    def __init__(self, path: Path | str, num_threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # idle pool threads must not spin: the language layer, heads and store writes run
        # between encoder calls (measured: 318 -> 341-351 rows/s end to end, encoder alone equal)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(path),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=DISABLED_OPTIMIZERS,
        )

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        return np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
