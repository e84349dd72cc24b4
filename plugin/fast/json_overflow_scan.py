"""Whether JSON text may hold a number too large for a float (``1e999`` reads as infinity).

``may_hold_overflowing_number`` is the fast path: one regular-expression search over the bytes, so that a page
is decoded with a per-number check only when it may need one (the check costs a Python call for every number).
It may say yes to a number that does not overflow (``1e100``); it never says no to one that does.
``holds_overflowing_number`` is its plain reference: decode every number and look. ``tests/unit/
test_json_fast_paths.py`` shows that the fast path never misses what the reference finds.
"""
from __future__ import annotations

import json
import math
import re

# An exponent of three digits or more may overflow a float. Ids carry look-alikes ("3fa1e234"): a match counts
# only where a number starts (after ":", ",", "[", a space or at the start). The pattern starts with a literal
# "e" (searched for in lower-cased text) so that scanning a page stays fast.
_EXPONENT = re.compile(rb"e\+?0*[1-9][0-9]{2,}(?=[\s,\]}]|$)")  # a number ends before these
_MANTISSA_BYTES = b"0123456789.-"
_BEFORE_NUMBER_BYTES = b" \t\r\n:,["


def may_hold_overflowing_number(content: bytes) -> bool:
    """True when ``content`` holds a number whose exponent has three digits or more (outside strings or in)."""
    lowered = content.lower()
    for match in _EXPONENT.finditer(lowered):
        start = match.start()
        if start == 0 or lowered[start - 1] not in _MANTISSA_BYTES:
            continue
        while start > 0 and lowered[start - 1] in _MANTISSA_BYTES:
            start -= 1
        if start == 0 or lowered[start - 1] in _BEFORE_NUMBER_BYTES:
            return True
    return False


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
