"""``archiver serve`` as a subprocess, the way a user (or a container) runs it.

    with ServeProcess(config, cwd=tmp_path, env=target.env, args=["--run-now"]) as serve:
        serve.wait_for(lambda: ..., "what we wait for")
        status, body = serve.get("/healthz")
        serve.terminate()           # SIGTERM; returns the exit code

Logs are JSON lines (``--log-format json``) kept in a file; ``events()`` parses them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from tests.servers.ports import free_ports, wait_http


def archiver_env(extra: Optional[dict] = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ARCHIVER_"))}
    env.update(extra or {})
    return env


class ServeProcess:
    def __init__(self, config: Path, *, cwd: Path, env: Optional[dict] = None, args=(), command=None,
                 port: Optional[int] = None, user: Optional[int] = None, log_dir: Optional[Path] = None):
        from tests.conftest import archiver_command

        self.port = port or free_ports(1)[0]
        self.cwd = Path(cwd)
        log_dir = Path(log_dir or cwd)
        self.stdout_path = log_dir / f"serve-{self.port}.out"
        self.stderr_path = log_dir / f"serve-{self.port}.err"
        cmd = command or [*archiver_command(), "--log-format", "json", "serve", "--config", str(config),
                          "--http", f"127.0.0.1:{self.port}", *args]
        self.cmd = [str(c) for c in cmd]
        self.env = archiver_env(env)
        self.user = user
        self.proc: Optional[subprocess.Popen] = None

    def start(self, *, wait: bool = True) -> "ServeProcess":
        kw = {"user": self.user, "group": self.user, "extra_groups": []} if self.user is not None else {}
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=out, stderr=err,
                                         start_new_session=True, **kw)
        if wait:
            try:
                wait_http(self.url("/healthz"), timeout=60, proc=self.proc)
            except Exception:
                raise AssertionError(f"archiver serve did not come up:\n{self.stderr()}") from None
        return self

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- looking at it ----------------------------------------------------------------
    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def health(self) -> tuple[int, dict]:
        status, body = self.get("/healthz")
        return status, json.loads(body)

    def metrics(self) -> dict:
        """``{(name, (("label", "value"), ...)): value}`` from /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        status, body = self.get("/metrics")
        assert status == 200
        out = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def events(self) -> list[dict]:
        out = []
        for line in self.stderr().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, predicate: Callable[[], object], what: str, timeout: float = 60.0, poll: float = 0.1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if not self.alive():
                raise AssertionError(f"archiver serve exited ({self.proc.returncode}) while waiting for "
                                     f"{what}:\n{self.stderr()[-4000:]}")
            time.sleep(poll)
        raise AssertionError(f"timed out waiting for {what}:\n{self.stderr()[-4000:]}")

    # -- stopping it ----------------------------------------------------------------------
    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def terminate(self, timeout: float = 60.0) -> int:
        self.send(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
