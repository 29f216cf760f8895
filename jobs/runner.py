"""Start one crawl as a subprocess, hold it to its limits, make sure the run is recorded.

``archiver crawl``, ``archiver run-once`` and the scheduler all come through
:func:`run_source`.  The crawl process (``python -m crawler.run``) stops itself
gracefully at its time and memory limits and writes its own run record; this
parent is the backstop: it kills a crawl that overstays (wall time + grace, or
memory above the limit by a margin), and when the child could not write its
record (killed, crashed) it writes one itself from the child's last progress.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from crawler import keys
from crawler.config import SourceSettings, StorageSettings
from crawler.records import iso, run_record, to_json
from crawler.secrets import mask
from crawler.store import StoreError, open_store
from jobs.locks import SourceLock

log = logging.getLogger("jobs.runner")

KILL_GRACE_S = 30.0       # after max_run_seconds, before SIGTERM
TERM_GRACE_S = 20.0       # after SIGTERM, before SIGKILL
MEMORY_MARGIN = 1.25      # the child stops itself at the limit; we kill at limit x margin


@dataclass
class RunResult:
    source: str
    run_id: str
    exit_code: int
    outcome: str
    record: dict = field(default_factory=dict)

    @property
    def counts(self) -> dict:
        return self.record.get("counts", {})


def _tree_rss(pid: int) -> int:
    try:
        import psutil

        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total
    except Exception:  # noqa: BLE001 - the process may be gone
        return 0


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_source(config_path: str | os.PathLike, source: SourceSettings, storage: StorageSettings, *,
               trigger: str = "manual", trigger_time: Optional[datetime] = None,
               stop: Optional[threading.Event] = None, stop_grace: float = TERM_GRACE_S,
               log_format: str = "plain", log_level: str = "info",
               on_start: Optional[Callable[[str, int], None]] = None,
               kill_grace: float = KILL_GRACE_S, poll: float = 0.2,
               extra_env: Optional[dict] = None, schedule: Optional[dict] = None) -> RunResult:
    """Run one crawl of ``source`` in a child process and return how it went.

    The crawl stops itself at its limits; past ``max_run_seconds + kill_grace`` (or when
    ``stop`` is set) it gets SIGTERM, and SIGKILL ``stop_grace`` seconds later.
    ``schedule`` (why the run happened: fire time, lateness, missed fire times) is
    kept in the run record.  A source already running on this machine is not started
    again: the result is a ``skipped`` run, recorded.
    """
    started = datetime.now(timezone.utc)
    run_id = keys.new_run_id(started, secrets.token_hex(3))
    lock = SourceLock(storage.spool_dir, source.name)
    try:
        locked = lock.acquire(run_id=run_id)
    except OSError as exc:  # no writable spool dir: the crawl will say so; do not block it here
        log.warning("cannot lock %s under %s: %s", source.name, storage.spool_dir, exc)
        locked = True
    if not locked:
        holder = lock.holder()
        who = ", ".join(f"{k} {v}" for k, v in holder.items() if k in ("run_id", "pid", "host", "since"))
        return record_skipped(storage, source.name, reason="running",
                              message=f"another run of this source is in progress ({who or 'unknown holder'})",
                              trigger=trigger, trigger_time=trigger_time, schedule=schedule,
                              details={"holder": holder})
    try:
        return _supervise(config_path, source, storage, run_id=run_id, started=started, trigger=trigger,
                          trigger_time=trigger_time, stop=stop, stop_grace=stop_grace, log_format=log_format,
                          log_level=log_level, on_start=on_start, kill_grace=kill_grace, poll=poll,
                          extra_env=extra_env, schedule=schedule, lock_fd=lock.fd)
    finally:
        lock.release()


def _supervise(config_path, source: SourceSettings, storage: StorageSettings, *, run_id: str,
               started: datetime, trigger: str, trigger_time: Optional[datetime],
               stop: Optional[threading.Event], stop_grace: float, log_format: str, log_level: str,
               on_start, kill_grace: float, poll: float, extra_env: Optional[dict],
               schedule: Optional[dict], lock_fd: Optional[int]) -> RunResult:
    workdir = Path(tempfile.mkdtemp(prefix="archiver-run-"))
    progress = workdir / "progress.json"
    cmd = [sys.executable, "-m", "crawler.run", "--config", str(config_path), "--source", source.name,
           "--run-id", run_id, "--trigger", trigger, "--progress-file", str(progress),
           "--log-format", log_format, "--log-level", log_level, "--supervised"]
    if trigger_time is not None:
        cmd += ["--trigger-time", trigger_time.astimezone(timezone.utc).isoformat()]
    if schedule:
        cmd += ["--schedule-info", json.dumps(schedule, default=_json_default)]
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.Popen(cmd, start_new_session=True, env=env,
                            pass_fds=(lock_fd,) if lock_fd is not None else ())
    log.info("run started", extra={"event": "run_start", "source": source.name, "run_id": run_id,
                                   "trigger": trigger, "trigger_time": iso(trigger_time), "pid": proc.pid})
    if on_start:
        on_start(run_id, proc.pid)
    deadline = time.monotonic() + source.max_run_seconds + kill_grace
    memory_cap = source.max_memory_mb * 1024 * 1024 * MEMORY_MARGIN
    killed_for: Optional[str] = None
    term_sent_at: Optional[float] = None
    while proc.poll() is None:
        now = time.monotonic()
        if killed_for is None:
            if stop is not None and stop.is_set():
                killed_for = "interrupted"
            elif now > deadline:
                killed_for = "timed_out"
            elif _tree_rss(proc.pid) > memory_cap:
                killed_for = "out_of_memory"
            if killed_for is not None:
                log.warning("stopping crawl of %s: %s", source.name, killed_for,
                            extra={"event": "run_stop", "source": source.name, "run_id": run_id})
                _kill_group(proc, signal.SIGKILL if killed_for == "out_of_memory" else signal.SIGTERM)
                term_sent_at = now
        elif term_sent_at is not None and now - term_sent_at > stop_grace:
            _kill_group(proc, signal.SIGKILL)
            term_sent_at = None
        time.sleep(poll)
    code = proc.returncode
    reported = _read_json(progress)
    record = reported.get("record") if reported else None
    limit_message = {"timed_out": f"stopped after exceeding max_run_seconds={source.max_run_seconds}",
                     "out_of_memory": f"stopped above max_memory_mb={source.max_memory_mb}",
                     "interrupted": "stopped by shutdown"}
    if record and record.get("counts") is not None and code in (0, 1):
        outcome = record["outcome"]
        if killed_for in ("timed_out", "out_of_memory") and outcome != killed_for:
            # the child stopped gracefully on our signal: say why it was signalled
            outcome = record["outcome"] = killed_for
            record["message"] = limit_message[killed_for]
            _store_record(storage, source.name, run_id, record)
    elif record and code == 3:
        # the store refused us before the crawl: there is nowhere to write a record
        outcome = "failed"
    else:
        # the child could not finish its record: write one from its last progress
        outcome = killed_for or ("failed" if code == 1 else "crashed")
        message = limit_message.get(outcome) or f"crawl process exited with {_describe_exit(code)}"
        record = run_record(source=source.name, run_id=run_id, trigger=trigger, trigger_time=trigger_time,
                            started_at=started, ended_at=datetime.now(timezone.utc), outcome=outcome,
                            counts=(reported or {}).get("counts", {}), errors=(reported or {}).get("errors", {}),
                            store=_describe_store(storage), message=message, pid=proc.pid)
        record["error_samples"] = (reported or {}).get("error_samples", {})
        if schedule:
            record["schedule"] = _plain(schedule)
        _store_record(storage, source.name, run_id, record)
    _cleanup(workdir)
    _log_end(source.name, run_id, outcome, record)
    return RunResult(source.name, run_id, code, outcome, record)


def _log_end(source: str, run_id: str, outcome: str, record: dict) -> None:
    counts = record.get("counts") or {}
    level = logging.INFO if outcome in ("ok", "partial", "skipped", "interrupted") else logging.WARNING
    log.log(level, "run finished: %s", outcome, extra={
        "event": "run_end", "source": source, "run_id": run_id, "outcome": outcome,
        "duration_s": record.get("duration_s"), "pages_fetched": counts.get("pages_fetched", 0),
        "raw_archived": counts.get("raw_archived", 0), "clean_archived": counts.get("clean_archived", 0),
        "bytes_stored": counts.get("store_bytes_stored", 0),
        "errors": sum((record.get("errors") or {}).values()), "detail": record.get("message")})


def record_skipped(storage: StorageSettings, source: str, *, reason: str, message: str,
                   trigger: str = "schedule", trigger_time: Optional[datetime] = None,
                   schedule: Optional[dict] = None, details: Optional[dict] = None,
                   run_id: Optional[str] = None, at: Optional[datetime] = None) -> RunResult:
    """Record a run that did not happen (``outcome: skipped``) and say why, in the store and the log.

    ``reason``: ``running`` (the previous run is still going), ``missed`` (too late for the
    misfire policy), ``shutdown``.  Re-recording with the same ``run_id`` updates the record.
    """
    now = at or datetime.now(timezone.utc)
    run_id = run_id or keys.new_run_id(now, secrets.token_hex(3))
    record = run_record(source=source, run_id=run_id, trigger=trigger, trigger_time=trigger_time, started_at=now,
                        ended_at=now, outcome="skipped", counts={}, errors={}, store=_describe_store(storage),
                        message=message, pid=os.getpid())
    record["skip"] = _plain({"reason": reason, **(details or {})})
    if schedule:
        record["schedule"] = _plain(schedule)
    _store_record(storage, source, run_id, record)
    log.info("run skipped: %s", message, extra={"event": "run_skipped", "source": source, "run_id": run_id,
                                                "reason": reason, "trigger": trigger,
                                                "trigger_time": iso(trigger_time)})
    return RunResult(source, run_id, 0, "skipped", record)


def _json_default(value):
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _plain(obj: dict) -> dict:
    """``obj`` with datetimes as ISO strings, as it is stored."""
    return json.loads(json.dumps(obj, default=_json_default))


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _describe_store(storage: StorageSettings) -> str:
    try:
        return open_store(storage).describe()
    except StoreError:
        return mask(storage.url)


def _store_record(storage: StorageSettings, source: str, run_id: str, record: dict) -> None:
    from crawler.archive import Archiver, FatalStoreError
    from crawler.spool import Spool

    try:
        archiver = Archiver(open_store(storage), Spool(storage.spool_dir, source,
                                                        max_bytes=storage.spool_max_bytes))
        archiver.put(keys.run_key(source, run_id), to_json(record), content_type="application/json")
    except (StoreError, FatalStoreError) as exc:
        log.error("could not record run %s of %s: %s", run_id, source, mask(str(exc)))


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _cleanup(workdir: Path) -> None:
    for p in workdir.iterdir():
        try:
            p.unlink()
        except OSError:
            pass
    try:
        workdir.rmdir()
    except OSError:
        pass
