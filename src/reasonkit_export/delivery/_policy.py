"""Which destinations a delivery may reach: the allow-list and the address check.

A destination a user names (a webhook URL from their settings, a bucket they
want their export copied to) is untrusted input: without a check it can make
the service talk to internal hosts (SSRF), probe ports, or hand the host's
credentials to someone else. :class:`DestinationPolicy` states what a delivery
may reach:

* **protocols**: the URL schemes; by default only ``https`` (webhooks) and
  ``s3``/``s3a`` (object stores spoken to over HTTPS);
* **hosts**: the host names (webhooks) or bucket names (copies) allowed;
* **address_allowed**: which IP addresses may be connected to; by default
  only public unicast addresses (:func:`public_address`), so private,
  loopback, link-local, shared (CGNAT), multicast and cloud metadata
  addresses are refused.

The address check runs on the address the socket actually connects to (the
name is resolved once, and the connection goes to the vetted address), so a
DNS answer that changes between a check and the connection (DNS rebinding)
cannot bypass it.

``DestinationPolicy.host_configured()`` switches every check off. It is for
a destination the host fixed in its own configuration (a mounted share, an
internal receiver), never for one a user chose.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from reasonkit_export.exceptions import DestinationRefused, InvalidRequest

__all__ = ["AddressCheck", "DestinationPolicy", "DestinationRefused", "public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[IPAddress], bool]

# Cloud instance-metadata services; most are link-local already, listed so a
# host widening ``address_allowed`` to private ranges still has to opt in.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)

DEFAULT_PROTOCOLS = frozenset({"https", "s3", "s3a"})


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped, 6to4 or Teredo IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (the default address check).

    False for private, loopback, link-local, shared (100.64.0.0/10),
    reserved, unspecified, multicast and cloud metadata addresses, also when
    they hide inside an IPv4-mapped, 6to4 or Teredo IPv6 address.
    """
    for candidate in {address, _unwrap(address)}:
        if candidate in METADATA_ADDRESSES:
            return False
        if (
            not candidate.is_global
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
            or candidate.is_loopback
            or candidate.is_link_local
        ):
            return False
    return True


def _names(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidRequest("give a list of names, not a single string")
    names = frozenset(str(value).strip().lower().rstrip(".") for value in values)
    if any(not name for name in names):
        raise InvalidRequest("an allowed name is empty")
    return names


@attrs.frozen(kw_only=True)
class DestinationPolicy:
    """An explicit allow-list for destinations a delivery may reach.

    Attributes:
        hosts: allowed host names (webhooks) or bucket names (copies),
            compared case-insensitively. ``"*.partner.example"`` allows every
            subdomain (not the name itself); ``"*"`` allows any name (the
            protocol and address checks still apply).
        protocols: allowed URL schemes. Webhooks use ``https`` (``http``
            only when listed); copies use ``s3``/``s3a``. Other fsspec
            protocols (local paths, ``file``, ``memory``, ``ftp``,
            ``webhdfs``, ``sftp``, ...) are never allowed by a policy: only
            :meth:`host_configured` reaches them.
        address_allowed: decides per resolved IP address whether it may be
            connected to; :func:`public_address` by default. Tests pass a
            check that admits loopback.
        trusted: skip every check (see :meth:`host_configured`).
    """

    hosts: frozenset[str] = attrs.field(converter=_names)
    protocols: frozenset[str] = attrs.field(default=DEFAULT_PROTOCOLS, converter=_names)
    address_allowed: AddressCheck = attrs.field(default=public_address, repr=False)
    trusted: bool = False

    @classmethod
    def host_configured(cls) -> DestinationPolicy:
        """No checks: for a destination fixed in the host's configuration only.

        Never use it for a destination a user chose: it allows any protocol,
        host and address, including local paths and internal services.
        """
        return cls(hosts=["*"], protocols=["*"], address_allowed=_any_address, trusted=True)

    def allows_protocol(self, protocol: str) -> bool:
        """Whether URLs with this scheme may be used."""
        return self.trusted or protocol.lower() in self.protocols

    def allows_host(self, host: str) -> bool:
        """Whether this host or bucket name is on the allow-list."""
        if self.trusted or "*" in self.hosts:
            return True
        name = host.strip().lower().rstrip(".")
        if name in self.hosts:
            return True
        return any(
            pattern.startswith("*.") and name.endswith(pattern[1:]) and len(name) > len(pattern) - 1
            for pattern in self.hosts
        )

    def allows_address(self, address: str) -> bool:
        """Whether a connection to this textual IP address is allowed."""
        if self.trusted:
            return True
        try:
            parsed = ipaddress.ip_address(address.partition("%")[0])
        except ValueError:
            return False
        return bool(self.address_allowed(parsed))

    def resolve(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """``getaddrinfo`` results for ``host`` whose addresses are allowed.

        Raises:
            DestinationRefused: no resolved address is allowed.
            OSError: the name could not be resolved.
        """
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        allowed = [info for info in infos if self.allows_address(str(info[4][0]))]
        if not allowed:
            raise DestinationRefused("no allowed address")
        return allowed

    def create_connection(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """``socket.create_connection`` that connects only to allowed addresses.

        The name is resolved once and the socket connects to the address that
        was checked, so DNS rebinding cannot swap in another one.
        """
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _name, sockaddr in self.resolve(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address is not None:
                    sock.bind(source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            return sock
        assert last is not None
        raise last


def _any_address(address: IPAddress) -> bool:
    del address
    return True
