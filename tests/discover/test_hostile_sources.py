"""Issue 12: what spoofed and foreign sources can make a scan do. With no targets only addresses in the attached
subnets become hosts to probe; replies from elsewhere are report-only rows, capped; a cap on hosts per scan; and
the probe jobs handed to the worker pool are bounded, the rest waiting their turn (a skip says so at the
deadline). Loopback fakes."""

from __future__ import annotations

import ipaddress
import threading
import time

from test_hostile_discovery import probe_match
from udp_fakes import UdpResponder, free_udp_port

from camscan.discover.live import LiveDiscovery
from camscan.discover.udp import UdpDiscovery
from camscan.discover.wsd import WsdProtocol
from camscan.models import Interface, ScanOptions
from camscan.scheduler import QUEUE_FACTOR, Scheduler

ADDRS = [f"127.0.0.{i}" for i in range(2, 8)]


def discover(accept, **kw):
    port = free_udp_port()
    seen = []
    with UdpResponder(ADDRS, port, lambda data, addr: [probe_match(addr[0])]):
        o = ScanOptions(rate=2000.0)
        engine = UdpDiscovery(o, [], [ipaddress.IPv4Address(a) for a in ADDRS], accept, [WsdProtocol(o, port=port)],
                              on_host=seen.append, **kw)
        hosts, _cov, skips = engine.run(time.monotonic() + 10)
    return engine, hosts, skips, seen


def test_replies_from_outside_become_capped_report_only_rows_never_handed_on():
    engine, hosts, skips, seen = discover(lambda ip: ip == "127.0.0.2", report_outside=2)
    assert list(hosts) == ["127.0.0.2"] and [h.ip for h in seen] == ["127.0.0.2"]  # only it is probed
    assert len(engine.outside) == 2 and set(engine.outside) <= set(ADDRS[1:])
    assert all(h.seen_by == ("wsd",) for h in engine.outside.values())
    assert any("outside the scanned subnets not read" in s.reason for s in skips)


def test_without_report_rows_foreign_replies_are_only_counted():
    engine, hosts, _skips, _seen = discover(lambda ip: ip == "127.0.0.2")
    assert list(hosts) == ["127.0.0.2"] and engine.outside == {}


def test_hosts_past_the_cap_are_counted_not_read():
    engine, hosts, skips, seen = discover(lambda ip: True, max_hosts=3)
    assert len(hosts) == 3 and len(seen) == 3 and engine.capped
    assert any("--max-hosts" in s.reason for s in skips)


def test_with_no_targets_only_the_attached_subnets_are_accepted():
    lan = Interface(name="eth0", index=2, addresses=(ipaddress.IPv4Interface("198.51.100.2/24"),), flags=0)
    live = LiveDiscovery(ScanOptions(interfaces=(lan,), scope=(ipaddress.ip_network("198.51.100.0/24"),)))
    assert live._accept("198.51.100.77")
    assert not live._accept("203.0.113.5") and not live._accept("10.1.2.3")
    bare = LiveDiscovery(ScanOptions(interfaces=(lan,)))  # no scope given: the interfaces' subnets
    assert bare._accept("198.51.100.77") and not bare._accept("203.0.113.5")


def test_probe_jobs_handed_to_the_pool_are_bounded_and_the_rest_wait_their_turn():
    jobs = Scheduler(workers=1)
    release = threading.Event()
    started = []

    def job(i):
        started.append(i)
        assert release.wait(30)
        return i

    try:
        with jobs.lock:
            futures = [jobs._job(job, i) for i in range(10 * QUEUE_FACTOR)]
            assert jobs.running == QUEUE_FACTOR and len(jobs.backlog) == 9 * QUEUE_FACTOR
        release.set()
        assert [f.result(timeout=30) for f in futures] == list(range(10 * QUEUE_FACTOR))
        assert jobs.running == 0 and not jobs.backlog
    finally:
        release.set()
        jobs.pool.shutdown(wait=True)


def test_jobs_still_waiting_at_the_deadline_are_skips_that_say_so():
    jobs = Scheduler(workers=1)
    release = threading.Event()
    try:
        with jobs.lock:
            for i in range(2 * QUEUE_FACTOR):
                jobs.evidence.append((f"198.51.100.{i}", jobs._job(lambda: release.wait(30))))
        skips: list = []
        jobs.collect(time.monotonic() + 0.2, skips)
        waiting = [s for s in skips if s.reason.startswith("not probed: still waiting for a probe worker")]
        assert len(waiting) == QUEUE_FACTOR and f"{QUEUE_FACTOR} x --workers" in waiting[0].reason
    finally:
        release.set()
        jobs.pool.shutdown(wait=True)
