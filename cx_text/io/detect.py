"""Detect what an export file is: its format, its text encoding and its CSV dialect."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from cx_text.core.errors import IngestError

FORMATS_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".xlsb": "excel",
    ".ods": "excel",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SUPPORTED = (
    "CSV/TSV (.csv .tsv .txt), Excel (.xlsx .xlsm .xls .xlsb .ods), JSON (.json), "
    "JSON Lines (.jsonl .ndjson), Parquet (.parquet)"
)
#: single-byte encodings tried when a file is not UTF-8 (Russian/English exports)
SINGLE_BYTE = ("cp1251", "koi8_r", "cp866", "cp1252")
DELIMITERS = (",", ";", "\t", "|")
NO_DELIMITER = "\x1f"  # one-column files: a separator that never occurs in real text
HEAD_BYTES = 1 << 20
SNIFF_CHARS = 64 * 1024
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Encoding:
    """A detected text encoding; ``errors`` is how undecodable bytes are handled."""

    name: str
    errors: str = "strict"
    note: str = ""


@dataclass(frozen=True)
class Dialect:
    """A sniffed CSV dialect."""

    delimiter: str
    quoted: bool

    @property
    def label(self) -> str:
        """Human label, e.g. ``"';' (semicolon)"``."""
        names = {
            ",": "',' (comma)",
            ";": "';' (semicolon)",
            "\t": "tab",
            "|": "'|' (pipe)",
            NO_DELIMITER: "none (one column)",
        }
        return names.get(self.delimiter, repr(self.delimiter))


def check_readable(path: Path) -> None:
    """Raise IngestError unless ``path`` is a non-empty readable file."""
    if not path.exists():
        raise IngestError(f"file {str(path)!r} does not exist.", "Check the path and try again.")
    if not path.is_file():
        raise IngestError(f"{str(path)!r} is not a file.", "Give the path of an export file.")
    if path.stat().st_size == 0:
        raise IngestError(f"file {str(path)!r} is empty (0 bytes).", "Export the data again.")


def detect_format(path: Path) -> tuple[str, str]:
    """``(format, note)`` from the suffix, corrected by the file's magic bytes."""
    check_readable(path)
    with path.open("rb") as fh:
        magic = fh.read(8)
    by_suffix = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    by_magic = _format_from_magic(magic)
    if by_suffix is None:
        raise IngestError(
            f"unsupported file type {path.suffix or '(no suffix)'!r} for {path.name!r}.",
            f"Supported formats: {SUPPORTED}. Save the export as one of them.",
        )
    if by_magic and by_magic != by_suffix:
        return (
            by_magic,
            f"the content is {by_magic}, not {by_suffix or path.suffix}: read as {by_magic}",
        )
    if by_suffix in {"excel", "parquet"} and by_magic is None:
        return (
            "csv",
            f"the file is not a real {by_suffix} file (no {by_suffix} signature): read as text",
        )
    return by_suffix, ""


