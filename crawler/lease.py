"""Leases in Redis: one holder at a time, an expiry, renewal, and a fencing token.

A lease is a Redis key ``<prefix>:lease:<name>`` set with an expiry (``PX``) and a
JSON value naming its holder.  Acquire, renew and release are Lua scripts, so
"is it still mine?" and the change happen in one step on the server.  Each new
holder gets a fencing token, a number that only grows (``INCR`` on
``<prefix>:fence:<name>``), so a write can carry it and a stale holder's late
write can be told apart from the current holder's.

A holder that stops renewing (it died, it hangs, it lost the network) loses the
lease when the key expires, on the Redis server's clock.  The holder's own view is
conservative: it counts the lease as held only until ``ttl`` after it *sent* the
last successful acquire/renew (less a drift margin), so it gives up before Redis
could hand the lease to someone else.  That view is pure (:class:`Lease` with a
clock passed in) and tested without sleeping.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional

from crawler.redisconn import CoordinationError, Keys, client_url, describe_error

log = logging.getLogger(__name__)

DRIFT = 0.02          # clocks may run this much apart: the holder gives up this much earlier
RENEW_FRACTION = 1 / 3  # renew after a third of the ttl: two renewals may fail before expiry


def new_holder_id() -> str:
    """A name for this process as a lease holder: host, pid and a random tail (pids repeat)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def local_deadline(sent_at: float, ttl_s: float) -> float:
    """Until when (our clock) the lease is surely ours, given when the request was sent."""
    return sent_at + ttl_s * (1 - DRIFT)


@dataclass
class Lease:
    """What a holder knows about a lease it holds (times are its own monotonic clock)."""

    name: str
    holder: str
    token: int
    ttl_s: float
    deadline: float
    renewed_at: float

    def valid(self, now: float) -> bool:
        return now < self.deadline

    def renew_due(self, now: float) -> bool:
        return now - self.renewed_at >= self.ttl_s * RENEW_FRACTION

    def remaining(self, now: float) -> float:
        return max(0.0, self.deadline - now)

    def as_env(self) -> dict[str, str]:
        """How a child process learns the lease it is to keep renewing."""
        return {"ARCHIVER_LEASE": json.dumps({"name": self.name, "holder": self.holder,
                                               "token": self.token, "ttl_s": self.ttl_s})}


_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, d = pcall(cjson.decode, cur)
  if ok and d['holder'] == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, d['token'], cur}
  end
  return {0, 0, cur}
