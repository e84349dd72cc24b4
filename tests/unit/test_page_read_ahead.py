"""The page readers (threads reading a provider's pages ahead) hand the caller what reading in turn would."""
from hypothesis import given, settings
from hypothesis import strategies as st

from satellite_tasking.plugin.page_read_ahead import read_in_turn, read_streams_ahead


class PageFailed(Exception):
    pass


def _streams(shapes, failing_at):
    """Generators of pages (stream, n); the stream ``failing_at[0]`` raises before its page ``failing_at[1]``."""

    def pages(stream, count):
        for n in range(count):
            if failing_at == (stream, n):
                raise PageFailed(f"stream {stream} page {n}")
            yield (stream, n)

    return [pages(stream, count) for stream, count in enumerate(shapes)]


def _read(reader, streams):
    got = []
    try:
        for page in reader(streams):
            got.append(page)
    except PageFailed as error:
        return got, str(error)
    return got, None


@settings(max_examples=150, deadline=None)
@given(shapes=st.lists(st.integers(0, 6), max_size=6), readers=st.integers(1, 3), depth=st.integers(1, 3),
       data=st.data())
def test_streams_read_ahead_give_what_reading_in_turn_gives(shapes, readers, depth, data):
    failing_at = None
    if shapes and data.draw(st.booleans(), label="a stream fails"):
        stream = data.draw(st.integers(0, len(shapes) - 1), label="failing stream")
        failing_at = (stream, data.draw(st.integers(0, shapes[stream]), label="before page"))
    reference, reference_error = _read(read_in_turn, _streams(shapes, failing_at))
    fast, fast_error = _read(lambda s: read_streams_ahead(s, readers=readers, depth=depth),
                             _streams(shapes, failing_at))
    assert fast_error == reference_error  # the same error, raised at the page its stream stopped at
    if failing_at is None:
        assert sorted(fast) == sorted(reference)
    else:  # the other streams' pages read before the failure may differ: none twice, none invented
        assert len(set(fast)) == len(fast)
        failed_stream, before = failing_at
        assert [page for page in fast if page[0] == failed_stream] == [(failed_stream, n) for n in range(before)]
    for stream in range(len(shapes)):
        own = [n for s, n in fast if s == stream]
        assert own == list(range(len(own)))  # each stream's pages in order, from its first
