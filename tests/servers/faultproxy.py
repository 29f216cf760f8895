"""An HTTP proxy on 127.0.0.1 in front of a real server (S3), injecting faults on demand.

Real S3 servers do not throttle or revoke credentials when a test asks them to;
this proxy does.  Requests pass through unchanged (the Host header too, so S3
signatures still verify) unless a fault is armed:

    proxy = FaultProxy(s3.endpoint).start()
    proxy.fail(503, "SlowDown", times=2)        # the next two PUTs get 503 SlowDown
    proxy.fail(403, "InvalidAccessKeyId")       # every PUT refused until proxy.heal()
    proxy.stall_put()                           # the next PUT stops half-way until proxy.release()
    proxy.lose_answers(500, "InternalError", times=3, key_part="/clean/")
                                                # those PUTs land, but the client is told they failed

Every request is logged (method, path, status, whether the fault was injected, time).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
S3_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            '<RequestId>faultproxy</RequestId></Error>')
MESSAGES = {"SlowDown": "Please reduce your request rate.",
            "InvalidAccessKeyId": "The AWS Access Key Id you provided does not exist in our records.",
            "ServiceUnavailable": "Service is unable to handle request.",
            "InternalError": "We encountered an internal error. Please try again."}


@dataclass
class Logged:
    method: str
    path: str
    status: int
    injected: bool
    time: float


@dataclass
class Fault:
    status: int
    code: str
    times: Optional[int]  # None: until heal()
    methods: tuple[str, ...]
    key_part: str = ""    # only requests whose path contains it


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the blank line
                        trailer = self.rfile.readline()
                        raw += trailer
                        if trailer in (b"\r\n", b"\n", b""):
                            return raw
                raw += self.rfile.read(size + 2)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy: FaultProxy = self.server.proxy
        body = self._body()
        fault = proxy._take_fault(self.command)
        if fault is not None:
            payload = b"" if self.command == "HEAD" else S3_ERROR.format(
                code=fault.code, message=MESSAGES.get(fault.code, fault.code)).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            if fault.status == 503:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(payload)
            proxy._log(Logged(self.command, self.path, fault.status, True, time.time()))
            return
        if self.command == "PUT" and proxy._take_stall():
            self._stall(proxy, body)
            return
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
        except OSError:
            self.close_connection = True
            proxy._log(Logged(self.command, self.path, 0, False, time.time()))
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        finally:
            conn.close()
        lost = proxy._take_lost_answer(self.command, self.path) if resp.status < 300 else None
        if lost is not None:  # the request was carried out; its answer is "lost" on the way back
            payload = S3_ERROR.format(code=lost.code, message=MESSAGES.get(lost.code, lost.code)).encode()
            self.send_response(lost.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            proxy._log(Logged(self.command, self.path, lost.status, True, time.time()))
            return
        self.send_response(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        proxy._log(Logged(self.command, self.path, resp.status, False, time.time()))

    def _stall(self, proxy: "FaultProxy", body: bytes) -> None:
        """Send the head and half the body upstream, then wait; on release, cut both connections."""
        upstream = socket.create_connection((proxy.upstream_host, proxy.upstream_port))
        head = f"{self.command} {self.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP) + "\r\n"
        upstream.sendall(head.encode("latin-1") + body[: len(body) // 2])
        proxy._log(Logged(self.command, self.path, 0, True, time.time()))
        proxy.stalled.set()
        proxy._release.wait(60)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        upstream.close()  # a reset: the server got half an object and no end
        self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients killed mid-request are part of the point


class FaultProxy:
    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.requests: list[Logged] = []
        self.stalled = threading.Event()
        self._release = threading.Event()
        self._stall_armed = False
        self._fault: Optional[Fault] = None
        self._lost: Optional[Fault] = None
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.proxy = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True, name="fault-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- faults -----------------------------------------------------------------------
    def fail(self, status: int, code: str, *, times: Optional[int] = None,
             methods: tuple[str, ...] = ("PUT",)) -> None:
        with self._lock:
            self._fault = Fault(status, code, times, methods)

    def heal(self) -> None:
        with self._lock:
            self._fault = self._lost = None

    def lose_answers(self, status: int, code: str, *, times: Optional[int] = None, key_part: str = "",
                     methods: tuple[str, ...] = ("PUT",)) -> None:
        """Pass requests upstream (they take effect) but answer an error: a response lost on the way."""
        with self._lock:
            self._lost = Fault(status, code, times, methods, key_part)

    def _take_lost_answer(self, method: str, path: str) -> Optional[Fault]:
        return self._take("_lost", method, path)

    def stall_put(self) -> None:
        with self._lock:
            self._stall_armed = True
            self.stalled.clear()
            self._release.clear()

    def release(self) -> None:
        self._release.set()

    def _take_fault(self, method: str) -> Optional[Fault]:
        return self._take("_fault", method, "")

    def _take(self, slot: str, method: str, path: str) -> Optional[Fault]:
        """The fault armed in ``slot`` if it applies to this request (counting it down)."""
        with self._lock:
            fault = getattr(self, slot)
            if fault is None or method not in fault.methods or fault.key_part not in path:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    setattr(self, slot, None)
            return fault

    def _take_stall(self) -> bool:
        with self._lock:
            armed, self._stall_armed = self._stall_armed, False
            return armed

    # -- log ----------------------------------------------------------------------------
    def _log(self, entry: Logged) -> None:
        with self._lock:
            self.requests.append(entry)

    def injected(self) -> list[Logged]:
        with self._lock:
            return [r for r in self.requests if r.injected]

    def puts(self) -> list[Logged]:
        with self._lock:
            return [r for r in self.requests if r.method == "PUT"]

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "FaultProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
