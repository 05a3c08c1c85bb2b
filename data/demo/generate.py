#!/usr/bin/env python3
"""Generate the seeded cx_text demo export with a planted story.

    python data/demo/generate.py --seed 7 --out data/demo [--truth truth.csv]

Writes ``demo_export.csv`` (RU+EN customer feedback of the fictional retailer Polka, 12 months) and
``customers.csv`` (signup, churn date, LTV). ``story.yaml`` is the input: dates, multipliers, mixes.
Phrases are hand-written pools in ``phrases/*.yaml``. Deterministic for a seed; needs pandas +
pyyaml.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = 7
EXPORT_COLUMNS = [
    "review_id",
    "created_at",
    "channel",
    "source",
    "text",
    "nps",
    "csat",
    "ces",
    "rating",
    "customer_id",
    "segment",
]
TRUTH_COLUMNS = ["_lang", "_sentiment", "_aspects", "_subtopic", "_messy"]
CUSTOMER_COLUMNS = ["customer_id", "signup", "churned_at", "ltv"]
CHANNELS = ("app_review", "marketplace_review", "support_chat", "email", "nps_comment")
CHANNEL_AFFINITY = {  # P(channel | topic), same order as CHANNELS
    "delivery": (10, 15, 35, 10, 30),
    "staff": (5, 10, 40, 10, 35),
    "support": (5, 5, 50, 25, 15),
    "pricing": (25, 15, 10, 5, 45),
    "usability": (55, 5, 20, 5, 15),
    "quality": (10, 45, 20, 10, 15),
    "other": (30, 15, 5, 5, 45),
    "none": (10, 5, 50, 20, 15),
}
LENGTH_MIX = {  # short, medium, long
    "app_review": (12, 58, 30),
    "marketplace_review": (6, 52, 42),
    "support_chat": (8, 55, 37),
    "email": (0, 30, 70),
    "nps_comment": (19, 58, 23),
}
ANONYMOUS = {"app_review": 0.45, "marketplace_review": 0.25, "email": 0.04}
HOURS = (6, 3, 2, 1, 1, 2, 5, 10, 16, 22, 26, 27, 27, 26, 25, 25, 25, 26, 28, 30, 30, 27, 20, 12)
SECOND_TOPIC = {
    "delivery": 3,
    "staff": 2.5,
    "support": 1.5,
    "pricing": 1.5,
    "quality": 1.5,
    "usability": 1,
}
KEYBOARD = {
    "ru": ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"),
    "en": ("qwertyuiop", "asdfghjkl", "zxcvbnm"),
}
TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        (
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "h",
            "ts",
            "ch",
            "sh",
            "sch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ),
        strict=True,
    )
)
STORY_SUBTOPICS = ("new_partner", "recovered", "price_rise", "checkout_new")
MEMO_SLOTS = (
    "product",
    "product_nom",
    "courier",
    "operator",
    "order",
    "orderno",
    "city",
    "pvz",
    "window",
    "hours",
    "days",
    "first_name",
    "last_name",
    "first_name_en",
    "last_name_en",
)
QUOTED = re.compile(r"\n\n(?:-----Original Message-----|[\d.]+ [\d:]+, \S+ <support@)")
ALT = re.compile(r"\[([^\[\]]*\|[^\[\]]*)\]")
SLOT = re.compile(r"\{(\w+)\}")


# ----------------------------------------------------------------------------------- inputs
def _lines(block: str) -> list[str]:
    return [line.strip().replace("\\n", "\n") for line in block.splitlines() if line.strip()]


@dataclass
class Pools:
    """Hand-written phrase pools: leaves[lang]["topic/polarity/subtopic"] -> templates."""

    leaves: dict[str, dict[str, list[str]]]
    short: dict[str, dict[str, list[str]]]
    slang: dict[str, dict[str, list[str]]]
    common: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> Pools:
        leaves: dict[str, dict[str, list[str]]] = {"ru": {}, "en": {}, "mixed": {}}
        for path in sorted(folder.glob("*.yaml")):
            lang = path.stem.split("_")[0]
            if lang in leaves:
                leaves[lang].update(
                    {k: _lines(v) for k, v in yaml.safe_load(path.read_text()).items()}
                )
        short = yaml.safe_load((folder / "short.yaml").read_text())
        shorts = {lang: {k: _lines(v) for k, v in short[lang].items()} for lang in ("ru", "en")}
        slang = {
            lang: {k: _lines(v) for k, v in pols.items()} for lang, pols in short["slang"].items()
        }
        return cls(leaves, shorts, slang, yaml.safe_load((folder / "common.yaml").read_text()))

    def text_block(self, *path: str) -> list[str]:
        node: Any = self.common
        for key in path:
            node = node[key]
        return _lines(node)


def _d(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# ----------------------------------------------------------------------------------- the story
def effects_on(
    story: dict[str, Any], day: date
) -> dict[str, tuple[float, dict[str, float] | None]]:
    """{aspect: (multiplier, subtopic override)} of all story events and background on ``day``."""
    out: dict[str, tuple[float, dict[str, float] | None]] = {}

    def apply(effects: list[dict[str, Any]], scale: float = 1.0) -> None:
        for eff in effects:
            mult, subs = out.get(eff["aspect"], (1.0, None))
            factor = 1.0 + (float(eff.get("multiplier", 1.0)) - 1.0) * scale
            out[eff["aspect"]] = (mult * factor, eff.get("subtopics") or subs)

    for bg in story.get("background", []):
        if _d(bg["start"]) <= day <= _d(bg["end"]):
            apply([bg])
    for ev in story["events"]:
        start, rec = _d(ev["start"]), ev.get("recovery")
        if rec is None or day < _d(rec):
            if day >= start:
                apply(ev["effects"])
            continue
        since = (day - _d(rec)).days
        tail = int(ev.get("tail_days") or 0)
        if since < tail:
            apply(ev["effects"], scale=1.0 - (since + 1) / (tail + 1))
        after = ev.get("after_recovery")
        if after and (after.get("days") is None or since < int(after["days"])):
            apply(after["effects"])
    return out


def volume_on(story: dict[str, Any], day: date) -> float:
    """Seasonality x weekday factor of the total message volume."""
    factor = float(story["weekday_volume"][day.weekday()])
    for season in story["seasonality"]:
        if _d(season["start"]) <= day <= _d(season["end"]):
            factor *= float(season["volume"])
    return factor


Subtopics = dict[tuple[date, str], dict[str, float]]


def day_plan(story: dict[str, Any]) -> tuple[list[tuple[date, str]], list[float], Subtopics]:
    """Every (day, aspect) cell with its weight, and the subtopic mix per cell."""
    cells: list[tuple[date, str]] = []
    weights: list[float] = []
    subtopics: Subtopics = {}
    day, end = _d(story["period"]["start"]), _d(story["period"]["end"])
    while day <= end:
        effects, vol = effects_on(story, day), volume_on(story, day)
        for aspect, base in story["baseline"].items():
            mult, subs = effects.get(aspect, (1.0, None))
            cells.append((day, aspect))
            weights.append(vol * float(base["share"]) * mult)
            subtopics[(day, aspect)] = subs or base["subtopics"]
        day += timedelta(days=1)
    return cells, weights, subtopics


# ----------------------------------------------------------------------------------- customers
@dataclass
class Customer:
    id: str
    signup: date
    tier: str
    lang: str
    weight: float
    churned_at: date | None = None
    events: list[tuple[date, str, int | None]] = field(default_factory=list)


def make_customers(rnd: random.Random, story: dict[str, Any]) -> list[Customer]:
    """Customers sorted by signup, with increasing ids, a tier, a language and an activity
    weight."""
    start, end = _d(story["period"]["start"]), _d(story["period"]["end"])
    langs = story["languages"]
    bi = 2 * langs["mixed"]
    lang_w = {"ru": 1 - bi - (langs["en"] - 0.2 * bi), "en": langs["en"] - 0.2 * bi, "bi": bi}
    signups = []
    for _ in range(int(story["customers"])):
        if rnd.random() < 0.35:
            signups.append(
                start - timedelta(days=60) + timedelta(days=rnd.randrange((end - start).days + 45))
            )
        else:
            signups.append(start - timedelta(days=61 + int(rnd.betavariate(1.2, 2.5) * 2400)))
    signups.sort()
    ids = sorted(rnd.sample(range(1_000_000, 9_999_999), len(signups)))
    out = []
    for cid, signup in zip(ids, signups, strict=True):
        tier = rnd.choices(("regular", "vip", "b2b"), (83, 10, 7))[0]
        weight = rnd.lognormvariate(0, 1) * {"regular": 1.0, "vip": 2.0, "b2b": 1.5}[tier]
        lang = rnd.choices(list(lang_w), list(lang_w.values()))[0]
        out.append(Customer(f"CU{cid}", signup, tier, lang, weight))
    return out


class CustomerPicker:
    """Draws an active customer for a date, weighted by activity (only already signed-up ones)."""

    def __init__(self, customers: list[Customer]) -> None:
        self.customers = customers
        self.signups = [c.signup for c in customers]
        self.cum: list[float] = []
        total = 0.0
        for c in customers:
            total += c.weight
            self.cum.append(total)

    def pick(self, rnd: random.Random, day: date) -> Customer:
        k = max(1, bisect.bisect_right(self.signups, day))
        return self.customers[bisect.bisect_left(self.cum, rnd.random() * self.cum[k - 1])]


# ----------------------------------------------------------------------------------- scores
def _clip(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(value))))


def scores_for(
    rnd: random.Random, valence: float, topic: str, metrics: list[str]
) -> dict[str, int | None]:
    """NPS 0-10, CSAT/rating 1-5, CES 1-7 (7 = very easy) consistent with the text's valence."""
    v = valence
    out: dict[str, int | None] = {}
    if "nps" in metrics:
        mean = 7.5 + 2.2 * v + (0.8 if v > 0.3 else 0) if v >= 0 else 7.5 + 7.5 * v
        out["nps"] = (
            rnd.randint(0, 10) if rnd.random() < 0.04 else _clip(rnd.gauss(mean, 1.0), 0, 10)
        )
    for name in ("rating", "csat"):
        if name in metrics:
            mean = 3.9 + 1.3 * v if v >= 0 else 3.9 + 3.2 * v
            out[name] = _clip(rnd.gauss(mean, 0.6), 1, 5)
    if "ces" in metrics:
        mean = (5.3 + 1.7 * v if v >= 0 else 5.3 + 4.5 * v) - (
            0.8 if topic == "support" and v < 0 else 0
        )
        out["ces"] = _clip(rnd.gauss(mean, 0.9), 1, 7)
    return out


