"""Per-host politeness that holds across replicas: a shared delay and concurrency cap in Redis.

Scrapy keeps ``DOWNLOAD_DELAY`` and ``CONCURRENT_REQUESTS_PER_DOMAIN`` per process;
three replicas crawling one site would hit it three times as hard.  Here every
request to a host first takes a slot from Redis (one Lua call, on the server's clock):

* at most ``concurrency`` requests to the host at once, cluster-wide (each holds a
  token in a sorted set until its response comes back; a token whose holder died
  expires after ``hold_s``);
* at least ``delay`` seconds between the starts of two requests to the host;
* first come, first served: requests waiting for the host queue in arrival order,
  whichever replica they are on (without it, the replica whose response just
  came back would win the freed slot every time).

When no slot is free the answer says how long to wait before asking again.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from typing import Optional

from crawler.redisconn import Keys, client_url, describe_error

BUSY_RETRY_MS = 25  # no slot: ask again after this (a token frees when a response arrives)
STALE_WAITER_MS = 2000  # a waiter that has not asked again for this long has left the line

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens, nextkey = KEYS[1] .. ':tokens', KEYS[1] .. ':next'
local waiters, polls = KEYS[1] .. ':waiters', KEYS[1] .. ':polls'
local token = ARGV[4]
redis.call('ZREMRANGEBYSCORE', tokens, '-inf', now)
-- waiters that stopped asking (their replica died, the request was cancelled) leave the line
for _, w in ipairs(redis.call('ZRANGEBYSCORE', polls, '-inf', now - tonumber(ARGV[6]))) do
  redis.call('ZREM', waiters, w)
  redis.call('ZREM', polls, w)
end
if redis.call('ZADD', waiters, 'NX', now, token) == 1 then
  redis.call('PEXPIRE', waiters, 600000)
  redis.call('PEXPIRE', polls, 600000)
end
redis.call('ZADD', polls, now, token)
local free = tonumber(ARGV[1]) - redis.call('ZCARD', tokens)
local rank = redis.call('ZRANK', waiters, token)
if free <= 0 or rank >= free then
  -- further back in line: ask again later (the head of the line asks most often)
  local behind = rank - math.max(free, 0) + 1
  return {0, math.min(tonumber(ARGV[5]) * behind, 10 * tonumber(ARGV[5]))}
end
local nxt = tonumber(redis.call('GET', nextkey) or '0')
if now < nxt then return {0, nxt - now} end
local delay = tonumber(ARGV[2])
redis.call('SET', nextkey, now + delay, 'PX', delay + 60000)
redis.call('ZADD', tokens, now + tonumber(ARGV[3]), token)
redis.call('PEXPIRE', tokens, tonumber(ARGV[3]) + 60000)
redis.call('ZREM', waiters, token)
redis.call('ZREM', polls, token)
return {1, 0}
"""


@dataclass(frozen=True)
class Slot:
    """An answer from :meth:`HostLimiter.acquire`: a token to release, or how long to wait."""

    token: Optional[str]
    wait_s: float

    @property
    def granted(self) -> bool:
        return self.token is not None


def jittered(delay: float, rng: random.Random | None = None) -> float:
    """Scrapy's randomized delay: between 0.5x and 1.5x of ``delay``."""
    if delay <= 0:
        return 0.0
    return delay * (rng or random).uniform(0.5, 1.5)


class HostLimiter:
    def __deepcopy__(self, memo):  # a shared handle: Scrapy copies its settings, not the connection
        return self

    def __init__(self, client, keys: Keys, *, concurrency: int, delay: float, hold_s: float,
                 randomize: bool = True):
        self.client, self.keys = client, keys
        self.concurrency, self.delay, self.hold_s = concurrency, delay, hold_s
        self.randomize = randomize
        self._acquire = client.register_script(_ACQUIRE)

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(8)

    def acquire(self, host: str, token: str) -> Slot:
        """Ask for a slot; a request keeps its ``token`` (its place in line) until granted."""
        import redis

        delay = jittered(self.delay) if self.randomize else self.delay
        try:
            got, wait_ms = self._acquire(keys=[self.keys.host(host)], args=[
                self.concurrency, int(delay * 1000), int(self.hold_s * 1000), token, BUSY_RETRY_MS,
                STALE_WAITER_MS])
        except redis.RedisError as exc:
            raise describe_error(exc, client_url(self.client)) from None
        return Slot(token, 0.0) if got else Slot(None, max(0.001, int(wait_ms) / 1000))

    def release(self, host: str, token: str) -> None:
        import redis

        try:
            self.client.zrem(self.keys.host(host) + ":tokens", token)
        except redis.RedisError:
            pass  # the token expires by itself after hold_s
