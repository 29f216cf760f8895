"""The worker's HTTP endpoint: ``/healthz`` (200 or 503, JSON) and ``/metrics`` (Prometheus).

A small threaded server in the background; it only reads state handed to it as
functions, so it never blocks the scheduler.  Bind it to 127.0.0.1 (the default) or,
in a container, 0.0.0.0.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from jobs.commands.common import CommandError

log = logging.getLogger(__name__)


def parse_listen(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``8080``, ``:8080``, ``0.0.0.0:8080``, ``[::1]:8080`` -> (host, port)."""
    value = str(text).strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = "", value
    host = host.strip("[]") or default_host
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"'{text}' is not a listen address like 8080, 127.0.0.1:8080 or 0.0.0.0:8080")
    return host, int(port_text)


def probe_url(host: str, port: int, path: str = "/healthz") -> str:
    """Where a local client reaches a server bound to ``host``."""
    if host in ("0.0.0.0", "", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server_version = "archiver"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self) -> None:
        owner: StatusServer = self.server.owner
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                ok, body = owner.health()
                self._send(200 if ok else 503, json.dumps(body, indent=1).encode() + b"\n",
                           "application/json")
            elif path == "/metrics":
                self._send(200, owner.metrics(), owner.metrics_type)
            elif path == "/":
                self._send(200, b"archiver: /healthz /metrics\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # noqa: BLE001 - a broken probe must not kill the server
            log.exception("error answering %s", path)
            try:
                self._send(500, b"internal error\n", "text/plain; charset=utf-8")
            except OSError:
                pass

    do_GET = _serve
    do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class StatusServer:
    """``StatusServer(host, port, health=fn, metrics=fn).start()``; ``health()`` -> (ok, JSON body)."""

    def __init__(self, host: str, port: int, *, health: Callable[[], tuple[bool, dict]],
                 metrics: Callable[[], bytes], metrics_type: str = "text/plain; version=0.0.4"):
        self.host, self.port = host, port
        self.health, self.metrics, self.metrics_type = health, metrics, metrics_type
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "StatusServer":
        cls = _Server6 if ":" in self.host else _Server
        try:
            self._server = cls((self.host, self.port), _Handler)
        except OSError as exc:
            raise CommandError(f"cannot listen on {self.host}:{self.port} for /healthz and /metrics "
                               f"({exc.strerror or exc}); set scheduler.http.port or pass --http HOST:PORT",
                               code=2) from None
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)
        self._thread.start()
        log.info("serving /healthz and /metrics on %s:%d", self.host, self.port,
                 extra={"event": "http_start", "host": self.host, "port": self.port})
        return self

    @property
    def url(self) -> str:
        return probe_url(self.host, self.port, "")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