# ----------------------------------------------------------------------------------- text
class Writer:
    """Renders message text from the pools; every random draw comes from one seeded source."""

    def __init__(self, pools: Pools, rnd: random.Random) -> None:
        self.pools, self.rnd = pools, rnd
        self.slots = {
            lang: {k: _lines(v) for k, v in block.items()}
            for lang, block in pools.common["slots"].items()
        }
        self.memo: dict[tuple[str, str], str] = {}

    def start_message(self) -> None:
        """Forget remembered slots: one message keeps one product, courier, order, duration."""
        self.memo = {}

    # --- templates
    def fill(self, template: str, lang: str) -> str:
        text = ALT.sub(lambda m: self.rnd.choice(m.group(1).split("|")), template)
        return SLOT.sub(lambda m: self.remembered(m.group(1), lang), text)

    def remembered(self, name: str, lang: str) -> str:
        if name not in MEMO_SLOTS:
            return self.slot(name, lang)
        key = (name, "en" if lang == "en" else "ru")
        if key not in self.memo:
            self.memo[key] = self.slot(name, lang)
        return self.memo[key]

    def slot(self, name: str, lang: str) -> str:
        rnd, ru = self.rnd, lang != "en"
        listed = self.slots["ru" if ru else "en"].get(name)
        if listed:
            return rnd.choice(listed)
        if name in ("brand", "partner_old", "partner_new"):
            return str(self.pools.common[name]["ru" if ru else "en"])
        if name in ("order", "orderno"):
            digits = str(rnd.randint(40_000_000, 59_999_999))
            return digits if name == "orderno" else rnd.choice(("№", "№ ", "#", "")) + digits
        if name == "phone":
            d = [rnd.randint(0, 9) for _ in range(7)]
            code = rnd.choice(("916", "903", "925", "977", "985", "999", "926", "968"))
            return rnd.choice(
                (
                    f"+7 {code} {d[0]}{d[1]}{d[2]}-{d[3]}{d[4]}-{d[5]}{d[6]}",
                    f"8 ({code}) {d[0]}{d[1]}{d[2]}-{d[3]}{d[4]}-{d[5]}{d[6]}",
                    f"8{code}{''.join(map(str, d))}",
                    f"+7{code}{''.join(map(str, d))}",
                )
            )
        if name == "email":
            user = rnd.choice(
                (
                    "anna",
                    "ivanov",
                    "kate.s",
                    "dmitry",
                    "olga",
                    "mike",
                    "zakupki",
                    "office",
                    "alex",
                    "lena",
                    "sergey.p",
                    "mari",
                )
            )
            return f"{user}{rnd.randint(1, 999)}@" + rnd.choice(
                ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru")
            )
        if name in ("price", "fee"):
            value = (
                rnd.randint(8, 90) * 100 - 1
                if name == "price"
                else rnd.choice((149, 199, 249, 299, 349, 399))
            )
            shown = f"{value:,}".replace(",", " " if ru else ",")
            return shown + rnd.choice(
                (" ₽", " руб", " р.", " рублей") if ru else (" RUB", " rubles", "₽")
            )
        if name == "percent":
            return f"{rnd.choice((5, 10, 15, 20, 25, 30))}" + (
                "%" if rnd.random() < 0.8 or not ru else " процентов"
            )
        if name == "promo":
            return rnd.choice(("VESNA", "SALE", "POLKA", "HELLO", "LETO", "OSEN", "DRUG")) + str(
                rnd.choice((10, 15, 20, 300, 500))
            )
        if name == "version":
            return f"5.{rnd.randint(10, 24)}.{rnd.randint(0, 3)}"
        if name == "ticket":
            return rnd.choice(("#", "CX-", "№")) + str(rnd.randint(1_000_000, 9_999_999))
        if name == "last_name":  # Петров / Петрова after a female first name
            first = self.memo.get(("first_name", "ru"), "")
            return rnd.choice(_lines(self.pools.common["names"]["ru_last"])) + (
                "а" if first[-1:] in "ая" and first else ""
            )
        names = self.pools.common["names"]
        key = {
            "first_name": "ru_first",
            "last_name": "ru_last",
            "first_name_en": "en_first",
            "last_name_en": "en_last",
            "company": "company",
            "company_en": "company_en",
        }[name]
        return rnd.choice(_lines(names[key]))

    def leaf(self, lang: str, key: str) -> list[str]:
        """Templates of ``topic/polarity/sub``; else of its everyday siblings (never story-only
        ones)."""
        pool = self.pools.leaves[lang]
        if key in pool:
            return pool[key]
        prefix = key.rsplit("/", 1)[0] + "/"
        return [
            t
            for k, v in pool.items()
            if k.startswith(prefix) and k.rsplit("/", 1)[1] not in STORY_SUBTOPICS
            for t in v
        ]

    def sentences(
        self, lang: str, aspect: str, sub: str, n: int, mix: dict[str, float] | None = None
    ) -> list[str]:
        """``n`` different sentences: the first about ``sub``, later ones often about another
        subtopic drawn from the day's mix (so story-only subtopics appear only in their window)."""
        picked = [self.rnd.choice(self.leaf(lang, f"{aspect}/{sub}"))]
        for _ in range(12 * n):
            if len(picked) >= n:
                break
            other = sub
            if mix and self.rnd.random() < 0.6:
                other = self.rnd.choices(list(mix), list(mix.values()))[0]
            cand = self.rnd.choice(self.leaf(lang, f"{aspect}/{other}"))
            if cand not in picked:
                picked.append(cand)
        return [self.fill(t, lang) for t in picked]

    # --- message parts
    def opener(self, lang: str) -> str:
        return self.fill(self.rnd.choice(self.pools.text_block("openers", lang)), lang)

    def closer(self, lang: str, polarity: str) -> str:
        return self.rnd.choice(self.pools.text_block("closers", lang, polarity))

    def join_second(self, lang: str, first: str, second: str, contrast: bool) -> str:
        """'курьер вежливый, но опоздал': the clause after the contrast connector dominates."""
        kind = "contrast" if contrast else "addition"
        conn = self.rnd.choice(self.pools.text_block("connectors", lang, kind))
        head = first.rstrip(". ")
        if head.endswith(("?", "!")) and conn.startswith("."):
            conn = conn[1:]
        return f"{head}{conn} {second[:1].lower() + second[1:]}"

    def short(self, lang: str, aspect: str, sub: str) -> str:
        """A 1-6 word message; subtopic-specific phrasing where the pool has it."""
        pools = self.pools.short[lang]
        pool = pools.get(aspect) or pools["other/neutral"]
        if f"{aspect}/{sub}" in pools and (sub in STORY_SUBTOPICS or self.rnd.random() < 0.5):
            pool = pools[f"{aspect}/{sub}"]
        return self.fill(self.rnd.choice(pool), lang)


