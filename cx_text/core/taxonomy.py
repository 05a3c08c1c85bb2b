"""Topic taxonomies: versioned YAML files, validated with errors that point at the bad entry.

A taxonomy lists topics (ids are part of the tagging contract), each with RU/EN names and
descriptions, cue words/phrases per language for the rule engine, optional sub-topics and the team
that owns the topic in the closing-the-loop register. Users edit or add topics in their own copy
(``cx-text tag --taxonomy my.yaml``); a topic with only cue words works at once through the rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cx_text.core.config import DEFAULT_TAXONOMY
from cx_text.core.errors import TaxonomyError

LANGUAGES = ("ru", "en")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Subtopic:
    """A finer label inside a topic, e.g. ``delivery/late``."""

    id: str
    names: Mapping[str, str]
    cues: Mapping[str, tuple[str, ...]]
    #: what a (non-negated) cue of this sub-topic says about its topic: "negative" for
    #: delivery/late, "positive" for staff/polite, None when it says nothing (e.g. discounts)
    polarity: str | None = None

    def full_id(self, topic_id: str) -> str:
        return f"{topic_id}/{self.id}"


@dataclass(frozen=True)
class Topic:
    """One topic of the taxonomy."""

    id: str
    names: Mapping[str, str]
    description: Mapping[str, str]
    cues: Mapping[str, tuple[str, ...]]
    owner_team: str = "cx"
    subtopics: tuple[Subtopic, ...] = ()

    def name(self, lang: str = "en") -> str:
        return self.names.get(lang) or self.names.get("en") or self.id


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy with its version and the checksum of the file it came from."""

    name: str
    version: str
    topics: tuple[Topic, ...]
    checksum: str = ""
    path: str = ""
    _by_id: Mapping[str, Topic] = field(default_factory=dict, repr=False, compare=False)

    @property
    def topic_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    def topic(self, topic_id: str) -> Topic:
        try:
            return self._by_id[topic_id]
        except KeyError as exc:
            raise TaxonomyError(
                f"topic {topic_id!r} is not in taxonomy {self.name!r}; topics are: "
                f"{', '.join(self.topic_ids)}."
            ) from exc

    def subtopic_ids(self) -> tuple[str, ...]:
        return tuple(s.full_id(t.id) for t in self.topics for s in t.subtopics)

    def subtopic_polarities(self) -> dict[str, str]:
        """``{"delivery/late": "negative", "staff/polite": "positive", …}`` (only those with
        one)."""
        return {s.full_id(t.id): s.polarity for t in self.topics for s in t.subtopics if s.polarity}

    def cue_patterns(self, include_subtopics: bool = True) -> dict[str, list[str]]:
        """``{label: [cue, …]}`` for the rule engine; labels are ``topic`` or ``topic/sub``."""
        patterns: dict[str, list[str]] = {}
        for t in self.topics:
            cues = [c for lang in LANGUAGES for c in t.cues.get(lang, ())]
            if cues:
                patterns[t.id] = list(dict.fromkeys(cues))
            if include_subtopics:
                for s in t.subtopics:
                    sub = [c for lang in LANGUAGES for c in s.cues.get(lang, ())]
                    if sub:
                        patterns[s.full_id(t.id)] = list(dict.fromkeys(sub))
        return patterns

    def owner_teams(self) -> dict[str, str]:
        return {t.id: t.owner_team for t in self.topics}

    def __iter__(self) -> Iterator[Topic]:
        return iter(self.topics)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read and validate a taxonomy YAML (default: the packaged ``default.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_TAXONOMY
    if not path.is_file():
        raise TaxonomyError(
            f"taxonomy file {path} does not exist.",
            "Pass --taxonomy with a YAML file, or copy cx_text/core/taxonomies/default.yaml and "
            "edit it.",
        )
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TaxonomyError(
            f"taxonomy {path} is not valid UTF-8 YAML: {exc}", "Fix the syntax."
        ) from exc
    return parse_taxonomy(data, source=str(path), checksum=hashlib.sha256(raw).hexdigest())


def parse_taxonomy(data: Any, source: str = "<dict>", checksum: str = "") -> Taxonomy:
    """Validate an already-parsed taxonomy mapping; every error names the offending entry."""
    where = f"taxonomy {source}"
    if not isinstance(data, dict):
        raise TaxonomyError(
            f"{where}: the top level must be a mapping with 'version' and 'topics'."
        )
    version = _require_str(data, "version", where)
    topics_raw = data.get("topics")
    if not isinstance(topics_raw, list) or not topics_raw:
        raise TaxonomyError(f"{where}: 'topics' must be a non-empty list.", "See default.yaml.")
    topics = tuple(_parse_topic(t, f"{where}: topics[{i}]") for i, t in enumerate(topics_raw))
    _check_unique([t.id for t in topics], f"{where}: topic ids")
    by_id = {t.id: t for t in topics}
    name = str(data.get("name") or Path(source).stem)
    return Taxonomy(
        name=name, version=version, topics=topics, checksum=checksum, path=source, _by_id=by_id
    )


def _parse_topic(raw: Any, where: str) -> Topic:
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where} must be a mapping with id, names, description, cues.")
    topic_id = _parse_id(raw, where)
    where = f"{where} ({topic_id})"
    subs_raw = raw.get("subtopics") or []
    if not isinstance(subs_raw, list):
        raise TaxonomyError(f"{where}.subtopics must be a list.")
    subs = tuple(_parse_subtopic(s, f"{where}.subtopics[{i}]") for i, s in enumerate(subs_raw))
    _check_unique([s.id for s in subs], f"{where}: sub-topic ids")
    return Topic(
        id=topic_id,
        names=_lang_map(raw.get("names"), f"{where}.names", required=True),
        description=_lang_map(raw.get("description") or {}, f"{where}.description"),
        cues=_cue_map(raw.get("cues"), f"{where}.cues"),
        owner_team=str(raw.get("owner_team") or "cx"),
        subtopics=subs,
    )


