"""The one way the plugin validates values against a product's JSON schema (no Qt).

A product's schema comes from a provider, so it is text from a server: its ``$ref`` may name another
address (``http://…``) or a local file (``file:///…``). jsonschema, left to itself, fetches such a
reference with its own ``urllib``/``requests`` call (outside the plugin's session: no HTTPS rule, no QGIS
proxy, no deadline) or reads the file and may quote it back in an error message. Here a reference is
resolved only inside the schema document itself (and jsonschema's own bundled meta-schemas, which are
in memory); any other is refused, nothing is fetched or read, and the refusal becomes a sentence
(``SchemaReachesOut``).

Two jsonschema generations are in use: 4.10 (Debian 12, ``RefResolver``) and 4.18+ (Debian 13 and
later, the ``referencing`` library, where ``RefResolver`` is deprecated). Both are handled: with
``referencing`` a ``Registry`` whose ``retrieve`` refuses; without it a ``RefResolver`` whose
``resolve_remote`` refuses.

Bounds keep a hostile or huge schema from holding the GUI thread: ``schema_too_large`` refuses a schema of
more than ``MAX_SCHEMA_PROPERTIES`` parameters with a sentence, and ``pattern`` is matched with bounded work
(``pattern_search``).
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Iterator, Optional

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, relevance
from jsonschema.validators import extend, validator_for

logger = logging.getLogger(__name__)

# The order form builds one editor per property on the GUI thread (about 0.3-0.7 ms each, once building is
# linear). Real order schemas have tens; past this the form is refused with a sentence instead of holding
# QGIS for seconds (10,000 properties: 6-12 s of widgets alone).
MAX_SCHEMA_PROPERTIES = 1000
# How many schema nodes ``external_references`` looks at (a schema is a tree of dicts and lists).
MAX_NODES_SCANNED = 200_000


class SchemaReachesOut(Exception):  # noqa: N818 - a sentence for the user, not a programming error
    """The schema refers to something outside itself (another address or a file), which is never fetched."""

    def __init__(self, reference: str):
        shown = reference if len(reference) <= 120 else reference[:117] + "…"
        super().__init__(
            f"The product's schema refers to {shown}, outside the schema itself; the plugin never fetches "
            f"schema parts from other addresses or files, so these values cannot be checked. Ask the provider "
            f"for a self-contained schema.")
        self.reference = reference


class _Refusal:
    """Remembers the references refused while validating (the exception jsonschema raises wraps ours in
    version-specific ways; the record does not depend on them)."""

    def __init__(self):
        self.refused: list = []

    def refuse(self, uri) -> Exception:
        self.refused.append(str(uri))
        return SchemaReachesOut(str(uri))


def validator_class_of(schema):
    """The jsonschema validator class the schema's ``$schema`` asks for (draft 7 when it says nothing)."""
    try:
        return validator_for(schema, default=Draft7Validator)
    except (TypeError, LookupError):
        return Draft7Validator


def _referencing_registry(refusal: _Refusal):
    """A ``referencing.Registry`` that retrieves nothing, or None when jsonschema predates ``referencing``."""
    try:
        from referencing import Registry
    except ImportError:
        return None

    def retrieve(uri):
        raise refusal.refuse(uri)

    return Registry(retrieve=retrieve)


def _local_resolver(schema, validator_class, refusal: _Refusal):
    """A jsonschema < 4.18 ``RefResolver`` for ``schema`` that refuses every remote document."""
    from jsonschema import RefResolver

    class LocalOnlyResolver(RefResolver):
        def resolve_remote(self, uri):
            raise refusal.refuse(uri)

    id_of = getattr(validator_class, "ID_OF", None)
    if id_of is None:
        return LocalOnlyResolver.from_schema(schema)
    return LocalOnlyResolver.from_schema(schema, id_of=id_of)


class SchemaValidator:
    """Validates values against ``schema``, resolving ``$ref`` only inside ``schema``.

    ``errors(values)`` gives jsonschema's errors, most relevant first; it raises ``SchemaReachesOut`` when
    checking the values would need a part from outside the schema. ``part(subschema)`` validates against a
    part of the same document (an ``if`` of UP42's if/then/else), its references still resolved in it.
    """

    def __init__(self, schema, *, format_checker=None, validator_class=None, _validator=None, _refusal=None):
        self.schema = schema
        self._refusal = _refusal or _Refusal()
        if _validator is not None:
            self._validator = _validator
            self.validator_class = validator_class
            return
        self.validator_class = validator_class or validator_class_of(schema)  # the draft the schema is read by
        cls = _with_bounded_pattern(self.validator_class)
        options = {} if format_checker is None else {"format_checker": format_checker}
        registry = _referencing_registry(self._refusal)
        validator = None
        if registry is not None:
            try:
                validator = cls(schema, registry=registry, **options)
            except TypeError:  # referencing installed beside a jsonschema older than 4.18
                validator = None
        if validator is None:
            validator = cls(schema, resolver=_local_resolver(schema, cls, self._refusal), **options)
        self._validator = validator

    def part(self, subschema) -> SchemaValidator:
        """A validator of ``subschema``, a part of this schema, whose references resolve in the whole."""
        return SchemaValidator(subschema, _validator=self._validator.evolve(schema=subschema),
                               _refusal=self._refusal, validator_class=self.validator_class)

    def errors(self, values) -> list:
        before = len(self._refusal.refused)
        try:
            return sorted(self._validator.iter_errors(values), key=relevance)
        except Exception:
            if len(self._refusal.refused) > before:
                raise SchemaReachesOut(self._refusal.refused[-1]) from None
            raise

    def is_valid(self, values) -> bool:
        before = len(self._refusal.refused)
        try:
            return self._validator.is_valid(values)
        except Exception:
            if len(self._refusal.refused) > before:
                raise SchemaReachesOut(self._refusal.refused[-1]) from None
            raise