def score_sentence(rnd: random.Random, lang: str, scores: dict[str, int | None]) -> str:
    """'Ставлю 3.' / '4 stars because' — only where it matches the row's score."""
    if scores.get("nps") is not None:
        n = scores["nps"]
        return rnd.choice(
            (f"Ставлю {n}.", f"{n} из 10.", f"Оценка {n}.")
            if lang == "ru"
            else (f"{n}/10.", f"Giving {n}.", f"{n} out of 10.")
        )
    n = scores.get("rating") or 3
    if lang == "ru":
        word = "звезду" if n == 1 else "звезды" if n < 5 else "звёзд"
        return f"Ставлю {n} {word}."
    return f"{n} star{'s' if n > 1 else ''}."


# ----------------------------------------------------------------------------------- noise
def typo(rnd: random.Random, word: str, lang: str) -> str:
    """One keyboard slip: a neighbour key, two swapped letters, a dropped or a doubled letter."""
    i = rnd.randrange(1, len(word) - 1)
    op = rnd.random()
    if op < 0.4:
        row = next((r for r in KEYBOARD[lang] if word[i].lower() in r), "")
        if row:
            j = row.index(word[i].lower())
            return (
                word[:i]
                + row[max(0, j - 1) if rnd.random() < 0.5 else min(len(row) - 1, j + 1)]
                + word[i + 1 :]
            )
    if op < 0.65:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op < 0.85:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def add_typos(rnd: random.Random, text: str, lang: str, count: int) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rnd.sample(candidates, min(count, len(candidates))):
        words[i] = typo(rnd, words[i], lang)
    return " ".join(words)


