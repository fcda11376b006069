from __future__ import annotations

import ipaddress

import pytest

from camscan import net
from camscan.errors import NoInterfaceError, UsageError
from camscan.models import Interface


@pytest.mark.parametrize("text, expected", [
    ("198.51.100.7", ["198.51.100.7/32"]),
    ("198.51.100.0/24", ["198.51.100.0/24"]),
    ("198.51.100.5/24", ["198.51.100.0/24"]),
    ("198.51.100.10-198.51.100.13", ["198.51.100.10/31", "198.51.100.12/31"]),
    ("198.51.100.10-13", ["198.51.100.10/31", "198.51.100.12/31"]),
])
def test_parse_target(text, expected):
    assert [str(n) for n in net.parse_target(text)] == expected


@pytest.mark.parametrize("text", ["198.51.100", "1.2.3.300", "198.51.100.9-198.51.100.1", "host.example",
                                  "198.51.100.0/33", "", "10.0.0.1-x"])
def test_malformed_targets_are_usage_errors(text):
    with pytest.raises(UsageError, match="malformed target"):
        net.parse_target(text)


def test_large_ranges_need_a_flag():
    with pytest.raises(UsageError, match="--allow-large"):
        net.parse_targets(["198.18.0.0/15"])
    assert net.parse_targets(["198.18.0.0/15"], allow_large=True)
    with pytest.raises(UsageError, match="split them"):
        net.parse_targets(["10.0.0.0/8"], allow_large=True)


def test_scope():
    scope = [ipaddress.ip_network("198.51.100.0/24")]
    assert net.in_scope("198.51.100.9", scope)
    assert not net.in_scope("203.0.113.9", scope)
    assert not net.in_scope("fe80::1%eth0", scope)
    assert not net.in_scope("garbage", scope)


@pytest.mark.parametrize("text, mac", [
    ("58-50-ED-1F-E3-85", "58:50:ed:1f:e3:85"), ("5850.ed1f.e385", "58:50:ed:1f:e3:85"),
    ("5850ed1fe385", "58:50:ed:1f:e3:85"), ("00:00:00:00:00:00", None), ("zz:50:ed:1f:e3:85", None),
    ("58:50:ed:1f:e3", None), (None, None),
])
def test_normalise_mac(text, mac):
    assert net.normalise_mac(text) == mac


def _iface(name, addr, flags):
    return Interface(name=name, index=1, addresses=(ipaddress.IPv4Interface(addr),), flags=flags)


def test_select_interfaces():
    up = net.IFF_UP | net.IFF_MULTICAST
    lo = _iface("lo", "127.0.0.1/8", up | net.IFF_LOOPBACK)
    eth = _iface("eth0", "198.51.100.2/24", up)
    down = _iface("eth1", "203.0.113.2/24", net.IFF_MULTICAST)
    assert [i.name for i in net.select_interfaces([], [lo, eth, down])] == ["eth0"]
    with pytest.raises(NoInterfaceError):
        net.select_interfaces([], [lo, down])
    with pytest.raises(NoInterfaceError, match="down"):
        net.select_interfaces(["eth1"], [lo, eth, down])
    with pytest.raises(UsageError, match="unknown interface"):
        net.select_interfaces(["nosuch9"], [lo, eth])
