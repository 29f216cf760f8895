"""What the test servers share: a process in its own session, stopped as a group, a work dir."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a server started with ``start_new_session=True``: its whole group, SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


class ServerProcess:
    """Subclasses set ``self.dir`` and start ``self.proc`` in ``start()``."""

    dir: Path
    proc: subprocess.Popen | None = None
    stop_timeout: float = 15

    def start(self):
        raise NotImplementedError

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        stop_group(self.proc, sig, timeout=self.stop_timeout)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
