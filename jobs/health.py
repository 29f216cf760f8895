"""Is the worker healthy?  A pure verdict from the scheduler's state and a given clock.

Unhealthy when the scheduler is dead (its thread gone, or its heartbeat job stopped
firing) or when a source has missed its schedule: it became due and has not started
for more than ``missed_factor`` of its period (plus its jitter).  A source whose run
is still going is not late (the runner holds it to its time limit); one that waits
for a free slot is, when it waits too long.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from crawler.records import iso
from jobs.schedule import Schedule

SLACK_S = 5.0             # scheduling latency forgiven on top of the allowance
HEARTBEAT_LIMIT_S = 30.0  # the scheduler's heartbeat job fires every few seconds


@dataclass(frozen=True)
class SourceView:
    name: str
    schedule: Schedule
    last_activity: datetime          # latest of: run claimed/started/ended, source (re)scheduled
    running: bool = False
    waiting: bool = False            # due, waiting for a free slot
    next_fire: Optional[datetime] = None
    last_outcome: Optional[str] = None


def lateness(view: SourceView, now: datetime, factor: float) -> tuple[Optional[datetime], float, float]:
    """``(due, late_s, allowed_s)``: when the source became due after its last activity, how
    late it is now, and how late it may be; ``due`` is None when it is not due yet."""
    due, allowed = _due_after(view.schedule, view.last_activity, factor)
    if due is None or due > now:
        return None, 0.0, 0.0
    return due, (now - due).total_seconds(), allowed


@functools.lru_cache(maxsize=8192)
def _due_after(schedule: Schedule, last_activity: datetime, factor: float) -> tuple[Optional[datetime], float]:
    # asked every second for every source, and the answer only changes with the last activity
    due = schedule.next_base(last_activity)
    if due is None:
        return None, 0.0
    period = schedule.period_at(due)
    return due, factor * (period.total_seconds() if period else 0.0) + schedule.jitter_cap(due) + SLACK_S


@dataclass
class HealthReport:
    ok: bool
    problems: list[str] = field(default_factory=list)
    sources: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"status": "ok" if self.ok else "unhealthy", "problems": self.problems, "sources": self.sources}


def evaluate(now: datetime, views: list[SourceView], *, factor: float, scheduler_alive: bool = True,
             heartbeat_age_s: Optional[float] = None, heartbeat_limit_s: float = HEARTBEAT_LIMIT_S,
             stopping: bool = False) -> HealthReport:
    report = HealthReport(True)
    if not scheduler_alive:
        report.problems.append("the scheduler is not running")
    elif heartbeat_age_s is not None and heartbeat_age_s > heartbeat_limit_s:
        report.problems.append(f"the scheduler has not ticked for {heartbeat_age_s:.0f}s")
    if stopping:
        report.problems.append("shutting down")
    for view in views:
        due, late, allowed = lateness(view, now, factor)
        overdue = due is not None and not view.running and late > allowed
        state = "running" if view.running else "waiting for a slot" if view.waiting else \
            "overdue" if overdue else "scheduled"
        report.sources[view.name] = {
            "state": state, "schedule": view.schedule.describe(), "next_fire": iso(view.next_fire),
            "last_activity": iso(view.last_activity), "last_outcome": view.last_outcome,
            "due_since": iso(due) if due is not None and not view.running else None,
        }
        if overdue:
            report.problems.append(f"source {view.name} has not started since it was due at {iso(due)} "
                                   f"({late:.0f}s late, allowed {allowed:.0f}s)")
    report.ok = not report.problems
    return report
