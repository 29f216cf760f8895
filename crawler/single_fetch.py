"""One page fetched outside a crawl (``archiver extract URL``), under the same network-scope rules.

Every hop (the URL and each redirect target) is checked with
:mod:`crawler.netscope`: the host must be in scope, and every address it
resolves to must be allowed; the connection then goes to the address that was
checked (no second lookup an attacker could answer differently).  Bodies are
read up to a size bound and never decompressed (``Accept-Encoding: identity``).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urljoin, urlsplit

from crawler.netscope import ScopePolicy, check_ip, check_url, parse_ip

REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """The page could not be fetched; ``str()`` is one line."""


@dataclass
class Fetched:
    url: str            # the final URL, after redirects
    status: int
    content_type: Optional[str]
    body: bytes
    redirects: list[str]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, ip: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, ip: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _addresses(host: str, port: int) -> list[str]:
    literal = parse_ip(host)
    if literal is not None:
        return [str(literal)]
    try:
        return sorted({ai[4][0] for ai in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc.strerror or exc}") from None


def fetch(url: str, policy: ScopePolicy, *, max_bytes: int = 10 * 1024 * 1024, timeout: float = 30.0,
          user_agent: str = "archiver", max_redirects: int = 10) -> Fetched:
    redirects: list[str] = []
    for _ in range(max_redirects + 1):
        decision = check_url(url, policy)
        if not decision:
            raise FetchError(f"refused {url}: {decision.reason}")
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = _addresses(parts.hostname, port)
        for address in addresses:
            verdict = check_ip(address, policy)
            if not verdict:
                raise FetchError(f"refused {url}: {verdict.reason}")
        conn_class = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        conn = conn_class(parts.hostname, addresses[0], port, timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", target, headers={"User-Agent": user_agent, "Accept-Encoding": "identity",
                                                 "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
            response = conn.getresponse()
            if response.status in REDIRECTS and response.getheader("Location"):
                redirects.append(url)
                url = urljoin(url, response.getheader("Location"))
                continue
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FetchError(f"{url}: the page is larger than {max_bytes} bytes")
            return Fetched(url, response.status, response.getheader("Content-Type"), body, redirects)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
    raise FetchError(f"{url}: more than {max_redirects} redirects")
