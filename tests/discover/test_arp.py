"""ARP sweep: frame codec and plan on bytes; the socket side only up to its refusals (no frame is sent
from the test process: the sweep itself is exercised on an emulated site in network namespaces)."""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
import time

import pytest

from camscan.discover.arp import (
    IFF_NOARP,
    ArpSweep,
    build_request,
    parse_reply,
    sweep_plan,
)
from camscan.models import Interface, ScanOptions

MY_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("c056e3000009")


def arp_reply(sender_ip="192.0.2.9", target_ip="192.0.2.10", sha=PEER_MAC, op=2, vlan=False) -> bytes:
    eth = MY_MAC + sha + (b"\x81\x00\x00\x05" if vlan else b"") + b"\x08\x06"
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, socket.inet_aton(sender_ip), MY_MAC,
                       socket.inet_aton(target_ip))
    return eth + body + bytes(18)  # padded to the Ethernet minimum, as on the wire


def test_request_layout():
    frame = build_request(MY_MAC, ipaddress.IPv4Address("192.0.2.10"), ipaddress.IPv4Address("192.0.2.9"))
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == MY_MAC and frame[12:14] == b"\x08\x06"
    assert frame[14:22] == bytes.fromhex("0001080006040001")
    assert frame[22:28] == MY_MAC and frame[28:32] == socket.inet_aton("192.0.2.10")
    assert frame[32:38] == bytes(6) and frame[38:42] == socket.inet_aton("192.0.2.9")
    with pytest.raises(ValueError):
        build_request(b"\x00", ipaddress.IPv4Address("192.0.2.10"), ipaddress.IPv4Address("192.0.2.9"))


def test_reply_parsed():
    assert parse_reply(arp_reply()) == ("192.0.2.9", "c0:56:e3:00:00:09", "192.0.2.10")
    assert parse_reply(arp_reply(vlan=True)) == ("192.0.2.9", "c0:56:e3:00:00:09", "192.0.2.10")


@pytest.mark.parametrize("frame", [
    b"",
    arp_reply()[:30],
    arp_reply(op=1),  # a request, not an answer
    arp_reply(sha=bytes(6)),  # no usable MAC
    arp_reply(sha=b"\xff" * 6),
    arp_reply().replace(b"\x08\x06", b"\x08\x00", 1),
])
def test_non_replies_are_none(frame):
    assert parse_reply(frame) is None


def iface(*cidrs: str, flags: int = 0x1 | 0x1000) -> Interface:
    return Interface("eth9", 99, tuple(ipaddress.IPv4Interface(c) for c in cidrs), flags)


def test_plan_covers_own_subnet_only_without_own_address():
    pairs, notes = sweep_plan(iface("192.0.2.10/29"))
    assert [str(d) for _s, d in pairs] == [f"192.0.2.{i}" for i in (9, 11, 12, 13, 14)]
    assert {str(s) for s, _d in pairs} == {"192.0.2.10"} and notes == []


def test_plan_limited_to_targets_inside_the_subnet():
    nets = [ipaddress.IPv4Network("192.0.2.12/30"), ipaddress.IPv4Network("203.0.113.0/24")]
    pairs, _ = sweep_plan(iface("192.0.2.10/24"), nets)
    assert [str(d) for _s, d in pairs] == ["192.0.2.12", "192.0.2.13", "192.0.2.14", "192.0.2.15"]
    wide = [ipaddress.IPv4Network("192.0.0.0/16")]
    assert len(sweep_plan(iface("192.0.2.10/24"), wide)[0]) == 253


def test_plan_refuses_huge_subnets_and_handles_31_32():
    pairs, notes = sweep_plan(iface("10.0.0.1/8"))
    assert pairs == [] and "not swept" in notes[0]
    assert [str(d) for _s, d in sweep_plan(iface("192.0.2.0/31"))[0]] == ["192.0.2.1"]
    assert sweep_plan(iface("192.0.2.7/32"))[0] == []


def test_noarp_interface_is_a_skip():
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.10/30", flags=IFF_NOARP)).run(
        time.monotonic() + 1)
    assert found == {} and cov[0].status == "skipped"
    assert "does not use ARP" in skips[0].reason


def test_missing_scapy_is_a_skip(monkeypatch):
    monkeypatch.setitem(sys.modules, "scapy.arch", None)
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.10/30")).run(time.monotonic() + 1)
    assert found == {} and "scapy" in skips[0].reason and cov[0].status == "skipped"


def test_interface_without_ethernet_mac_is_a_skip():
    # The loopback device has an all-zero MAC: the sweep refuses before any socket is opened.
    lo = Interface("lo", socket.if_nametoindex("lo"), (ipaddress.IPv4Interface("127.0.0.1/30"),), 0x1 | 0x8)
    found, _cov, skips = ArpSweep(ScanOptions(), lo).run(time.monotonic() + 1)
    assert found == {} and "no Ethernet MAC" in skips[0].reason


def test_nothing_to_sweep():
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.7/32")).run(time.monotonic() + 1)
    assert found == {} and cov[0].status == "skipped" and skips == []
