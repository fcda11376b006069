"""The lab's data and pure codecs, without namespaces: profiles, sites, envelopes, WS-Discovery
decisions, ONVIF operations and credential checks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from camscan.lab import (
    LabUnavailable,
    SiteFileError,
    generate_site,
    load_profile,
    load_site,
    load_site_spec,
    profile_names,
    site_names,
)
from camscan.lab.device import Device
from camscan.lab.onvif_service import (
    OPERATIONS,
    HttpRequest,
    check_http_digest,
    handle_soap,
    make_nonce,
    password_digest,
)
from camscan.lab.sitefile import build_site, ipv6_link_local
from camscan.lab.soap import NS_TDS, NS_WSD, load_styles
from camscan.lab.wsd_responder import decide, parse_probe, render_bye, render_hello, render_probe_matches

SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": NS_WSD,
    "tds": NS_TDS,
    "tt": "http://www.onvif.org/ver10/schema",
}
PW = "camscan-lab-pw"


def device(profile: str, **overrides: Any) -> Device:
    spec = build_site(
        {
            "site": {"username": "admin", "password": PW},
            "device": [{"profile": profile, "ip": "198.51.100.10", **overrides}],
        }
    ).devices[0]
    return Device.from_spec(spec.server_entry("cs0000-d1"))


def probe_bytes(
    types: str | None = "dn:NetworkVideoTransmitter", mid: str = "urn:uuid:1", extra_ns: str = ""
) -> bytes:
    t = f"<d:Types{extra_ns}>{types}</d:Types>" if types is not None else ""
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        f"<s:Header><a:MessageID>{mid}</a:MessageID>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>"
        f"<s:Body><d:Probe>{t}</d:Probe></s:Body></s:Envelope>"
    ).encode()


# --- data files --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_loads_with_provenance(name: str) -> None:
    p = load_profile(name)
    assert p["provenance"] and p["manufacturer"] and p["model"]
    assert p["style"] in load_styles() and p["wsd_style"] in load_styles()


def test_shipped_sites() -> None:
    assert {"test", "demo"} <= set(site_names())
    test = load_site_spec("test")
    assert len(test.devices) >= 12
    assert (test.username, test.password) == ("admin", "camscan-lab-pw")
    by = {d.name: d.settings for d in test.devices}
    assert all(s["wsd"] for s in by.values())
    assert any(s["auth"] == "read_system" and s["clock_offset_s"] == 10800 for s in by.values())
    assert any(s["password"] == "other-pw" for s in by.values())
    assert any(s["fault"] == "malformed_xml" for s in by.values())
    assert sum(s["auth"] == "none" for s in by.values()) >= 2
    assert len({d.profile_name for d in test.devices}) >= 10
    assert len(load_site_spec("demo").devices) >= 12


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"device": [{"profile": "tapo-c200", "ip": "10.0.0.5"}]}, "documentation"),
        ({"device": [{"profile": "tapo-c200", "ip": "198.51.100.5", "pasword": "x"}]}, "unknown key"),
        ({"device": [{"profile": "tapo-c200", "ip": "198.51.100.5", "fault": "explode"}]}, "fault"),
        ({"device": [{"profile": "no-such-profile", "ip": "198.51.100.5"}]}, "no such file"),
        ({"device": [{"profile": "tapo-c200", "ip": "198.51.100.5"}] * 2}, "already used"),
        ({"device": [{"profile": "tapo-c200", "ip": "203.0.113.5"}]}, "none of the site's subnets"),
    ],
)
def test_bad_site_documents_are_rejected(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SiteFileError, match=message):
        build_site(doc)


def test_addressing_is_derived_and_overridable() -> None:
    spec = build_site(
        {
            "site": {"password": "site-pw"},
            "defaults": {"latency_ms": 5},
            "device": [
                {"profile": "hikvision-ds-2cd2385g1-i", "ip": "198.51.100.77"},
                {
                    "profile": "axis-m1065-l",
                    "ip": "198.51.100.78",
                    "mac": "AC-CC-8E-01-02-03",
                    "password": "own",
                },
            ],
        }
    )
    hik, axis = spec.devices
    assert hik.mac == "58:50:ed:33:64:4d" and axis.mac == "ac:cc:8e:01:02:03"
    assert hik.settings["password"] == "site-pw" and axis.settings["password"] == "own"
    assert hik.settings["latency_ms"] == 5
    assert axis.settings["serial"] == "ACCC8E010203"  # template expanded
    assert ipv6_link_local("58:50:ed:1f:e3:85") == "fe80::5a50:edff:fe1f:e385"  # as in the Hikvision capture


def test_generated_site_for_benchmarks() -> None:
    spec = generate_site(300)
    assert len(spec.devices) == 300 and spec.subnet == "198.18.0.0/15"
    assert len({d.mac for d in spec.devices}) == 300


# --- envelopes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_renders_well_formed_discovery(name: str) -> None:
    dev = device(name)
    probe = parse_probe(probe_bytes(None))
    assert not isinstance(probe, str)
    for data in (render_probe_matches(dev, probe), render_hello(dev), render_bye(dev)):
        root = etree.fromstring(data, SAFE)
        assert root.tag.endswith("}Envelope")
    match = etree.fromstring(render_probe_matches(dev, probe), SAFE)
    types = match.find(".//d:ProbeMatch/d:Types", NS)
    if dev["wsd_types"]:
        # Every QName in Types is bound on the reply (prefixes come from the style).
        for token in (types.text or "").split():
            assert token.split(":")[0] in types.nsmap


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_answers_every_operation_well_formed(name: str) -> None:
    dev = device(name, auth="none")
    for op in OPERATIONS:
        body = (
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:tds="{NS_TDS}"><s:Body><tds:{op}/></s:Body></s:Envelope>'
        )
        out = handle_soap(
            dev, HttpRequest("POST", "/onvif/device_service", "HTTP/1.1", {}, body.encode(), "x")
        )
        assert out.response.status == 200, (op, out.response.body[:300])
        root = etree.fromstring(out.response.body, SAFE)
        assert root.find(f".//{{{NS_TDS}}}{op}Response") is not None


def test_device_information_keeps_padding() -> None:
    dev = device("generic-a-onvif-camera-yma42p", auth="none")
    body = soap_request("GetDeviceInformation", None, "", dt.datetime.now(dt.UTC))
    out = handle_soap(dev, HttpRequest("POST", "/onvif/device_service", "HTTP/1.1", {}, body, "x"))
    root = etree.fromstring(out.response.body, SAFE)
    assert root.findtext(".//tds:FirmwareVersion", namespaces=NS) == "V3.3.2.1 build 2024-11-03 09:41:27 \n"


# --- WS-Discovery decisions --------------------------------------------------------------------


def test_type_matching_is_and_and_namespace_aware() -> None:
    hik = device("hikvision-ds-2cd2385g1-i")
    ipcam = device("generic-ipcam-631ga")

    def answers(dev: Device, data: bytes) -> bool:
        p = parse_probe(data)
        assert not isinstance(p, str)
        return decide(dev, p, multicast=True).answer

    assert answers(hik, probe_bytes("dn:NetworkVideoTransmitter tds:Device"))
    assert not answers(hik, probe_bytes("dn:NetworkVideoTransmitter tds:Other"))
    # Any prefix works as long as it is bound to the right namespace...
    assert answers(hik, probe_bytes("x:Device", extra_ns=' xmlns:x="http://www.onvif.org/ver10/device/wsdl"'))
    # ... and a familiar prefix bound to the wrong namespace does not.
    assert not answers(hik, probe_bytes("tds:Device", extra_ns=' xmlns:tds="urn:wrong"'))
    assert not answers(hik, probe_bytes("nope:Device"))  # unbound prefix
    assert answers(hik, probe_bytes(None)) and answers(hik, probe_bytes(""))
    assert not answers(ipcam, probe_bytes("dn:NetworkVideoTransmitter"))
    assert answers(ipcam, probe_bytes(None))
    typed_only = device("hikvision-ds-2cd2385g1-i", wsd_answers="typed")
    assert not answers(typed_only, probe_bytes(None))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
        b"<x/>" + b" " * 40000,
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><Probe/></s:Body></s:Envelope>',
    ],
)
def test_hostile_datagrams_are_ignored_with_a_reason(data: bytes) -> None:
    assert isinstance(parse_probe(data), str)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_parse_probe_never_raises(data: bytes) -> None:
    parse_probe(data)


# --- credentials -------------------------------------------------------------------------------


def soap_request(
    op: str, user: str | None, password: str, created: dt.datetime, ptype: str = "PasswordDigest"
) -> bytes:
    header = ""
    if user is not None:
        nonce = os.urandom(16)
        c = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        pw = password_digest(nonce, c, password) if ptype == "PasswordDigest" else password
        wss = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-"
        header = (
            f'<s:Header><wsse:Security xmlns:wsse="{wss}wssecurity-secext-1.0.xsd" '
            f'xmlns:wsu="{wss}wssecurity-utility-1.0.xsd">'
            f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"
            f'<wsse:Password Type="{wss}username-token-profile-1.0#{ptype}">{pw}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{c}</wsu:Created>"
            "</wsse:UsernameToken></wsse:Security></s:Header>"
        )
    envelope = f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:tds="{NS_TDS}">'
    return f"{envelope}{header}<s:Body><tds:{op}/></s:Body></s:Envelope>".encode()


def status(dev: Device, data: bytes, headers: dict[str, str] | None = None) -> int:
    req = HttpRequest("POST", "/onvif/device_service", "HTTP/1.1", headers or {}, data, "x")
    return handle_soap(dev, req).response.status


def test_ws_security_policy_and_clock_window() -> None:
    dev = device("hiwatch-ipc-b140h", clock_offset_s=10800)
    now = dt.datetime.now(dt.UTC)
    skewed = now + dt.timedelta(seconds=10800)
    assert status(dev, soap_request("GetSystemDateAndTime", None, "", now)) == 200  # PRE_AUTH
    assert status(dev, soap_request("GetDeviceInformation", None, "", now)) == 400
    assert status(dev, soap_request("GetDeviceInformation", "admin", PW, skewed)) == 200
    assert (
        status(dev, soap_request("GetDeviceInformation", "admin", PW, skewed + dt.timedelta(seconds=290)))
        == 200
    )
    assert (
        status(dev, soap_request("GetDeviceInformation", "admin", PW, skewed + dt.timedelta(seconds=320)))
        == 400
    )
    assert status(dev, soap_request("GetDeviceInformation", "admin", PW, now)) == 400
    assert status(dev, soap_request("GetDeviceInformation", "admin", "bad", skewed)) == 400
    assert status(dev, soap_request("GetDeviceInformation", "admin", PW, skewed, "PasswordText")) == 400
    everything = device("vivotek-fd9187-ht")
    assert status(everything, soap_request("GetSystemDateAndTime", None, "", now)) == 400
    assert status(everything, soap_request("GetSystemDateAndTime", "admin", PW, now)) == 200
    anonymous = device("xiongmai-xm530")
    assert status(anonymous, soap_request("GetNetworkInterfaces", None, "", now)) == 200


def test_lockout_counts_down_in_the_fault_text() -> None:
    dev = device("amcrest-ip2m-841b")
    now = dt.datetime.now(dt.UTC)
    texts = []
    for _ in range(6):
        req = HttpRequest(
            "POST", "/onvif/device_service", "HTTP/1.1", {}, soap_request("GetScopes", "admin", "x", now), "x"
        )
        texts.append(handle_soap(dev, req).response.body.decode())
    assert "You still have 4 attempt(s)" in texts[0] and "You still have 0 attempt(s)" in texts[4]
    assert status(dev, soap_request("GetScopes", "admin", PW, now)) == 400  # locked out


def test_http_digest_roundtrip() -> None:
    dev = device("hanwha-xnv-6080r")
    nonce = make_nonce(dev)

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    def header(password: str, uri: str = "/onvif/device_service") -> dict[str, str]:
        ha1, ha2 = md5(f"admin:iPolis:{password}"), md5(f"POST:{uri}")
        resp = md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
        return {
            "authorization": f'Digest username="admin", realm="iPolis", nonce="{nonce}", uri="{uri}", '
            f'qop=auth, nc=00000001, cnonce="abc", response="{resp}", algorithm=MD5'
        }

    def req(h: dict[str, str]) -> HttpRequest:
        return HttpRequest("POST", "/onvif/device_service", "HTTP/1.1", h, b"", "x")

    assert check_http_digest(dev, req(header(PW))).ok
    assert not check_http_digest(dev, req(header("wrong"))).ok
    assert not check_http_digest(dev, req(header(PW, "/other"))).ok
    now = dt.datetime.now(dt.UTC)
    assert status(dev, soap_request("GetDeviceInformation", None, "", now)) == 401
    assert status(dev, soap_request("GetDeviceInformation", None, "", now), header(PW)) == 200


def test_not_root_means_lab_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabUnavailable, match="root"):
        load_site("test").start()
