"""The crawl process keeps the lease its scheduler took for the run (``ARCHIVER_LEASE``).

The scheduler (``archiver serve`` with ``coordination:``) acquires the source's lease
and passes it down; the crawl process renews it for as long as it crawls, so an
orphaned crawl (its scheduler died) still holds the source and no other replica
starts it beside it.  If the lease is lost (Redis gone past the deadline, taken
over), the crawl stops gracefully, as on SIGTERM, and its record says why.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Optional

from crawler.lease import LeaseKeeper, Leases, lease_spec_from_env
from crawler.redisconn import CoordinationError, Keys, connect

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    pass


def keep_lease(coordination, env: Optional[dict] = None) -> Optional[LeaseKeeper]:
    """Adopt and keep renewing the lease passed down, or None when there is none.

    Raises :class:`LeaseLost` when the lease is no longer ours (do not crawl), and
    CoordinationError when Redis cannot be reached.
    """
    spec = lease_spec_from_env(os.environ if env is None else env)
    if spec is None or coordination is None or not coordination.enabled:
        return None
    leases = Leases(connect(coordination, client_name="archiver-crawl-lease"), Keys(coordination.key_prefix))
    lease = leases.adopt(spec)
    if lease is None:
        now = leases.holder(spec["name"])
        who = f"now held by {now.get('holder')} (token {now.get('token')})" if now else "it has expired"
        raise LeaseLost(f"the lease on {spec['name']} (token {spec['token']}) is no longer ours: {who}")

    def stop_the_crawl(reason: str) -> None:
        log.error("stopping the crawl: lost the lease on %s (%s); another replica may take the source",
                  lease.name, reason, extra={"event": "lease_lost", "source": lease.name})
        os.kill(os.getpid(), signal.SIGTERM)  # Scrapy stops gracefully, keeping what it archived

    return LeaseKeeper(leases, lease, on_lost=stop_the_crawl).start()


def lease_message(keeper: Optional[LeaseKeeper]) -> Optional[str]:
    if keeper is not None and keeper.lost.is_set():
        return f"stopped: lost the lease on {keeper.lease.name} ({keeper.reason})"
    return None


__all__ = ["CoordinationError", "LeaseLost", "keep_lease", "lease_message"]
