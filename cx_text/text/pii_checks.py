"""Checksums and validity rules that tell an identifier from any other number (used by :mod:`pii`).

Each check takes a digit (or IBAN) string without separators and says whether it can be real:
cards (Luhn), Russian INN and SNILS (official check digits), IBAN (ISO 13616 mod-97), US SSN
(area/group/serial rules) and North-American phone numbers (NANP area and exchange rules).
"""

from __future__ import annotations

from collections.abc import Sequence

#: IBAN length per country (ISO 13616 registry, the countries customers write from most).
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AT": 20,
    "AZ": 28,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BY": 28,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IT": 27,
    "KZ": 20,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "TR": 26,
    "UA": 29,
}


def luhn_ok(digits: str) -> bool:
    """True if a digit string passes the Luhn check (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_ok(digits: str) -> bool:
    """A payment card: 13–19 digits, an issuer prefix 2–6 (Mir, Visa, Mastercard, Amex, UnionPay…)
    and a valid Luhn digit."""
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def inn_ok(digits: str) -> bool:
    """True for a Russian INN (10 digits: organisation, 12: person) with valid check digits."""

    def check(weights: Sequence[int], n: int) -> bool:
        return sum(w * int(d) for w, d in zip(weights, digits, strict=False)) % 11 % 10 == int(
            digits[n]
        )

    if len(digits) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8), 9)
    if len(digits) == 12:
        return check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8), 10) and check(
            (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8), 11
        )
    return False


def snils_ok(digits: str) -> bool:
    """True for an 11-digit SNILS whose last two digits are its checksum."""
    if len(digits) != 11:
        return False
    total = sum(int(d) * (9 - i) for i, d in enumerate(digits[:9]))
    while total > 101:
        total %= 101
    expected = 0 if total in (100, 101) else total
    return expected == int(digits[9:])


def iban_ok(iban: str) -> bool:
    """True for an IBAN (no spaces) of its country's length whose mod-97 remainder is 1."""
    iban = iban.upper()
    if len(iban) < 15 or not iban[:2].isalpha() or not iban[2:4].isdigit() or not iban.isalnum():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def ssn_ok(digits: str) -> bool:
    """A US Social Security number: 9 digits, area not 000/666/9xx, group not 00, serial not
    0000."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def nanp_ok(digits: str) -> bool:
    """A 10-digit North-American number: area and exchange start 2–9, no N11 area (911…), not one
    repeated digit. Russian mobiles without the 8/+7 (``9123456789``) pass too — also phones."""
    if len(digits) != 10 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    area, exchange = digits[:3], digits[3:6]
    return area[0] in "23456789" and exchange[0] in "23456789" and area[1:] != "11"