def stretch(rnd: random.Random, text: str) -> str:
    vowels = [i for i, ch in enumerate(text) if ch in "аоуеиыяюoaeiu"]
    if not vowels:
        return text
    i = rnd.choice(vowels)
    return text[:i] + text[i] * rnd.randint(3, 6) + text[i + 1 :]


def noisy(
    rnd: random.Random, pools: Pools, text: str, lang: str, channel: str, valence: float
) -> str:
    """The human layer: typos, case, punctuation, emoji, slang; lighter in e-mails."""
    p = 0.35 if channel == "email" else 1.0
    key = "ru" if lang in ("ru", "mixed") else "en"
    if key == "ru" and rnd.random() < 0.7:
        text = text.replace("ё", "е").replace("Ё", "Е")
    if rnd.random() < 0.2 * p:
        text = add_typos(rnd, text, key, rnd.randint(1, 3))
    if rnd.random() < 0.04 * p:
        text = stretch(rnd, text)
    if rnd.random() < (0.4 if channel == "support_chat" else 0.22) * p:
        text = text.lower()
    elif valence < -0.75 and len(text) < 160 and rnd.random() < 0.15:
        text = text.upper()
    if rnd.random() < 0.1 * p:
        text = text.replace(",", "")
    if rnd.random() < 0.3 * p:
        text = text.rstrip(".")
    if valence < -0.6 and rnd.random() < 0.12:
        text = text.rstrip(".!") + rnd.choice(("!!!", "!!", "?!", "!!!!!"))
    mood = "positive" if valence > 0.3 else "negative" if valence < -0.3 else "neutral"
    if rnd.random() < {"app_review": 0.18, "nps_comment": 0.12, "support_chat": 0.1}.get(
        channel, 0.05
    ):
        emoji = rnd.choice(_lines(pools.common["emoji"][mood])) * rnd.choice((1, 1, 2, 3))
        text = f"{emoji} {text}" if rnd.random() < 0.1 else f"{text} {emoji}"
    if key == "ru" and mood == "positive" and channel != "email" and rnd.random() < 0.08:
        text = text.rstrip(".!") + rnd.choice((")", "))", ")))"))
    if mood != "neutral" and channel != "email" and rnd.random() < 0.06:
        word = rnd.choice(pools.slang[key][mood])
        text = f"{word}, {text[:1].lower()}{text[1:]}" if rnd.random() < 0.5 else f"{text} {word}"
    return text


