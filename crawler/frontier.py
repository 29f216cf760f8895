"""A crawl frontier shared by several replicas in Redis (no Scrapy here).

One distributed crawl (a source at one fire time, named by a crawl id) keeps in
Redis, under one hash-tagged prefix:

* ``seen``: a set of request fingerprints (the shared dupefilter: a URL is queued
  once per crawl, whoever finds it);
* ``queue`` + ``req``: queued requests (a sorted set by priority, then arrival;
  a hash of their serialized form);
* ``inflight:<replica>``: what each replica has taken and not finished: it goes
  back to the queue if the replica dies (its ``alive:<replica>`` key, renewed by
  a heartbeat, expires);
* ``pages``: requests admitted that count against ``max_pages`` (the cap holds
  for the crawl as a whole, not per replica);
* ``seeder`` / ``seeded``: the one replica that queues the entry points, and
  whether it has finished;
* ``done``: set once the crawl is over.

The crawl is over when the entry points are queued, the queue is empty and no
live replica holds work in flight: then no one can add anything any more.
Every change is one Lua script, so each step is atomic on the server.
Requests are stored as JSON (never pickle: a Redis that others can write to
must not be able to run code in the workers).
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from crawler.redisconn import client_url, describe_error

log = logging.getLogger(__name__)

RETAIN_S = 3600          # a finished crawl's keys stay this long (late joiners see it is over)
PRIORITY_SCALE = 1e10    # score = -priority * scale + arrival number: higher priority first, FIFO within

_ADMIT = """
local P = KEYS[1]
if redis.call('EXISTS', P .. ':done') == 1 then return 'done' end
if ARGV[5] == '0' and redis.call('SISMEMBER', P .. ':seen', ARGV[1]) == 1 then return 'seen' end
if ARGV[3] == '1' then
  local n = tonumber(redis.call('GET', P .. ':pages') or '0')
  if n >= tonumber(ARGV[4]) then return 'cap' end
  redis.call('INCR', P .. ':pages')
end
redis.call('SADD', P .. ':seen', ARGV[1])
local id = redis.call('INCR', P .. ':seq')
redis.call('ZADD', P .. ':queue', -tonumber(ARGV[6]) * 1e10 + id, id)
redis.call('HSET', P .. ':req', id, ARGV[2])
if ARGV[7] ~= '' then
  redis.call('HDEL', P .. ':inflight:' .. ARGV[8], ARGV[7])
  redis.call('HDEL', P .. ':req', ARGV[7])
end
return 'queued'
"""

_POP = """
local P = KEYS[1]
local e = redis.call('ZRANGE', P .. ':queue', 0, 0, 'WITHSCORES')
if #e == 0 then return false end
redis.call('ZREM', P .. ':queue', e[1])
redis.call('HSET', P .. ':inflight:' .. ARGV[1], e[1], e[2])
return {e[1], redis.call('HGET', P .. ':req', e[1])}
"""

_ACK = """
local P = KEYS[1]
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('HDEL', P .. ':inflight:' .. ARGV[1], ARGV[i])
  redis.call('HDEL', P .. ':req', ARGV[i])
end
return n
"""

# give back what a replica holds (it is leaving, or it is dead)
_REQUEUE = """
local P = KEYS[1]
local inf = P .. ':inflight:' .. ARGV[1]
local entries = redis.call('HGETALL', inf)
for i = 1, #entries, 2 do redis.call('ZADD', P .. ':queue', entries[i + 1], entries[i]) end
redis.call('DEL', inf)
if ARGV[2] == '1' then redis.call('SREM', P .. ':members', ARGV[1]) end
return #entries / 2
"""

_FINISH = """
local P = KEYS[1]
if redis.call('EXISTS', P .. ':done') == 1 then return {1, 0} end
local requeued = 0
local busy = 0
for _, m in ipairs(redis.call('SMEMBERS', P .. ':members')) do
  local inf = P .. ':inflight:' .. m
  if redis.call('EXISTS', P .. ':alive:' .. m) == 0 then
    local entries = redis.call('HGETALL', inf)
    for i = 1, #entries, 2 do redis.call('ZADD', P .. ':queue', entries[i + 1], entries[i]) end
    requeued = requeued + #entries / 2
    redis.call('DEL', inf)
    redis.call('SREM', P .. ':members', m)
  elseif redis.call('HLEN', inf) > 0 then
    busy = busy + 1
  end
end
if redis.call('EXISTS', P .. ':seeded') == 0 then
  local seeder = redis.call('GET', P .. ':seeder')
  if not seeder then return {0, requeued} end
  if redis.call('EXISTS', P .. ':alive:' .. seeder) == 1 then return {0, requeued} end
  redis.call('SET', P .. ':seeded', 'lost')
end
if busy > 0 or redis.call('ZCARD', P .. ':queue') > 0 then return {0, requeued} end
redis.call('SET', P .. ':done', '1')
return {1, requeued}
"""

_HEARTBEAT = """
local P = KEYS[1]
redis.call('SET', P .. ':alive:' .. ARGV[1], '1', 'PX', ARGV[2])
redis.call('SADD', P .. ':members', ARGV[1])
local keep = tonumber(ARGV[3])
for _, k in ipairs({'seen', 'queue', 'req', 'seq', 'pages', 'members', 'seeder', 'seeded', 'done',
                    'inflight:' .. ARGV[1]}) do
  redis.call('PEXPIRE', P .. ':' .. k, keep)
