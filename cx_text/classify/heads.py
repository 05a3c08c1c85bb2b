"""Small classifier heads over encoder embeddings, stored as safetensors + JSON (never pickled).

A head is a tiny MLP (zero or more ReLU hidden layers) ending in either a softmax over exclusive
labels (sentiment) or independent sigmoids (multi-label topics). Probabilities are calibrated by a
temperature fitted on held-out data; multi-label heads carry a decision threshold per label.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from safetensors.numpy import load_file, save_file

from cx_text.core.errors import ModelError

Kind = Literal["softmax", "sigmoid"]


@dataclass(frozen=True)
class Head:
    """Weights and metadata of one head. ``layers`` is a list of ``(W, b)``, W of shape (out,
    in)."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    temperature: float = 1.0
    thresholds: tuple[float, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def input_dim(self) -> int:
        return int(self.layers[0][0].shape[1])

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw scores for a batch of embeddings ``x`` of shape (n, input_dim)."""
        h = np.asarray(x, dtype=np.float32)
        if h.ndim != 2 or h.shape[1] != self.input_dim:
            raise ModelError(
                f"head {self.name!r} expects embeddings of width {self.input_dim}, got {h.shape}.",
                "The head was trained with another encoder: retrain with `cx-text train`.",
            )
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, shape (n, len(labels))."""
        z = self.logits(x) / self.temperature
        if self.kind == "softmax":
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
        with np.errstate(over="ignore"):  # exp(-z) = inf for z << 0 gives exactly 0.0
            return 1.0 / (1.0 + np.exp(-z))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Boolean decisions of a sigmoid head using its per-label thresholds."""
        thr = np.asarray(self.thresholds or [0.5] * len(self.labels), dtype=np.float32)
        return proba >= thr[None, :]

    def checksum(self) -> str:
        h = hashlib.sha256()
        for w, b in self.layers:
            h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
            h.update(np.ascontiguousarray(b, dtype=np.float32).tobytes())
        h.update(json.dumps([self.labels, self.temperature, self.thresholds]).encode())
        return h.hexdigest()


def save_head(head: Head, directory: Path) -> Path:
    """Write ``<name>.safetensors`` and ``<name>.json`` into ``directory``; returns the JSON
    path."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for i, (w, b) in enumerate(head.layers):
        tensors[f"layer{i}.weight"] = np.ascontiguousarray(w, dtype=np.float32)
        tensors[f"layer{i}.bias"] = np.ascontiguousarray(b, dtype=np.float32)
    save_file(tensors, str(directory / f"{head.name}.safetensors"))
    meta = {
        "name": head.name,
        "kind": head.kind,
        "labels": list(head.labels),
        "n_layers": len(head.layers),
        "temperature": head.temperature,
        "thresholds": list(head.thresholds),
        "checksum": head.checksum(),
        "meta": head.meta,
    }
    path = directory / f"{head.name}.json"
    path.write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, default=_json_default) + "\n",
        encoding="utf-8",
    )
    return path


def load_head(directory: Path, name: str) -> Head:
    """Load a head saved by :func:`save_head`, verifying its checksum."""
    meta_path, weights_path = directory / f"{name}.json", directory / f"{name}.safetensors"
    if not meta_path.is_file() or not weights_path.is_file():
        raise ModelError(
            f"head {name!r} not found in {directory} (need {name}.json and {name}.safetensors).",
            "Run `cx-text train` or point CX_TEXT_MODELS_DIR at a directory with trained heads.",
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    tensors = load_file(str(weights_path))
    layers = tuple(
        (tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]) for i in range(meta["n_layers"])
    )
    head = Head(
        name=meta["name"],
        kind=meta["kind"],
        labels=tuple(meta["labels"]),
        layers=layers,
        temperature=float(meta["temperature"]),
        thresholds=tuple(meta["thresholds"]),
        meta=meta.get("meta", {}),
    )
    if meta.get("checksum") and head.checksum() != meta["checksum"]:
        raise ModelError(
            f"head {name!r} in {directory} fails its checksum.", "Retrain or restore it."
        )
    return head


def fit_temperature(logits: np.ndarray, y: np.ndarray, kind: Kind) -> float:
    """Temperature minimising held-out log-loss (grid search: robust and deterministic)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(6.0), 60))
    losses = [_log_loss(logits / t, y, kind) for t in grid]
    return float(grid[int(np.argmin(losses))])


def _log_loss(z: np.ndarray, y: np.ndarray, kind: Kind) -> float:
    eps = 1e-7
    if kind == "softmax":
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(p[np.arange(len(y)), y] + eps)))
    p = 1.0 / (1.0 + np.exp(-z))
    return float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))


#: cuts whose dev F1 is within this of the best count as tied (one point of F1)
THRESHOLD_TOLERANCE = 0.01


def best_thresholds(proba: np.ndarray, y: np.ndarray, floor: float = 0.2) -> tuple[float, ...]:
    """Per-label threshold maximising F1 on held-out data (never below ``floor``).

    Cuts within :data:`THRESHOLD_TOLERANCE` of the best F1, next to the best cut, count as tied,
    and the middle of that run is taken: it generalises better than an edge, and it does not
    jump with noise-level changes of the embeddings (with exact ties only, a float16 copy of
    the adapter moved two topics' cuts by 0.05-0.1 and real topic recall by up to 3 points).
    """
    grid = np.linspace(floor, 0.8, 25)
    out = []
    for j in range(proba.shape[1]):
        f1s = []
        for t in grid:
            pred = proba[:, j] >= t
            tp = float(np.sum(pred & (y[:, j] == 1)))
            f1s.append(2 * tp / max(float(pred.sum() + y[:, j].sum()), 1.0))
        out.append(float(grid[cut_index(np.asarray(f1s), THRESHOLD_TOLERANCE)]))
    return tuple(out)


def cut_index(scores: np.ndarray, tolerance: float) -> int:
    """The middle (upper middle for an even run) of the near-best run of ``scores``."""
    lo, hi = _tied_run(scores, tolerance)
    return (lo + hi + 1) // 2


def _tied_run(scores: np.ndarray, tolerance: float) -> tuple[int, int]:
    """``(first, last)`` index of the run of scores within ``tolerance`` of the best that holds
    the best (the middle best where several are equally best)."""
    tied = scores >= scores.max() - tolerance
    best = np.flatnonzero(scores >= scores.max() - 1e-9)
    lo = hi = int(best[len(best) // 2])
    while lo > 0 and tied[lo - 1]:
        lo -= 1
    while hi < len(scores) - 1 and tied[hi + 1]:
        hi += 1
    return lo, hi


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
