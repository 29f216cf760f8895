"""Network scope: which hosts and addresses a source may reach.  Pure decisions.

A source reaches only the hosts of its entry points plus ``allowed_hosts`` (and
their subdomains).  Whatever the host, the address it resolves to is checked:

* link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10,
  fd00:ec2::254, 100.100.100.200) and unspecified/multicast/broadcast addresses
  are always refused;
* private, loopback and shared ranges are refused unless the source's own hosts
  are private (so a site on an intranet or on 127.0.0.1 still works) or the
  source says ``allow_private: true``;
* ``forbid_networks`` are refused always.

An address is recognised however it is spelled (decimal ``2852039166``, hex,
octal, short ``127.1``, IPv4-mapped ``::ffff:a9fe:a9fe``) and an IPv6 address
that tunnels to IPv4 (NAT64, 6to4, Teredo, IPv4-compatible) is judged by the
IPv4 address it leads to as well.

The Scrapy adapters (a downloader middleware for URLs and IP literals, a DNS
resolver for names) live in :mod:`crawler.middlewares` and call these functions.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALWAYS_REFUSED = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",      # link-local, AWS/GCP/Azure metadata 169.254.169.254
    "fe80::/10",           # IPv6 link-local
    "fd00:ec2::254/128",   # AWS metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "0.0.0.0/8",           # "this network"
    "224.0.0.0/4",         # multicast
    "ff00::/8",
    "255.255.255.255/32",
    "::/128",
))
PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "127.0.0.0/8", "::1/128",                          # loopback
    "100.64.0.0/10",                                   # carrier-grade NAT
    "fc00::/7",                                        # unique local
    "192.0.0.0/24", "198.18.0.0/15",                   # IETF protocol, benchmarking
))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class ScopePolicy:
    hosts: tuple[str, ...]
    allow_private: bool = False
    forbid_networks: tuple = field(default_factory=tuple)

    @classmethod
    def build(cls, hosts: Iterable[str], *, allow_private: bool = False,
              forbid_networks: Iterable[str] = ()) -> "ScopePolicy":
        return cls(tuple(h.lower().rstrip(".") for h in hosts), allow_private,
                   tuple(ipaddress.ip_network(n, strict=False) for n in forbid_networks))


_V4_PART = re.compile(r"^(?:0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$", re.I)
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def parse_ipv4_loose(text: str) -> Optional[ipaddress.IPv4Address]:
    """An IPv4 address in any spelling ``inet_aton`` (and so the resolver) accepts.

    ``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376``, ``169.254.43518`` and
    ``127.1`` all name real addresses: a host written that way is an address, not a name.
    """
    parts = text.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]  # "127.0.0.1." is still an address
    if not 1 <= len(parts) <= 4 or not all(_V4_PART.match(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif part.startswith("0"):
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def parse_ip(text: str) -> Optional[IPAddress]:
    """The address if ``text`` is an IP literal (``[::1]``, decimal/octal/hex IPv4 accepted), else None.

    An IPv4-mapped IPv6 address (``::ffff:169.254.169.254``) is returned as IPv4.
    """
    text = text.strip().strip("[]").split("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return parse_ipv4_loose(text) if ":" not in text else None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def embedded_ipv4(ip: IPAddress) -> Optional[ipaddress.IPv4Address]:
    """The IPv4 address an IPv6 address tunnels to (mapped, compatible, NAT64, 6to4, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in net for net in NAT64) or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_private(ip: IPAddress) -> bool:
    return any(ip in net for net in PRIVATE if net.version == ip.version)


def check_ip(ip: IPAddress | str, policy: ScopePolicy) -> Decision:
    """May a request go to this address?"""
    if isinstance(ip, str):
        parsed = parse_ip(ip)
        if parsed is None:
            return Decision(False, f"not an IP address: {ip!r}")
        ip = parsed
    elif isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    tunnelled = embedded_ipv4(ip)
    if tunnelled is not None:
        inner = check_ip(tunnelled, policy)
        if not inner:
            return Decision(False, f"{ip} leads to {tunnelled}: {inner.reason}")
    for net in ALWAYS_REFUSED:
        if net.version == ip.version and ip in net:
            return Decision(False, f"{ip} is a link-local, metadata or reserved address ({net})")
    for net in policy.forbid_networks:
        if net.version == ip.version and ip in net:
            return Decision(False, f"{ip} is in forbid_networks ({net})")
    if not policy.allow_private and (is_private(ip) or (tunnelled is None and not ip.is_global)):
        return Decision(False, f"{ip} is a private or reserved address and this source's hosts are public")
    return Decision(True)


def host_in_scope(host: str, policy: ScopePolicy) -> bool:
    host = host.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in policy.hosts)


def check_url(url: str, policy: ScopePolicy) -> Decision:
    """May the crawler request this URL?  Checks scheme, host and IP literals."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return Decision(False, f"malformed URL: {exc}")
    if parts.scheme not in ("http", "https"):
        return Decision(False, f"scheme {parts.scheme!r} is not crawled")
    if not host:
        return Decision(False, "URL has no host")
    if not host_in_scope(host, policy):
        return Decision(False, f"host {host} is not one of this source's hosts")
    ip = parse_ip(host)
    if ip is not None:
        return check_ip(ip, policy)
    return Decision(True)


def own_hosts_private(resolved: dict[str, list[str]]) -> bool:
    """True if any of the source's own hosts resolves to a private/loopback address.

    ``resolved`` maps host -> addresses (an IP literal maps to itself).
    """
    for addresses in resolved.values():
        for text in addresses:
            ip = parse_ip(text)
            if ip is not None and is_private(ip):
                return True
    return False
