"""plugin/utc.py: the one reader and writer of UTC instants (parse, format, GeoPackage form)."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satellite_tasking.plugin import utc

MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=st.one_of(st.none(), st.just(timezone.utc),
                                           st.builds(lambda m: timezone(timedelta(minutes=m)),
                                                     st.integers(-23 * 60, 23 * 60))))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(MOMENTS)
def test_parse_reads_back_what_format_writes_at_full_precision(moment):
    for precision in ("auto", "micros"):
        text = utc.format_instant(moment, precision)
        assert text.endswith("Z")
        assert utc.parse_instant(text) == utc.as_utc(moment)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(MOMENTS)
def test_the_geopackage_form_keeps_milliseconds(moment):
    text = utc.gpkg_text(moment)
    assert len(text) == len("2026-01-05T10:00:00.123Z") and text[10] == "T" and text.endswith("Z")
    assert utc.parse_instant(text) == utc.to_millis(moment)
    assert utc.to_millis(moment).tzinfo is timezone.utc


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text(max_size=40) | st.none() | st.integers() | st.lists(st.integers(), max_size=3))
def test_parse_never_raises_and_answers_utc_or_none(value):
    moment = utc.parse_instant(value)
    assert moment is None or moment.tzinfo is timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2026-01-05T10:00:00Z", datetime(2026, 1, 5, 10, tzinfo=timezone.utc)),
    ("2026-01-05T10:00:00z", datetime(2026, 1, 5, 10, tzinfo=timezone.utc)),
    ("2026-01-05T12:00:00+02:00", datetime(2026, 1, 5, 10, tzinfo=timezone.utc)),
    ("2026-01-05T10:00:00", datetime(2026, 1, 5, 10, tzinfo=timezone.utc)),  # no offset: UTC
    ("2026-01-05T10:00:00.1234567Z", datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=timezone.utc)),  # 7 digits
    (" 2026-01-05T10:00:00.5Z ", datetime(2026, 1, 5, 10, 0, 0, 500000, tzinfo=timezone.utc)),
    ("yesterday", None), ("", None), ("2026-13-01T00:00:00Z", None),
])
def test_parse_reads_what_providers_send(text, expected):
    assert utc.parse_instant(text) == expected


def test_each_precision_writes_its_form():
    moment = datetime(2026, 1, 5, 10, 0, 0, 120000, tzinfo=timezone(timedelta(hours=1)))
    assert utc.format_instant(moment) == "2026-01-05T09:00:00.12Z"
    assert utc.format_instant(moment, "seconds") == "2026-01-05T09:00:00Z"
    assert utc.format_instant(moment, "millis") == "2026-01-05T09:00:00.120Z"
    assert utc.format_instant(moment, "micros") == "2026-01-05T09:00:00.120000Z"
    assert utc.format_instant(datetime(2026, 1, 5)) == "2026-01-05T00:00:00Z"  # naive = UTC
    assert utc.format_instant("2026-01-05T10:00:00+01:00") == "2026-01-05T09:00:00Z"
    assert utc.format_instant("not a time") == "not a time"  # the server names the bad value
    assert utc.gpkg_text(None) is None and utc.to_millis(None) is None
    with pytest.raises(ValueError):
        utc.format_instant(moment, "hours")
