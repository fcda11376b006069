"""Issue 12: IPv6 WS-Discovery has the IPv4 engine's limits. A flood from one address is drained in bounded
batches (the loop, and with it the scan's lock, gets the clock back), parsed only up to the per-source cap, and
reported; a flood of spoofed sources is not parsed past the host cap; the window ends when the scan stops it."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from test_hostile_discovery import probe_match

from camscan.discover import wsd6
from camscan.discover.wsd6 import DRAIN_BATCH, MAX_PER_SOURCE, Wsd6Discovery
from camscan.models import Interface, ScanOptions

pytestmark = pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 in this Python")
LO = Interface(name="lo", index=1, addresses=(), flags=0)


class Flood6:
    """A device on [::1] sending ProbeMatches to ``port`` as fast as it can, until stopped."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.port = port
        self.sent = 0
        self.going = threading.Event()  # set once a few batches' worth is on its way
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            # each one different: a repeat of an earlier reply would not be parsed at all
            data = probe_match("192.0.2.7", f"onvif://www.onvif.org/name/flood{self.sent}")
            try:
                self.sock.sendto(data, ("::1", self.port))
                self.sent += 1
                if self.sent > 2 * DRAIN_BATCH:
                    self.going.set()
            except OSError:
                time.sleep(0.0005)

    def __enter__(self) -> Flood6:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def receiver():
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def test_a_flood_is_drained_in_bounded_batches_and_parsed_only_up_to_the_cap(receiver, monkeypatch):
    parsed = []
    real = wsd6.parse_message
    monkeypatch.setattr(wsd6, "parse_message", lambda data: (parsed.append(1), real(data))[1])
    engine = Wsd6Discovery(ScanOptions(), [LO])
    hosts: dict = {}
    with Flood6(receiver.getsockname()[1]) as flood:
        assert flood.going.wait(30)
        for _ in range(20):  # each drain returns while the flood goes on (the old one never did)
            engine._drain(receiver, LO, hosts, time.monotonic() + 60)
    assert flood.sent > DRAIN_BATCH
    assert "::1" in hosts and len(parsed) == MAX_PER_SOURCE
    assert engine.per_source["::1"] > MAX_PER_SOURCE
    (skip,) = engine.limit_skips()
    assert skip.reason.startswith("flood:") and "::1" in skip.reason


def test_a_drain_returns_at_its_deadline_in_a_flood(receiver):
    engine = Wsd6Discovery(ScanOptions(), [LO])
    with Flood6(receiver.getsockname()[1]) as flood:
        assert flood.going.wait(30)
        engine._drain(receiver, LO, {}, time.monotonic() - 1)  # past its deadline: at most one clock period
    assert sum(engine.per_source.values()) <= 32


def test_spoofed_sources_past_the_host_cap_are_not_parsed(monkeypatch):
    monkeypatch.setattr(wsd6, "MAX_HOSTS6", 2)
    engine = Wsd6Discovery(ScanOptions(), [LO])
    hosts: dict = {}
    senders = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(5)]
    receiver = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        receiver.bind(("::1", 0))
        receiver.setblocking(False)
        for i, s in enumerate(senders):  # one address, five ports: what a spoofer varies is the key here
            s.bind(("::1", 0))
            s.sendto(probe_match(f"192.0.2.{i}"), ("::1", receiver.getsockname()[1]))
        keys = iter(["fe80::1%lo", "fe80::2%lo", "fe80::3%lo", "fe80::4%lo", "fe80::5%lo"])
        real_recv = receiver.recvfrom

        class Spoofed:
            def recvfrom(self, n):
                data, _addr = real_recv(n)
                return data, (next(keys).split("%")[0], 0, 0, 0)

        engine._drain(Spoofed(), LO, hosts, time.monotonic() + 60)  # type: ignore[arg-type]
    finally:
        receiver.close()
        for s in senders:
            s.close()
    assert len(hosts) == 2 and engine.unread == 3
    assert any("beyond the first 2" in s.reason for s in engine.limit_skips())


def test_the_window_ends_when_the_scan_stops_it():
    stop = threading.Event()
    stop.set()
    engine = Wsd6Discovery(ScanOptions(), [], stop=stop)
    hosts, coverage, skips = engine.run(time.monotonic() + 3600)
    assert hosts == {} and coverage == [] and skips == []


def test_a_reply_repeating_an_earlier_one_is_parsed_once(receiver, monkeypatch):
    parsed = []
    real = wsd6.parse_message
    monkeypatch.setattr(wsd6, "parse_message", lambda data: (parsed.append(1), real(data))[1])
    engine = Wsd6Discovery(ScanOptions(), [LO])
    hosts: dict = {}
    sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sender.bind(("::1", 0))
    try:
        same = probe_match("192.0.2.7")
        other = probe_match("192.0.2.7", "onvif://www.onvif.org/name/Other")
        for data in (same, same.replace(b"uuid:1<", b"uuid:2<"), same, other):
            sender.sendto(data, ("::1", receiver.getsockname()[1]))
        deadline = time.monotonic() + 30
        while sum(engine.per_source.values()) < 4 and time.monotonic() < deadline:  # hang guard only
            engine._drain(receiver, LO, hosts, time.monotonic() + 60)
    finally:
        sender.close()
    assert sum(engine.per_source.values()) == 4 and len(parsed) == 2
    assert {"TestCam", "Other"} <= set(hosts["::1"].values("wsd", "scope.name"))
