"""TCP connect sweep over loopback: listening sockets on 127.0.0.x stand in for device ports."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import time

import pytest
from backlog import full_backlog
from guards import WatchedFeed

from camscan.discover.sweep import CAMERA_PORTS, PortSweep, inflight_limit, sweep
from camscan.models import ScanOptions


@pytest.fixture
def listeners():
    socks = []

    def listen(host: str, port: int = 0) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(16)
        socks.append(s)
        return s.getsockname()[1]

    yield listen
    for s in socks:
        s.close()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_open_and_closed_ports(listeners):
    p1 = listeners("127.0.0.2")
    p2 = listeners("127.0.0.3")
    closed = free_tcp_port()
    targets = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    found, cov, skips = PortSweep(ScanOptions(rate=5000), [p1, p2, closed]).run(targets, time.monotonic() + 5)
    assert found == {"127.0.0.2": [p1], "127.0.0.3": [p2]}
    assert skips == []
    assert cov[0].tried == 3 and cov[0].answered == 2 and cov[0].status == "done"


def test_same_port_on_many_hosts_sorted(listeners):
    port = listeners("127.0.0.1")
    listeners("127.0.0.5", port)
    other = listeners("127.0.0.5")
    found = sweep(ScanOptions(rate=5000), [ipaddress.IPv4Address("127.0.0.5"), "127.0.0.1"],
                  time.monotonic() + 5, ports=[other, port])
    assert found == {"127.0.0.5": sorted([port, other]), "127.0.0.1": [port]}


def test_rate_limit(listeners):
    port = listeners("127.0.0.1")
    targets = [f"127.0.0.{i}" for i in range(1, 41)]
    _found, cov, _skips = PortSweep(ScanOptions(rate=200), [port]).run(targets, time.monotonic() + 0.1)
    # in 0.1 s at 200/s at most 20 connects (+ the limiter's 20 ms burst, + 1); unpaced, all 40 on loopback
    done = re.search(r"deadline reached after (\d+) of 40 connects", cov[0].note)
    assert cov[0].status == "partial" and done and int(done.group(1)) <= 0.1 * 200 + 200 * 0.02 + 1


def test_bounded_inflight_and_no_leaked_descriptors(listeners):
    port = listeners("127.0.1.1")
    for i in range(2, 30):
        listeners(f"127.0.{i}.1", port)
    before = len(os.listdir("/proc/self/fd"))
    s = PortSweep(ScanOptions(rate=0), [port, free_tcp_port()], max_inflight=4)
    assert s.max_inflight == 4
    found, _, _ = s.run([f"127.0.{i}.1" for i in range(1, 30)], time.monotonic() + 5)
    assert set(found) == {f"127.0.{i}.1" for i in range(1, 30)}
    assert len(os.listdir("/proc/self/fd")) == before


def test_deadline_stops_and_reports(listeners):
    port = listeners("127.0.0.1")
    found, cov, skips = PortSweep(ScanOptions(rate=20, targets=(ipaddress.IPv4Network("127.0.0.0/24"),)),
                                  [port]).run([f"127.0.0.{i}" for i in range(1, 200)], time.monotonic() + 0.3)
    # 199 connects at 20/s would take 10 s: the coverage and the skip say the deadline cut the sweep
    assert cov[0].status == "partial" and cov[0].subnet == "127.0.0.0/24"
    assert any("deadline" in s.reason for s in skips)


def test_port_list_is_the_documented_one():
    assert CAMERA_PORTS == (80, 443, 554, 8000, 8080, 8899, 37777, 34567, 2020, 8443)
    assert PortSweep(ScanOptions(), [0, 80, 80, 70000]).ports == (80,)


def test_inflight_limit_respects_descriptor_limit():
    assert 1 <= inflight_limit(10**6) <= 10**6
    assert inflight_limit(3) <= 3


def test_port_evidence():
    from camscan.discover.sweep import port_evidence
    from camscan.models import Evidence

    assert port_evidence([37777, 80, 80]) == (Evidence("tcp", "open", "80"), Evidence("tcp", "open", "37777"))


def test_malformed_target_is_a_skip():
    found, _cov, skips = PortSweep(ScanOptions(), [80]).run(["camera.example"], time.monotonic() + 1)
    assert found == {} and skips[0].ip == "camera.example" and "IPv4" in skips[0].reason


def test_hosts_fed_while_the_sweep_runs_are_checked_until_the_feed_closes(listeners):
    import threading

    p = listeners("127.0.0.2")
    listeners("127.0.0.3", p)
    feed = WatchedFeed(["127.0.0.2"])

    def producer() -> None:
        feed.wait_taken()  # the sweep is running and took the first host
        feed.put(["127.0.0.3", "127.0.0.2", "bogus"])
        feed.wait_taken()
        feed.close()

    threading.Thread(target=producer, daemon=True).start()
    found, cov, skips = PortSweep(ScanOptions(rate=5000), [p]).run([], time.monotonic() + 5, feed)
    assert feed.done  # it waited for the feed to close
    assert found == {"127.0.0.2": [p], "127.0.0.3": [p]}
    assert [s.ip for s in skips] == ["bogus"]
    assert cov[0].tried == 2 and cov[0].status == "done"


def test_an_open_feed_is_a_partial_sweep_at_the_deadline():
    from camscan.discover.feed import Feed

    found, cov, skips = PortSweep(ScanOptions(rate=5000), [1]).run([], time.monotonic() + 0.3, Feed())
    assert found == {} and any("deadline" in s.reason for s in skips)


def test_decide_leaves_ports_out_and_puts_them_off(listeners):
    """A port ``decide`` leaves out is never connected to, yet its host still gets its answer once every port
    is settled; a port put off is asked again (``again``) once its time has come."""
    a, b, c = listeners("127.0.0.2"), listeners("127.0.0.2"), listeners("127.0.0.2")
    asked: list[tuple[int, bool]] = []
    settled: dict[str, list[int]] = {}

    def decide(ip: str, port: int, again: bool):
        asked.append((port, again))
        if port == b:
            return False
        if port == c and not again:
            return time.monotonic() + 0.05
        return True

    found, cov, skips = PortSweep(ScanOptions(rate=5000), [a, b, c]).run(
        ["127.0.0.2"], time.monotonic() + 30, on_host=lambda ip, ports: settled.setdefault(ip, ports),
        decide=decide)
    assert found == {"127.0.0.2": sorted([a, c])}
    assert settled == {"127.0.0.2": sorted([a, c])}
    assert sorted(asked) == sorted([(a, False), (b, False), (c, False), (c, True)])
    assert skips == [] and cov[0].status == "done"
    assert "1 of 3 left out" in cov[0].note


def test_decide_puts_off_at_most_a_bounded_number(listeners, monkeypatch):
    from camscan.discover import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "MAX_PUT_OFF", 2)
    port = listeners("127.0.0.3")
    targets = [f"127.0.0.{i}" for i in range(3, 8)]
    found, _cov, _skips = PortSweep(ScanOptions(rate=5000), [port]).run(
        targets, time.monotonic() + 30, decide=lambda ip, p, again: True if again else time.monotonic() + 0.05)
    assert found == {"127.0.0.3": [port]}  # every target settled, two of them after being put off


def test_a_connect_that_timed_out_is_tried_once_more_on_a_host_known_to_be_there():
    """A listener whose accept queue is full drops new SYNs: its connects time out. With ``retry`` saying the host
    is there, each is tried a second time (never a third); without, once."""
    from camscan.transport import Transport

    class Counting(Transport):
        def __init__(self) -> None:
            super().__init__()
            self.sockets = 0

        def tcp_socket(self):
            self.sockets += 1
            return super().tcp_socket()

    with full_backlog() as port:
        for retry, connects in ((lambda ip: True, 2), (lambda ip: False, 1), (None, 1)):
            transport = Counting()
            settled: list = []
            found, cov, skips = PortSweep(ScanOptions(rate=5000), [port], connect_timeout=0.2,
                                          transport=transport).run(
                ["127.0.0.1"], time.monotonic() + 30,
                on_host=lambda ip, ports, settled=settled: settled.append((ip, ports)), retry=retry)
            assert transport.sockets == connects
            assert found == {} and settled == [("127.0.0.1", [])] and skips == [] and cov[0].status == "done"


def test_a_sweep_whose_last_ports_are_left_out_ends_at_once(listeners):
    """No connect left to wait for: the sweep returns, it does not sit out its deadline."""
    from guards import FAR_DEADLINE_S, returns

    port = listeners("127.0.0.2")
    sweeper = PortSweep(ScanOptions(rate=5000), [port, port + 1 if port < 65535 else port - 1])
    found, cov, skips = returns(sweeper.run, ["127.0.0.2"], time.monotonic() + FAR_DEADLINE_S, None, None,
                                lambda ip, p, again: p == port)
    assert found == {"127.0.0.2": [port]} and skips == [] and cov[0].status == "done"
    found, _cov, _skips = returns(sweeper.run, ["127.0.0.2"], time.monotonic() + FAR_DEADLINE_S, None, None,
                                  lambda ip, p, again: False)
    assert found == {}