def external_references(schema, limit: int = MAX_NODES_SCANNED) -> list:
    """The ``$ref`` values of ``schema`` that point outside it (anything not starting with ``#``)."""
    found: list = []
    stack, seen = [schema], 0
    while stack and seen < limit:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#") and ref not in found:
                found.append(ref)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def schema_objects(schema, limit: int = MAX_NODES_SCANNED) -> Iterator[dict]:
    """Every object of ``schema`` at any depth, in a bounded walk (at most ``limit`` nodes looked at)."""
    stack, seen = [schema], 0
    while stack and seen < limit:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            yield node
            stack.extend(value for value in node.values() if isinstance(value, (dict, list)))
        elif isinstance(node, list):
            stack.extend(value for value in node if isinstance(value, (dict, list)))


def count_properties(schema, limit: int = MAX_NODES_SCANNED) -> int:
    """How many property schemas ``schema`` declares, at any depth (bounded walk)."""
    return sum(len(node["properties"]) for node in schema_objects(schema, limit)
               if isinstance(node.get("properties"), dict))


def schema_too_large(schema) -> Optional[str]:
    """A sentence when the schema declares more properties than a form is built for, else None."""
    count = count_properties(schema)
    if count > MAX_SCHEMA_PROPERTIES:
        return (f"The order form cannot be built: the product's schema declares {count:,} parameters, more than "
                f"the {MAX_SCHEMA_PROPERTIES:,} a form is built for. Ask the provider about this product.")
    return None


def pattern_search(pattern: str, text: str) -> bool:
    """JSON Schema's ``pattern``: does ``pattern`` match anywhere in ``text``, with bounded work.

    Python's ``re`` backtracks without limit and holds Python's lock while it does (so running it in another
    thread would stall the GUI thread just the same): ``^((a+)+)+$`` against 16 letters and a "!" takes 3.6 s,
    and each extra letter doubles it. Inside QGIS the match runs in PCRE2 (``QRegularExpression``), whose
    match limit ends such a search after about ten million steps (30-50 ms) with "no match", so a hostile
    pattern refuses a value instead of stalling. Without Qt (a plain Python shell, no GUI thread to hold),
    or for a pattern PCRE2 cannot read, Python's ``re`` decides, as jsonschema would.
    """
    compiled = _qt_regex(pattern)
    if compiled is None:
        return re.search(pattern, text) is not None
    return compiled.match(text).hasMatch()


_PER_THREAD = threading.local()
_MAX_CACHED_PATTERNS = 256


def _qt_regex(pattern: str):
    """A valid ``QRegularExpression`` of ``pattern`` (cached per thread), or None."""
    cache = getattr(_PER_THREAD, "patterns", None)
    if cache is None:
        cache = _PER_THREAD.patterns = {}
    if pattern in cache:
        return cache[pattern]
    try:
        from qgis.PyQt.QtCore import QRegularExpression
    except ImportError:
        compiled = None
    else:
        compiled = QRegularExpression(pattern)
        if not compiled.isValid():
            compiled = None
    if len(cache) >= _MAX_CACHED_PATTERNS:
        cache.clear()
    cache[pattern] = compiled
    return compiled


def _bounded_pattern(validator, pattern, instance, schema):
    """jsonschema's ``pattern`` keyword, matched by ``pattern_search``."""
    if not validator.is_type(instance, "string") or not isinstance(pattern, str):
        return
    if not pattern_search(pattern, instance):
        yield ValidationError(f"{shorten_value(instance)} does not match {pattern!r}")


def _bounded_pattern_properties(validator, pattern_properties, instance, schema):
    """jsonschema's ``patternProperties`` keyword, with the names matched by ``pattern_search`` (a free JSON
    object typed into the form may hold a name of any length)."""
    if not validator.is_type(instance, "object") or not isinstance(pattern_properties, dict):
        return
    for pattern, subschema in pattern_properties.items():
        for name, value in instance.items():
            if isinstance(pattern, str) and pattern_search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def shorten_value(value, limit: int = 80) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


_BOUNDED_CLASSES: dict = {}


def _with_bounded_pattern(cls):
    """``cls`` with its ``pattern`` keyword matched by ``pattern_search`` (one class per base class)."""
    bounded = _BOUNDED_CLASSES.get(cls)
    if bounded is None:
        bounded = _BOUNDED_CLASSES[cls] = extend(cls, {"pattern": _bounded_pattern,
                                                      "patternProperties": _bounded_pattern_properties})
    return bounded
