"""The UDP discovery engine over loopback: fake WS-Discovery, SADP and DHIP devices on 127.0.0.x answer
directed (unicast) probes. Link-wide sending (multicast, broadcast) is checked as a plan only: no test
sends to a non-loopback address.

The reply datagrams are written for these tests (shapes modelled on the captures under
/work/shared/reference/captures/; values made up).
"""

from __future__ import annotations

import ipaddress
import os
import time

import pytest
from guards import FAR_DEADLINE_S, WatchedFeed, returns
from udp_fakes import Flooder, UdpResponder, free_udp_port

from camscan.discover.dhip import DhipProtocol, pack_dhip
from camscan.discover.sadp import SadpProtocol
from camscan.discover.udp import MAX_EXTENSION, REPEAT_GAP, UdpDiscovery
from camscan.discover.wsd import WsDiscovery, WsdProtocol
from camscan.models import Interface, ScanOptions

LO = ipaddress.IPv4Address("127.0.0.1")


def probe_match(relates_to: str, ip: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<s:Header><a:MessageID>uuid:7d3c0000-0000-4000-8000-00000000{ip.split('.')[-1]:0>4}</a:MessageID>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header>"
        "<s:Body><d:ProbeMatches><d:ProbeMatch>"
        "<a:EndpointReference><a:Address>urn:uuid:11111111-2222-4333-8444-555555555555</a:Address>"
        "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        "<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/TestCam "
        "onvif://www.onvif.org/hardware/TC-1</d:Scopes>"
        f"<d:XAddrs>http://{ip}/onvif/device_service</d:XAddrs>"
        "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def wsd_reply(data: bytes, addr) -> list[bytes]:
    mid = data.split(b"<a:MessageID>", 1)[1].split(b"<", 1)[0].decode()
    return [probe_match(mid, "127.0.0.1")]


SADP_MATCH = (b'<?xml version="1.0" encoding="UTF-8"?>\r\n<ProbeMatch><Uuid>x</Uuid><Types>inquiry</Types>'
              b"<DeviceDescription>DS-2CD1000-I</DeviceDescription><DeviceSN>DS-2CD1000-I20200101AAWR0</DeviceSN>"
              b"<MAC>c0-56-e3-00-00-09</MAC><IPv4Address>192.0.2.9</IPv4Address>"
              b"<SoftwareVersion>V5.5.0build 180101</SoftwareVersion>"
              b"<Activated>flase</Activated></ProbeMatch>")


def sadp_reply(data: bytes, addr) -> list[bytes]:
    return [SADP_MATCH] if b"<Types>inquiry</Types>" in data else []


def dhip_reply(data: bytes, addr) -> list[bytes]:
    if b"DHDiscover.search" not in data:
        return []
    return [pack_dhip({"mac": "3c:ef:8c:00:00:09", "method": "client.notifyDevInfo", "params": {
        "deviceInfo": {"DeviceType": "IPC-HDW1000", "SerialNo": "SN0009", "Version": "2.800.0000000.1.R",
                       "Vendor": "General", "IPv4Address": {"IPAddress": "192.0.2.19"}}}}) + b"\n\x00"]


def opts(**kw) -> ScanOptions:
    kw.setdefault("rate", 2000.0)
    return ScanOptions(**kw)


def test_three_protocols_one_window_merge_into_one_host():
    wport, sport, dport = free_udp_port(), free_udp_port(), free_udp_port()
    seen, updates = [], []
    with UdpResponder("127.0.0.1", wport, wsd_reply), UdpResponder("127.0.0.1", sport, sadp_reply), \
            UdpResponder("127.0.0.1", dport, dhip_reply):
        o = opts()
        protocols = [WsdProtocol(o, port=wport), SadpProtocol(port=sport), DhipProtocol(port=dport)]
        engine = UdpDiscovery(o, [], [LO], lambda ip: True, protocols,
                              on_host=seen.append, on_update=updates.append)
        # the window closes by itself (a unicast window after the last probe: test_windows_are_capped), not at the
        # deadline, which is far beyond the hang guard
        hosts, cov, skips = returns(engine.run, time.monotonic() + FAR_DEADLINE_S)
    assert list(hosts) == ["127.0.0.1"]
    h = hosts["127.0.0.1"]
    assert set(h.seen_by) == {"wsd", "sadp", "dhip"}
    assert len(seen) == 1 and len(updates) == 2
    assert updates[-1].seen_by == h.seen_by
    assert h.first("sadp", "ipv4") == "192.0.2.9"  # what it reports about itself: evidence only
    assert h.first("dhip", "ipv4") == "192.0.2.19"
    assert h.first("sadp", "activated") == "false"
    assert h.first("dhip", "model") == "IPC-HDW1000"
    assert h.xaddrs == ("http://127.0.0.1/onvif/device_service",)
    assert h.endpoint == "urn:uuid:11111111-2222-4333-8444-555555555555"
    assert h.mac in ("c0:56:e3:00:00:09", "3c:ef:8c:00:00:09")
    assert skips == []
    methods = {c.method: c for c in cov}
    assert {"wsd-unicast", "sadp-unicast", "dhip-unicast"} <= set(methods)
    assert methods["sadp-unicast"].answered == 1 and methods["sadp-unicast"].tried == 1


def test_many_devices_rate_limit_and_no_duplicate_unicast():
    port = free_udp_port()
    addrs = [f"127.0.0.{i}" for i in range(2, 22)]
    sadp = SadpProtocol(port=port)
    sadp.unicast_window = 1.0  # room for a loaded test machine: the fake devices share one thread
    with UdpResponder(addrs, port, sadp_reply) as devices:
        o = opts(rate=100.0)
        engine = UdpDiscovery(o, [], [ipaddress.IPv4Address(a) for a in addrs], lambda ip: True, [sadp])
        hosts, cov, skips = returns(engine.run, time.monotonic() + FAR_DEADLINE_S)
    assert sorted(hosts) == sorted(addrs), (devices.per_host, engine.received, skips)
    assert set(devices.per_host.values()) == {1}  # the rate itself: test_deadline_cuts_unicast_and_says_so


def test_wsd_unicast_skips_remaining_probes_once_answered():
    port = free_udp_port()
    with UdpResponder("127.0.0.1", port, wsd_reply) as r:
        o = opts(rate=10.0)  # 100 ms between probes: the first answer arrives long before the second probe
        hosts, _cov, _ = UdpDiscovery(o, [], [LO], lambda ip: True, [WsdProtocol(o, port=port)]).run(
            time.monotonic() + 5)
    assert "127.0.0.1" in hosts
    assert len(r.received) == 1


def test_rejected_source_is_counted_not_reported():
    port = free_udp_port()
    with UdpResponder("127.0.0.1", port, sadp_reply):
        engine = UdpDiscovery(opts(), [], [LO], lambda ip: False, [SadpProtocol(port=port)])
        hosts, cov, skips = engine.run(time.monotonic() + 5)
    assert hosts == {} and skips == []
    outside = [c for c in cov if c.subnet == "outside targets"]
    assert outside and outside[0].answered == 1


def test_garbage_reply_is_a_skip_and_never_raises():
    port = free_udp_port()
    with UdpResponder("127.0.0.1", port, lambda d, a: [b"\x00garbage<", b"", b"DHIP" * 10]):
        engine = UdpDiscovery(opts(), [], [LO], lambda ip: True, [SadpProtocol(port=port),
                                                                DhipProtocol(port=port)])
        hosts, _cov, skips = engine.run(time.monotonic() + 5)
    assert hosts == {}
    assert {s.stage for s in skips} == {"sadp", "dhip"}
    assert all(s.ip == "127.0.0.1" and "unparsable" in s.reason for s in skips)


def test_bad_then_good_reply_drops_the_skip():
    port = free_udp_port()
    with UdpResponder("127.0.0.1", port, lambda d, a: [b"junk", SADP_MATCH]):
        hosts, _cov, skips = UdpDiscovery(opts(), [], [LO], lambda ip: True, [SadpProtocol(port=port)]).run(
            time.monotonic() + 5)
    assert "127.0.0.1" in hosts and skips == []


def test_flood_cannot_hold_the_window_open():
    port = free_udp_port()
    with Flooder("127.0.0.1", port, SADP_MATCH) as flood:
        p = SadpProtocol(port=port)
        engine = UdpDiscovery(opts(), [], [LO], lambda ip: True, [p])
        # the flood would go on until the deadline, far beyond the hang guard (the cap on how long replies may
        # extend the window: test_windows_are_capped)
        hosts, _cov, _ = returns(engine.run, time.monotonic() + FAR_DEADLINE_S)
    assert flood.sent > 100
    assert "127.0.0.1" in hosts
    assert engine.received > 10


def test_deadline_cuts_unicast_and_says_so():
    port = free_udp_port()
    o = opts(rate=50.0)
    targets = [ipaddress.IPv4Address(f"127.0.1.{i}") for i in range(1, 200)]
    engine = UdpDiscovery(o, [], targets, lambda ip: True, [SadpProtocol(port=port)])
    hosts, cov, skips = engine.run(time.monotonic() + 0.3)
    assert hosts == {}
    assert any("deadline" in s.reason for s in skips)
    uni = [c for c in cov if c.method == "sadp-unicast"]
    # the rate: in 0.3 s at 50/s at most 15 probes (+ the limiter's 20 ms burst, + 1); unpaced, all 199
    assert uni and uni[0].status == "partial" and uni[0].tried <= 0.3 * 50 + 50 * 0.02 + 1


def test_wsdiscovery_compat_wrapper():
    port = free_udp_port()
    with UdpResponder("127.0.0.1", port, wsd_reply):
        o = opts()
        w = WsDiscovery(o, [], [LO], lambda ip: True)
        w.engine.protocols = [WsdProtocol(o, port=port)]
        hosts, cov, skips = w.run(time.monotonic() + 5)
    assert hosts["127.0.0.1"].first("wsd", "scope.name") == "TestCam"
    assert [c.method for c in cov] == ["wsd-unicast"]


def test_coverage_groups_unicast_by_target_network():
    port = free_udp_port()
    net = ipaddress.IPv4Network("127.0.0.0/30")
    with UdpResponder("127.0.0.1", port, sadp_reply):
        o = opts(targets=(net,))
        engine = UdpDiscovery(o, [], [LO, ipaddress.IPv4Address("127.0.0.2")], lambda ip: True,
                              [SadpProtocol(port=port)])
        _hosts, cov, _ = engine.run(time.monotonic() + 5)
    row = next(c for c in cov if c.method == "sadp-unicast")
    assert (row.subnet, row.tried, row.answered, row.status) == ("127.0.0.0/30", 2, 1, "done")


# ------------------------------------------------------------------------------------- plans (no sending)
IFACE = Interface("eth9", 99, (ipaddress.IPv4Interface("192.0.2.10/24"),
                               ipaddress.IPv4Interface("198.51.100.10/24")))


def test_link_plan_one_group_copy_per_interface_broadcast_per_address():
    o = opts()
    engine = UdpDiscovery(o, [IFACE], [], lambda ip: True, [WsdProtocol(o), SadpProtocol(), DhipProtocol()])
    plan = engine._link_plan()
    first = [(engine.protocols[s.proto].name, s.dst, s.src) for s in plan if s.at == 0.0]
    repeats = [s for s in plan if s.at == REPEAT_GAP]
    assert len(first) == len(repeats)
    assert first.count(("wsd", "239.255.255.250", "192.0.2.10")) == 3  # three probe types, one link copy
    assert ("sadp", "239.255.255.250", "192.0.2.10") in first
    assert not any(s[2] == "198.51.100.10" and s[1].startswith("239.") for s in first)
    assert ("dhip", "239.255.255.251", "192.0.2.10") in first
    assert ("dhip", "192.0.2.255", None) in first and ("dhip", "198.51.100.255", None) in first


def test_unicast_plan_defers_attached_addresses_until_multicast_replies_are_in():
    o = opts()
    wsd = WsdProtocol(o)
    engine = UdpDiscovery(o, [IFACE], [ipaddress.IPv4Address("203.0.113.5"),
                                       ipaddress.IPv4Address("192.0.2.77")], lambda ip: True, [wsd])
    plan = engine._unicast_plan(engine.unicast)
    assert [s.dst for s in plan[:3]] == ["203.0.113.5"] * 3 and plan[0].at == 0.0
    assert all(s.at == pytest.approx(REPEAT_GAP + wsd.reply_delay) for s in plan[3:])
    msgs = {s.msg for s in plan}
    assert len(msgs) == 3  # fresh ids for the unicast round, shared by addresses
    assert not msgs & {s.msg for s in engine._link_plan()}


def test_windows_are_capped():
    o = opts(wsd_wait=100.0)
    engine = UdpDiscovery(o, [], [], lambda ip: True, [WsdProtocol(o)])
    engine._stats[0].last_link = 10.0
    assert engine._window_end(0.0, MAX_EXTENSION + o.wsd_wait) == pytest.approx(10.0 + 100.0 + 0.75)
    o2 = opts()
    e2 = UdpDiscovery(o2, [], [], lambda ip: True, [WsdProtocol(o2)])
    e2._stats[0].last_link = 10.0
    assert e2._window_end(0.0, MAX_EXTENSION) == pytest.approx(10.75)


def test_nothing_to_do_returns_at_once():
    hosts, cov, skips = returns(UdpDiscovery(opts(), [], [], lambda ip: True, [SadpProtocol()]).run,
                                time.monotonic() + FAR_DEADLINE_S)  # not at the deadline
    assert hosts == {} and cov == [] and skips == []


def test_sockets_are_closed():
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = fds()
    UdpDiscovery(opts(), [], [LO], lambda ip: True, [SadpProtocol(port=free_udp_port()), DhipProtocol()]).run(
        time.monotonic() + 1)
    assert fds() == before


def test_targets_fed_while_the_window_runs_are_probed_and_hold_it_open():
    """The ARP sweep hands hosts over one by one (camscan.discover.feed): each gets its directed probes, and
    the window stays open until the feed is closed, then closes a reply window after the last probe."""
    import threading

    port = free_udp_port()
    addrs = [f"127.0.0.{i}" for i in range(2, 7)]
    feed = WatchedFeed([addrs[0], "not-an-address"])

    def producer() -> None:
        for a in addrs[1:]:
            feed.wait_taken()  # the window is running and took the previous batch
            feed.put([a, a])  # duplicates are probed once
        feed.wait_taken()
        feed.close()

    with UdpResponder(addrs, port, sadp_reply) as devices:
        o = opts()
        engine = UdpDiscovery(o, [], [], lambda ip: ip != addrs[-1], [SadpProtocol(port=port)], feed=feed)
        threading.Thread(target=producer, daemon=True).start()
        hosts, cov, _skips = engine.run(time.monotonic() + 10)
        assert feed.done  # held open until the feed closed
    assert sorted(hosts) == addrs[:-1]  # the last one is out of scope: never probed
    assert devices.per_host[addrs[-1]] == 0 and all(devices.per_host[a] == 1 for a in addrs[:-1])
    assert cov[-1].tried == 4 and cov[-1].answered == 4


def test_an_open_feed_cannot_outlive_the_deadline():
    from camscan.discover.feed import Feed

    feed = Feed()
    o = opts()
    # the feed is never closed: only the deadline can end the window (the guard catches a window that waits on)
    returns(UdpDiscovery(o, [], [], lambda ip: True, [SadpProtocol(port=free_udp_port())], feed=feed).run,
            time.monotonic() + 0.5)


class CountingWsd(WsdProtocol):
    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.parsed = 0

    def parse(self, data: bytes, ip: str):
        self.parsed += 1
        return super().parse(data, ip)


def test_a_reply_repeating_an_earlier_one_is_not_parsed_again():
    """Devices answer every copy of every probe alike: only the message ids differ, and no evidence is made of
    them, so the repeats are counted and not parsed; a reply that says something else is still read."""
    other = probe_match("uuid:x", "127.0.0.1").replace(b"name/TestCam", b"name/OtherName")

    def replies(data: bytes, addr) -> list[bytes]:
        mid = data.split(b"<a:MessageID>", 1)[1].split(b"<", 1)[0].decode()
        again = probe_match(mid, "127.0.0.1").replace(b"-00000000", b"-99999999")  # another MessageID
        return [probe_match(mid, "127.0.0.1"), again, probe_match(mid + "-2", "127.0.0.1"), other]

    port = free_udp_port()
    with UdpResponder("127.0.0.1", port, replies):
        o = opts(rate=10.0)
        wsd = CountingWsd(o, port=port)
        engine = UdpDiscovery(o, [], [LO], lambda ip: True, [wsd])
        hosts, _cov, skips = returns(engine.run, time.monotonic() + FAR_DEADLINE_S)
    assert skips == []
    assert engine.received >= 4
    assert wsd.parsed == 2  # the first reply and the one naming another name; the two repeats not
    assert set(hosts["127.0.0.1"].values("wsd", "scope.name")) == {"TestCam", "OtherName"}


def test_wsd_repeat_key_leaves_out_only_the_message_ids():
    a = probe_match("uuid:aaaa", "127.0.0.1")
    b = probe_match("uuid:bbbb", "127.0.0.1").replace(b"-00000000", b"-11111111")
    seq = a.replace(b"</s:Header>", b'<d:AppSequence InstanceId="1" MessageNumber="7"/></s:Header>')
    assert WsdProtocol.repeat_key(a) == WsdProtocol.repeat_key(b) == WsdProtocol.repeat_key(seq)
    assert WsdProtocol.repeat_key(a) != WsdProtocol.repeat_key(probe_match("uuid:aaaa", "127.0.0.2"))
    assert WsdProtocol.repeat_key(a) != WsdProtocol.repeat_key(a.replace(b"TestCam", b"TestCan"))