def _format_from_magic(magic: bytes) -> str | None:
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"\xd0\xcf\x11\xe0"):
        return "excel"
    if magic.startswith(b"PAR1"):
        return "parquet"
    return None


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of the file."""
    with path.open("rb") as fh:
        return fh.read(size)


def detect_encoding(path: Path) -> Encoding:
    """BOM, then strict UTF-8 over the whole file, then the best single-byte Cyrillic/Latin code
    page."""
    head = read_head(path)
    bom = _from_bom(head)
    if bom is not None:
        return bom
    if b"\x00" in head:
        utf16 = _utf16_without_bom(head)
        if utf16 is None and _looks_binary(head):
            raise IngestError(
                f"{path.name!r} looks like a binary file, not a text export.",
                f"Save it as one of: {SUPPORTED}.",
            )
        if utf16 is not None:
            return utf16
    bad_at = _first_invalid_utf8(path)
    if bad_at is None:
        return Encoding("utf-8")
    if _has_utf8_multibyte(head[:bad_at]):
        return Encoding(
            "utf-8",
            "replace",
            f"invalid UTF-8 bytes (first at byte {bad_at}) were replaced by '\ufffd'",
        )
    return _single_byte(path, head, bad_at)


def _looks_binary(head: bytes) -> bool:
    """More than a stray NUL or two: a text export with one bad field is still text."""
    return head.count(b"\x00") > max(2, len(head) // 1000)


def _from_bom(head: bytes) -> Encoding | None:
    if head.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", note="UTF-8 with BOM")
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        return Encoding("utf-32", "replace", "UTF-32 with BOM")
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return Encoding("utf-16", "replace", "UTF-16 with BOM (Excel 'Unicode text')")
    return None


def _utf16_without_bom(head: bytes) -> Encoding | None:
    sample = head[: 4096 - 4096 % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    name = (
        "utf-16-le"
        if odd > 0.3 * half and even < 0.05 * half
        else "utf-16-be"
        if even > 0.3 * half and odd < 0.05 * half
        else None
    )
    if name is None:
        return None
    text = sample.decode(name, "replace")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if printable < 0.95 * len(text):
        return None
    return Encoding(name, "replace", f"{name.upper()} without BOM")


def _first_invalid_utf8(path: Path) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence (streamed; None when valid)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return offset + max(exc.start, 0)
            offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


def _has_utf8_multibyte(data: bytes) -> bool:
    """True when ``data`` has non-ASCII bytes that decode as UTF-8 (so the file is UTF-8)."""
    if max(data, default=0) < 0x80:
        return False
    return bool(re.search(r"[^\x00-\x7f]", data.decode("utf-8", "ignore")))


def _single_byte(path: Path, head: bytes, bad_at: int) -> Encoding:
    """Pick among SINGLE_BYTE code pages with charset-normalizer, restricted to those."""
    from charset_normalizer import from_bytes

    with path.open("rb") as fh:
        fh.seek(max(bad_at - 1024, 0))
        window = fh.read(256 * 1024)
    lines = (head[: 128 * 1024] + b"\n" + window).splitlines()
    sample = b"\n".join(line for line in lines if max(line, default=0) >= 0x80)
    best = from_bytes(sample, cp_isolation=list(SINGLE_BYTE)).best()
    name = best.encoding if best is not None else "cp1251"
    name = {"windows_1251": "cp1251", "windows_1252": "cp1252"}.get(name, name)
    if name not in SINGLE_BYTE:
        name = "cp1251"
    return Encoding(name, "replace", "")


def decoded_head(path: Path, encoding: Encoding, chars: int = SNIFF_CHARS) -> str:
    """The first ``chars`` characters, cut after the last complete line."""
    raw = read_head(path, chars * 4)
    with io.TextIOWrapper(
        io.BytesIO(raw), encoding=encoding.name, errors="replace", newline=""
    ) as fh:
        text = fh.read(chars)
    if len(raw) == chars * 4 or len(text) == chars:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut > 0 else text
    return text


def sniff_dialect(text: str, forced: str | None = None) -> Dialect:
    """Choose the delimiter whose field counts are most consistent with the header's."""
    quoted = bool(re.search(r'(^|[,;\t|])\s*"', text, re.MULTILINE))
    if forced is not None:
        return Dialect(forced, quoted)
    best: tuple[float, int, int] = (0.0, 1, 0)
    choice = NO_DELIMITER
    for rank, delim in enumerate(DELIMITERS):
        score = _consistency(text, delim)
        key = (score[0], score[1], -rank)
        if score[1] > 1 and key > best:
            best, choice = key, delim
    return Dialect(choice, quoted)


def _consistency(text: str, delim: str) -> tuple[float, int]:
    """(share of records with the header's field count, header field count)."""
    try:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if r][:200]
    except csv.Error:
        return 0.0, 0
    if not rows:
        return 0.0, 0
    width = len(rows[0])
    body = rows[1:-1] if len(rows) > 2 else rows[1:]
    if not body:
        return 1.0, width
    return round(sum(len(r) == width for r in body) / len(body), 2), width


def file_key(path: Path, extra: str = "") -> str:
    """A short stable fingerprint of the file's content (size, head and tail) plus ``extra``."""
    h = hashlib.blake2b(digest_size=5)
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(HEAD_BYTES))
        if size > HEAD_BYTES:
            fh.seek(max(size - HEAD_BYTES, HEAD_BYTES))
            h.update(fh.read())
    h.update(extra.encode("utf-8"))
    return h.hexdigest()
