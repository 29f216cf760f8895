"""One crawl process's part in a distributed crawl: the shared frontier, the host limiter.

``open_crawl(coordination, source, crawl_id)`` connects to Redis and returns a
:class:`DistributedCrawl` when the source is ``distributed: true`` and
coordination is configured, else None (the crawl runs alone, as before).  Every
replica that opens the same ``crawl_id`` works on the same frontier; a scheduled
run uses the fire time, so all replicas that fire together join one crawl.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from crawler.config import CoordinationSettings, SourceSettings
from crawler.frontier import Frontier
from crawler.hostlimit import HostLimiter
from crawler.lease import new_holder_id
from crawler.redisconn import Keys, connect

STAT_PREFIX = "archiver/frontier/"


@dataclass
class DistributedCrawl:
    crawl_id: str
    replica: str
    frontier: Frontier
    limiter: HostLimiter
    hosts: int = 1

    def scrapy_settings(self, base: dict) -> dict:
        from crawler.frontier_scrapy import distributed_settings

        return distributed_settings(self.frontier, self.limiter, base, hosts=self.hosts)

    def describe(self, stats: dict) -> dict:
        """What the run record says about this replica's part (from the crawler's stats)."""
        part = {k[len(STAT_PREFIX):]: v for k, v in stats.items() if k.startswith(STAT_PREFIX)}
        return {"crawl_id": self.crawl_id, "replica": self.replica, "seeder": self.frontier.seeder,
                "crawl_over": bool(part.pop("crawl_over", 0)),
                "shared": {k[len("shared_"):]: part.pop(k) for k in list(part) if k.startswith("shared_")},
                "counts": part}


def open_crawl(coordination: Optional[CoordinationSettings], source: SourceSettings, crawl_id: str, *,
               replica: Optional[str] = None) -> Optional[DistributedCrawl]:
    """Join the distributed crawl ``crawl_id`` of ``source`` (raises CoordinationError)."""
    if not source.distributed or coordination is None or not coordination.enabled:
        return None
    replica = replica or new_holder_id()
    client = connect(coordination, client_name=f"archiver-crawl-{source.name}")
    keys = Keys(coordination.key_prefix)
    frontier = Frontier(client, keys.crawl(source.name, crawl_id), replica, ttl_s=coordination.lease_seconds,
                        max_pages=source.max_pages, retain_s=source.max_run_seconds + 86400)
    # a download holds its host slot at most this long (a dead replica's slots free themselves)
    hold_s = source.download_timeout + 5
    limiter = HostLimiter(client, keys, concurrency=source.concurrency, delay=source.delay, hold_s=hold_s)
    return DistributedCrawl(crawl_id, replica, frontier, limiter,
                            hosts=len(source.hosts()))
