"""How deep JSON text nests, found before anything recurses into it.

``check_json_depth`` is the fast path (no Python loop over the bytes); ``json_depth`` is its plain reference, read
character by character (too slow for every answer). ``tests/unit/test_json_fast_paths.py`` shows that both agree.
"""
from __future__ import annotations

import re


class JsonTooDeep(ValueError):
    """JSON nested deeper than a limit: json's reader would recurse once per level and raise a RecursionError
    (or the code reading the value would)."""


# Structure only: brackets and braces (both read as "[" and "]": depth does not care which, and a mismatch is
# not JSON anyway) and quotes; every other byte is deleted.
_STRUCTURE_TABLE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING_SKELETON = re.compile(rb'"[^"]*"')


def check_json_depth(content: bytes, limit: int) -> None:
    """Raise ``JsonTooDeep`` when ``content`` nests deeper than ``limit``, before anything recurses.

    The structure is kept (escaped backslashes and quotes removed, then all but brackets and quotes, then the
    strings), and the innermost pairs are removed ``limit`` times (``bytes.replace`` removes exactly one level a
    round); anything left nests deeper. A body too short to nest deeper is not looked at. Brackets that do not
    pair up are not JSON: ``ValueError``, without recursing either.
    """
    if len(content) <= 2 * limit:  # too short to hold more than ``limit`` pairs
        return
    if b'\\"' in content:  # only then can a quote be escaped (and only then do escaped backslashes matter)
        content = content.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = content.translate(_STRUCTURE_TABLE, _NOT_STRUCTURE)
    skeleton = skeleton.replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _STRING_SKELETON.sub(b"", skeleton)
    if not skeleton:
        return
    for _level in range(limit):
        shorter = skeleton.replace(b"[]", b"")
        if not shorter:
            return
        if len(shorter) == len(skeleton):
            raise ValueError("brackets that do not pair up are not JSON")
        skeleton = shorter
    raise JsonTooDeep(f"JSON nested deeper than {limit} levels")


def json_depth(content: bytes) -> int:
    """How deep JSON text nests, read character by character: the plain reference of ``check_json_depth``."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in content:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest
