"""Each JSON fast path of plugin/fast agrees with the plain reference beside it."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satellite_tasking.plugin.fast.json_depth_scan import JsonTooDeep, check_json_depth, json_depth
from satellite_tasking.plugin.fast.json_listing_texts import listing_item_texts_by_characters, listing_with_item_texts
from satellite_tasking.plugin.fast.json_overflow_scan import holds_overflowing_number, may_hold_overflowing_number
from satellite_tasking.plugin.http import MAX_JSON_DEPTH, decode_json

# -- the depth check (fast) agrees with its plain reference ------------------------------------------

_TRICKY_TEXT = st.text(alphabet='[]{}"\\\\ab\n\u00e9', max_size=6)
_NESTED = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(value=_NESTED, wrap=st.integers(0, 12), limit=st.integers(0, 14), ascii_only=st.booleans())
def test_the_depth_check_agrees_with_its_reference(value, wrap, limit, ascii_only):
    for _ in range(wrap):
        value = [value] if wrap % 2 else {"k\\\\\"[": value}
    content = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    depth = json_depth(content)
    if depth > limit:
        with pytest.raises(JsonTooDeep):
            check_json_depth(content, limit)
    else:
        check_json_depth(content, limit)
    if depth <= MAX_JSON_DEPTH:
        assert decode_json(content) == json.loads(content)


# -- the overflow scan never misses a number the reference finds overflowing --------------------------------------

_NUMBER_TEXTS = st.builds(
    lambda sign, mantissa, fraction, e, exp_sign, zeros, exponent: (
        f"{sign}{mantissa}{fraction}{e}{exp_sign}{'0' * zeros}{exponent}"),
    st.sampled_from(["", "-"]), st.integers(0, 99999).map(str), st.sampled_from(["", ".5", ".0001"]),
    st.sampled_from(["e", "E"]), st.sampled_from(["", "+", "-"]), st.integers(0, 3), st.integers(0, 1200))
# Many digits and a short exponent, or none: 1e309 is reached without an exponent of three digits.
_LONG_NUMBER_TEXTS = st.builds(
    lambda sign, first, digits, fraction, exponent: f"{sign}{first}{'7' * digits}{fraction}{exponent}",
    st.sampled_from(["", "-"]), st.sampled_from(["1", "9"]), st.integers(150, 320), st.sampled_from(["", ".5"]),
    st.sampled_from(["", "e0", "e-5", "E+12", "e60", "e99"]))
_LOOK_ALIKES = st.sampled_from(['"3fa1e234"', '"1e999"', '"x e400"', "1e2", "0.5", "12"])


@settings(max_examples=400, deadline=None)
@given(numbers=st.lists(_NUMBER_TEXTS | _LONG_NUMBER_TEXTS | _LOOK_ALIKES, min_size=1, max_size=6),
       spaced=st.booleans(), wrap=st.sampled_from(["list", "object"]))
def test_the_overflow_scan_never_misses_an_overflowing_number(numbers, spaced, wrap):
    separator = ", " if spaced else ","
    if wrap == "list":
        text = "[" + separator.join(numbers) + "]"
    else:
        text = "{" + separator.join(f'"k{i}e999":{number}' for i, number in enumerate(numbers)) + "}"
    content = text.encode("ascii")
    if holds_overflowing_number(content):
        assert may_hold_overflowing_number(content)
    if not any("e" in n.lower() or len(n) >= 200 for n in numbers):
        assert not may_hold_overflowing_number(content)


def test_the_overflow_scan_finds_numbers_too_long_for_a_float_without_a_long_exponent():
    for text in (b"[" + b"1" * 310 + b".5]", b"[-" + b"9" * 309 + b".0]", b"[1" + b"0" * 250 + b"e60]"):
        assert holds_overflowing_number(text)
        assert may_hold_overflowing_number(text)
    assert not may_hold_overflowing_number(b"[" + b"1" * 200 + b".5, 1e99]")  # 1e200 and 1e99 are floats


def test_the_overflow_scan_ignores_ids_that_look_like_exponents():
    assert not may_hold_overflowing_number(b'{"id": "3fa1e234", "n": 1e5}')
    assert not may_hold_overflowing_number(b'{"id": "3fa1e234-1e400x", "n": "v1e400"}')  # in ids, not numbers
    assert may_hold_overflowing_number(b'{"id": "a", "n": 1e999}')
    assert holds_overflowing_number(b'[1e999]') and not holds_overflowing_number(b'[1e300, "1e999"]')


# -- a listing's item texts: the json module's reader and the character walk agree --------------------------------

_JSON_SCALARS = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(
    allow_nan=False, allow_infinity=False) | st.text(alphabet='ab"\\{}[],: \u00e9\u2028\n', max_size=6)
_JSON_VALUES = st.recursive(_JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
_DECODER = json.JSONDecoder()


@settings(max_examples=300, deadline=None)
@given(before=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "results"), _JSON_VALUES, max_size=3),
       after=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "results"), _JSON_VALUES, max_size=2),
       items=st.lists(st.dictionaries(st.text(max_size=6), _JSON_VALUES, max_size=4), max_size=5),
       indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_listing_item_texts_agree_with_the_character_walk(before, after, items, indent, ascii_only):
    page = {**before, "results": items, **{k: v for k, v in after.items() if k not in before}}
    text = json.dumps(page, indent=indent, ensure_ascii=ascii_only)
    fast = listing_with_item_texts(text, "results", _DECODER)
    reference = listing_item_texts_by_characters(text, "results")
    assert fast is not None and reference is not None
    assert fast == reference
    assert fast[0] == json.loads(text)


@pytest.mark.parametrize("text", ['[{"a": 1}]', '{"results": {"a": 1}}', '{"results": [1, 2]}', "{}",
                                  '{"count": 0}', '{"results": [{"a": 1}], "results": []}',
                                  '{"results": [{"a": 1}]} x', '{"results": [{"a": "]"}, {"b": "\\"}"}]}'])
def test_listing_item_texts_agree_on_other_shapes(text):
    try:
        fast = listing_with_item_texts(text, "results", _DECODER)
    except (ValueError, IndexError):
        fast = None
    assert fast == listing_item_texts_by_characters(text, "results")
