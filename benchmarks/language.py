"""Throughput of the language layer: normalize + PII mask + langid + analysis, msgs/second.

Baseline (named, measured in the same run): the naive natasha pipeline — ``Doc`` per message with
segmentation, NewsMorphTagger, NewsNERTagger and MorphVocab lemmas on every message, one process.

    .venv/bin/python benchmarks/language.py [--n 10000] [--workers 2] [--profile]

Messages come from data/demo/demo_export.csv when present, else a small realistic generator
(RU / EN / mixed / translit, phones, e-mails, cards, names, order numbers, short replies).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import time
import warnings
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo" / "demo_export.csv"
CHUNK = 500

RU = [
    "Курьер {name} опоздал на {n} часа, но был вежлив.",
    "Приложение постоянно вылетает при оплате картой, верните деньги!",
    "Заказ {order} так и не доставили, поддержка не отвечает уже неделю.",
    "Спасибо, всё отлично, доставили вовремя 👍",
    "Товар пришёл с царапиной, а упаковка порвана. Звоните {phone}",
    "Промокод не сработал, хотя обещали скидку {n}0%.",
    "Оператор {name} помогла быстро, спасибо ей большое.",
    "Цены выросли, качество стало хуже; больше не закажу.",
    "Пицца приехала холодной!!!! Курьер нахамил.",
    "Не могу войти в личный кабинет, код из СМС не приходит. Пишите на {email}",
    "норм",
    "ок",
    "Всё супер",
    "Ужас",
    "Спасибо!",
]
EN = [
    "The courier {en_name} was {n} hours late but polite.",
    "The app keeps crashing at checkout, I was charged twice on card {card}.",
    "Order {order} never arrived and support has not replied for a week.",
    "Great service, delivered on time!",
    "The box was damaged, however the item itself is fine. Call me at {en_phone}",
    "Promo code did not work although the banner promised {n}0% off.",
    "Agent {en_name} solved my problem in minutes, thanks!",
    "Prices went up and quality went down; never ordering again.",
    "ok",
    "thanks",
    "Terrible",
    "Love it ❤️",
]
MIXED = [
    "Приложение постоянно crashes, please fix it",
    "Доставка была fast, но курьер rude",
    "dostavka opyat opozdala",
    "zakaz ne prishel uzhe nedelyu, verni dengi",
]
NAMES = ["Иван", "Мария", "Сергей", "Анна Петровна", "Дмитрий"]
EN_NAMES = ["John", "Sarah", "Mike Johnson", "Olga", "Ivan Petrov"]


def generate(n: int, seed: int = 13) -> list[str]:
    """``n`` realistic messages: 55 % RU, 35 % EN, 10 % mixed/translit."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        pool = rnd.choices([RU, EN, MIXED], weights=[55, 35, 10])[0]
        out.append(
            rnd.choice(pool).format(
                name=rnd.choice(NAMES),
                en_name=rnd.choice(EN_NAMES),
                n=rnd.randint(2, 5),
                order=rnd.randint(10**7, 10**9),
                phone=f"+7 9{rnd.randint(10, 99)} {rnd.randint(100, 999)}-"
                f"{rnd.randint(10, 99)}-{rnd.randint(10, 99)}",
                email=f"user{rnd.randint(1, 999)}@mail.ru",
                card="4111 1111 1111 1111",
                en_phone=f"(555) {rnd.randint(100, 999)}-{rnd.randint(1000, 9999)}",
            )
        )
    return out