def _parse_subtopic(raw: Any, where: str) -> Subtopic:
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where} must be a mapping with id, names, cues.")
    sub_id = _parse_id(raw, where)
    where = f"{where} ({sub_id})"
    return Subtopic(
        id=sub_id,
        names=_lang_map(raw.get("names") or {"en": sub_id}, f"{where}.names"),
        cues=_cue_map(raw.get("cues"), f"{where}.cues"),
        polarity=_parse_polarity(raw.get("polarity"), where),
    )


def _parse_polarity(raw: Any, where: str) -> str | None:
    if raw is None or raw in ("negative", "positive"):
        return raw
    raise TaxonomyError(f"{where}.polarity is {raw!r}.", "Use negative, positive or leave it out.")


def _parse_id(raw: dict[str, Any], where: str) -> str:
    value = raw.get("id")
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise TaxonomyError(
            f"{where}.id is {value!r}; ids must be lower-case latin letters, digits and '_' "
            "starting with a letter (e.g. delivery, promo_codes)."
        )
    return value


def _lang_map(raw: Any, where: str, required: bool = False) -> dict[str, str]:
    if not isinstance(raw, dict) or (required and not raw):
        raise TaxonomyError(
            f"{where} must map languages to text, e.g. {{ru: Доставка, en: Delivery}}."
        )
    bad = [k for k, v in raw.items() if not isinstance(v, str)]
    if bad:
        raise TaxonomyError(f"{where}: values for {bad} must be text.")
    return {str(k): v for k, v in raw.items()}


def _cue_map(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TaxonomyError(
            f"{where} must map languages to lists of cue words, e.g. {{ru: [курьер]}}."
        )
    out: dict[str, tuple[str, ...]] = {}
    for lang, cues in raw.items():
        if lang not in LANGUAGES:
            raise TaxonomyError(f"{where}: unknown language {lang!r}; use {', '.join(LANGUAGES)}.")
        if cues is None:
            cues = []
        if not isinstance(cues, list) or not all(isinstance(c, str) and c.strip() for c in cues):
            raise TaxonomyError(f"{where}.{lang} must be a list of non-empty strings.")
        out[lang] = tuple(c.strip() for c in cues)
    return out


def _require_str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value is None or not str(value).strip():
        raise TaxonomyError(f"{where}: '{key}' is required (e.g. {key}: \"2026.11.1\").")
    return str(value)


def _check_unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    dupes = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    if dupes:
        raise TaxonomyError(f"{what} must be unique; repeated: {', '.join(dupes)}.")
