"""The age v1 header: stanzas, canonical encoding, strict parsing and the MAC.

Grammar (age-encryption.org/v1)::

    age-encryption.org/v1\\n
    -> TYPE ARG...\\n             one or more recipient stanzas
    BODY (base64, 64 columns)\\n  the last body line is shorter than 64 (maybe empty)
    --- MAC\\n                    HMAC-SHA-256 over everything up to and including "---"

Parsing is deliberately strict: there is exactly one valid encoding of any
header, so that nothing in it is malleable.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from hashlib import sha256

from reasonkit_export.crypto._io import BufferedSource
from reasonkit_export.crypto._primitives import b64decode, b64encode, hkdf_sha256
from reasonkit_export.exceptions import HeaderError, HeaderMacError

__all__ = ["Header", "Stanza", "encode_header", "read_header", "verify_header_mac"]

VERSION_LINE = b"age-encryption.org/v1"
_MAC_SIZE = 32
_COLUMNS = 64
# A header is a few hundred bytes per recipient; refusing more than this keeps
# a hostile file from making the parser buffer without bound.
MAX_HEADER_SIZE = 1 << 20
_READ_BLOCK = 4096


def _is_valid_argument(arg: str) -> bool:
    """Say whether ``arg`` is a non-empty run of visible ASCII (VCHAR), as the spec requires."""
    return bool(arg) and all(33 <= ord(c) <= 126 for c in arg)


@dataclass(frozen=True, slots=True)
class Stanza:
    """One recipient stanza: a type, its arguments and an opaque body.

    Attributes:
        type: the stanza type, e.g. ``"X25519"`` or ``"scrypt"`` (case-sensitive).
        args: the arguments after the type.
        body: the decoded body (for native recipients, the wrapped file key).
    """

    type: str
    args: tuple[str, ...] = ()
    body: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        """Refuse stanzas that could not be encoded canonically."""
        for arg in (self.type, *self.args):
            if not _is_valid_argument(arg):
                raise HeaderError("stanza arguments must be non-empty visible ASCII")

    def encode(self) -> bytes:
        """Return the canonical encoding, body wrapped at 64 columns."""
        body = b64encode(self.body)
        lines = [" ".join(("->", self.type, *self.args))]
        lines.extend(body[i : i + _COLUMNS] for i in range(0, len(body), _COLUMNS))
        if len(body) % _COLUMNS == 0:
            # The final body line must be short, so a full one needs an empty line after it.
            lines.append("")
        return ("\n".join(lines) + "\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header.

    Attributes:
        stanzas: the recipient stanzas, in file order.
        mac: the 32-byte header MAC as found in the file.
        mac_input: the exact header bytes the MAC covers (through ``---``).
    """

    stanzas: tuple[Stanza, ...]
    mac: bytes = field(repr=False)
    mac_input: bytes = field(repr=False)


def _mac_key(file_key: bytes) -> bytes:
    """Derive the header MAC key from the file key."""
    return hkdf_sha256(file_key, b"", b"header")


def _compute_mac(file_key: bytes, mac_input: bytes) -> bytes:
    """Return HMAC-SHA-256 of the header under the file key's MAC key."""
    return hmac.new(_mac_key(file_key), mac_input, sha256).digest()


def encode_header(stanzas: list[Stanza] | tuple[Stanza, ...], file_key: bytes) -> bytes:
    """Return the complete header (with MAC and trailing newline) for ``stanzas``."""
    mac_input = b"".join([VERSION_LINE, b"\n", *(s.encode() for s in stanzas), b"---"])
    mac = _compute_mac(file_key, mac_input)
    return mac_input + b" " + b64encode(mac).encode("ascii") + b"\n"


def verify_header_mac(header: Header, file_key: bytes) -> None:
    """Check the header MAC in constant time.

    Raises:
        HeaderMacError: the MAC does not match (the header was altered, or the
            file key is wrong).
    """
    if not hmac.compare_digest(_compute_mac(file_key, header.mac_input), header.mac):
        raise HeaderMacError("the age header MAC does not verify")


class _LineReader:
    """Split the source into ``\\n``-terminated lines, remembering what was consumed."""

    __slots__ = ("_buf", "_pos", "_source")

    def __init__(self, source: BufferedSource) -> None:
        self._source = source
        self._buf = bytearray()
        self._pos = 0

    def line(self) -> bytes:
        """Return the next line without its ``\\n``.

        Raises:
            HeaderError: end of input before a newline, or the header is too large.
        """
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + 1
                return line
            if len(self._buf) >= MAX_HEADER_SIZE:
                raise HeaderError(f"age header exceeds {MAX_HEADER_SIZE} bytes")
            block = self._source.read_some(_READ_BLOCK)
            if not block:
                raise HeaderError("age header is truncated")
            self._buf += block

    def consumed(self) -> bytes:
        """Return every byte handed out as lines so far, newlines included."""
        return bytes(self._buf[: self._pos])

    def give_back(self) -> None:
        """Return bytes read past the last line (the payload's start) to the source."""
        self._source.unread(bytes(self._buf[self._pos :]))
        del self._buf[self._pos :]


def _parse_args(line: bytes) -> list[str]:
    """Split a ``->`` line into its arguments (type first), validating each one."""
    parts = line.split(b" ")
    if parts[0] != b"->" or len(parts) < 2:
        raise HeaderError("malformed age header: bad stanza line")
    args: list[str] = []
    for part in parts[1:]:
        text = part.decode("ascii", "replace")
        if not _is_valid_argument(text):
            raise HeaderError("malformed age header: invalid stanza argument")
        args.append(text)
    return args


def _parse_body(lines: _LineReader) -> bytes:
    """Read body lines up to and including the first short one."""
    chunks: list[bytes] = []
    while True:
        line = lines.line()
        if len(line) > _COLUMNS:
            raise HeaderError("malformed age header: stanza body line too long")
        try:
            chunks.append(b64decode(line))
        except ValueError as exc:
            raise HeaderError(f"malformed age header: stanza body: {exc}") from exc
        if len(line) < _COLUMNS:
            return b"".join(chunks)


def read_header(source: BufferedSource) -> Header:
    """Parse the header from ``source``, leaving it positioned at the payload nonce.

    Raises:
        HeaderError: the header is not a canonical age v1 header.
    """
    lines = _LineReader(source)
    if lines.line() != VERSION_LINE:
        raise HeaderError("not an age v1 file (unsupported version line)")
    stanzas: list[Stanza] = []
    while True:
        line = lines.line()
        if line.startswith(b"---"):
            break
        args = _parse_args(line)
        stanzas.append(Stanza(args[0], tuple(args[1:]), _parse_body(lines)))
    mac_input = lines.consumed()[: -len(line) - 1] + b"---"
    lines.give_back()
    parts = line.split(b" ")
    if parts[0] != b"---" or len(parts) != 2:
        raise HeaderError("malformed age header: bad MAC line")
    try:
        mac = b64decode(parts[1])
    except ValueError as exc:
        raise HeaderError(f"malformed age header: MAC: {exc}") from exc
    if len(mac) != _MAC_SIZE:
        raise HeaderError("malformed age header: MAC has the wrong length")
    if not stanzas:
        raise HeaderError("malformed age header: no recipient stanzas")
    return Header(tuple(stanzas), mac, mac_input)
