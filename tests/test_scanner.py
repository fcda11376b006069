"""The Scanner as a reading of the pipeline, with fake stages that subclass the stage interfaces: no root, no
sockets (the transport refuses every socket), no wall-clock asserts (deadlines run on an injected clock)."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Sequence

import pytest

from camscan.discover.interface import DiscoverySink, DiscoverySource
from camscan.models import DiscoveryResult, Evidence, Host, ProbeResult, ScanOptions, Skip, Verdict
from camscan.probe.interface import Prober
from camscan.probe.plan import ProbePlan
from camscan.scan import Scanner
from camscan.transport import Transport

NET = ipaddress.ip_network("198.51.100.0/24")
HIK = "198.51.100.10"
AXIS = "198.51.100.11"
PRINTER = "198.51.100.12"


class NoSockets(Transport):
    """A transport that fails the test on any socket: a scan with fake stages must open none."""

    def connect(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a socket was opened")

    def udp_socket(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a socket was opened")

    tcp_socket = packet_socket = udp_socket


class FakeDiscovery(DiscoverySource):
    """Hands its hosts and their ports to the sink as a live source would, then returns them."""

    def __init__(self, hosts: Sequence[Host], ports: dict[str, list[int]], after=None) -> None:
        self.hosts = {h.ip: h for h in hosts}
        self.ports = ports
        self.after = after  # called once everything was handed over (moves a fake clock)

    def run(self, deadline: float, sink: DiscoverySink) -> DiscoveryResult:
        for host in self.hosts.values():
            if host.seen_by:
                sink.discovered(host)
        for ip, ports in self.ports.items():
            sink.ports_known(ip, ports)
        if self.after:
            self.after()
        return DiscoveryResult(hosts=dict(self.hosts), open_ports=dict(self.ports), methods=["fake"])


class FakeProber(Prober):
    """Answers from a table, remembering every (ip, ports) it was asked."""

    def __init__(self, name: str, answers: dict[str, list[Evidence]], block: threading.Event | None = None,
                 crash: bool = False) -> None:
        self.name = name
        self.answers = answers
        self.calls: list[tuple[str, tuple[int, ...]]] = []
        self.lock = threading.Lock()
        self.block = block
        self.crash = crash

    def probe(self, host: Host, ports: Sequence[int]) -> ProbeResult:
        with self.lock:
            self.calls.append((host.ip, tuple(ports)))
        if self.crash:
            raise RuntimeError("boom")
        if self.block is not None:
            self.block.wait(30)  # a guard against a hang only: the test sets it
        return ProbeResult(evidence=list(self.answers.get(host.ip, [])))


def onvif(manufacturer: str, model: str) -> list[Evidence]:
    return [Evidence("onvif.GetDeviceInformation", "manufacturer", manufacturer),
            Evidence("onvif.GetDeviceInformation", "model", model)]


def scan(discovery: DiscoverySource, identity: Prober, web: Prober, others: Sequence[Prober] = (),
         clock=None, deadline: float = 60.0):
    kwargs = {"clock": clock} if clock else {}
    scanner = Scanner(ScanOptions(targets=(NET,), deadline=deadline, timeout=1.0), discovery=discovery,
                      plan=lambda _sched, _transport, _deadline: ProbePlan(identity, web, tuple(others)),
                      transport=NoSockets(), neighbours=dict, **kwargs)
    return scanner.run()


def wsd_host(ip: str) -> Host:
    return Host(ip=ip, seen_by=("wsd",), evidence=(Evidence("wsd", "message", "ProbeMatch"),),
                xaddrs=(f"http://{ip}/onvif/device_service",))


def test_a_scan_reads_discovery_then_the_probes_then_policy():
    identity = FakeProber("onvif", {HIK: onvif("HIKVISION", "DS-2CD2043G2-I"), AXIS: onvif("AXIS", "M1065-L")})
    web = FakeProber("http", {HIK: [Evidence("http.header", "server", "App-webs/")]})
    rtsp = FakeProber("rtsp", {})
    result = scan(FakeDiscovery([wsd_host(HIK), wsd_host(AXIS), Host(ip=PRINTER)],
                                {HIK: [80, 554], AXIS: [80], PRINTER: [9100]}), identity, web, [rtsp])
    by_ip = {d.ip: d for d in result.devices}
    assert set(by_ip) == {HIK, AXIS}
    assert by_ip[HIK].verdict == Verdict.SANCTIONED and by_ip[HIK].manufacturer == "Hikvision"
    assert by_ip[AXIS].verdict == Verdict.CLEAR
    assert any(PRINTER in n for n in result.notes)  # answered, no camera evidence: a note, not a device
    assert result.methods == ("fake", "onvif", "http", "rtsp")
    # each host's identity asked once, at the address it advertised (no ports); evidence on its ports
    assert sorted(identity.calls) == [(HIK, ()), (AXIS, ())]
    assert (HIK, (80, 554)) in web.calls and (HIK, (80, 554)) in rtsp.calls


def test_onvif_on_open_ports_only_for_hosts_without_an_advertised_service():
    identity = FakeProber("onvif", {AXIS: onvif("AXIS", "M1065-L")})
    web = FakeProber("http", {})
    scan(FakeDiscovery([wsd_host(HIK), Host(ip=AXIS)], {HIK: [80], AXIS: [8080]}), identity, web)
    assert sorted(identity.calls) == [(HIK, ()), (AXIS, (8080,))]


def test_a_crashing_prober_is_a_skip_and_the_scan_goes_on():
    identity = FakeProber("onvif", {}, crash=True)
    web = FakeProber("http", {AXIS: [Evidence("http.header", "server", "x")]})
    result = scan(FakeDiscovery([wsd_host(HIK)], {HIK: [80]}), identity, web)
    assert [s.reason for s in result.skips if s.stage == "onvif"] == [
        "internal error while probing: RuntimeError: boom"]
    assert [d.ip for d in result.devices] == [HIK]  # WS-Discovery alone makes it a camera-class device


def test_a_probe_still_running_at_the_deadline_is_a_skip():
    """The clock is injected: discovery moves it past the deadline, so collecting waits for nothing."""
    now = [1000.0]
    release = threading.Event()
    identity = FakeProber("onvif", {}, block=release)
    web = FakeProber("http", {})
    try:
        result = scan(FakeDiscovery([wsd_host(HIK)], {HIK: []}, after=lambda: now.__setitem__(0, 2000.0)),
                      identity, web, clock=lambda: now[0], deadline=60.0)
    finally:
        release.set()
    assert Skip(HIK, "onvif", "scan deadline reached before the device answered") in result.skips


@pytest.mark.parametrize("seen_by", [("sadp",), ("dhip",)])
def test_vendor_discovery_alone_lists_the_device(seen_by):
    host = Host(ip=HIK, seen_by=seen_by, evidence=(Evidence(seen_by[0], "model", "DS-2CD2043G2-I"),))
    result = scan(FakeDiscovery([host], {}), FakeProber("onvif", {}), FakeProber("http", {}))
    assert [d.ip for d in result.devices] == [HIK]