end
local token = redis.call('INCR', KEYS[2])
local d = cjson.decode(ARGV[3])
d['holder'] = ARGV[1]
d['token'] = token
local val = cjson.encode(d)
redis.call('SET', KEYS[1], val, 'PX', ARGV[2])
return {1, token, val}
"""

_RENEW = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, d = pcall(cjson.decode, cur)
if ok and d['holder'] == ARGV[1] and tostring(d['token']) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

_RELEASE = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, d = pcall(cjson.decode, cur)
if ok and d['holder'] == ARGV[1] and tostring(d['token']) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class Leases:
    """Acquire, renew and release leases in one Redis (client from :func:`crawler.redisconn.connect`)."""

    def __init__(self, client, keys: Keys, *, clock: Callable[[], float] = time.monotonic):
        self.client, self.keys, self.clock = client, keys, clock
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def _call(self, script, keys, args):
        import redis

        try:
            return script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise describe_error(exc, client_url(self.client)) from None

    def acquire(self, name: str, holder: str, ttl_s: float, **info) -> Optional[Lease]:
        """Take the lease if it is free (or already ours); None if someone else holds it."""
        about = {"since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "host": socket.gethostname()[:60], "pid": os.getpid(), **info}
        sent = self.clock()
        got, token, _ = self._call(self._acquire, [self.keys.lease(name), self.keys.fence(name)],
                                   [holder, int(ttl_s * 1000), json.dumps(about, default=str)])
        if not got:
            return None
        return Lease(name, holder, int(token), ttl_s, local_deadline(sent, ttl_s), sent)

    def renew(self, lease: Lease) -> bool:
        """Extend the lease by its ttl; False if it is no longer ours (expired, taken)."""
        sent = self.clock()
        ok = self._call(self._renew, [self.keys.lease(lease.name)],
                        [lease.holder, str(lease.token), int(lease.ttl_s * 1000)])
        if ok:
            lease.deadline, lease.renewed_at = local_deadline(sent, lease.ttl_s), sent
        return bool(ok)

    def release(self, lease: Lease) -> bool:
        """Give the lease up (only if it is still ours); True if it was."""
        return bool(self._call(self._release, [self.keys.lease(lease.name)], [lease.holder, str(lease.token)]))

    def adopt(self, spec: dict) -> Optional[Lease]:
        """Take over renewing a lease another process of the same holder acquired.

        Renews it at once: that proves it is still ours and starts our own deadline.
        None when it is not ours any more.
        """
        now = self.clock()
        lease = Lease(spec["name"], spec["holder"], int(spec["token"]), float(spec["ttl_s"]),
                      deadline=now, renewed_at=now)
        return lease if self.renew(lease) else None

    def holder(self, name: str) -> Optional[dict]:
        """Who holds the lease now (its JSON value), or None."""
        import redis

        try:
            value = self.client.get(self.keys.lease(name))
        except redis.RedisError as exc:
            raise describe_error(exc, client_url(self.client)) from None
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return {"holder": "?", "raw": value[:200]}

    def is_current(self, name: str, token: int) -> bool:
        """True while ``token`` is the live holder's token (a fence check before a write)."""
        held = self.holder(name)
        return held is not None and int(held.get("token", -1)) == token


@dataclass
class LeaseKeeper:
    """Keeps one lease renewed from a background thread while work goes on.

    ``on_lost`` is called once (from the keeper's thread) when the lease can no longer
    be counted on: Redis said it is someone else's, or renewals kept failing until the
    local deadline passed.  The work should then stop: another replica may take over.
    """

    leases: Leases
    lease: Lease
    on_lost: Optional[Callable[[str], None]] = None
    poll_s: Optional[float] = None
    quiet: bool = False  # losing it is expected (another process ends it): no warning
    lost: threading.Event = field(default_factory=threading.Event)
    reason: Optional[str] = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def start(self) -> "LeaseKeeper":
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.lease.name}", daemon=True)
        self._thread.start()
        return self

    def step(self) -> bool:
        """One renewal check (the thread's loop body); False once the lease is lost."""
        now = self.leases.clock()
        if not self.lease.valid(now):
            self._lose("the lease expired before it could be renewed")
            return False
        if not self.lease.renew_due(now):
            return True
        try:
            if not self.leases.renew(self.lease):
                self._lose("the lease was taken over or expired in Redis")
                return False
        except CoordinationError as exc:
            log.warning("could not renew lease %s: %s", self.lease.name, exc)
            if not self.lease.valid(self.leases.clock()):
                self._lose(f"renewals failed until the lease ran out ({exc})")
                return False
        return True

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self.reason = reason
        self.lost.set()
        (log.debug if self.quiet else log.warning)("lost lease %s (token %d): %s", self.lease.name, self.lease.token, reason,
                    extra={"event": "lease_lost", "lease": self.lease.name})
        if self.on_lost is not None:
            self.on_lost(reason)

    def _run(self) -> None:
        poll = self.poll_s or max(0.05, self.lease.ttl_s * RENEW_FRACTION / 4)
        while not self._stop.wait(poll):
            if not self.step():
                return

    def stop(self, *, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if release and not self.lost.is_set():
            try:
                self.leases.release(self.lease)
            except CoordinationError as exc:
                log.warning("could not release lease %s: %s (it expires by itself)", self.lease.name, exc)

    def __enter__(self) -> "LeaseKeeper":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def lease_spec_from_env(env: dict) -> Optional[dict]:
    """The lease a parent process passed down (:meth:`Lease.as_env`), or None."""
    raw = env.get("ARCHIVER_LEASE")
    return json.loads(raw) if raw else None
