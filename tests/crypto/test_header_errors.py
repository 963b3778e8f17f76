"""Header parsing errors name what is wrong, exactly (pinned by mutation testing)."""

from __future__ import annotations

import io

import pytest

from reasonkit_export.crypto._header import MAX_HEADER_SIZE, Stanza, encode_header, read_header
from reasonkit_export.crypto._io import BufferedSource
from reasonkit_export.exceptions import HeaderError

KEY = bytes(range(16))
MAC_LINE = b"--- " + b"A" * 43 + b"\n"


def parse(data: bytes) -> object:
    """Parse ``data`` as an age header."""
    return read_header(BufferedSource(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"\nage-encryption.org/v1\n", "not an age v1 file (unsupported version line)"),
        (b"age-encryption.org/v2\n", "not an age v1 file (unsupported version line)"),
        (b"age-encryption.org/v1", "age header is truncated"),
        (b"age-encryption.org/v1\n-> \n\n", "malformed age header: invalid stanza argument"),
        (b"age-encryption.org/v1\n->\n\n", "malformed age header: bad stanza line"),
        (b"age-encryption.org/v1\n=> X\n\n", "malformed age header: bad stanza line"),
        (b"age-encryption.org/v1\n-> X \xff\n\n", "malformed age header: invalid stanza argument"),
        (
            b"age-encryption.org/v1\n-> X\n" + b"A" * 65 + b"\n",
            "malformed age header: stanza body line too long",
        ),
        (b"age-encryption.org/v1\n-> X\nAB=\n", "malformed age header: stanza body: "),
        (b"age-encryption.org/v1\n-> X\n\n---\n", "malformed age header: bad MAC line"),
        (
            b"age-encryption.org/v1\n-> X\n\n--- AAAA\n",
            "malformed age header: MAC has the wrong length",
        ),
        (b"age-encryption.org/v1\n-> X\n\n--- !!!!\n", "malformed age header: MAC: "),
        (b"age-encryption.org/v1\n" + MAC_LINE, "malformed age header: no recipient stanzas"),
    ],
    ids=[
        "empty-version-line",
        "version-2",
        "truncated",
        "empty-argument",
        "no-type",
        "not-an-arrow",
        "non-ascii-argument",
        "body-line-too-long",
        "body-not-base64",
        "mac-missing",
        "mac-short",
        "mac-not-base64",
        "no-stanzas",
    ],
)
def test_malformed_headers_are_refused_naming_the_fault(header: bytes, message: str) -> None:
    """Each kind of malformed header raises HeaderError with its own message."""
    with pytest.raises(HeaderError) as caught:
        parse(header)
    assert str(caught.value).startswith(message)
    if not message.endswith(": "):
        assert str(caught.value) == message


def test_header_round_trips_and_leaves_the_payload() -> None:
    """A canonical header parses back to its stanzas; the bytes after it stay unread."""
    stanzas = [Stanza("X", ("a", "b"), b"\x00" * 48), Stanza("Y", (), b"")]
    data = encode_header(stanzas, KEY) + b"PAYLOAD"
    source = BufferedSource(io.BytesIO(data))
    header = read_header(source)
    assert header.stanzas == tuple(stanzas)
    assert source.read_upto(100) == b"PAYLOAD"


def test_oversized_header_is_refused() -> None:
    """A header line that never ends is refused once it passes MAX_HEADER_SIZE."""
    data = b"age-encryption.org/v1\n-> X " + b"a" * (MAX_HEADER_SIZE + 10)
    with pytest.raises(HeaderError) as caught:
        parse(data)
    assert str(caught.value) == f"age header exceeds {MAX_HEADER_SIZE} bytes"
    assert MAX_HEADER_SIZE == 1 << 20


def test_header_limit_counts_every_byte_up_to_the_newline() -> None:
    """A first stanza line whose newline is byte MAX_HEADER_SIZE + 1 is already too large."""
    prefix = b"age-encryption.org/v1\n-> X "
    data = prefix + b"a" * (MAX_HEADER_SIZE - len(prefix)) + b"\n\n" + MAC_LINE
    assert data.index(b"\n", len(prefix)) == MAX_HEADER_SIZE
    with pytest.raises(HeaderError) as caught:
        parse(data)
    assert str(caught.value) == f"age header exceeds {MAX_HEADER_SIZE} bytes"


@pytest.mark.parametrize(
    "args",
    [("",), ("a b",), ("a\x7f",), ("é",), ("\x20",)],
    ids=["empty", "space", "delete", "non-ascii", "blank"],
)
def test_stanza_refuses_arguments_that_have_no_canonical_encoding(args: tuple[str, ...]) -> None:
    """Stanza arguments must be non-empty runs of visible ASCII (33-126)."""
    with pytest.raises(HeaderError) as caught:
        Stanza("X", args)
    assert str(caught.value) == "stanza arguments must be non-empty visible ASCII"
    assert Stanza("X", ("!", "~")).args == ("!", "~")


def test_parsed_argument_with_delete_is_refused() -> None:
    """A stanza line holding DEL (127) is malformed."""
    with pytest.raises(HeaderError) as caught:
        parse(b"age-encryption.org/v1\n-> X a\x7f\n\n" + MAC_LINE)
    assert str(caught.value) == "malformed age header: invalid stanza argument"
