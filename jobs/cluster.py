"""Several ``archiver serve`` replicas, one schedule: each fire time handled on exactly one.

Every replica schedules every source; when a fire time comes due, the replicas
agree through Redis on who handles it:

1. **Claim the fire.** ``claim(source, fire)`` is a ``SET NX`` on
   ``<prefix>:claim:<source>:<fire>`` (with an expiry); the one replica that sets it
   handles that fire time: runs it, or records it as skipped.  The others do
   nothing for it.  Fire times are named by their scheduled time in UTC, before
   jitter, so every replica names a fire time the same way.
2. **Lease the source while it runs.** ``start(...)`` takes the source's lease
   (:mod:`crawler.lease`): if a run of the source is still going on any replica, the
   lease is held and this fire time is skipped as ``running`` (no overlap,
   cluster-wide).  The crawl process keeps the lease renewed; if the replica dies,
   the lease expires and the source runs again at its next fire time, wherever.

A ``distributed`` source is not claimed by one replica: every replica with a free
slot joins the crawl of that fire time (:mod:`crawler.distributed`), and the lease's
holder is the crawl itself, so all of them hold it together while a run of an
earlier fire time still holding it makes this one a skip.

Interval schedules need a common anchor, or each replica counts its intervals from
its own start: ``anchor(source, default)`` keeps the first replica's anchor in Redis.

Without ``coordination:`` none of this is used: a single worker behaves as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from crawler.config import CoordinationSettings, SourceSettings
from crawler.lease import Lease, LeaseKeeper, Leases, new_holder_id
from crawler.redisconn import Keys, client_url, connect, describe_error

log = logging.getLogger(__name__)

CLAIM_TTL_S = 86400  # a fire time is remembered this long (longer than any replica is late)


def fire_id(fire: datetime) -> str:
    """A fire time as every replica names it: UTC to the second."""
    return fire.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def crawl_id_for(fire: datetime) -> str:
    """The shared crawl a distributed source's replicas join for one fire time."""
    return "fire-" + fire_id(fire)


@dataclass(frozen=True)
class Start:
    """What :meth:`Cluster.start` found: the lease to run under, or who holds the source."""

    lease: Optional[Lease]
    holder: Optional[dict] = None
    crawl_id: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.lease is not None


class Cluster:
    def __init__(self, coordination: CoordinationSettings, *, replica: Optional[str] = None, client=None):
        self.coordination = coordination
        self.replica = replica or new_holder_id()
        self.client = client if client is not None else connect(coordination, client_name="archiver-serve")
        self.keys = Keys(coordination.key_prefix)
        self.leases = Leases(self.client, self.keys)

    def _redis(self, fn, *args, **kw):
        import redis

        try:
            return fn(*args, **kw)
        except redis.RedisError as exc:
            raise describe_error(exc, client_url(self.client)) from None

    def claim(self, source: str, fire: datetime, *, what: str = "run", ttl_s: float = CLAIM_TTL_S) -> Optional[str]:
        """Handle this fire time here? None if we got it, else the replica that did."""
        key = self.keys.claim(source, fire_id(fire))
        value = f"{self.replica} {what}"
        if self._redis(self.client.set, key, value, nx=True, ex=int(ttl_s)):
            return None
        by = (self._redis(self.client.get, key) or "?").split(" ", 1)[0]
        return None if by == self.replica else by  # ours already: claiming again is a no-op

    def start(self, source: SourceSettings, fire: Optional[datetime], **info) -> Start:
        """Take the source's lease for a run (a distributed source: join the fire time's crawl)."""
        ttl = self.coordination.lease_seconds
        if source.distributed and fire is not None:
            crawl_id = crawl_id_for(fire)
            lease = self.leases.acquire(source.name, f"crawl:{crawl_id}", ttl, replica=self.replica, **info)
        else:
            crawl_id = None
            lease = self.leases.acquire(source.name, self.replica, ttl, **info)
        if lease is not None:
            return Start(lease, crawl_id=crawl_id)
        return Start(None, holder=self.leases.holder(source.name) or {"holder": "?"}, crawl_id=crawl_id)

    def child_env(self, start: Start) -> dict[str, str]:
        """What the crawl process needs to keep the lease and join its crawl."""
        env = dict(start.lease.as_env()) if start.lease else {}
        if start.crawl_id:
            env["ARCHIVER_CRAWL_ID"] = start.crawl_id
        return env

    def finish(self, start: Start) -> None:
        """After the run: give the lease back (a distributed crawl's lease is released by its end)."""
        if start.lease is None or start.crawl_id:
            return
        try:
            self.leases.release(start.lease)
        except Exception as exc:  # noqa: BLE001 - it expires by itself
            log.warning("could not release the lease of %s: %s", start.lease.name, exc)

    def crawl_over(self, source: str, crawl_id: str) -> bool:
        """Has the distributed crawl ``crawl_id`` of ``source`` already ended?"""
        return bool(self._redis(self.client.exists, self.keys.crawl(source, crawl_id) + ":done"))

    def anchor(self, source: str, default: datetime) -> datetime:
        """The interval anchor all replicas share (the first replica to ask sets it)."""
        key = self.keys.lock(f"anchor:{source}")
        value = default.astimezone(timezone.utc).isoformat()
        self._redis(self.client.set, key, value, nx=True, ex=CLAIM_TTL_S * 15)
        stored = self._redis(self.client.get, key) or value
        return datetime.fromisoformat(stored)

    def forget_anchor(self, source: str) -> None:
        """A changed interval: the next replica to ask sets a new anchor."""
        self._redis(self.client.delete, self.keys.lock(f"anchor:{source}"))

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


