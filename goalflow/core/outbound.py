"""The outbound guard: where HTTP calls that an automation author controls (`webhook` steps) may go.

API-key holders write automations, and an automation makes the worker call any URL it names:
without a guard, a webhook step could reach the cloud metadata service, the Temporal frontend or
anything else on the worker's private network (server-side request forgery). So a destination is
refused unless every address it resolves to is public, or falls inside a network listed in
`GOALFLOW_OUTBOUND_ALLOWED_NETWORKS`.

Two checks, one policy:
- at publish, a literal address in a URL (`http://10.0.0.1/`, `http://[::ffff:10.0.0.1]/`,
  `http://2130706433/`, and the spellings that reach the same address once the host is
  normalized as httpx will: `http://169.254.169.254./`, `http://169。254。169。254/`) is refused
  with a 422 (`literal_address_refusal`);
- at connect time, `GuardedTransport` resolves the host once, checks every address, and connects
  to the checked address itself, with the original `Host` header and TLS server name: no second
  lookup, so no DNS-rebinding window. Redirects are never followed (the webhook client does not
  follow them, and a 3xx is a failed call).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What `goalflow dev` and the tests allow unless told otherwise: this machine only.
LOOPBACK_NETWORKS = "127.0.0.0/8,::1"

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, well-known and local);
# 6to4 carries one in bits 16-48.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
# IPv4-compatible IPv6 (::a.b.c.d, deprecated): never public.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# What inet_aton reads as an IPv4 address besides dotted quads: 2130706433, 0x7f.1, 0177.0.0.1.
_LEGACY_IPV4 = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)(\.(0[xX][0-9a-fA-F]+|[0-9]+)){0,3}")


class OutboundRefused(Exception):
    """A destination the policy refuses. Its message is short and safe to show in a timeline."""


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDRs, comma-separated (a bare address is a /32 or /128). Raises ValueError on a bad one."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: Address) -> str | None:
    """What makes an address non-public (None: public)."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """Public addresses are allowed; others only inside `allowed`."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_setting(cls, value: str) -> OutboundPolicy:
        return cls(parse_networks(value))

    def _listed(self, address: Address) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed)

    def refusal(self, address: str | Address) -> str | None:
        """None when a call to `address` is allowed, else a short reason."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        inner = embedded_ipv4(ip)
        if self._listed(ip) or (inner is not None and self._listed(inner)):
            return None
        if inner is not None:
            # ::ffff:10.0.0.1 is 10.0.0.1 to the kernel; the NAT64 and 6to4 forms of a private
            # address lead to it too. IPv4-compatible forms (::a.b.c.d) are deprecated.
            compatible = ip in _IPV4_COMPATIBLE
            kind = "reserved" if compatible else _kind(inner)
            return None if kind is None else f"{kind} address {ip} ({inner})"
        kind = _kind(ip)
        return None if kind is None else f"{kind} address {ip}"


def normalized_host(url: str) -> str | None:
    """The host of `url` as the webhook client (httpx) will look it up.

    httpx maps IDNA names and their dots (`169。254。169。254` is `169.254.169.254`) and lowercases;
    this also drops trailing dots (`169.254.169.254.` names the same address to a resolver) and
    percent-escapes, so that the check sees what the connection will reach. None when there is
    no host.
    """
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, TypeError, ValueError):
        # httpx will not send to it (`0177.0.0.1` is an invalid IPv4 address to httpx); another
        # client might, so the host as written is still checked.
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return None
    host = unquote(host).rstrip(".")
    return host or None


def host_address(host: str) -> Address | None:
    """The address a (normalized) host names literally: IPv4, IPv6, or a legacy IPv4 form such as
    2130706433, 0x7f.1 or 0177.0.0.1 that resolvers accept; None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def literal_address(url: str) -> Address | None:
    """The address a URL names literally (see `host_address`), after normalizing its host the
    way the HTTP client will (`normalized_host`); None when it names a host (or a template)."""
    host = normalized_host(url)
    return None if host is None else host_address(host)


def literal_address_refusal(url: str, policy: OutboundPolicy) -> str | None:
    """Why the literal address of `url` is refused (None: not a literal, or allowed)."""
    address = literal_address(url)
    if address is None:
        return None
    reason = policy.refusal(address)
    if reason is None:
        return None
    return f"{reason} is not allowed: only public addresses and GOALFLOW_OUTBOUND_ALLOWED_NETWORKS"


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (a literal gives itself), in order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    return found


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to addresses the policy allows.

    The host is resolved once per request; every address is checked (one refused address refuses
    the call: a host that answers both public and private addresses is not trusted); the request
    then goes to the first address, keeping the original `Host` header and, for https, the
    original name for SNI and certificate checks.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        resolver: Resolver = system_resolver,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpx.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        literal = host_address(unquote(host).rstrip("."))
        try:
            # A literal (in any spelling: 169.254.169.254., 0xa9fea9fe) is its own answer.
            addresses = [str(literal)] if literal is not None else await self.resolver(host, port)
        except OSError as err:
            raise httpx.ConnectError(f"cannot resolve {host}: {err}", request=request) from err
        if not addresses:
            raise httpx.ConnectError(f"cannot resolve {host}: no address", request=request)
        for address in addresses:
            reason = self.policy.refusal(address)
            if reason is not None:
                raise OutboundRefused(f"{host}: {reason} is not allowed")
        extensions = dict(request.extensions)
        if url.scheme == "https" and literal is None:
            extensions["sni_hostname"] = host
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=addresses[0]),
            headers=request.headers,  # the Host header of the original URL
            stream=request.stream,
            extensions=extensions,
        )
        return await self.inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self.inner.aclose()
