"""Whether JSON text may hold a number too large for a float (``1e999`` reads as infinity, and so does a number
written with 309 digits).

``may_hold_overflowing_number`` is the fast path: one translation of the bytes and a few searches in C, so that a
page is decoded with a per-number check only when it may need one (the check costs a Python call for every number).
It may say yes to a number that does not overflow (``1e100``, 210 zeros); it never says no to one that does.
``holds_overflowing_number`` is its plain reference: decode every number and look. ``tests/unit/
test_json_fast_paths.py`` shows that the fast path never misses what the reference finds.

Why these two signs suffice: a number with ``d`` digits before its point and exponent ``e`` is below ``10**(d + e)``,
and floats reach ``1.8e308``. So an overflowing number has ``d + e >= 309``: either an exponent of three digits or
more, or (with an exponent of at most 99) at least 210 digits in a row.
"""
from __future__ import annotations

import json
import math

# Letters lower-cased and every digit made "0": an exponent of three digits or more is then "e000" or "e+000",
# searched for as literals (a few bytes.find calls in C; a regular expression took twice the time of the whole
# check). Look-alikes in ids ("3fa1e234") count only where a number starts (after ":", ",", "[", a space or at the
# start) and ends (before ",", "]", "}", a space or at the end).
_DIGITS_AS_ZERO = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                                  b"abcdefghijklmnopqrstuvwxyz0000000000")
_EXPONENTS_OF_THREE_DIGITS = (b"e000", b"e+000")
_MANTISSA_BYTES = b"0.-"
_BEFORE_NUMBER_BYTES = b" \t\r\n:,["
_AFTER_NUMBER_BYTES = b" \t\r\n,]}"
# Digits in a row that a number with an exponent of at most 99 needs to reach 1e309.
LONG_DIGIT_RUN = 210
_LONG_RUN = b"0" * LONG_DIGIT_RUN


def may_hold_overflowing_number(content: bytes) -> bool:
    """True when ``content`` holds a number whose exponent has three digits or more, or 210 digits in a row
    (outside strings or in)."""
    mapped = content.translate(_DIGITS_AS_ZERO)
    if _LONG_RUN in mapped:
        return True
    size = len(mapped)
    for exponent in _EXPONENTS_OF_THREE_DIGITS:
        found = mapped.find(exponent)
        while found != -1:
            if _is_number(mapped, found, found + len(exponent), size):
                return True
            found = mapped.find(exponent, found + 1)
    return False


def _is_number(mapped: bytes, e_at: int, digits_from: int, size: int) -> bool:
    """Whether the exponent found at ``e_at`` belongs to a number: a digit before it, the mantissa starting where a
    value starts, and the exponent's digits ending where a value ends."""
    end = digits_from
    while end < size and mapped[end] == 0x30:  # "0": a digit
        end += 1
    if end < size and mapped[end] not in _AFTER_NUMBER_BYTES:
        return False
    start = e_at
    if start == 0 or mapped[start - 1] != 0x30:
        return False
    while start > 0 and mapped[start - 1] in _MANTISSA_BYTES:
        start -= 1
    return start == 0 or mapped[start - 1] in _BEFORE_NUMBER_BYTES


def holds_overflowing_number(content: bytes) -> bool:
    """True when decoding ``content`` gives an infinite float from a finite number: the plain reference (every
    number decoded by a Python call). ``ValueError`` when ``content`` is not JSON."""
    found = []

    def as_float(text: str) -> float:
        value = float(text)
        if math.isinf(value):
            found.append(text)
        return value

    json.loads(content, parse_float=as_float)
    return bool(found)
