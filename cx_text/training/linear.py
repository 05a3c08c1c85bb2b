"""The linear (and one-hidden-layer) models the heads are made of, fitted deterministically.

Logistic regression (lbfgs, fixed seed, balanced classes) on standardised embeddings is folded
back into one linear layer over the raw embedding; the MLP likewise into two layers. Every model
is a ``layers`` tuple a :class:`cx_text.classify.heads.Head` reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cx_text.classify.heads import Head
from cx_text.training.evaluate import per_label_scores

#: logistic-regression C tried for the sentiment and topic heads
C_GRID = (0.25, 1.0)
#: MLPs (seeds) averaged into the sentiment head's MLP candidate
MLP_BAG = 5
#: hidden units of one MLP member (the sentiment head's)
MLP_HIDDEN = 256


def select_softmax(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    seed: int,
    n_classes: int,
    linear_only: bool = False,
    classes: list[int] | None = None,
    *,
    bag: int | None = None,
    hidden: int = MLP_HIDDEN,
) -> dict[str, Any]:
    """Grid over logistic-regression C (and an MLP — ``bag`` members of ``hidden`` units —
    unless ``linear_only``); best dev macro-F1 wins."""
    candidates = [fit_logreg(x_tr, y_tr, c, seed, n_classes, classes) for c in C_GRID]
    if not linear_only:
        candidates.append(fit_mlp(x_tr, y_tr, seed, n_classes, bag, hidden))
    for cand in candidates:
        head = Head("tmp", "softmax", tuple(map(str, range(n_classes))), cand["layers"])
        pred = head.predict_proba(x_dev).argmax(axis=1) if len(x_dev) else np.array([], int)
        labs = [str(i) for i in range(n_classes)]
        cand["dev"] = {
            "macro_f1": per_label_scores([str(v) for v in y_dev], [str(v) for v in pred], labs)[
                "macro_f1"
            ]
        }
    return max(candidates, key=lambda c: c["dev"]["macro_f1"])


def stack_binary(models: list[tuple]) -> tuple:
    """One sigmoid head's ``layers`` from per-label two-class models (each a ``layers`` tuple of
    a softmax over classes 0/1): a label's logit is its class-1 minus class-0 score.

    All linear: one layer. Any MLP: two layers, block-diagonal — each label's hidden units feed
    only its own output; a linear label becomes two hidden units ``relu(z) - relu(-z) = z``, so
    every label's logit is exactly the model's."""
    from scipy.linalg import block_diag

    if all(len(m) == 1 for m in models):
        w, b = zip(*(_logit(*m[0]) for m in models), strict=True)
        return ((np.stack(w).astype(np.float32), np.array(b, dtype=np.float32)),)
    parts = [_hidden(m) for m in models]
    w1, b1, out, b2 = (list(p) for p in zip(*parts, strict=True))
    return (
        (np.vstack(w1).astype(np.float32), np.concatenate(b1).astype(np.float32)),
        (block_diag(*(o[None, :] for o in out)).astype(np.float32), np.array(b2, np.float32)),
    )


def _logit(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """A two-class output layer as one logit: class 1 minus class 0."""
    return w[1] - w[0], b[1] - b[0]


def _hidden(model: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """``(hidden weights, hidden bias, output weights, output bias)`` of one label's logit."""
    if len(model) == 1:
        d, c = _logit(*model[0])
        return np.stack([d, -d]), np.array([c, -c]), np.array([1.0, -1.0]), 0.0
    (w, b), (v, c) = model
    return (w, b, *_logit(v, c))


def dev_macro_f1(
    layers: tuple, x_dev: np.ndarray, y_dev: np.ndarray, n_classes: int
) -> dict[str, float]:
    head = Head("tmp", "softmax", tuple(map(str, range(n_classes))), layers)
    pred = head.predict_proba(x_dev).argmax(axis=1) if len(x_dev) else np.array([], int)
    labs = [str(i) for i in range(n_classes)]
    gold = [str(v) for v in y_dev]
    return {"macro_f1": per_label_scores(gold, [str(v) for v in pred], labs)["macro_f1"]}


def fit_logreg(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    seed: int,
    n_classes: int,
    classes: list[int] | None = None,
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    mu, sigma = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = LogisticRegression(
        C=c, max_iter=500, tol=1e-4, class_weight="balanced", random_state=seed
    )
    clf.fit((x - mu) / sigma, y)
    coef, intercept = full_classes(clf, n_classes)
    w = coef / sigma[None, :]
    b = intercept - (coef * (mu / sigma)[None, :]).sum(axis=1)
    return {"layers": ((w.astype(np.float32), b.astype(np.float32)),), "model": f"logreg(C={c})"}


def full_classes(clf: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Expand a fitted sklearn linear model's coefficients to all ``n_classes``."""
    return expand_classes(clf.coef_, clf.intercept_, clf.classes_, n_classes)


def expand_classes(
    coef: np.ndarray, intercept: np.ndarray, classes: Any, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """An output layer over the classes sklearn saw -> one row per class of ``n_classes``
    (a binary model's single row becomes two; absent classes get a -inf-ish bias)."""
    if coef.shape[0] == 1:  # binary: sklearn keeps one row for class 1
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    full_w = np.zeros((n_classes, coef.shape[1]))
    full_b = np.full(n_classes, -30.0)
    for row, cls in enumerate(classes):
        full_w[int(cls)], full_b[int(cls)] = coef[row], intercept[row]
    return full_w, full_b


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    n_classes: int,
    bag: int | None = None,
    hidden: int = MLP_HIDDEN,
) -> dict[str, Any]:
    """An MLP(``hidden``) — or the logit average of ``bag`` of them, one per seed ``seed,
    seed+1, …``, folded into one wider two-layer net (hidden ``bag * hidden``; the output layer
    is the members' output layers side by side, divided by ``bag``): a single MLP's decisions
    near the class boundary move with its seed; the average's move far less."""
    bag = MLP_BAG if bag is None else bag
    members = [_fit_one_mlp(x, y, seed + k, n_classes, hidden) for k in range(bag)]
    w1 = np.vstack([m[0] for m in members])
    b1 = np.concatenate([m[1] for m in members])
    w2 = np.hstack([m[2] for m in members]) / bag
    b2 = np.mean([m[3] for m in members], axis=0)
    return {
        "layers": (
            (w1.astype(np.float32), b1.astype(np.float32)),
            (w2.astype(np.float32), b2.astype(np.float32)),
        ),
        "model": f"mlp({hidden})" if bag == 1 else f"mlp({hidden})x{bag}",
    }


def _fit_one_mlp(
    x: np.ndarray, y: np.ndarray, seed: int, n_classes: int, hidden: int = MLP_HIDDEN
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.neural_network import MLPClassifier

    mu, sigma = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        alpha=1e-2,
        max_iter=300,
        early_stopping=True,
        random_state=seed,
    )
    clf.fit((x - mu) / sigma, y)
    w1, b1 = (
        clf.coefs_[0].T / sigma[None, :],
        clf.intercepts_[0] - (clf.coefs_[0].T * (mu / sigma)[None, :]).sum(axis=1),
    )
    w2, b2 = expand_classes(clf.coefs_[1].T, clf.intercepts_[1], clf.classes_, n_classes)
    return w1, b1, w2, b2