def translit(text: str) -> str:
    """Russian in Latin letters as people type it: 'dostavka opyat opozdala'."""
    out = []
    for ch in text:
        low = ch.lower()
        latin = TRANSLIT.get(low, low if low == ch else ch)
        out.append(latin.capitalize() if ch != low and low in TRANSLIT else latin)
    return "".join(out)


# ----------------------------------------------------------------------------------- messages
@dataclass
class Msg:
    """One planned message: what it is about, where it came from, who wrote it, its scores."""

    day: date
    aspect: str
    sub: str
    mix: dict[str, float] = field(default_factory=dict)
    channel: str = ""
    source: str = ""
    created: str = ""
    lang: str = "ru"
    length: str = "medium"
    customer: Customer | None = None
    second: tuple[str, str] | None = None
    valence: float = 0.0
    scores: dict[str, int | None] = field(default_factory=dict)
    text: str = ""
    messy: str = ""

    @property
    def polarity(self) -> str:
        return self.aspect.split("/")[1]

    @property
    def topic(self) -> str:
        return self.aspect.split("/")[0]


METRIC_RATES = {
    "app_review": {"rating": 1.0},
    "marketplace_review": {"rating": 1.0},
    "support_chat": {"csat": 0.65, "ces": 0.55},
    "email": {"csat": 0.2},
    "nps_comment": {"nps": 1.0, "csat": 0.15},
}
LANG_OF = {
    "ru": (("ru", 0.962), ("translit", 0.038)),
    "en": (("en", 1.0),),
    "bi": (("mixed", 0.5), ("ru", 0.3), ("en", 0.2)),
}
WORD_SWAP = {
    "курьер": "courier",
    "доставка": "delivery",
    "доставку": "delivery",
    "приложение": "app",
    "заказ": "order",
    "поддержка": "support",
    "промокод": "promo code",
    "возврат": "refund",
    "корзине": "cart",
    "скидка": "discount",
    "оформление заказа": "checkout",
    "оплату": "payment",
}


def plan_one(
    rnd: random.Random, story: dict[str, Any], picker: CustomerPicker, m: Msg, subtopics: Subtopics
) -> None:
    """Fill channel, time, customer, language, length, a second opinion, valence and scores."""
    m.channel = rnd.choices(CHANNELS, CHANNEL_AFFINITY[m.topic])[0]
    sources = story["channels"][m.channel]["sources"]
    m.source = rnd.choices(list(sources), list(sources.values()))[0]
    hour = rnd.choices(range(24), HOURS)[0]
    m.created = f"{m.day.isoformat()} {hour:02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}"
    if rnd.random() >= ANONYMOUS.get(m.channel, 0.0):
        m.customer = picker.pick(rnd, m.day)
        if m.customer.tier == "b2b" and m.channel == "email":
            m.source = "b2b_mailbox"
    langs = LANG_OF[m.customer.lang] if m.customer else tuple(story["languages"].items())
    m.lang = rnd.choices([k for k, _ in langs], [w for _, w in langs])[0]
    m.length = rnd.choices(("short", "medium", "long"), LENGTH_MIX[m.channel])[0]
    if m.length != "short" and m.polarity != "neutral" and rnd.random() < 0.28:
        topics = [t for t in SECOND_TOPIC if t != m.topic]
        weights = [
            SECOND_TOPIC[t] * (3 if m.aspect == "delivery/negative" and t == "staff" else 1)
            for t in topics
        ]
        flip = rnd.random() < (0.55 if m.polarity == "negative" else 0.35)
        pol = {"negative": "positive", "positive": "negative"}[m.polarity] if flip else m.polarity
        aspect = f"{rnd.choices(topics, weights)[0]}/{pol}"
        subs = subtopics[(m.day, aspect)]
        m.second = (aspect, rnd.choices(list(subs), list(subs.values()))[0])
    sign = {"negative": -1.0, "positive": 1.0}.get(m.polarity, 0.0)
    m.valence = sign * rnd.uniform(0.35, 1.0) if sign else rnd.uniform(-0.2, 0.25)
    if m.second:
        contrast = not m.second[0].endswith(m.polarity)
        m.valence = m.valence * 0.65 if contrast else sign * min(1.0, abs(m.valence) + 0.15)
    metrics = [k for k, p in METRIC_RATES[m.channel].items() if rnd.random() < p]
    m.scores = scores_for(rnd, m.valence, m.topic, metrics)
    if m.customer:
        m.customer.events.append((m.day, m.aspect, m.scores.get("nps")))


