"""Encoder throughput: cx_text's Encoder vs the naive transformers pipeline, same model, one run.

Baseline (named): ``transformers.pipeline("feature-extraction")`` on the same prepared encoder
(the default, ``e5-small-cx``; ``CX_TEXT_ENCODER=e5-small`` for the frozen one),
one text at a time, fp32, mean pooling + L2 norm done by hand. Both sides get the same texts
with the ``query: `` prefix, truncated at 256 tokens. Prints messages/second for both, the
ratio, the accuracy cost (cosine of cx_text's vectors to the baseline's fp32 vectors) and
peak RSS of each phase (VmHWM, reset between phases).

    .venv/bin/python benchmarks/encoder.py            # 5,000 messages
    .venv/bin/python benchmarks/encoder.py --n 500    # quicker

Texts: data/demo/demo_export.csv when it exists, else generated RU/EN messages of mixed length.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEMO = REPO / "data" / "demo" / "demo_export.csv"
MAX_LENGTH = 256

RU = [
    "Курьер опоздал на {n} часа и даже не позвонил.",
    "Заказ №{id} так и не пришёл, верните деньги!",
    "Оператор в чате ответил через {n} минут.",
    "Приложение вылетает при оплате картой.",
    "Спасибо, всё пришло вовремя и в целости.",
    "Цены выросли, а качество упало.",
    "Упаковка была порвана, половина яиц разбита.",
    "Очень вежливый курьер, рекомендую!",
    "Не могу войти в личный кабинет, пишет «ошибка {id}».",
    "Бонусы за заказ так и не начислили",
    "Поддержка решила вопрос за {n} минут, молодцы.",
    "Возврат оформили, но деньги идут уже неделю.",
    "Промокод не сработал при оформлении.",
    "Пицца приехала холодной.",
    "ок",
    "Всё супер 👍",
]
EN = [
    "The courier was {n} hours late and never called.",
    "Order #{id} never arrived, refund me!",
    "Support replied after {n} minutes in chat.",
    "The app crashes when I pay by card.",
    "Thanks, everything arrived on time.",
    "Prices went up and quality went down.",
    "The box was torn and half the eggs were broken.",
    "Very polite courier, would recommend!",
    "Can't log in to my account, it says error {id}.",
    "My loyalty points were never added.",
    "Support fixed it in {n} minutes, well done.",
    "Refund approved but still no money a week later.",
    "The promo code did not work at checkout.",
    "Pizza arrived cold.",
    "ok",
    "Love it!",
]


def generate(n: int, seed: int = 13) -> list[str]:
    """``n`` RU/EN feedback messages of 1-8 sentences (a few long ones), reproducible."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        pool = RU if rng.random() < 0.6 else EN
        k = rng.choice([1, 1, 1, 2, 2, 3, 4, 8])
        parts = [
            rng.choice(pool).format(n=rng.randint(2, 90), id=rng.randint(1000, 99999))
            for _ in range(k)
        ]
        texts.append(" ".join(parts))
    return texts


def load_texts(n: int) -> tuple[list[str], str]:
    """Texts from the demo export when present, else generated."""
    if DEMO.is_file():
        import pandas as pd

        frame = pd.read_csv(DEMO)
        column = "text" if "text" in frame.columns else frame.columns[0]
        texts = frame[column].dropna().astype(str).tolist()
        if texts:
            return [texts[i % len(texts)] for i in range(n)], str(DEMO.relative_to(REPO))
    return generate(n), "generated RU/EN messages"


def reset_peak_rss() -> None:
    """Reset VmHWM (Linux) so the next phase's peak is its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_mb(field: str = "VmHWM") -> float:
    """Peak (VmHWM, since the last reset) or current (VmRSS) resident set size, in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(func: Any, *args: Any) -> tuple[Any, dict[str, float]]:
    """Run one phase; its result plus wall seconds, CPU seconds, start and peak RSS."""
    reset_peak_rss()
    start_rss, cpu0 = rss_mb("VmRSS"), time.process_time()
    result = func(*args)
    facts = {
        "cpu_s": time.process_time() - cpu0,
        "start_rss_mb": start_rss,
        "peak_rss_mb": rss_mb(),
    }
    return result, facts


