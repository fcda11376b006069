"""Which camera ports the port check asks on a host (camscan.discover.live._PortPlan, issue 17)."""

from __future__ import annotations

import time

from camscan.discover.live import _PortPlan, advertised_ports
from camscan.models import Host

KEEP = frozenset({80, 443, 554, 8443, 37777, 34567})


def onvif_host(ip: str, *xaddrs: str) -> Host:
    return Host(ip=ip, seen_by=("wsd",), xaddrs=xaddrs)


def test_without_keep_every_port_is_checked():
    plan = _PortPlan(None)
    plan.heard(onvif_host("10.0.0.5", "http://10.0.0.5/onvif/device_service"))
    assert all(plan.decide("10.0.0.5", p, False) is True for p in (80, 8000, 8080, 37777))


def test_an_identified_host_gets_its_kept_and_advertised_ports_only():
    plan = _PortPlan(KEEP)
    plan.heard(onvif_host("10.0.0.5", "http://10.0.0.5:8899/onvif/device_service"))
    for port in (*KEEP, 8899):
        assert plan.decide("10.0.0.5", port, False) is True
    for port in (8000, 8080, 2020):
        assert plan.decide("10.0.0.5", port, False) is False


def test_a_reply_without_a_usable_device_service_address_identifies_nothing():
    plan = _PortPlan(KEEP)
    plan.heard(onvif_host("10.0.0.6", "ftp://10.0.0.6/x", "not a url"))
    plan.heard(Host(ip="10.0.0.7", seen_by=("sadp",)))
    assert plan.decide("10.0.0.6", 8080, False) is True
    assert plan.decide("10.0.0.7", 8000, False) is True


def test_a_live_host_not_heard_yet_is_put_off_then_checked_in_full():
    plan = _PortPlan(KEEP)
    plan.window_opens()
    plan.live("10.0.0.8")
    due = plan.decide("10.0.0.8", 8080, False)
    assert isinstance(due, float) and due > time.monotonic()
    assert plan.decide("10.0.0.8", 37777, False) is True  # kept ports are never put off
    assert plan.decide("10.0.0.8", 8080, True) is True  # asked again and still not heard: checked
    plan.heard(onvif_host("10.0.0.8", "http://10.0.0.8/onvif/device_service"))
    assert plan.decide("10.0.0.8", 8080, True) is False  # heard by then: left out


def test_a_host_not_found_by_arp_is_never_put_off():
    plan = _PortPlan(KEEP)
    plan.window_opens()
    assert plan.decide("192.0.2.9", 8080, False) is True  # a routed target: nothing to wait for


def test_advertised_ports():
    assert advertised_ports(["http://a/x", "https://a/x", "http://a:8899/x", "rtsp://a:554/x", "http://[bad"]) \
        == {80, 443, 8899}


def test_known_hosts_are_those_arp_or_discovery_heard_from():
    plan = _PortPlan(None)
    plan.live("10.0.0.1")
    plan.heard(Host(ip="10.0.0.2", seen_by=("sadp",)))
    assert plan.known("10.0.0.1") and plan.known("10.0.0.2") and not plan.known("10.0.0.3")
