"""UTC instants: the one place that reads, writes and rounds them (standard library only).

Every provider, the store and the front ends speak of moments in UTC; they differ only in how many
fraction digits the text carries. So there is one reader (``parse_instant``: any ISO 8601 / RFC 3339
text a provider sends, or a datetime; naive means UTC) and one writer (``format_instant``) with the
precision named at the call site:

* ``"auto"``: RFC 3339 with ``Z`` and only the fraction digits the moment has (STAPI, the sandbox);
* ``"seconds"``: no fraction (what a QGIS date-time widget gives, Processing's START/END);
* ``"millis"``: three digits — the GeoPackage DATETIME form ``YYYY-MM-DDTHH:MM:SS.SSSZ`` (``gpkg_text``);
* ``"micros"``: six digits, nothing lost (Planet's form, sync cursors).

No Qt here, so a provider or the model may use it; Qt date-times are converted by their callers
(``QDateTime.toUTC().toPyDateTime()``).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Optional

PRECISIONS = ("auto", "seconds", "millis", "micros")

# Python 3.9/3.10's fromisoformat reads only 3 or 6 fraction digits; 3.11 reads any. The fraction is padded
# or cut to 6 so every supported Python reads the same text the same way.
_FRACTION = re.compile(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$")


def as_utc(moment: Optional[datetime]) -> Optional[datetime]:
    """The same instant with ``tzinfo=timezone.utc`` (a naive datetime is taken as UTC already)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)


def parse_instant(value) -> Optional[datetime]:
    """An aware UTC datetime from ISO 8601 text (``Z``, ``z`` or an offset; no offset = UTC; any number of
    fraction digits) or from a datetime; None for anything absent or unreadable — never an exception."""
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:  # the fast way on Python 3.11, which reads "Z" and any fraction itself
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    match = _FRACTION.match(text)
    if match:
        text = f"{match.group(1)}.{(match.group(2) + '000000')[:6]}{match.group(3)}"
    try:
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def format_instant(value, precision: str = "auto") -> str:
    """RFC 3339 UTC text ending in ``Z`` for a datetime (naive = UTC) or ISO text; ``precision`` is one of
    ``PRECISIONS`` (see the module docstring). Text that is not a readable instant is returned as it is, so
    a server names the bad value rather than this function hiding it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    moment = parse_instant(value)
    if moment is None:
        return "" if value is None else str(value)
    # %-formatting of the fields: several times faster than strftime, which counts over thousands of records.
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (  # noqa: UP031 - the fast way, see above
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    if precision == "micros":
        text += ".%06d" % moment.microsecond  # noqa: UP031
    elif precision == "millis":
        text += ".%03d" % (moment.microsecond // 1000)  # noqa: UP031
    elif precision == "auto" and moment.microsecond:
        text += (".%06d" % moment.microsecond).rstrip("0")  # noqa: UP031
    return text + "Z"


def to_millis(moment: Optional[datetime]) -> Optional[datetime]:
    """The instant in UTC cut to whole milliseconds: what a GeoPackage DATETIME keeps of it."""
    moment = as_utc(moment)
    return None if moment is None else moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def gpkg_text(moment: Optional[datetime]) -> Optional[str]:
    """GeoPackage DATETIME text, ``YYYY-MM-DDTHH:MM:SS.SSSZ`` in UTC (None stays None): ``format_instant(moment,
    "millis")`` for datetimes, written out here because a sync stores it for every order and capture."""
    if moment is None:
        return None
    if moment.tzinfo is not timezone.utc:
        moment = as_utc(moment)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - the fast way, see format_instant
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond // 1000)


__all__ = ["PRECISIONS", "as_utc", "format_instant", "gpkg_text", "parse_instant", "to_millis"]
