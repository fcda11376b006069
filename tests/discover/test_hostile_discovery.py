"""Discovery against hostile devices (issue 6): floods, oversized datagrams, endpoint ids two devices claim,
and an address two MACs answer ARP for. Loopback fakes and frames on bytes only; the same faults run end to
end on the emulated site (tests/e2e/test_faults.py)."""

from __future__ import annotations

import ipaddress
import socket
import struct
import time

from udp_fakes import Flooder, UdpResponder, free_udp_port

from camscan.discover.arp import ArpSweep
from camscan.discover.sadp import SadpProtocol
from camscan.discover.udp import MAX_PER_SOURCE, UdpDiscovery
from camscan.discover.wsd import MAX_ITEMS, MAX_MESSAGE, WsdProtocol, parse_message
from camscan.models import ScanOptions

SADP_MATCH = (b'<?xml version="1.0" encoding="UTF-8"?>\r\n<ProbeMatch><Uuid>x</Uuid><Types>inquiry</Types>'
              b"<DeviceDescription>DS-2CD1000-I</DeviceDescription><MAC>c0-56-e3-00-00-09</MAC>"
              b"<IPv4Address>192.0.2.9</IPv4Address></ProbeMatch>")
ENDPOINT = "urn:uuid:11111111-2222-4333-8444-555555555555"


def probe_match(ip: str, scopes: str = "onvif://www.onvif.org/name/TestCam") -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
        "<s:Header><a:MessageID>uuid:1</a:MessageID></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<a:EndpointReference><a:Address>{ENDPOINT}</a:Address></a:EndpointReference>"
        f"<d:Scopes>{scopes}</d:Scopes><d:XAddrs>http://{ip}/onvif/device_service</d:XAddrs>"
        "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def test_flood_is_read_up_to_the_cap_then_counted_and_reported():
    port = free_udp_port()
    with Flooder("127.0.0.1", port, SADP_MATCH) as flood:
        engine = UdpDiscovery(ScanOptions(rate=2000.0), [], [ipaddress.IPv4Address("127.0.0.1")],
                              lambda ip: True, [SadpProtocol(port=port)])
        hosts, _cov, skips = engine.run(time.monotonic() + 10)
    assert flood.sent > MAX_PER_SOURCE and "127.0.0.1" in hosts  # the first replies still count
    flood_skips = [s for s in skips if s.reason.startswith("flood:")]
    assert len(flood_skips) == 1 and flood_skips[0].ip == "127.0.0.1" and flood_skips[0].stage == "sadp"
    assert f"only the first {MAX_PER_SOURCE} were read" in flood_skips[0].reason


def test_one_endpoint_id_claimed_by_two_addresses_is_a_skip_for_each():
    port = free_udp_port()
    addrs = ["127.0.0.2", "127.0.0.3"]
    with UdpResponder(addrs, port, lambda data, addr: [probe_match("192.0.2.1")]):
        o = ScanOptions(rate=2000.0)
        hosts, _cov, skips = UdpDiscovery(o, [], [ipaddress.IPv4Address(a) for a in addrs], lambda ip: True,
                                          [WsdProtocol(o, port=port)]).run(time.monotonic() + 10)
    assert sorted(hosts) == addrs  # both kept, apart by address
    shared = {s.ip: s.reason for s in skips if "also claimed by" in s.reason}
    assert shared.keys() == set(addrs)
    assert "127.0.0.3" in shared["127.0.0.2"] and ENDPOINT in shared["127.0.0.2"]


def test_oversized_wsd_datagram_is_refused_with_its_size():
    big = probe_match("192.0.2.1", " ".join(f"onvif://www.onvif.org/pad/{i:06d}" for i in range(1500)))
    assert len(big) > MAX_MESSAGE
    matches, reason = parse_message(big)
    assert matches == [] and f"{len(big)} bytes is too large" in reason


def test_long_lists_in_one_match_are_capped():
    data = probe_match("192.0.2.1", " ".join(f"onvif://www.onvif.org/s/{i}" for i in range(300)))
    assert len(data) <= MAX_MESSAGE
    matches, reason = parse_message(data)
    assert reason is None and len(matches[0].scopes) == MAX_ITEMS


# ------------------------------------------------------------------------------------------- ARP
MY_MAC = bytes.fromhex("020000000001")


def arp_reply(sender_ip: str, sha: bytes, target_ip: str = "192.0.2.10") -> bytes:
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, sha, socket.inet_aton(sender_ip), MY_MAC,
                       socket.inet_aton(target_ip))
    return MY_MAC + sha + b"\x08\x06" + body + bytes(18)


class _Frames:
    """Stands in for the packet socket: hands out the given frames, then would block."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = list(frames)

    def recvfrom(self, _size: int):
        if not self.frames:
            raise BlockingIOError
        return self.frames.pop(0), ("eth0", 0x0806, 0, 1, b"")  # PACKET_HOST


def test_two_macs_answering_for_one_address_are_a_conflict():
    wanted = {"192.0.2.9": None, "192.0.2.8": None}
    found: dict[str, str] = {}
    conflicts: dict[str, set[str]] = {}
    frames = [arp_reply("192.0.2.9", bytes.fromhex("c056e3000009")),
              arp_reply("192.0.2.9", bytes.fromhex("020000000099")),
              arp_reply("192.0.2.9", bytes.fromhex("c056e3000009")),  # a repeat of the first: no news
              arp_reply("192.0.2.8", bytes.fromhex("c056e3000008"))]
    ArpSweep._drain(_Frames(frames), wanted, {"192.0.2.10"}, found, conflicts)
    assert found == {"192.0.2.9": "c0:56:e3:00:00:09", "192.0.2.8": "c0:56:e3:00:00:08"}  # first answer kept
    assert conflicts == {"192.0.2.9": {"c0:56:e3:00:00:09", "02:00:00:00:00:99"}}


def test_ipv6_replies_with_a_shared_endpoint_id_are_not_merged_into_an_ipv4_row():
    from camscan.discover.wsd6 import merge_ipv6
    from camscan.models import Evidence, Host

    shared = "urn:uuid:5a1e0000-0000-4000-8000-00000000c10e"
    v4 = {ip: Host(ip=ip, endpoint=shared, seen_by=("wsd",)) for ip in ("198.51.100.14", "198.51.100.15")}
    v6 = {key: Host(ip=key, endpoint=shared, seen_by=("wsd6",), evidence=(Evidence("wsd6", "address", key),))
          for key in ("fe80::1%eth0", "fe80::2%eth0")}
    out = merge_ipv6(v4, v6)
    assert out["198.51.100.14"] == v4["198.51.100.14"] and out["198.51.100.15"] == v4["198.51.100.15"]
    assert {"fe80::1%eth0", "fe80::2%eth0"} <= set(out)
    # one IPv4 claimant but two IPv6 ones: still ambiguous
    out = merge_ipv6({"198.51.100.14": v4["198.51.100.14"]}, v6)
    assert "wsd6" not in out["198.51.100.14"].seen_by
