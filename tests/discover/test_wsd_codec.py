"""WS-Discovery codec on bytes: quirks from real devices (wsd-onvif.md section 5), and the real captures
when ../shared/reference/captures is present."""

from __future__ import annotations

from pathlib import Path

import pytest

from camscan.discover import wsd

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "captures"

SOAP11_HELLO = b"""<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery"><soap:Header>
 <wsa:MessageID>uuid:AAAA0000-0000-0000-0000-000000000001</wsa:MessageID></soap:Header><soap:Body><wsd:Hello>
 <wsa:EndpointReference><wsa:Address>
   UUID:ABCDEF01-0000-0000-0000-000000000001
 </wsa:Address></wsa:EndpointReference>
 <wsd:Scopes>onvif://www.onvif.org/name/Caf%C3%A9%20Cam
   onvif://www.onvif.org/hardware/X-100
 onvif://www.onvif.org/hardware/X-100</wsd:Scopes>
 <wsd:XAddrs>http://198.51.100.7/onvif/device_service
 http://[fe80::1]/onvif/device_service</wsd:XAddrs></wsd:Hello></soap:Body></soap:Envelope>"""


def test_soap11_hello_with_whitespace_duplicates_and_bare_uuid():
    matches, reason = wsd.parse_message(SOAP11_HELLO)
    assert reason is None
    (m,) = matches
    assert m.kind == "Hello" and m.soap == "soap1.1"
    assert m.endpoint == "urn:uuid:abcdef01-0000-0000-0000-000000000001"
    assert m.scopes == ("onvif://www.onvif.org/name/Caf%C3%A9%20Cam", "onvif://www.onvif.org/hardware/X-100")
    assert m.xaddrs == ("http://198.51.100.7/onvif/device_service", "http://[fe80::1]/onvif/device_service")
    ev = {(e.field, e.value) for e in wsd.match_evidence(m)}
    assert ("scope.name", "Café Cam") in ev and ("scope.hardware", "X-100") in ev


def test_probe_declares_every_prefix_on_the_envelope():
    msg = wsd.build_probe("urn:uuid:1", "dn:NetworkVideoTransmitter").decode()
    head = msg.split("<s:Header>")[0]
    for prefix in ("xmlns:s=", "xmlns:a=", "xmlns:d=", "xmlns:dn=", "xmlns:tds="):
        assert prefix in head
    assert "<d:Types>dn:NetworkVideoTransmitter</d:Types>" in msg
    assert "<d:Types>" not in wsd.build_probe("urn:uuid:2", None).decode()


@pytest.mark.parametrize("data, why", [
    (b"", "malformed"),
    (b"<a>", "malformed"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>', "DTD"),
    (b"<x:Envelope xmlns:x='urn:other'><x:Body/></x:Envelope>", "not a SOAP envelope"),
    (b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body/></s:Envelope>", "no ProbeMatch"),
    (b"A" * 70000, "too large"),
])
def test_hostile_or_foreign_datagrams_give_a_reason(data, why):
    matches, reason = wsd.parse_message(data)
    assert matches == [] and why in reason


@pytest.mark.parametrize("xaddrs, ip, expected", [
    (["http://198.51.100.7/onvif/device_service"], "198.51.100.7", "http://198.51.100.7/onvif/device_service"),
    (["https://198.51.100.7/onvif/device_service", "http://198.51.100.7:8080/onvif/device_service"],
     "198.51.100.7", "http://198.51.100.7:8080/onvif/device_service"),
    # a reply naming another host is never followed: the replying address is used with the same port/path
    (["http://203.0.113.66:8899/onvif/device_service"], "198.51.100.7",
     "http://198.51.100.7:8899/onvif/device_service"),
    (["http://[fe80::1]/onvif/device_service", "http://169.254.1.1/x"], "198.51.100.7",
     "http://198.51.100.7/onvif/device_service"),
    (["ftp://198.51.100.7/", "not a url"], "198.51.100.7", None),
])
def test_device_service_url_never_leaves_the_replying_host(xaddrs, ip, expected):
    assert wsd.device_service_url(xaddrs, ip) == expected


def test_endpoint_normalisation():
    assert wsd.normalise_endpoint(" urn:uuid:ABC ") == "urn:uuid:abc"
    assert wsd.normalise_endpoint("uuid:ABC") == "urn:uuid:abc"
    assert wsd.normalise_endpoint("http://x/") == "http://x/"
    assert wsd.normalise_endpoint("") is None


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="../shared/reference/captures not present")
@pytest.mark.parametrize("name", [
    "hikvision/ds-2cd3955fwd-iws-probematches.xml",
    "amcrest/ip2m-841b-probematches.xml",
    "generic-ipc/ipcam-631ga-probematches.xml",
])
def test_real_captures_parse(name):
    path = CAPTURES / name
    if not path.is_file():
        pytest.skip(f"{name} not in this copy of the captures")
    matches, reason = wsd.parse_message(path.read_bytes())
    assert reason is None and matches[0].endpoint and matches[0].xaddrs