def load_messages(n: int) -> tuple[list[str], str]:
    if DEMO.exists():
        texts = pd.read_csv(DEMO)["text"].dropna().astype(str).tolist()
        if texts:
            return (texts * (n // len(texts) + 1))[:n], str(DEMO)
    return generate(n), "built-in generator"


def naive_baseline(texts: list[str]) -> float:
    """msgs/s of the full natasha pipeline on every message, one process (one BLAS thread, as
    ours, so the ratio is not inflated by OpenBLAS thread contention)."""
    from natasha import MorphVocab, NewsEmbedding, NewsMorphTagger, NewsNERTagger, Segmenter
    from threadpoolctl import threadpool_limits

    seg, vocab, emb = Segmenter(), MorphVocab(), NewsEmbedding()
    morph, ner = NewsMorphTagger(emb), NewsNERTagger(emb)
    with threadpool_limits(limits=1, user_api="blas"):
        return _naive(texts, seg, vocab, morph, ner)


def _naive(texts: list[str], seg: Any, vocab: Any, morph: Any, ner: Any) -> float:
    from natasha import Doc

    start = time.perf_counter()
    for text in texts:
        doc = Doc(text)
        doc.segment(seg)
        doc.tag_morph(morph)
        doc.tag_ner(ner)
        for token in doc.tokens:
            token.lemmatize(vocab)
    return len(texts) / (time.perf_counter() - start)


_RES = None


def _init_worker() -> None:
    global _RES
    from cx_text.text.nlp import NlpResources

    _RES = NlpResources.load()


def _run_chunk(texts: list[str]) -> int:
    from cx_text.text.nlp import prepare_text

    return len(prepare_text(pd.DataFrame({"text": texts}), _RES))


def ours(texts: list[str], workers: int) -> tuple[float, float]:
    """(msgs per wall second, msgs per CPU second of the parent) of prepare_text in chunks;
    resources built once per worker (not timed). The CPU-second rate does not depend on what
    else the machine runs; with N idle cores the ceiling is about N times it."""
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    if workers == 1:
        _init_worker()
        start, cpu = time.perf_counter(), time.process_time()
        done = sum(_run_chunk(c) for c in chunks)
        return done / (time.perf_counter() - start), done / (time.process_time() - cpu)
    with Pool(workers, initializer=_init_worker) as pool:
        pool.map(_run_chunk, [texts[:20]] * workers)  # wait until every worker has loaded
        start = time.perf_counter()
        done = sum(pool.map(_run_chunk, chunks, chunksize=1))
        return done / (time.perf_counter() - start), float("nan")


def gate_recall(texts: list[str]) -> tuple[float, int, float]:
    """Compare the gated name finder with NER on every sentence (same trimming rules).

    Returns recall on *dictionary names* (spans whose first word pymorphy3 knows as a name,
    surname or patronymic), the number of spans only the full run finds (on the demo data these
    are typo'd words NER calls PER: "Кчаество", "Постамат"), and the share of sentences the
    gate sends to NER.
    """
    from cx_text.text.nlp.persons import PersonFinder
    from cx_text.text.normalize import clean_text

    gated = PersonFinder.load()
    full = PersonFinder(gated.morph, gated.ner, gate=False)
    cleaned = [clean_text(t) for t in texts]
    ref = {(i, s) for i, t in enumerate(cleaned) for s in full.find_persons(t)}
    got = {(i, s) for i, t in enumerate(cleaned) for s in gated.find_persons(t)}

    def real_name(i: int, span: tuple[int, int]) -> bool:
        word = cleaned[i][span[0] : span[1]].split()[0]
        known, has_name = gated._tags(word)[2], gated._tags(word)[0]
        return bool(known and has_name)

    names = {item for item in ref if real_name(*item)}
    recall = len(names & got) / max(1, len(names))
    return recall, len(ref - got), gated.ner_calls / max(1, full.ner_calls)


def profile(texts: list[str]) -> str:
    _init_worker()
    prof = cProfile.Profile()
    prof.enable()
    _run_chunk(texts)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--baseline-n", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    texts, source = load_messages(args.n)
    print(
        f"messages: {len(texts)} from {source}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores (absolute figures scale with it; ratios less so)"
    )
    if args.profile:
        print(profile(texts[:3_000]))
        return
    recall, only_full, share = gate_recall(texts[: args.baseline_n])
    print(
        f"name gate: NER on {share:.1%} of sentences; recall {recall:.1%} of the dictionary "
        f"names NER-on-every-sentence finds; {only_full} spans only the full run masks"
    )
    base = naive_baseline(texts[: args.baseline_n])
    print(f"baseline  naive natasha (morph+NER on every message, 1 process): {base:8.0f} msg/s")
    single, per_cpu = ours(texts, 1)
    print(
        f"cx_text   prepare_text, 1 process:                    {single:8.0f} msg/s  "
        f"x{single / base:.1f}"
        f"  ({per_cpu:.0f} msg per CPU-second)"
    )
    if args.workers > 1:
        multi, _ = ours(texts, args.workers)
        print(
            f"cx_text   prepare_text, {args.workers} processes:                  {multi:8.0f} "
            f"msg/s  "
            f"x{multi / base:.1f}"
        )


if __name__ == "__main__":
    main()
