"""The bundled demo site: a small local-news site served on 127.0.0.1.

Static pages from :mod:`jobs.demo_site` (articles wrapped in the template
clutter that makes clean archiving necessary, a listing page, an RSS feed, a
sitemap, robots.txt).  The placeholder host ``http://ledger.invalid`` in the
files becomes the server's real address.  ETag / If-None-Match is honoured, so
a second crawl sees 304s.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

PLACEHOLDER = b"http://ledger.invalid"
TYPES = {".html": "text/html; charset=utf-8", ".xml": "application/xml", ".txt": "text/plain; charset=utf-8"}


def site_root() -> Path:
    return Path(__file__).resolve().parent / "demo_site"


class _Handler(BaseHTTPRequestHandler):
    server_version = "ledger-demo"
    root: Path = site_root()

    def log_message(self, *args) -> None:  # quiet
        pass

    def _resolve(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        target = (self.root / path.lstrip("/")).resolve()
        if self.root.resolve() not in (target, *target.parents):
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None

    def do_GET(self) -> None:  # noqa: N802
        target = self._resolve()
        if target is None:
            body = b"<html><body><h1>Not found</h1></body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        base = f"http://{self.headers.get('Host') or '%s:%d' % self.server.server_address[:2]}".encode()
        body = target.read_bytes().replace(PLACEHOLDER, base)
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(target.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


class DemoSite:
    """``with DemoSite() as site: site.url`` serves the demo site until the block ends."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-site", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "DemoSite":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> None:
    """``python -m jobs.demo --host 0.0.0.0 --port 8700``: serve the demo site until stopped."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m jobs.demo", description="Serve the bundled demo site.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with DemoSite(args.host, args.port) as site:
        print(f"serving the demo site on {site.url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
