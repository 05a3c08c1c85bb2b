"""Any Hugging Face model, offline by default: local dirs, hub ids (opt-in), sentiment classifiers.

Every model is resolved to a local directory first: an existing dir is used as is; a hub id is
looked up in the local Hugging Face cache (no network), and downloaded only when
``Settings.allow_network`` is on. Weights load with ``use_safetensors=True`` — never unpickled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cx_text.core.config import Settings
from cx_text.core.errors import ModelError
from cx_text.core.schema import SENTIMENTS
from cx_text.models.inference import (
    DEFAULT_MAX_LENGTH,
    as_text,
    check_precision,
    pad_batch,
    precision_context,
    set_threads,
    sorted_batches,
)
from cx_text.models.loading import quiet_loading
from cx_text.models.registry import (
    STAMP_FILE,
    VERIFIED_FILE,
    ModelInfo,
    files_checksum,
    hash_files,
    verify_stamp,
)
from cx_text.models.windows import MAX_TOKENS, cut, reads_whole

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_IGNORE = "ignore"
_FILE_PATTERNS = ("*.json", "*.safetensors", "*.model", "*.txt", "*.npy")


@dataclass(frozen=True)
class ResolvedModel:
    """A model's local directory and where it came from ("local-dir" or "hub")."""

    path: Path
    source: str
    name: str
    revision: str | None = None