end
return redis.call('EXISTS', P .. ':done')
"""


class Frontier:
    """One replica's handle on a distributed crawl's shared state.

    ``client`` comes from :func:`crawler.redisconn.connect`; ``prefix`` from
    :meth:`crawler.redisconn.Keys.crawl`.  ``ttl_s``: how long this replica counts
    as alive after a heartbeat (its work goes back to the queue after that);
    ``retain_s``: how long the crawl's keys outlive the last heartbeat.
    """

    def __deepcopy__(self, memo):  # a shared handle: Scrapy copies its settings, not the connection
        return self

    def __init__(self, client, prefix: str, replica: str, *, ttl_s: float, max_pages: int,
                 retain_s: float = 86400.0):
        self.client, self.prefix, self.replica = client, prefix, replica
        self.ttl_ms = max(100, int(ttl_s * 1000))
        self.max_pages = max_pages
        self.retain_ms = int(retain_s * 1000)
        self.seeder = False
        self._scripts = {name: client.register_script(src) for name, src in (
            ("admit", _ADMIT), ("pop", _POP), ("ack", _ACK), ("requeue", _REQUEUE),
            ("finish", _FINISH), ("heartbeat", _HEARTBEAT))}
        self._beat_stop = threading.Event()
        self._beat: Optional[threading.Thread] = None

    def _run(self, name: str, *args):
        import redis

        try:
            return self._scripts[name](keys=[self.prefix], args=list(args))
        except redis.RedisError as exc:
            raise describe_error(exc, client_url(self.client)) from None

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    # -- membership ------------------------------------------------------------------
    def join(self) -> None:
        """Count this replica in and keep it counted (a heartbeat thread) until :meth:`leave`."""
        self.heartbeat()
        self._beat = threading.Thread(target=self._beat_loop, name="frontier-heartbeat", daemon=True)
        self._beat.start()

    def heartbeat(self) -> bool:
        """Renew this replica's liveness and the crawl's key expiry; True when the crawl is over."""
        return bool(self._run("heartbeat", self.replica, self.ttl_ms, self.retain_ms))

    def _beat_loop(self) -> None:
        while not self._beat_stop.wait(self.ttl_ms / 3000):
            try:
                self.heartbeat()
            except Exception as exc:  # noqa: BLE001 - keep beating; the next one may get through
                log.warning("frontier heartbeat failed: %s", exc)

    def leave(self) -> int:
        """Stop the heartbeat and give back whatever this replica still holds; returns that count."""
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        return int(self._run("requeue", self.replica, "1"))

    # -- seeding ---------------------------------------------------------------------
    def claim_seeding(self) -> bool:
        """True for the one replica that is to queue the entry points."""
        self.seeder = bool(self.client.set(self._key("seeder"), self.replica, nx=True, px=self.retain_ms))
        return self.seeder

    def seeding_done(self) -> None:
        self.client.set(self._key("seeded"), "1", px=self.retain_ms)

    # -- requests --------------------------------------------------------------------
    def admit(self, fingerprint: str, payload: str, *, priority: int = 0, counted: bool = False,
              dont_filter: bool = False, replaces: Optional[str] = None) -> str:
        """Queue a request unless the crawl has seen it; ``queued``, ``seen``, ``cap`` or ``done``.

        ``counted`` requests count against ``max_pages``.  ``replaces``: the entry
        this request follows up (a redirect, a retry), finished in the same step.
        """
        return self._run("admit", fingerprint, payload, "1" if counted else "0", self.max_pages,
                         "1" if dont_filter else "0", int(priority), replaces or "", self.replica)

    def pop(self) -> Optional[tuple[str, str]]:
        """Take the next request (entry id, payload); it stays in flight until :meth:`ack`."""
        got = self._run("pop", self.replica)
        if not got:
            return None
        return got[0], got[1]

    def ack(self, *entries: str) -> int:
        """The work for these entries is done (the page stored, its links queued)."""
        if not entries:
            return 0
        return int(self._run("ack", self.replica, *entries))

    def in_flight(self) -> list[str]:
        return list(self.client.hkeys(self._key(f"inflight:{self.replica}")))

    def try_finish(self) -> bool:
        """Reap dead replicas' work; mark the crawl over if nothing is left anywhere."""
        done, requeued = self._run("finish")
        if requeued:
            log.warning("took back %d requests from replicas that stopped answering", requeued)
        return bool(done)

    def is_done(self) -> bool:
        """True once the crawl is over (False too when Redis cannot say)."""
        import redis

        try:
            return bool(self.client.exists(self._key("done")))
        except redis.RedisError:
            return False

    def pending(self) -> int:
        return int(self.client.zcard(self._key("queue")))

    def finish(self) -> None:
        """After the crawl is over: keep its keys a little while, so late joiners see it ended."""
        pipe = self.client.pipeline(transaction=False)
        for name in ("seen", "queue", "req", "seq", "pages", "members", "seeder", "seeded", "done"):
            pipe.pexpire(self._key(name), RETAIN_S * 1000)
        pipe.execute()

    def stats(self) -> dict:
        pipe = self.client.pipeline(transaction=False)
        pipe.scard(self._key("seen"))
        pipe.zcard(self._key("queue"))
        pipe.get(self._key("pages"))
        pipe.smembers(self._key("members"))
        seen, queued, pages, members = pipe.execute()
        return {"seen": seen, "queued": queued, "pages_admitted": int(pages or 0), "replicas": len(members)}
