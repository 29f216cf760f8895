"""Deciding what to do when a source's fire times come due: start it, or skip and say why.

:class:`Dispatcher` holds no threads and does no I/O: fire times and the clock go in,
a :class:`Decision` comes out, so the no-overlap and missed-run rules are tested with a
given clock.  The daemon carries the decisions out (starts a crawl, records a skip).

:class:`Slots` bounds how many crawls run at once (``max_concurrent_runs``); a source
waiting for a slot still counts as active, so it is not queued twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Optional

from jobs.schedule import Due, Plan, plan_run


@dataclass
class Active:
    """A source's current run: claimed when it came due, started when it got a slot."""

    source: str
    trigger: str
    due: Due
    plan: Plan
    claimed_at: datetime
    run_id: Optional[str] = None
    pid: Optional[int] = None
    started_at: Optional[datetime] = None
    # fire times that came due while this run was going, and the skip record counting them
    skips: int = 0
    skip_run_id: Optional[str] = None
    first_skip: Optional[datetime] = None
    last_skip: Optional[datetime] = None
    first_skipped_fire: Optional[datetime] = None

    @property
    def running(self) -> bool:
        return self.started_at is not None


@dataclass(frozen=True)
class Decision:
    action: str                      # "start" | "skip_missed" | "skip_running"
    plan: Plan
    trigger: str
    active: Optional[Active] = None  # start: the new run; skip_running: the one in the way (a copy)
    first_skip: bool = False         # skip_running: the first skip against this run


class Dispatcher:
    def __init__(self, *, policy: str = "coalesce", grace_s: float = 300.0,
                 clock: Callable[[], datetime]):
        self.policy, self.grace_s, self.clock = policy, grace_s, clock
        self._active: dict[str, Active] = {}
        self._lock = threading.Lock()

    def configure(self, *, policy: str, grace_s: float) -> None:
        with self._lock:
            self.policy, self.grace_s = policy, grace_s

    def due(self, source: str, due: Due, trigger: str = "schedule") -> Decision:
        """Fire times of ``source`` came due: start it once, or skip them (never a burst)."""
        now = self.clock()
        with self._lock:
            plan = plan_run(due, now, policy=self.policy, grace_s=self.grace_s)
            if not plan.run:
                return Decision("skip_missed", plan, trigger)
            current = self._active.get(source)
            if current is not None:
                current.skips += 1
                current.first_skip = current.first_skip or now
                current.first_skipped_fire = current.first_skipped_fire or plan.trigger_time
                current.last_skip = now
                return Decision("skip_running", plan, trigger, replace(current), first_skip=current.skips == 1)
            active = Active(source, trigger, due, plan, claimed_at=now)
            self._active[source] = active
            return Decision("start", plan, trigger, active)

    def recheck(self, source: str) -> Plan:
        """The plan again, now (after waiting for a slot): too late under ``skip`` means no run."""
        with self._lock:
            active = self._active[source]
            active.plan = plan_run(active.due, self.clock(), policy=self.policy, grace_s=self.grace_s)
            return active.plan

    def started(self, source: str, run_id: str, pid: int) -> None:
        with self._lock:
            active = self._active.get(source)
            if active is not None:
                active.run_id, active.pid, active.started_at = run_id, pid, self.clock()

    def note_skip_record(self, source: str, run_id: str) -> None:
        with self._lock:
            active = self._active.get(source)
            if active is not None and active.skip_run_id is None:
                active.skip_run_id = run_id

    def finished(self, source: str) -> Optional[Active]:
        with self._lock:
            return self._active.pop(source, None)

    def active(self) -> dict[str, Active]:
        with self._lock:
            return {name: replace(a) for name, a in self._active.items()}


class Slots:
    """A resizable bound on crawls at once; waiting can be cancelled (shutdown)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def resize(self, limit: int) -> None:
        with self._cond:
            self.limit = limit
            self._cond.notify_all()

    def acquire(self, cancel: threading.Event) -> bool:
        with self._cond:
            while self.used >= self.limit:
                if cancel.is_set():
                    return False
                self._cond.wait(0.5)
            if cancel.is_set():
                return False
            self.used += 1
            return True

    def release(self) -> None:
        with self._cond:
            self.used -= 1
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


