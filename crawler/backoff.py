"""Pure per-host backoff: how long to leave a host alone after it said "too many requests".

A ``429 Too Many Requests`` (or a ``503`` with ``Retry-After``) pauses *the
host*, not just the one URL: with a ``Retry-After`` header (seconds, or an HTTP
date) for exactly that long; without one, exponentially (1 s, 2 s, 4 s ... up
to ``cap``), one step per round: answers to requests that were already on the
wire when the pause began do not lengthen it again.  A wait longer than ``max_wait``
is not sat out: the host is left for the rest of the run.  Any other answer
resets the count.  The clock is a parameter (monotonic seconds), so this is
tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Optional

THROTTLE_STATUSES = (429, 503)


def parse_retry_after(value: Optional[str], now: datetime) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class Verdict:
    wait: float        # seconds the host is paused from now
    give_up: bool      # the host asked for more than max_wait: no more requests to it in this run
    asked: Optional[float] = None  # what Retry-After said, if it said


@dataclass
class HostBackoff:
    max_wait: float = 300.0
    base: float = 1.0
    cap: float = 60.0
    until: dict = field(default_factory=dict)       # host -> monotonic time the pause ends
    strikes: dict = field(default_factory=dict)     # host -> throttled answers in a row
    given_up: set = field(default_factory=set)

    def throttled(self, host: str, now: float, retry_after: Optional[float]) -> Verdict:
        n = self.strikes.get(host, 0)
        new_round = n == 0 or now >= self.until.get(host, 0.0)  # not an answer sent before the pause
        if new_round:
            n += 1
        self.strikes[host] = n
        if retry_after is not None and retry_after > self.max_wait:
            self.given_up.add(host)
            return Verdict(retry_after, True, retry_after)
        if retry_after is None and not new_round:
            return Verdict(self.until[host] - now, False)
        wait = retry_after if retry_after is not None else min(self.cap, self.base * 2 ** (n - 1))
        self.until[host] = max(self.until.get(host, 0.0), now + wait)
        return Verdict(self.until[host] - now, False, retry_after)

    def answered(self, host: str) -> None:
        self.strikes.pop(host, None)

    def wait(self, host: str, now: float) -> float:
        """Seconds a request to ``host`` must still wait (0: go)."""
        return max(0.0, self.until.get(host, 0.0) - now)

    def abandoned(self, host: str) -> bool:
        return host in self.given_up