def body(w: Writer, m: Msg, lang: str) -> list[str]:
    """The opinion sentences: 1-3 about the main aspect, plus the second opinion joined in."""
    rnd = w.rnd
    n_main = (1 + (rnd.random() < 0.5)) if m.length == "medium" else rnd.choice((2, 2, 3))
    mains = w.sentences(lang, m.aspect, m.sub, n_main, m.mix)
    if m.second:
        other = w.sentences(lang, *m.second, 1)[0]
        if not m.second[0].endswith(m.polarity):  # contrast: the main opinion comes last and wins
            return [*mains[:-1], w.join_second(lang, other, mains[-1], contrast=True)]
        return [w.join_second(lang, mains[0], other, contrast=False), *mains[1:]]
    return mains


def compose_native(w: Writer, m: Msg, lang: str) -> str:
    """A whole RU or EN message shaped by channel and length."""
    rnd = w.rnd
    if m.aspect == "none/neutral" and (m.sub == "nothing" or m.length == "short"):
        return w.sentences(lang, m.aspect, m.sub, 1)[0]
    if m.length == "short" and m.aspect in w.pools.short[lang]:
        return w.short(lang, m.aspect, m.sub)
    parts = []
    long = m.length == "long"
    if m.channel != "email" and rnd.random() < (0.6 if long else 0.25):
        parts.append(w.opener(lang))
    if m.topic != "none" and rnd.random() < (0.5 if long else 0.12):
        parts.append(w.fill(rnd.choice(w.pools.text_block("context", lang)), lang))
    if m.scores and m.channel != "support_chat" and rnd.random() < 0.07:
        parts.append(score_sentence(rnd, lang, m.scores))
    parts += body(w, m, lang)
    if rnd.random() < (0.6 if long else 0.3):
        parts.append(w.closer(lang, m.polarity))
    if m.channel == "email":
        return email(w, lang, parts)
    if m.channel == "support_chat" and rnd.random() < 0.3:
        return "\n".join(p.rstrip(".") for p in parts)
    return " ".join(parts)


def email(w: Writer, lang: str, parts: list[str]) -> str:
    """Greeting, body, signature, sometimes a subject line and a quoted earlier reply."""
    rnd = w.rnd
    text = w.opener(lang) + "\n\n" + " ".join(parts)
    if rnd.random() < 0.8:
        text += "\n\n" + w.fill(rnd.choice(w.pools.text_block("signatures", lang)), lang)
    if rnd.random() < 0.15:
        subject = "Тема" if lang == "ru" else "Subject"
        text = (
            f"{subject}: {'Заказ' if lang == 'ru' else 'Order'} {w.slot('order', lang)}\n\n{text}"
        )
    if rnd.random() < 0.25:
        reply = w.fill(rnd.choice(w.pools.text_block("quoted_reply", lang)), lang)
        when = (
            f"{rnd.randint(1, 28)}.{rnd.randint(1, 12):02d}.2026 "
            f"{rnd.randint(9, 20)}:{rnd.randint(10, 59)}"
        )
        if rnd.random() < 0.5:
            text += (
                f"\n\n{when}, {w.slot('brand', lang)} <support@polka.market>:\n> "
                + reply.replace(". ", ".\n> ")
            )
        else:
            text += (
                "\n\n-----Original Message-----\nFrom: Polka Support <support@polka.market>\n"
                f"Sent: {when}\nSubject: Re: {w.slot('order', lang)}\n\n{reply}"
            )
    return text


def compose_mixed(w: Writer, m: Msg) -> str:
    """Code-switching: a hand-written mixed sentence, RU and EN sentences side by side, or RU with
    EN words."""
    rnd, key = w.rnd, f"{m.aspect}/{m.sub}"
    pool = w.leaf("mixed", key)
    roll = rnd.random()
    if pool and roll < 0.5:
        text = w.fill(rnd.choice(pool), "ru")
        if m.second:
            text += " " + w.sentences(rnd.choice(("ru", "en")), *m.second, 1)[0]
        elif rnd.random() < 0.3:
            text += " " + w.closer(rnd.choice(("ru", "en")), m.polarity)
        return text
    if roll < 0.8 and m.topic != "none":
        first, second = rnd.sample(("ru", "en"), 2)
        parts = w.sentences(first, m.aspect, m.sub, 1) + (
            w.sentences(second, *m.second, 1) if m.second else [w.closer(second, m.polarity)]
        )
        return " ".join(parts)
    text = compose_native(w, m, "ru")
    cut = QUOTED.search(text)  # never switch words inside a quoted support reply
    head, tail = (text[: cut.start()], text[cut.start() :]) if cut else (text, "")
    for ru, en in WORD_SWAP.items():
        if ru in head and rnd.random() < 0.6:
            head = head.replace(ru, en, 1)
    return head + tail


def compose(w: Writer, pools: Pools, m: Msg) -> str:
    """Text for a planned message in its language, with the noise layer on top."""
    rnd = w.rnd
    if m.lang == "mixed":
        text = compose_mixed(w, m)
    else:
        text = compose_native(w, m, "ru" if m.lang == "translit" else m.lang)
    if m.lang == "translit":
        text = translit(text)
        text = text.lower() if rnd.random() < 0.7 else text
        return text.replace(",", "") if rnd.random() < 0.5 else text
    return noisy(rnd, pools, text, m.lang, m.channel, m.valence)