def resolve(name_or_dir: str | Path, settings: Settings) -> ResolvedModel:
    """Turn a local dir or hub id into a checked local dir, downloading only if allowed."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        check_model_dir(path)
        return ResolvedModel(path.resolve(), "local-dir", str(name_or_dir))
    text = str(name_or_dir)
    if path.exists() or not _HUB_ID.match(text) or text.startswith((".", "~")):
        raise ModelError(
            f"model directory {text} does not exist.",
            "Pass an existing directory saved with save_pretrained(), or a hub id.",
        )
    return _from_hub(text, settings)


def _from_hub(repo_id: str, settings: Settings) -> ResolvedModel:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    kwargs: dict[str, Any] = {"allow_patterns": list(_FILE_PATTERNS)}
    try:
        local = snapshot_download(repo_id, local_files_only=True, **kwargs)
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        if not settings.allow_network:
            raise ModelError(
                f"'{repo_id}' is not a local directory and is not in the local Hugging Face cache;"
                " cx_text does not use the network unless you allow it.",
                "Pass a local model dir, or add --allow-network (CX_TEXT_ALLOW_NETWORK=1) "
                "to download this hub id.",
            ) from exc
        try:
            local = snapshot_download(repo_id, **kwargs)
        except (HfHubHTTPError, OSError, ValueError) as exc2:
            raise ModelError(
                f"could not download '{repo_id}' from the Hugging Face hub: {exc2}.",
                "Check the id and your connection, or pass a local dir.",
            ) from exc2
    path = Path(str(local))
    check_model_dir(path)
    return ResolvedModel(path, "hub", repo_id, revision=path.name)


def check_model_dir(path: Path) -> None:
    """Raise ModelError unless ``path`` holds a config and safetensors weights."""
    if not (path / "config.json").is_file():
        raise ModelError(
            f"{path} has no config.json, so it is not a transformers model dir.",
            "Point to the directory you saved with model.save_pretrained().",
        )
    if not any(path.glob("*.safetensors")):
        found = ", ".join(sorted(p.name for p in path.glob("*.bin"))) or "no weight files"
        raise ModelError(
            f"{path} has no .safetensors weights ({found}); cx_text never unpickles .bin files.",
            "Re-save it with model.save_pretrained(dir, safe_serialization=True).",
        )


def model_files(path: Path) -> list[str]:
    """The files that define a model dir (weights, config, tokenizer), for its checksum."""
    names = {p.name for pattern in _FILE_PATTERNS for p in path.glob(pattern)}
    return sorted(names - {STAMP_FILE, VERIFIED_FILE})


def dir_info(resolved: ResolvedModel, kind: str, **details: Any) -> ModelInfo:
    """ModelInfo of a resolved dir: a prepared stamp when it verifies, else hashed now."""
    stamped = verify_stamp(resolved.path, trust_unchanged=True)
    if stamped is not None:
        return ModelInfo(**{**stamped.as_dict(), "details": {**stamped.details, **details}})
    checksum = files_checksum(hash_files(resolved.path, model_files(resolved.path)))
    version = resolved.revision or _config_version(resolved.path) or checksum[7:19]
    return ModelInfo(
        name=resolved.name,
        kind=kind,
        source=resolved.source,
        version=version,
        checksum=checksum,
        path=str(resolved.path),
        details=details,
    )


def _config_version(path: Path) -> str | None:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = config.get("cx_version") or config.get("model_version")
    return str(version) if version else None


def load_label_map(path: Path) -> dict[str, str]:
    """Read a YAML/JSON label map ``{model label: negative|neutral|positive|ignore}``.

    The mapping may sit at the top level or under a ``labels:`` key.
    """
    if not path.is_file():
        raise ModelError(f"label map {path} does not exist.", "Pass a YAML or JSON file.")
    try:
        data = _parse_mapping(path)
    except ValueError as exc:
        raise ModelError(
            f"label map {path} cannot be parsed: {exc}.",
            "Write it as YAML or JSON, e.g. {LABEL_0: negative}.",
        ) from exc
    return validate_label_map(data, str(path))


def validate_label_map(data: Any, source: str) -> dict[str, str]:
    """Check a parsed label map (top level or under ``labels:``) and normalise its values."""
    if isinstance(data, Mapping) and isinstance(data.get("labels"), Mapping):
        data = data["labels"]
    if not isinstance(data, Mapping) or not data:
        raise ModelError(
            f"label map {source} must be a mapping of model labels to sentiments.",
            "e.g. {NEGATIVE: negative, NEUTRAL: neutral, POSITIVE: positive}.",
        )
    allowed = (*SENTIMENTS, _IGNORE)
    bad = {str(k): str(v) for k, v in data.items() if str(v).strip().lower() not in allowed}
    if bad:
        shown = ", ".join(f"{k}: {v}" for k, v in bad.items())
        raise ModelError(
            f"label map {source} maps to unknown sentiments ({shown}).",
            f"Use one of: {', '.join(allowed)}.",
        )
    return {str(k): str(v).strip().lower() for k, v in data.items()}


def _parse_mapping(path: Path) -> Any:
    import yaml

    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc


def label_matrix(
    id2label: Mapping[int, str], label_map: Mapping[str, str], source: str = "the label map"
) -> np.ndarray:
    """A (n_model_labels, 3) 0/1 matrix sending model label probabilities to SENTIMENTS."""
    matrix = np.zeros((len(id2label), len(SENTIMENTS)), dtype=np.float32)
    missing = []
    for idx, label in sorted(id2label.items()):
        target = label_map.get(str(label), label_map.get(str(idx)))
        if target is None:
            missing.append(str(label))
        elif target != _IGNORE:
            matrix[idx, SENTIMENTS.index(target)] = 1.0
    if missing:
        raise ModelError(
            f"labels {', '.join(missing)} are not in the label map; add them to "
            f"{source} (values: negative, neutral, positive or ignore)."
        )
    if not matrix.any():
        raise ModelError(f"{source} maps every label to 'ignore'.", "Map at least one label.")
    return matrix


class HFSentimentModel:
    """A ready sequence-classification model, its labels mapped to negative/neutral/positive."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        matrix: np.ndarray,
        info: ModelInfo,
        *,
        batch_size: int = 64,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.model, self.tokenizer, self.matrix, self.info = model, tokenizer, matrix, info
        self.batch_size, self.max_length = batch_size, max_length

    @classmethod
    def load(
        cls,
        name_or_dir: str | Path,
        label_map: Path | Mapping[str, str] | None,
        settings: Settings,
        *,
        precision: str = "auto",
    ) -> HFSentimentModel:
        """Load a local dir / hub id (offline unless allowed) and check its labels are mapped."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        precision = check_precision(precision)
        resolved = resolve(name_or_dir, settings)
        mapping, source = _label_map_from(label_map)
        with quiet_loading():
            model = AutoModelForSequenceClassification.from_pretrained(
                resolved.path, local_files_only=True, use_safetensors=True
            ).eval()
        id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        matrix = label_matrix(id2label, mapping, source)
        tokenizer = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
        set_threads(settings.num_threads)
        info = dir_info(resolved, "sentiment", precision=precision, label_map=mapping)
        return cls(model, tokenizer, matrix, info, batch_size=settings.batch_size)

    @property
    def labels(self) -> tuple[str, ...]:
        """Our label order of :meth:`predict_proba`'s columns (schema.SENTIMENTS)."""
        return SENTIMENTS

    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> list[str]:
        """The most probable of negative/neutral/positive for each text."""
        probs = self.predict_proba(texts, batch_size)
        return [SENTIMENTS[i] for i in probs.argmax(axis=1)]

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """(n, 3) probabilities in schema.SENTIMENTS order (rows sum to 1).

        A text longer than ``max_length`` tokens is read whole (up to
        :data:`~cx_text.models.windows.MAX_TOKENS`), in overlapping windows framed as a short
        text is, and its probabilities are the mean of its windows' — not its first window's
        alone, which is all a long complaint's tail got before.
        """
        import torch

        out = np.zeros((len(texts), len(SENTIMENTS)), dtype=np.float32)
        if not len(texts):
            return out
        pieces, owners = self._pieces([as_text(t) for t in texts])
        probs = np.zeros((len(pieces), len(SENTIMENTS)), dtype=np.float32)
        pad_id = self.tokenizer.pad_token_id or 0
        precision = str(self.info.details.get("precision", "fp32"))
        with torch.inference_mode(), precision_context(precision):
            for batch in sorted_batches([len(x) for x in pieces], batch_size or self.batch_size):
                input_ids, mask = pad_batch([pieces[i] for i in batch], pad_id)
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
                probs[batch] = torch.softmax(logits.float(), dim=-1).numpy() @ self.matrix
        np.add.at(out, owners, probs)
        out /= np.bincount(owners, minlength=len(texts))[:, None]
        return _renormalise(out)

    def _pieces(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids to classify, and the text each belongs to: one piece for a short text, its
        windows for a long one (a tokenizer that does not frame a text as ``<s> … </s>`` cuts
        at ``max_length`` as before)."""
        limit = max(MAX_TOKENS, self.max_length) if reads_whole(self.tokenizer) else self.max_length
        ids = self.tokenizer(texts, truncation=True, max_length=limit)["input_ids"]
        pieces: list[list[int]] = []
        owners: list[int] = []
        for i, text_ids in enumerate(ids):
            parts = (
                cut(text_ids, 1, self.max_length).pieces
                if len(text_ids) > self.max_length
                else [list(text_ids)]
            )
            pieces += parts
            owners += [i] * len(parts)
        return pieces, np.asarray(owners, dtype=np.int64)


def _label_map_from(label_map: Path | Mapping[str, str] | None) -> tuple[dict[str, str], str]:
    if label_map is None:
        raise ModelError(
            "a sentiment model needs a label map to say which of its labels mean "
            "negative, neutral and positive.",
            "Pass --label-map labels.yaml, e.g. {LABEL_0: negative, LABEL_1: positive}.",
        )
    if isinstance(label_map, Mapping):
        return validate_label_map(label_map, "the label map"), "the label map"
    return load_label_map(Path(label_map)), str(label_map)


def _renormalise(probs: np.ndarray) -> np.ndarray:
    """Rows sum to 1; a row whose mass all went to ignored labels becomes neutral."""
    totals = probs.sum(axis=1, keepdims=True)
    empty = totals[:, 0] < 1e-6
    probs[empty] = 0.0
    probs[empty, SENTIMENTS.index("neutral")] = 1.0
    totals[empty] = 1.0
    return probs / totals
