"""Language data (cue lists, name lists, stop words) shipped as package data, and its readers.

The data lives in ``*.txt`` (one entry a line, ``#`` comments) and ``*.yaml`` files next to this
module; edit those, not code. Readers are cached: the files are small and never change at run time.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cx_text.core.errors import CxTextError


def fold(text: str) -> str:
    """Lower-case and fold ``ё`` to ``е`` — the form every cue and lemma is compared in."""
    return text.lower().replace("ё", "е")


def _read(name: str) -> str:
    try:
        return resources.files("cx_text.core.lang").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CxTextError(
            f"language data file cx_text/core/lang/{name} is missing.",
            "Reinstall cx_text (the package data was not installed).",
        ) from exc


@cache
def load_list(name: str) -> frozenset[str]:
    """Entries of ``cx_text/core/lang/<name>`` (a .txt file), folded, without comments."""
    lines = (line.split("#", 1)[0].strip() for line in _read(name).splitlines())
    return frozenset(fold(line) for line in lines if line)


@cache
def load_yaml(name: str) -> dict[str, Any]:
    """Parsed ``cx_text/core/lang/<name>`` (a .yaml file)."""
    data = yaml.safe_load(_read(name))
    if not isinstance(data, dict):
        raise CxTextError(f"cx_text/core/lang/{name} must hold a mapping.", "Restore the file.")
    return data


def cue_words(lang: str, kind: str) -> tuple[str, ...]:
    """Cue phrases of one kind for ``ru``/``en``: ``negation_forward``, ``contrast`` …"""
    return tuple(fold(str(w)) for w in load_yaml("cues.yaml").get(lang, {}).get(kind, []))


def stop_words(lang: str) -> frozenset[str]:
    """Function words for ``ru`` or ``en`` (no negation, contrast or opinion words)."""
    return load_list(f"stopwords_{lang}.txt")


_WORD = re.compile(r"[^\W\d_]{3,}")


@cache
def _not_content() -> frozenset[str]:
    return stop_words("ru") | stop_words("en") | load_list("courtesy.txt")


def has_content(text: str) -> bool:
    """True when a text holds a word that is neither a stop word nor a greeting/thanks/sign-off
    ("Здравствуйте!", "Thanks, team", "Отправлено с iPhone" have none): such clauses are never
    evidence of a topic nor material for a theme."""
    skip = _not_content()
    return any(fold(w) not in skip for w in _WORD.findall(text))