# ----------------------------------------------------------------------------------- messy rows
MESSY = (  # kind, share of the messy rows, rows eligible (a metric that must be present)
    ("empty_text", 18, None),
    ("blank_text", 5, None),
    ("emoji_only", 18, None),
    ("very_long_text", 2, None),
    ("long_text", 3, None),
    ("nps_out_of_range", 10, "nps"),
    ("csat_not_a_number", 10, "csat"),
    ("rating_out_of_range", 8, "rating"),
    ("ces_bad", 6, "ces"),
    ("bad_date", 4, None),
    ("pii_only", 3, None),
    ("html", 6, None),
    ("unknown_customer", 3, "customer_id"),
    ("duplicate_row", 2, None),
)
BAD_VALUES = {
    "nps": ("11", "-1", "100", "12"),
    "csat": ("good", "отлично", "5/5", "плохо", "n/a"),
    "rating": ("0", "6", "five", "10"),
    "ces": ("9", "0", "очень легко"),
}


def long_text(w: Writer, chars: int) -> str:
    """An e-mail thread pasted over and over — a real export's monster row."""
    out: list[str] = []
    while sum(map(len, out)) < chars:
        aspect, sub = w.rnd.choice(
            (
                ("delivery/negative", "late"),
                ("support/negative", "unresolved"),
                ("support/negative", "returns"),
                ("quality/negative", "defect"),
            )
        )
        out.append(" ".join(w.sentences("ru", aspect, sub, 3)))
        out.append("> " + w.fill(w.rnd.choice(w.pools.text_block("quoted_reply", "ru")), "ru"))
    return "\n".join(out)[:chars]


def make_messy(w: Writer, rows: list[dict[str, str]], share: float) -> list[dict[str, str]]:
    """Spoil ~share of the rows on purpose (kept in place, marked in ``_messy``); append
    duplicates."""
    rnd = w.rnd
    total = sum(n for _, n, _ in MESSY)
    free = list(range(len(rows)))
    rnd.shuffle(free)
    duplicates = []
    for kind, weight, needs in MESSY:
        count = max(1, round(len(rows) * share * weight / total))
        chosen = [i for i in free if not needs or rows[i][needs]][:count]
        taken = set(chosen)
        free = [i for i in free if i not in taken]
        for i in chosen:
            row = rows[i]
            row["_messy"] = kind
            if kind == "duplicate_row":
                duplicates.append(dict(row))
            elif needs in BAD_VALUES:
                row[needs] = rnd.choice(BAD_VALUES[needs])
            elif kind == "unknown_customer":
                row["customer_id"] = rnd.choice(("CU0000000", "unknown", "-", "#N/A"))
            else:
                row["text"] = spoil_text(w, kind, row)
    return duplicates


def spoil_text(w: Writer, kind: str, row: dict[str, str]) -> str:
    rnd = w.rnd
    if kind == "bad_date":
        row["created_at"] = rnd.choice(
            (
                "",
                "N/A",
                "2026-02-30 12:00:00",
                datetime.fromisoformat(row["created_at"]).strftime("%d.%m.%Y %H:%M"),
            )
        )
        return row["text"]
    makers: dict[str, Callable[[], str]] = {
        "empty_text": lambda: "",
        "blank_text": lambda: rnd.choice(("   ", "\n", " \t ")),
        "emoji_only": lambda: rnd.choice(("👍", "👍👍", "😡😡😡", "🔥🔥", "🤬", "❤️", "🙄", "👎")),
        "very_long_text": lambda: long_text(w, 25_000),
        "long_text": lambda: long_text(w, 5_000),
        "pii_only": lambda: rnd.choice(
            (w.slot("phone", "ru"), w.slot("email", "ru"), "4276 3800 1234 5678")
        ),
        "html": lambda: f"<p>{row['text']}</p>&nbsp;<br/>".replace('"', "&quot;"),
    }
    return makers[kind]()


# ----------------------------------------------------------------------------------- churn + LTV
def plant_churn(rnd: random.Random, story: dict[str, Any], customers: list[Customer]) -> None:
    """Churn more after delivery complaints during the spike, after any complaint, if a
    detractor."""
    spec, start, end = story["churn"], _d(story["period"]["start"]), _d(story["period"]["end"])
    spike = next(e for e in story["events"] if e["id"] == "delivery_spike")
    s0, s1 = _d(spike["start"]), _d(spike["recovery"])
    fx = spec["logit_effects"]
    for c in customers:
        p = float(spec["base"]["new" if c.signup >= start else c.tier])
        logit, triggers, seen = math.log(p / (1 - p)), [], set()
        for day, aspect, nps in c.events:
            found = []
            if aspect == "delivery/negative" and s0 <= day < s1:
                found.append("delivery_complaint_during_spike")
            elif aspect.endswith("/negative"):
                found.append("other_negative_message")
            if nps is not None:
                found.append("detractor" if nps <= 6 else "promoter" if nps >= 9 else "")
            for effect in (f for f in found if f and f not in seen):
                seen.add(effect)
                logit += float(fx[effect])
                if fx[effect] > 0:
                    triggers.append(day)
        if rnd.random() >= 1 / (1 + math.exp(-logit)):
            continue
        first = max(start, c.signup)
        when = (
            min(triggers)
            + timedelta(
                days=spec["days_after_trigger"]["min"]
                + round(rnd.expovariate(1 / spec["days_after_trigger"]["mean_extra"]))
            )
            if triggers
            else first + timedelta(days=rnd.randint(0, max(0, (end - first).days)))
        )
        last = max((d for d, _, _ in c.events), default=c.signup)
        when = max(when, last + timedelta(days=rnd.randint(1, 20)))
        c.churned_at = when if when <= end else None