def open_cluster(coordination: Optional[CoordinationSettings]) -> Optional[Cluster]:
    """A :class:`Cluster` when ``coordination`` is set, else None (one worker, as before)."""
    if coordination is None or not coordination.enabled:
        return None
    return Cluster(coordination)


# -- what a scheduler asks before handling a fire time --------------------------------------

SHARED_TRIGGERS = frozenset({"schedule", "catch-up"})  # fire times every replica names the same way


@dataclass
class Ticket:
    """The cluster's answer for one run: ``run`` (with ``env`` for the crawl process),
    ``elsewhere`` (another replica handles this fire time), ``running`` (a run of the
    source is going on some replica: record a skip) or ``over`` (the distributed crawl of
    this fire time has already ended)."""

    action: str
    env: dict
    start: Optional[Start] = None
    by: Optional[str] = None
    holder: Optional[dict] = None
    keeper: Optional[LeaseKeeper] = None


def decide(*, shared_fire: bool, distributed: bool, claimed_by: Optional[str], lease_ok: Optional[bool],
           crawl_over: bool = False) -> str:
    """Pure: what to do with a fire time, given what Redis said (None: not asked)."""
    if claimed_by is not None:
        return "elsewhere"
    if distributed and crawl_over:
        return "over"
    if lease_ok is False:
        return "running"
    return "run"


class ClusterGate:
    """Exactly-once handling of fire times for ``archiver serve`` (see the module doc)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def claims(self, source: SourceSettings, trigger: str, fire: Optional[datetime]) -> bool:
        """Claim a fire time as it comes due (before waiting for a slot): True if it is ours."""
        if trigger not in SHARED_TRIGGERS or fire is None:
            return True
        return self.cluster.claim(source.name, fire) is None

    def handles_skip(self, source: SourceSettings, trigger: str, fire: datetime) -> bool:
        """Record this skipped fire time here? (False: another replica handles it.)"""
        if trigger not in SHARED_TRIGGERS:
            return True
        return self.cluster.claim(source.name, fire, what="skip") is None

    def begin(self, source: SourceSettings, trigger: str, fire: Optional[datetime], **info) -> Ticket:
        shared = trigger in SHARED_TRIGGERS and fire is not None
        if source.distributed and shared:
            if self.cluster.crawl_over(source.name, crawl_id_for(fire)):
                return Ticket(decide(shared_fire=True, distributed=True, claimed_by=None, lease_ok=None,
                                     crawl_over=True), {})
            start = self.cluster.start(source, fire, **info)
            if not start.ok and not self.handles_skip(source, trigger, fire):
                return Ticket("elsewhere", {}, start, holder=start.holder)
            action = decide(shared_fire=True, distributed=True, claimed_by=None, lease_ok=start.ok)
            return self._keep(Ticket(action, self.cluster.child_env(start) if start.ok else {}, start,
                                     holder=start.holder), quiet=True)
        claimed_by = self.cluster.claim(source.name, fire) if shared else None
        if claimed_by is not None:
            return Ticket(decide(shared_fire=shared, distributed=False, claimed_by=claimed_by, lease_ok=None),
                          {}, by=claimed_by)
        start = self.cluster.start(source, None, **info)
        action = decide(shared_fire=shared, distributed=False, claimed_by=None, lease_ok=start.ok)
        return self._keep(Ticket(action, self.cluster.child_env(start) if start.ok else {}, start,
                                 holder=start.holder))

    def _keep(self, ticket: Ticket, *, quiet: bool = False) -> Ticket:
        """The scheduler renews the lease too: while the crawl process starts, and if it dies.

        (A distributed crawl's lease ends with the crawl: the crawl process that sees the
        end releases it, and this keeper then stops renewing without a warning.)"""
        if ticket.action == "run" and ticket.start is not None and ticket.start.lease is not None:
            ticket.keeper = LeaseKeeper(self.cluster.leases, ticket.start.lease, quiet=quiet).start()
        return ticket

    def end(self, ticket: Ticket) -> None:
        if ticket.keeper is not None:
            ticket.keeper.stop(release=False)
        if ticket.start is not None:
            self.cluster.finish(ticket.start)
