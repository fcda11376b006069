"""The lab's hostile-device knobs (issue 6), without namespaces: the faults site, address conflicts,
oversized and flooding WS-Discovery replies, redirects and external entities pointing at a trap, service
addresses naming another host, and a request log that marks every credentialed request."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from lxml import etree

from camscan.lab import SiteFileError, load_site_spec
from camscan.lab.device import Device
from camscan.lab.httpd import HttpService, _carries_credentials
from camscan.lab.onvif_service import HttpRequest, handle_soap
from camscan.lab.server import MAX_UDP_PAYLOAD, pad_scopes
from camscan.lab.sitefile import FAULTS, build_site
from camscan.lab.soap import NS_TDS
from camscan.lab.wsd_responder import parse_probe, render_probe_matches

TRAP = "198.51.100.250"
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
PROBE = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
         b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
         b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header><a:MessageID>urn:uuid:1'
         b"</a:MessageID></s:Header><s:Body><d:Probe/></s:Body></s:Envelope>")


def device(profile: str, **overrides: Any) -> Device:
    spec = build_site({"site": {"username": "admin", "password": "pw"},
                       "device": [{"profile": profile, "ip": "198.51.100.10", **overrides}]}).devices[0]
    return Device.from_spec(spec.server_entry("cs0000-d1"))


def soap(op: str) -> HttpRequest:
    body = (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="{NS_TDS}">'
            f"<s:Body><tds:{op}/></s:Body></s:Envelope>").encode()
    return HttpRequest("POST", "/onvif/device_service", "HTTP/1.1", {}, body, "x")


def test_faults_site_has_every_fault_and_a_trap_outside_the_scope():
    spec = load_site_spec("faults")
    faults = {d.settings["fault"] for d in spec.devices} | {d.settings["wsd_fault"] for d in spec.devices}
    assert set(FAULTS) - {""} <= faults
    trap = next(d for d in spec.devices if d.name == "trap")
    scope = ipaddress.ip_network("198.51.100.0/25")
    assert ipaddress.ip_address(trap.ip) not in scope
    assert all(ipaddress.ip_address(d.ip) in scope for d in spec.devices if d.name != "trap")
    assert sum(d.ip == "198.51.100.17" for d in spec.devices) == 2  # the address conflict


@pytest.mark.parametrize(("entry", "message"), [
    ({"profile": "tapo-c200", "ip": "198.51.100.5", "duplicate_ip": True, "mac": "02:00:00:00:00:05"},
     "no earlier device"),
    ({"profile": "tapo-c200", "ip": "198.51.100.2", "duplicate_ip": True, "mac": "02:00:00:00:00:05"},
     "already used by scanner"),
    ({"profile": "tapo-c200", "ip": "198.51.100.10", "duplicate_ip": "yes"}, "true or false"),
    ({"profile": "axis-m1065-l", "ip": "198.51.100.10", "duplicate_ip": True}, "MAC"),  # same derived MAC
])
def test_duplicate_ip_needs_the_flag_an_earlier_device_and_its_own_mac(entry, message):
    first = {"profile": "axis-m1065-l", "ip": "198.51.100.10"}
    with pytest.raises(SiteFileError, match=message):
        build_site({"device": [first, entry]} if entry["ip"] != "198.51.100.5" else {"device": [entry]})


def test_duplicate_ip_places_both_devices():
    spec = build_site({"device": [{"profile": "axis-m1065-l", "ip": "198.51.100.10"},
                                  {"profile": "tapo-c200", "ip": "198.51.100.10", "duplicate_ip": True,
                                   "mac": "02:00:00:00:00:10"}]})
    assert [d.ip for d in spec.devices] == ["198.51.100.10"] * 2 and len({d.mac for d in spec.devices}) == 2


def test_foreign_subnet_places_a_misaddressed_device_on_the_segment():
    """Issue 15: [[subnet]] routed = false puts a device outside the site subnet on the scanner's own bridge."""
    spec = build_site({"subnet": [{"cidr": "192.0.2.0/24", "routed": False}],
                       "device": [{"profile": "axis-m1065-l", "ip": "192.0.2.64"},
                                  {"profile": "axis-m1065-l", "ip": "198.51.100.64"}]})
    odd, home = spec.devices
    assert odd.bridge == home.bridge == "br0" and not spec.routed
    assert odd.onlink == spec.subnet and odd.prefixlen == 24 and odd.gateway == "192.0.2.1"
    assert home.onlink == ""


@pytest.mark.parametrize("size", [4000, 16000, 65000, 90000])
def test_padded_probe_matches_are_well_formed_and_oversized(size):
    dev = device("tapo-c200")
    reply = pad_scopes(render_probe_matches(dev, parse_probe(PROBE)), size)
    assert len(reply) == min(size, MAX_UDP_PAYLOAD)
    root = etree.fromstring(reply, SAFE)
    scopes = root.findtext(".//{http://schemas.xmlsoap.org/ws/2005/04/discovery}Scopes")
    assert "onvif://www.onvif.org/pad/000000" in scopes


def test_service_addresses_can_name_another_host():
    dev = device("axis-m1065-l", onvif_xaddr_host=TRAP)
    for op in ("GetServices", "GetCapabilities"):
        body = handle_soap(dev, soap(op)).response.body
        assert f"http://{TRAP}/onvif/".encode() in body and b"198.51.100.10" not in body


def test_redirect_and_xxe_faults_point_at_the_fault_url():
    redirect = device("axis-m1065-l", fault="redirect", fault_url=f"http://{TRAP}/onvif/device_service")
    resp, _fields = HttpService(redirect, lambda **kw: None).route(soap("GetDeviceInformation"), redirect.port)
    assert resp.status == 307 and ("Location", f"http://{TRAP}/onvif/device_service") in resp.headers
    xxe = device("generic-ipcam-631ga", fault="xxe", fault_url=f"http://{TRAP}/x.dtd")
    resp, _fields = HttpService(xxe, lambda **kw: None).route(soap("GetDeviceInformation"), xxe.port)
    assert resp.status == 200 and f'<!ENTITY xxe SYSTEM "http://{TRAP}/x.dtd">'.encode() in resp.body


def test_any_credential_marks_a_request_credentialed():
    def req(headers: dict[str, str], body: bytes = b"") -> HttpRequest:
        return HttpRequest("GET", "/x", "HTTP/1.1", headers, body, "x")

    assert _carries_credentials(req({})) is None
    assert _carries_credentials(req({"authorization": 'Digest username="admin", realm="r"'})) == "admin"
    assert _carries_credentials(req({"authorization": "Basic YWRtaW46cHc="})) == ""
    token = b"<wsse:UsernameToken><wsse:Username>auditor</wsse:Username><wsse:Password>x</wsse:Password>"
    assert _carries_credentials(req({}, token)) == "auditor"
