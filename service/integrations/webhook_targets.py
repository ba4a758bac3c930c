"""Which webhook URLs the pusher may call: public addresses over https, unless settings say otherwise.

The pusher runs inside the operator's network, so a tenant who could point it at
``127.0.0.1:5432``, ``169.254.169.254`` (cloud metadata) or ``10.0.0.1`` would be
reaching services nobody meant to expose (SSRF), and the deliveries list would tell
open, closed and filtered ports apart. The rule is checked twice: when the webhook
is registered (a clear 422) and again on every connection, against the addresses
the name resolves to *then*, so a DNS answer that changes after registration (DNS
rebinding) cannot swap a public address for a private one. The connection is made
to the very address that was checked (see ``webhook_delivery``).

An on-premises install whose CRM lives on a private network names those ranges in
``INTRORANK_WEBHOOK_ALLOWED_NETWORKS`` (CIDRs) and, if the receiver has no TLS,
sets ``INTRORANK_WEBHOOK_ALLOW_HTTP``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from introrank.service.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NOT_PUBLIC = "url must resolve to public addresses only (not loopback, private, link-local, shared, " \
             "multicast, reserved or unspecified)"


class TargetRefused(ValueError):
    """The URL breaks the target rule; the message is safe to show to the tenant (no address in it)."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo): each must pass too."""
    found = [ip.ipv4_mapped] if ip.ipv4_mapped else []
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    return found


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast: every ``ipaddress`` property that marks a special range says no."""
    special = (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
               or ip.is_unspecified or not ip.is_global)
    if isinstance(ip, ipaddress.IPv6Address):
        special = special or ip.is_site_local or any(not is_public(v4) for v4 in _embedded_v4(ip))
    return not special


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused("url host does not resolve") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])  # drop an IPv6 zone index
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise TargetRefused("url host does not resolve")
    return addresses


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        return cls(allow_http=settings.webhook_allow_http,
                   allowed_networks=tuple(ipaddress.ip_network(n, strict=False)
                                          for n in settings.webhook_allowed_networks))

    def allows(self, ip: IPAddress) -> bool:
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        return is_public(ip) or any(plain in network for network in self.allowed_networks)

    def check_scheme(self, scheme: str) -> None:
        if scheme != "https" and not (self.allow_http and scheme == "http"):
            raise TargetRefused("url must use https")

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to now; refused unless each one is allowed.

        All of them, not some: a name that resolves to one public and one private
        address would otherwise reach the private one whenever the resolver's order
        changes.
        """
        found = _resolve(host, port)
        if not all(self.allows(ip) for ip in found):
            raise TargetRefused(NOT_PUBLIC)
        return found

    def check_url(self, url: str) -> Sequence[IPAddress]:
        """What registration runs: scheme, then the addresses the host has now."""
        parts = urlsplit(url)
        self.check_scheme(parts.scheme)
        if not parts.hostname:
            raise TargetRefused("url has no host")
        return self.addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
