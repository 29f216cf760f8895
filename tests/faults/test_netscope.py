"""Network scope: decisions as pure functions (any address), end to end only on loopback.

No test here opens a connection to anything but 127.0.0.0/8: metadata, link-local
and private addresses are checked as decisions (URL or IP in, allowed/refused out).
"""

from __future__ import annotations

import pytest

from crawler.netscope import ScopePolicy, check_ip, check_url, own_hosts_private, parse_ip
from tests import sitegen
from tests.conftest import read_json, source
from tests.servers.site import SiteServer

PUBLIC = ScopePolicy.build(["news.example.org"], allow_private=False)
PRIVATE_OK = ScopePolicy.build(["news.example.org"], allow_private=True)

ALWAYS_REFUSED = [
    "169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "0xa9.0xfe.0xa9.0xfe",
    "169.254.169.254.", "fd00:ec2::254", "fe80::1", "fe80::1%eth0", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::169.254.169.254", "2001:0:4136:e378:8000:63bf:5601:5601",
    "100.100.100.200", "0.0.0.0", "0", "224.0.0.1", "255.255.255.255", "ff02::1", "::",
]
PRIVATE = ["10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "127.1", "2130706433", "0x7f.1", "017700000001",
           "::1", "fc00::1", "fd12:3456::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1",
           "100.64.0.1", "198.18.0.1"]
PUBLIC_ADDRESSES = ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_link_local_and_metadata_addresses_are_always_refused(address):
    ip = parse_ip(address)
    assert ip is not None, address
    assert not check_ip(ip, PUBLIC)
    assert not check_ip(ip, PRIVATE_OK), "refused even when the source may reach private networks"


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_are_refused_unless_the_source_is_private(address):
    ip = parse_ip(address)
    assert ip is not None, address
    decision = check_ip(ip, PUBLIC)
    assert not decision and "private" in decision.reason
    assert check_ip(ip, PRIVATE_OK)


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address):
    assert check_ip(parse_ip(address), PUBLIC)


def test_forbid_networks_wins_over_everything():
    policy = ScopePolicy.build(["news.example.org"], allow_private=True,
                               forbid_networks=["127.0.0.2/32", "93.184.216.0/24", "2001:db8::/32"])
    assert not check_ip(parse_ip("127.0.0.2"), policy)
    assert not check_ip(parse_ip("::ffff:127.0.0.2"), policy)
    assert not check_ip(parse_ip("2130706434"), policy)  # 127.0.0.2, spelled as a number
    assert not check_ip(parse_ip("93.184.216.34"), policy)
    assert not check_ip(parse_ip("2001:db8::5"), policy)
    assert check_ip(parse_ip("127.0.0.1"), policy)


@pytest.mark.parametrize("text", ["example.org", "localhost", "1.2.3.4.5", "256.1.1.1", "0x1g", "1..2",
                                  "09", "127.0.0.0x1g", "", "::ffff:zz"])
def test_names_that_are_not_addresses(text):
    assert parse_ip(text) is None


@pytest.mark.parametrize("url,allowed", [
    ("https://news.example.org/a", True),
    ("https://www.news.example.org/a", True),                      # subdomain
    ("https://NEWS.EXAMPLE.ORG./a", True),
    ("https://news.example.org.evil.net/a", False),
    ("https://evilnews.example.org/a", False),
    ("https://news.example.org@evil.net/a", False),                 # userinfo trick
    ("https://evil.net/?u=https://news.example.org", False),
    ("http://169.254.169.254/latest/meta-data/", False),
    ("http://[fd00:ec2::254]/", False),
    ("http://2852039166/", False),
    ("file:///etc/passwd", False),
    ("gopher://news.example.org/", False),
    ("ftp://news.example.org/", False),
    ("javascript:alert(1)", False),
    ("https://news.example.org:99999/", False),                    # bad port
    ("https:///nohost", False),
])
def test_url_decisions(url, allowed):
    assert bool(check_url(url, PUBLIC)) is allowed, check_url(url, PUBLIC).reason


def test_an_address_host_is_judged_as_an_address_even_when_listed():
    policy = ScopePolicy.build(["169.254.169.254", "2852039166", "10.0.0.5"], allow_private=False)
    assert not check_url("http://169.254.169.254/", policy)
    assert not check_url("http://2852039166/", policy)
    assert not check_url("http://10.0.0.5/", policy)


def test_own_hosts_private():
    assert own_hosts_private({"127.0.0.1": ["127.0.0.1"]})
    assert own_hosts_private({"intranet": ["10.1.2.3"], "www": ["93.184.216.34"]})
    assert not own_hosts_private({"www": ["93.184.216.34", "2606:4700::1111"]})
    assert not own_hosts_private({"unresolved": []})


# -- end to end, loopback only -------------------------------------------------------------

@pytest.fixture
def second_loopback():
    try:
        server = SiteServer(host="127.0.0.2").start()
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.2 here: {exc}")
    yield server
    server.stop()


@pytest.mark.slow
def test_forbidden_networks_are_never_requested(second_loopback, site, file_target, write_config, cli):
    """The archived site is on 127.0.0.2; the 'internal' server on 127.0.0.1 is forbidden.

    It is reached by a link to its address, a link to a name that resolves to it
    (``localhost``), a redirect, and a robots.txt redirect: all refused, recorded,
    and its request log stays empty.
    """
    public, internal = second_loopback, site
    port = internal.port
    news = sitegen.build(2, seed=8)
    sitegen.serve(public, news)
    public.redirect("/robots.txt", f"http://127.0.0.1:{port}/robots.txt")
    public.redirect("/news/moved/", f"http://127.0.0.1:{port}/redirected/", 302)
    links = [a.path for a in news.articles] + [
        f"http://127.0.0.1:{port}/direct/", f"http://localhost:{port}/by-name/", "/news/moved/",
        f"http://127.0.0.3:{port}/not-ours/"]
    public.page("/news/", "<html><body>" + "".join(f'<a href="{u}">x</a>' for u in links) + "</body></html>")
    internal.page("/direct/", "<html><body>internal</body></html>")
    config = write_config([
        source("guarded", public.url, allowed_hosts=["127.0.0.1", "localhost"],
               forbid_networks=["127.0.0.1/32"], max_depth=1),
        source("plain", public.url, max_depth=1),  # no allowed_hosts: the other host is simply not ours
    ], file_target.storage)
    cli("crawl", "--config", config, check=True)

    assert internal.requests == [], [r.path for r in internal.requests]
    store = file_target.store
    guarded = read_json(store, next(o.key for o in store.list("runs/guarded/")))
    samples = " ".join(guarded["error_samples"]["out_of_scope"])
    for what in ("/direct/", "/by-name/", "/redirected/"):
        assert what in samples, what
    assert "forbid_networks" in samples
    assert guarded["counts"]["raw_archived"] == 1 + len(news.articles)
    plain = read_json(store, next(o.key for o in store.list("runs/plain/")))
    assert "/redirected/" in " ".join(plain["error_samples"]["out_of_scope"])
    assert plain["counts"]["raw_archived"] == 1 + len(news.articles)