def run_cx(texts: list[str], settings: Any, precision: str) -> tuple[np.ndarray, float, dict]:
    """cx_text's Encoder, cold LRU cache; returns vectors, seconds and its info."""
    from cx_text.models.encoder import Encoder

    encoder = Encoder.load(settings, precision=precision, max_length=MAX_LENGTH)
    encoder.encode(texts[:16])  # warm-up (thread pools, allocator)
    encoder.clear_cache()
    start = time.perf_counter()
    cpu0 = time.process_time()
    vectors = encoder.encode(texts)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return vectors, seconds, cpu, encoder.info.as_dict()


def run_naive(texts: list[str], model_dir: str, threads: int) -> tuple[np.ndarray, float, float]:
    """The baseline: a feature-extraction pipeline, one text at a time, fp32."""
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    extractor = pipeline(
        "feature-extraction",
        model=model_dir,
        tokenizer=model_dir,
        tokenize_kwargs={"truncation": True, "max_length": MAX_LENGTH},
    )
    extractor("query: warm-up")
    out = np.empty((len(texts), 384), dtype=np.float32)
    start, cpu0 = time.perf_counter(), time.process_time()
    for i, text in enumerate(texts):
        tokens = np.asarray(extractor("query: " + text)[0], dtype=np.float32)
        pooled = tokens.mean(axis=0)
        out[i] = pooled / np.linalg.norm(pooled)
    return out, time.perf_counter() - start, time.process_time() - cpu0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="messages (default 5000)")
    parser.add_argument("--precision", default="auto", help="cx_text precision (default auto)")
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    args = parser.parse_args(argv)

    from cx_text.core.config import Settings
    from cx_text.models.encoder import resolve_encoder

    settings = Settings.from_env()
    resolved, prepared = resolve_encoder(settings.encoder, settings)  # the default: e5-small-cx
    texts, origin = load_texts(args.n)
    print(
        f"{len(texts)} messages ({len(set(texts))} unique) from {origin}; "
        f"{settings.num_threads} threads; model {prepared.name} {prepared.version}"
    )

    (cx_vectors, cx_s, cx_cpu, info), cx_mem = measured(run_cx, texts, settings, args.precision)
    (naive_vectors, naive_s, naive_cpu), naive_mem = measured(
        run_naive, texts, str(resolved.path), settings.num_threads
    )

    cosines = (cx_vectors * naive_vectors).sum(axis=1)
    n = len(texts)
    result = {
        "n": n,
        "unique": len(set(texts)),
        "texts": origin,
        "precision": info["details"]["precision"],
        "threads": settings.num_threads,
        "naive_msg_per_s": n / naive_s,
        "cx_msg_per_s": n / cx_s,
        "ratio": naive_s / cx_s,
        "naive_msg_per_cpu_s": n / naive_cpu,
        "cx_msg_per_cpu_s": n / cx_cpu,
        "cosine_min": float(cosines.min()),
        "cosine_mean": float(cosines.mean()),
        "naive_memory": naive_mem,
        "cx_memory": cx_mem,
    }
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


def _print(r: dict[str, Any]) -> None:
    for label, key in (
        ("naive pipeline (fp32, one at a time)", "naive"),
        (f"cx_text Encoder ({r['precision']}, batched)", "cx"),
    ):
        mem = r[f"{key}_memory"]
        print(
            f"{label:38s} {r[f'{key}_msg_per_s']:8.1f} msg/s  "
            f"({r[f'{key}_msg_per_cpu_s']:.1f} msg per CPU-second)  peak RSS "
            f"{mem['peak_rss_mb']:.0f} MB (phase start {mem['start_rss_mb']:.0f} MB)"
        )
    print(
        f"ratio: {r['ratio']:.1f}x wall-clock   accuracy cost: cosine to the fp32 baseline "
        f"min {r['cosine_min']:.5f}, mean {r['cosine_mean']:.5f}"
    )


if __name__ == "__main__":
    main()
