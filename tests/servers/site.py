"""A local HTTP site on 127.0.0.1 for tests and benchmarks.

Static pages get ETag and Last-Modified and answer conditional requests with
304; routes can be functions for redirects, slow, broken and hostile answers.
Every request is logged (method, path, headers, arrival time) so tests can
assert what the crawler asked for and when; ``max_in_flight`` is the most
requests the site was answering at once.

    site = SiteServer().start()
    site.page("/news/a/", "<html>...</html>")
    site.redirect("/old", "/news/a/")
    site.route("/hang", lambda req: req.hang(60))
    ... site.url + "/news/" ...
    site.stop()
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional
from urllib.parse import urlsplit


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict = field(default_factory=dict)
    last_modified: float = field(default_factory=lambda: time.time() - 3600)
    conditional: bool = True

    @property
    def etag(self) -> str:
        return '"%s"' % hashlib.sha256(self.body).hexdigest()[:20]


@dataclass
class Logged:
    method: str
    path: str
    headers: dict
    time: float


class Request:
    """What a route function gets: the request, and ways to answer it."""

    def __init__(self, handler: "_Handler"):
        self.h = handler
        self.path = handler.path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}

    def send(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8",
             headers: Optional[dict] = None) -> None:
        self.h.send_response(status)
        if content_type:
            self.h.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.h.send_header(k, v)
        self.h.send_header("Content-Length", str(len(body)))
        self.h.end_headers()
        if self.h.command != "HEAD":
            self.h.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", headers={"Location": location})

    def hang(self, seconds: float) -> None:
        """Accept the request, answer nothing for ``seconds``."""
        stop = self.h.server.stopping
        stop.wait(seconds)

    def slow_body(self, chunks: int, delay: float, chunk: bytes = b"<p>slow</p>\n") -> None:
        """Headers at once, then a body that trickles in without end (or ``chunks`` chunks)."""
        self.h.send_response(200)
        self.h.send_header("Content-Type", "text/html; charset=utf-8")
        self.h.end_headers()
        try:
            for _ in range(chunks):
                self.h.wfile.write(chunk)
                self.h.wfile.flush()
                if self.h.server.stopping.wait(delay):
                    return
        except OSError:
            pass

    def reset(self) -> None:
        """Close the connection with a TCP reset, no answer."""
        sock = self.h.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        self.h.close_connection = True

    def gzip(self, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send(200, gzip.compress(body), content_type, {"Content-Encoding": "gzip"})

    def compressed(self, data: bytes, encoding: str, content_type: str = "text/html; charset=utf-8") -> None:
        """Answer with ``data`` already compressed (``gzip``, ``br``, ``deflate``...), bombs included."""
        self.send(200, data, content_type, {"Content-Encoding": encoding})

    def endless(self, chunk: bytes = b"<p>" + b"x" * 8192 + b"</p>\n") -> None:
        """Headers at once, then a body with no length that never ends (as fast as it is read)."""
        self.slow_body(10**12, 0, chunk)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "archiver-test-site"

    def log_message(self, *args) -> None:
        pass

    def _serve(self) -> None:
        site: SiteServer = self.server.site
        site._enter()
        try:
            self._answer(site)
        finally:
            site._leave()

    def _answer(self, site: "SiteServer") -> None:
        path = urlsplit(self.path).path or "/"
        site._log(Logged(self.command, self.path, dict(self.headers.items()), time.time()))
        route = site.routes.get(self.path) or site.routes.get(path)
        if callable(route):
            route(Request(self))
            return
        if route is None:
            body = b"<html><body><h1>404 Not Found</h1></body></html>"
            Request(self).send(404, body)
            return
        page: Page = route
        headers = dict(page.headers)
        if page.conditional and page.status == 200:
            headers.setdefault("ETag", page.etag)
            headers.setdefault("Last-Modified", formatdate(page.last_modified, usegmt=True))
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            fresh = False
            if inm is not None:
                fresh = page.etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
            elif ims is not None:
                try:
                    fresh = parsedate_to_datetime(ims).timestamp() >= int(page.last_modified)
                except (TypeError, ValueError):
                    fresh = False
            if fresh:
                self.send_response(304)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        Request(self).send(page.status, page.body, page.content_type, headers)

    do_GET = _serve
    do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client gave up on a hostile answer: expected, not worth a traceback
        super().handle_error(request, client_address)


class SiteServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.routes: dict[str, Page | Callable[[Request], None]] = {}
        self.requests: list[Logged] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = _Server((host, port), _Handler)
        self.server.site = self
        self.server.stopping = threading.Event()
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True, name="test-site")

    # -- content ------------------------------------------------------------------
    def page(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8",
             **kwargs) -> Page:
        data = body.encode("utf-8") if isinstance(body, str) else body
        page = Page(data, content_type, **kwargs)
        self.routes[path] = page
        return page

    def route(self, path: str, fn: Callable[[Request], None]) -> None:
        self.routes[path] = fn

    def redirect(self, path: str, location: str, status: int = 301) -> None:
        self.routes[path] = lambda req: req.redirect(location, status)

    def remove(self, path: str) -> None:
        self.routes.pop(path, None)

    # -- log ----------------------------------------------------------------------
    def _log(self, entry: Logged) -> None:
        with self._lock:
            self.requests.append(entry)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def hits(self, path: str) -> list[Logged]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path or r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight

    # -- lifecycle ------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.server.server_address[0]

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "SiteServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
