"""Scrapy adapters for the network scope (:mod:`crawler.netscope`).

* :class:`ScopeMiddleware` checks every request (start pages, links, redirect
  targets, robots.txt) against the source's hosts and refuses IP literals in
  forbidden ranges.
* :class:`ScopedResolver` checks every address a host name resolves to, so a
  name that points at a metadata or private address is refused too.

Both read the policy from the ``ARCHIVER_SCOPE`` setting (a ScopePolicy).
"""

from __future__ import annotations

import logging

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError

from crawler.netscope import ScopePolicy, check_ip, check_url

log = logging.getLogger(__name__)


class OutOfScope(IgnoreRequest):
    pass


class ScopeMiddleware:
    def __init__(self, policy: ScopePolicy, stats):
        self.policy, self.stats = policy, stats

    @classmethod
    def from_crawler(cls, crawler):
        policy = crawler.settings.get("ARCHIVER_SCOPE")
        if policy is None:
            raise NotConfigured("ARCHIVER_SCOPE is not set")
        return cls(policy, crawler.stats)

    def process_request(self, request, spider=None):
        decision = check_url(request.url, self.policy)
        if not decision:
            self.stats.inc_value("archiver/refused/out_of_scope")
            log.info("refused %s: %s", request.url, decision.reason)
            raise OutOfScope(f"refused {request.url}: {decision.reason}")
        return None


class ScopedResolver(CachingThreadedResolver):
    """The default caching resolver, refusing addresses outside the source's scope.

    Twisted reports a refused name as a plain failed lookup; the reasons are kept
    in the ``ARCHIVER_SCOPE_REFUSALS`` dict (host -> reason) so the spider can
    record them.  The resolver belongs to the process (``crawler`` here is the
    CrawlerProcess), which runs one crawl.
    """

    policy: ScopePolicy | None = None
    refusals: dict | None = None

    @classmethod
    def from_crawler(cls, crawler, reactor):
        resolver = super().from_crawler(crawler, reactor)
        resolver.policy = crawler.settings.get("ARCHIVER_SCOPE")
        resolver.refusals = crawler.settings.get("ARCHIVER_SCOPE_REFUSALS")
        return resolver

    def getHostByName(self, name, timeout=()):
        d = super().getHostByName(name, timeout)
        if self.policy is None:
            return d

        def check(address):
            decision = check_ip(address, self.policy)
            if not decision:
                log.info("refused %s -> %s: %s", name, address, decision.reason)
                if self.refusals is not None:
                    self.refusals[name.lower()] = f"{name} resolves to {decision.reason}"
                raise DNSLookupError(f"refused {name}: {decision.reason}")
            return address

        d.addCallback(check)
        return d
