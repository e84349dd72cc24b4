"""A listing page read once, keeping the exact JSON text the provider sent for each item of its array.

A store can keep an item's answer as sent instead of encoding it again (for thousands of captures, encoding
costs more than reading them). ``listing_with_item_texts`` is the fast path: the json module's own reader
(``JSONDecoder.raw_decode``) reads the page value by value and the items one by one, each item's text being the
slice between where its reading began and ended. ``listing_item_texts_by_characters`` is its plain reference: the
page read by ``json.loads``, the items' texts found by walking the characters. ``tests/unit/
test_json_fast_paths.py`` shows that both agree.
"""
from __future__ import annotations

import json
import re
from typing import Optional

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_JSON_WHITESPACE = " \t\n\r"


def listing_with_item_texts(text: str, items_key: str, decoder: json.JSONDecoder) -> Optional[tuple]:
    """(page, [text of each item of ``page[items_key]``]) of a JSON object read with ``decoder``; None when the
    text is not an object holding that array of objects (the last one when the key is given twice, as json reads
    it), or holds anything after it. A value the decoder
    refuses raises what it raises (``ValueError``)."""
    skip = _WHITESPACE.match
    read = decoder.raw_decode
    index = skip(text, 0).end()
    if text[index] != "{":
        return None
    page: dict = {}
    items = texts = None
    index = skip(text, index + 1).end()
    if text[index] == "}":
        return None
    while True:
        if text[index] != '"':
            return None
        key, index = read(text, index)
        index = skip(text, index).end()
        if text[index] != ":":
            return None
        index = skip(text, index + 1).end()
        if key == items_key and text[index] == "[":
            items, texts = [], []
            index = skip(text, index + 1).end()
            if text[index] == "]":
                index += 1
            else:
                while True:
                    start = index
                    item, index = read(text, index)
                    if not isinstance(item, dict):
                        return None
                    items.append(item)
                    texts.append(text[start:index])
                    index = skip(text, index).end()
                    if text[index] == ",":
                        index = skip(text, index + 1).end()
                        continue
                    if text[index] != "]":
                        return None
                    index += 1
                    break
            value = items
        else:
            value, index = read(text, index)
        page[key] = value
        index = skip(text, index).end()
        if text[index] == ",":
            index = skip(text, index + 1).end()
            continue
        if text[index] != "}":
            return None
        index = skip(text, index + 1).end()
        break
    if index != len(text) or texts is None or page.get(items_key) is not items:
        return None  # trailing data, or the key came again with another value: let the plain reading decide
    return page, texts


def listing_item_texts_by_characters(text: str, items_key: str) -> Optional[tuple]:
    """The plain reference of ``listing_with_item_texts``: ``json.loads`` reads the page, and a walk over the
    characters (strings, escapes and nesting followed one by one) finds where each item of the page's
    ``items_key`` array begins and ends. None in the same cases."""
    try:
        page = json.loads(text)
    except ValueError:
        return None
    if not isinstance(page, dict) or not isinstance(page.get(items_key), list):
        return None
    if not all(isinstance(item, dict) for item in page[items_key]):
        return None
    depth = 0
    in_string = escaped = False
    previous = ""  # the last character outside strings that is not whitespace
    string_start = 0
    key = None  # the last key of the page read
    in_items = False
    item_start = 0
    texts: list = []
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if depth == 1 and previous in "{,":
                    key = json.loads(text[string_start:index + 1])
                previous = '"'
            continue
        if char in _JSON_WHITESPACE:
            continue
        if char == '"':
            in_string, string_start = True, index
            continue
        if char in "[{":
            depth += 1
            if depth == 2 and char == "[" and previous == ":" and key == items_key:
                in_items, texts = True, []  # a key given twice: the last one counts, as json.loads reads it
            elif depth == 3 and in_items and char == "{":
                item_start = index
        elif char in "]}":
            if depth == 3 and in_items and char == "}":
                texts.append(text[item_start:index + 1])
            elif depth == 2 and in_items:
                in_items = False
            depth -= 1
        previous = char
    return page, texts
