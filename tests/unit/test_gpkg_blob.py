"""The GeoPackage blob fast path (plugin/fast/gpkg_blob.py) agrees with its plain reference on any input: the same
bytes, or the same error."""
import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from satellite_tasking.plugin.fast.gpkg_blob import multipolygon_blob, multipolygon_blob_plain

_NUMBER = (st.floats(allow_nan=True, allow_infinity=True) | st.floats(-180, 180) | st.integers(-10**20, 10**20)
           | st.just(10**400) | st.booleans() | st.sampled_from(["1.5", "x", ""]) | st.none())
_POSITION = st.lists(_NUMBER, min_size=0, max_size=4) | st.tuples(st.floats(-180, 180), st.floats(-90, 90)) | (
    st.sampled_from(["ab", 3.0, None, {"0": 1, "1": 2}]))
_RING = st.lists(_POSITION, min_size=0, max_size=8) | st.lists(
    st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(list), min_size=4, max_size=40)
_POLYGONS = st.lists(st.lists(_RING, min_size=1, max_size=3), min_size=1, max_size=3)
_ERRORS = (TypeError, ValueError, IndexError, OverflowError, KeyError, struct.error)


def _outcome(write, polygons):
    try:
        return write(polygons, 4326)
    except _ERRORS as error:
        return type(error)


@settings(max_examples=600, deadline=None)
@given(polygons=_POLYGONS)
def test_the_fast_blob_agrees_with_its_reference(polygons):
    assert _outcome(multipolygon_blob, polygons) == _outcome(multipolygon_blob_plain, polygons)


def test_a_footprint_gives_the_same_bytes_both_ways():
    ring = [[102.451585, -9.903964], [102.49175, -9.903964], [102.49175, -9.864395], [102.451585, -9.864395],
            [102.451585, -9.903964]]
    blob = multipolygon_blob([[ring]], 4326)
    assert blob == multipolygon_blob_plain([[ring]], 4326)
    assert struct.unpack_from("<4d", blob, 8) == (102.451585, 102.49175, -9.903964, -9.864395)
    assert math.isclose(struct.unpack_from("<d", blob, 40 + 9 + 9 + 4)[0], 102.451585)