def customer_rows(
    rnd: random.Random, story: dict[str, Any], customers: list[Customer]
) -> pd.DataFrame:
    end = _d(story["period"]["end"])
    rows = []
    for c in customers:
        months = max(0.3, ((c.churned_at or end) - c.signup).days / 30.44)
        monthly = rnd.lognormvariate(math.log(story["ltv_monthly_rub"][c.tier]), 0.6)
        rows.append(
            {
                "customer_id": c.id,
                "signup": c.signup.isoformat(),
                "churned_at": c.churned_at.isoformat() if c.churned_at else "",
                "ltv": str(round(monthly * months)),
            }
        )
    return pd.DataFrame(rows, columns=CUSTOMER_COLUMNS)


# ----------------------------------------------------------------------------------- assembly
def message_row(m: Msg) -> dict[str, str]:
    def cell(value: int | None) -> str:
        return "" if value is None else str(value)

    aspects = [] if m.topic == "none" else [m.aspect.replace("/", ":")]
    if m.second:
        aspects.append(m.second[0].replace("/", ":"))
    segment = ""
    if m.customer:
        segment = "new" if (m.day - m.customer.signup).days < 90 else m.customer.tier
    return {
        "created_at": m.created,
        "channel": m.channel,
        "source": m.source,
        "text": m.text,
        "nps": cell(m.scores.get("nps")),
        "csat": cell(m.scores.get("csat")),
        "ces": cell(m.scores.get("ces")),
        "rating": cell(m.scores.get("rating")),
        "customer_id": m.customer.id if m.customer else "",
        "segment": segment,
        "_lang": m.lang,
        "_sentiment": m.polarity,
        "_aspects": ";".join(aspects),
        "_subtopic": f"{m.topic}/{m.sub}",
        "_messy": "",
    }


def generate(
    seed: int = DEFAULT_SEED,
    story_path: Path = HERE / "story.yaml",
    phrases: Path = HERE / "phrases",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The export (with ``_``-prefixed ground-truth columns) and the customers table."""
    rnd = random.Random(seed)
    story = yaml.safe_load(story_path.read_text(encoding="utf-8"))
    pools = Pools.load(phrases)
    writer = Writer(pools, rnd)
    customers = make_customers(rnd, story)
    picker = CustomerPicker(customers)
    cells, weights, subtopics = day_plan(story)
    n_dup = next(n for kind, n, _ in MESSY if kind == "duplicate_row")
    n = int(story["rows"]) - max(1, round(int(story["rows"]) * story["messy_share"] * n_dup / 100))
    msgs = []
    for i in sorted(rnd.choices(range(len(cells)), weights=weights, k=n)):
        day, aspect = cells[i]
        subs = subtopics[(day, aspect)]
        m = Msg(day, aspect, rnd.choices(list(subs), list(subs.values()))[0], subs)
        plan_one(rnd, story, picker, m, subtopics)
        writer.start_message()
        m.text = compose(writer, pools, m)
        msgs.append(m)
    msgs.sort(key=lambda m: m.created)
    rows = [message_row(m) for m in msgs]
    for i, row in enumerate(rows):
        row["review_id"] = str(5_400_001 + i)
    for dup in make_messy(writer, rows, float(story["messy_share"])):
        rows.insert(
            rows.index(next(r for r in rows if r["review_id"] == dup["review_id"])) + 1, dup
        )
    plant_churn(rnd, story, customers)
    frame = pd.DataFrame(rows, columns=EXPORT_COLUMNS + TRUTH_COLUMNS)
    return frame, customer_rows(rnd, story, customers)


def write(out: Path, seed: int = DEFAULT_SEED, truth: Path | None = None) -> list[Path]:
    """Write demo_export.csv and customers.csv (UTF-8) into ``out``; optionally the truth file."""
    frame, customers = generate(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "demo_export.csv", out / "customers.csv"]
    frame[EXPORT_COLUMNS].to_csv(paths[0], index=False, encoding="utf-8", lineterminator="\n")
    customers.to_csv(paths[1], index=False, encoding="utf-8", lineterminator="\n")
    if truth:
        frame[["review_id", *TRUTH_COLUMNS]].to_csv(
            truth, index=False, encoding="utf-8", lineterminator="\n"
        )
        paths.append(truth)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default data/demo)")
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="also write the planted labels (lang, sentiment, aspects) to this CSV",
    )
    args = parser.parse_args(argv)
    for path in write(args.out, args.seed, args.truth):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
