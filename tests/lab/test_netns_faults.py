"""Fault injection and routing in the lab: hang, reset, trickle, huge, entity bomb, SOAP fault,
malformed XML, latency, and a routed subnet that multicast does not reach."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from camscan.lab import Site

pytestmark = pytest.mark.netns

ClientFn = Callable[..., dict[str, Any]]
SOAP_REQ = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Body><tds:GetSystemDateAndTime/></s:Body></s:Envelope>'
)


def post(path: str = "/onvif/device_service") -> str:
    body = SOAP_REQ.encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{SOAP_REQ}"
    )


def test_hang_holds_the_connection(fault_site: Site, client: ClientFn) -> None:
    res = client(fault_site, "raw", host=fault_site.device("hang").ip, port=80, send=post(), timeout=1.5)
    assert res["error"] == "TimeoutError" and res["received"] == 0


def test_reset_closes_with_rst(fault_site: Site, client: ClientFn) -> None:
    res = client(fault_site, "raw", host=fault_site.device("reset").ip, port=80, send=post(), timeout=2)
    assert res["received"] == 0
    assert res["error"] in ("ConnectionResetError", "BrokenPipeError")


def test_trickle_sends_one_byte_per_second(fault_site: Site, client: ClientFn) -> None:
    res = client(fault_site, "raw", host=fault_site.device("trickle").ip, port=80, send=post(), timeout=2.5)
    assert res["error"] == "TimeoutError"
    assert 1 <= res["received"] <= 4
    assert "HTTP/1.1 200 OK".startswith(res["head"])


def test_huge_reply_is_20_mb(fault_site: Site, client: ClientFn) -> None:
    res = client(fault_site, "raw", host=fault_site.device("huge").ip, port=80, send=post(), timeout=10)
    assert res["error"] is None
    assert res["received"] > 20 * 1024 * 1024  # headers + 20 MiB body
    assert "Content-Length: 20971520" in res["head"]


def test_entity_bomb_reply_carries_a_dtd(fault_site: Site, client: ClientFn) -> None:
    res = client(
        fault_site, "soap", url="http://198.51.100.44/onvif/device_service", op="GetSystemDateAndTime"
    )
    assert res["status"] == 200
    assert "<!DOCTYPE lolz" in res["body"] and "&lol9;" in res["body"]
    # A safe parser never builds the gigabytes: libxml2 either refuses or keeps the entity unexpanded.
    try:
        root = etree.fromstring(res["body"].encode(), etree.XMLParser(resolve_entities=False, load_dtd=False))
    except etree.XMLSyntaxError as exc:
        assert "amplification" in str(exc) or "entity" in str(exc).lower()
    else:
        assert len(etree.tostring(root)) < 10_000


def test_soap_fault_and_malformed_xml(fault_site: Site, client: ClientFn) -> None:
    res = client(
        fault_site, "soap", url="http://198.51.100.45/onvif/device_service", op="GetSystemDateAndTime"
    )
    assert res["status"] == 500 and "Fault" in res["body"]
    res = client(
        fault_site, "soap", url="http://198.51.100.46/onvif/device_service", op="GetSystemDateAndTime"
    )
    assert res["status"] == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(res["body"].encode())


def test_latency_applies_to_udp_and_tcp(fault_site: Site, client: ClientFn) -> None:
    """The 400 ms device: a client that waits 0.1 s gets nothing, one that waits 3 s gets the reply."""
    slow = fault_site.device("slow")
    for port, send in ((8899, post()), (80, "GET / HTTP/1.0\r\n\r\n")):
        res = client(fault_site, "raw", host=slow.ip, port=port, send=send, timeout=0.1)
        assert res["error"] == "TimeoutError" and res["received"] == 0, res
        res = client(fault_site, "raw", host=slow.ip, port=port, send=send, timeout=3)
        assert res["head"].startswith("HTTP/1.1 200"), res
    assert "Server: uc-httpd 1.0.0" in res["head"]


def test_server_survives_faulty_clients(fault_site: Site, client: ClientFn) -> None:
    target = fault_site.device("slow")
    for junk in (
        "\x00\x01garbage\r\n\r\n",
        "POST /onvif/device_service HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "GET / HTTP/1.1\r\n" + "X: y\r\n" * 200 + "\r\n",
    ):
        res = client(fault_site, "raw", host=target.ip, port=8899, send=junk, timeout=3)
        assert res["head"].startswith("HTTP/1.1 4")
    res = client(
        fault_site, "soap", url=f"http://{target.ip}:8899/onvif/device_service", body="<not-closed", op="x"
    )
    assert res["status"] == 400
    assert fault_site.server is not None and fault_site.server.poll() is None
    ok = client(
        fault_site, "soap", url=f"http://{target.ip}:8899/onvif/device_service", op="GetDeviceInformation"
    )
    assert ok["status"] == 200 and "<tds:Manufacturer>H264</tds:Manufacturer>" in ok["body"]
    assert "ERROR" not in fault_site.server_log()


def test_routed_subnet_unicast_only(fault_site: Site, client: ClientFn) -> None:
    far = fault_site.device("far")
    mcast = client(fault_site, "probe", wait=0.8)
    assert far.ip not in {r["src"] for r in mcast["replies"]}
    uni = client(fault_site, "probe", dest=far.ip, wait=0.8)
    assert {r["src"] for r in uni["replies"]} == {far.ip}
    res = client(fault_site, "soap", url=far.xaddr, op="GetSystemDateAndTime")
    assert res["status"] == 200
    src = fault_site.request_log("far")[-1]["src"]
    assert src.startswith(fault_site.scanner_ip + ":")  # routed, not NATed


def test_discovery_off_device_is_silent_but_serves_onvif(fault_site: Site, client: ClientFn) -> None:
    silent = fault_site.device("silent")
    res = client(fault_site, "probe", dest=silent.ip, wait=0.6)
    assert res["replies"] == []
    assert client(fault_site, "soap", url=silent.xaddr, op="GetSystemDateAndTime")["status"] == 200
