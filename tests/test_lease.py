"""Leases in a real Redis: one holder, expiry, renewal, fencing, and what a dead holder leaves."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from crawler.config import CoordinationSettings
from crawler.lease import DRIFT, Lease, LeaseKeeper, Leases, local_deadline
from crawler.redisconn import CoordinationError, Keys, connect
from tests.servers.ports import free_ports
from tests.servers.redis import RedisServer


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def leases_for(coordination, clock=time.monotonic) -> Leases:
    settings = CoordinationSettings(**coordination)
    return Leases(connect(settings), Keys(settings.key_prefix), clock=clock)


def wait_until(predicate, timeout: float = 5.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


# -- the holder's own view: pure ---------------------------------------------------------

def test_holder_counts_on_less_than_the_ttl_from_when_it_asked():
    assert local_deadline(100.0, 30.0) == pytest.approx(100.0 + 30.0 * (1 - DRIFT))
    lease = Lease("s", "me", 7, ttl_s=30.0, deadline=local_deadline(100.0, 30.0), renewed_at=100.0)
    assert lease.valid(100.0) and lease.valid(129.0)
    assert not lease.valid(129.5) and not lease.valid(131.0)
    assert not lease.renew_due(109.9) and lease.renew_due(110.0)
    assert lease.remaining(120.0) == pytest.approx(9.4)


# -- Redis -----------------------------------------------------------------------------

def test_one_holder_at_a_time_and_tokens_only_grow(coordination):
    leases = leases_for(coordination)
    a = leases.acquire("town", "replica-a", 5, run_id="r1")
    assert a is not None and a.token >= 1
    assert leases.acquire("town", "replica-b", 5) is None
    assert leases.holder("town")["holder"] == "replica-a"
    assert leases.holder("town")["run_id"] == "r1"
    again = leases.acquire("town", "replica-a", 5)  # re-acquiring one's own lease keeps the token
    assert again is not None and again.token == a.token
    assert leases.is_current("town", a.token)
    assert leases.release(a)
    assert leases.holder("town") is None
    b = leases.acquire("town", "replica-b", 5)
    assert b is not None and b.token > a.token
    assert not leases.is_current("town", a.token)
    assert not leases.release(a)  # a stale holder cannot release the new holder's lease
    assert leases.holder("town")["holder"] == "replica-b"
    assert leases.acquire("other", "replica-a", 5) is not None  # leases are per name


def test_an_unrenewed_lease_expires_and_its_old_holder_cannot_renew_it(coordination):
    leases = leases_for(coordination)
    a = leases.acquire("town", "replica-a", 0.3)
    assert a is not None
    wait_until(lambda: leases.holder("town") is None, timeout=3)
    b = leases.acquire("town", "replica-b", 5)
    assert b is not None and b.token > a.token
    assert not leases.renew(a)
    assert leases.holder("town")["holder"] == "replica-b"


def test_keeper_holds_the_lease_past_its_ttl_and_releases_at_the_end(coordination):
    leases = leases_for(coordination)
    a = leases.acquire("town", "replica-a", 0.4)
    with LeaseKeeper(leases, a):
        time.sleep(1.2)  # three ttls
        assert leases.acquire("town", "replica-b", 5) is None
        assert leases.holder("town")["holder"] == "replica-a"
    assert leases.holder("town") is None


def test_keeper_reports_a_lease_taken_over(coordination):
    clock = Clock()
    leases = leases_for(coordination, clock)
    a = leases.acquire("town", "replica-a", 30)
    lost = []
    keeper = LeaseKeeper(leases, a, on_lost=lost.append)
    assert keeper.step() and not lost  # nothing due yet
    leases.client.delete(leases.keys.lease("town"))  # as if it had expired in Redis
    assert leases.acquire("town", "replica-b", 30) is not None
    clock.t += 11  # a renewal is due
    assert not keeper.step()
    assert keeper.lost.is_set() and lost and "taken over" in lost[0]


def test_keeper_gives_up_when_redis_is_gone_past_the_deadline():
    server = RedisServer().start()
    try:
        clock = Clock()
        coord = {"redis_url": server.url, "connect_timeout": 0.5}
        leases = leases_for(coord, clock)
        lease = leases.acquire("town", "replica-a", 30)
        keeper = LeaseKeeper(leases, lease)
        server.stop()
        clock.t += 11
        assert keeper.step()  # renewal failed, but the lease is still surely ours for a while
        assert not keeper.lost.is_set()
        clock.t += 19
        assert not keeper.step()
        assert keeper.lost.is_set() and ("ran out" in keeper.reason or "expired" in keeper.reason)
        assert server.password not in keeper.reason
    finally:
        server.close()


def test_a_holder_that_dies_loses_its_lease_and_another_takes_it(coordination, tmp_path):
    script = textwrap.dedent(f"""
        import sys, threading
        from crawler.config import CoordinationSettings
        from crawler.lease import Leases, LeaseKeeper
        from crawler.redisconn import Keys, connect
        s = CoordinationSettings(**{coordination!r})
        leases = Leases(connect(s), Keys(s.key_prefix))
        lease = leases.acquire("town", "doomed", 0.6)
        LeaseKeeper(leases, lease).start()
        print(lease.token, flush=True)
        threading.Event().wait(60)  # held until the test kills this process
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=str(tmp_path), env={"PYTHONPATH": str(__import__("pathlib").Path.cwd())})
    try:
        token = int(proc.stdout.readline())
        leases = leases_for(coordination)
        time.sleep(1.0)  # well past the ttl: the keeper renews it
        assert leases.acquire("town", "survivor", 5) is None
        proc.kill()
        proc.wait()
        taken = wait_until(lambda: leases.acquire("town", "survivor", 5), timeout=3)
        assert taken.token > token
    finally:
        proc.kill()
        proc.wait()


def test_a_child_adopts_its_parents_lease(coordination):
    leases = leases_for(coordination)
    lease = leases.acquire("town", "replica-a", 5)
    spec = {"name": "town", "holder": "replica-a", "token": lease.token, "ttl_s": 5}
    child = leases.adopt(spec)
    assert child is not None and child.token == lease.token
    assert leases.adopt({**spec, "holder": "replica-b"}) is None
    assert leases.adopt({**spec, "token": lease.token + 1}) is None


def test_wrong_password_and_unreachable_redis_are_one_line_and_masked(redis_server):
    bad = CoordinationSettings(redis_url=f"redis://:wrong-secret-pw@127.0.0.1:{redis_server.port}/0")
    with pytest.raises(CoordinationError) as info:
        connect(bad)
    assert info.value.kind == "auth" and "wrong-secret-pw" not in str(info.value)
    assert "redis://:***@127.0.0.1" in str(info.value)
    port = free_ports(1)[0]
    gone = CoordinationSettings(redis_url=f"redis://:pw-1234@127.0.0.1:{port}/0", connect_timeout=0.5)
    with pytest.raises(CoordinationError) as info:
        connect(gone)
    assert info.value.kind == "unreachable" and "pw-1234" not in str(info.value)
    assert "cannot reach" in str(info.value) and "\n" not in str(info.value)
