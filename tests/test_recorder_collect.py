"""Cameras behind recorders, the collecting side: which devices are asked, the Digest-only credential rules
against a loopback recorder (real sockets), the device rows and their keys, and the secrets never kept."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import sys
from pathlib import Path

import pytest
from lxml import etree

from camscan.models import Credentials, Device, Evidence, Verdict
from camscan.policy import load_policy
from camscan.probe.onvif import password_digest
from camscan.recorders.collect import (
    ISAPI_CHANNELS,
    ISAPI_STATUS,
    RecorderClient,
    RecorderInventory,
    _Denied,
    camera_device,
    media_url,
    merge_rows,
    read_channels,
    read_onvif_sources,
    recorder_family,
    web_ports,
)
from camscan.recorders.parse import Channel
from camscan.risks import match_device
from camscan.transport import CredentialPolicy, Transport

sys.path.insert(0, str(Path(__file__).parent / "probe"))
sys.path.insert(0, str(Path(__file__).parent))
from tcp_fakes import LoopbackDevice  # noqa: E402
from test_recorder_parse import ISAPI_CHANNELS as CHANNELS_XML  # noqa: E402
from test_recorder_parse import ISAPI_STATUS as STATUS_XML  # noqa: E402
from test_recorder_parse import (
    ONVIF_MEDIA,  # noqa: E402
    SECRET,  # noqa: E402
)

USER, PASSWORD, REALM, NONCE = "auditor", "user-pw-1", "DS-7608NI", "n0nce"


LOOP = (ipaddress.ip_network("127.0.0.0/8"),)


def link(credentials: Credentials | None = None, scope=LOOP) -> Transport:
    # loopback fakes listen on any port: every port is a credential port here ([credentials] ports, issue 12)
    return Transport(credentials=CredentialPolicy(credentials, scope, ports=range(1, 65536)))


def dev(ip="198.51.100.30", model="DS-7608NI-K2/8P", maker="Hikvision", device_class="recorder", ports=(80,),
        **kw) -> Device:
    base = dict(ip=ip, mac="58:50:ed:00:00:30", manufacturer=maker, brand=None, model=model, firmware=None,
                serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("wsd",),
                evidence=tuple(Evidence("tcp", "open", str(p)) for p in ports), device_class=device_class)
    base.update(kw)
    return Device(**base)


# ------------------------------------------------------------------------------------------- who is asked
def test_recorder_family():
    assert recorder_family(dev()) == "hikvision"
    assert recorder_family(dev(model="NVR4108HS-8P-4KS2", maker="Dahua")) == "dahua"
    assert recorder_family(dev(device_class="camera", model="DS-2CD2032F-I")) is None
    # not classed by the fingerprint: a recorder model number or device type still counts
    assert recorder_family(dev(device_class="unknown")) == "hikvision"
    assert recorder_family(dev(device_class="unknown", model="IPC-HDW1431T1", maker="Dahua")) is None
    assert recorder_family(dev(device_class="unknown", model=None, maker="Dahua",
                               evidence=(Evidence("dhip", "DeviceClass", "NVR"),))) == "dahua"
    # a recorder of a maker camscan cannot ask
    assert recorder_family(dev(model="NVR-8CH", maker="Axis")) is None


def test_web_ports_plain_first_then_https():
    assert web_ports(dev(ports=(443, 8000, 80))) == [(80, False), (443, True)]
    assert web_ports(dev(ports=(443,))) == [(443, True)]  # an HTTPS-only recorder
    assert web_ports(dev(ports=(8080, 8000))) == [(8080, False)]
    assert web_ports(dev(ports=(8443, 554))) == []


# ------------------------------------------------------------------------------------- a loopback recorder
def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _expected(params: dict[str, str], method: str = "GET") -> str:
    ha1 = _md5(f"{USER}:{REALM}:{PASSWORD}")
    ha2 = _md5(f"{method}:{params['uri']}")
    return _md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")


def recorder(bodies: dict[str, bytes], scheme: str = "Digest"):
    def serve(peer):
        while (req := peer.request()) is not None:
            line, _, rest = req.decode("latin-1").partition("\r\n")
            path = line.split(" ")[1]
            m = re.search(r"(?im)^authorization: digest (.*)$", rest)
            ok = False
            if m:
                params = dict(re.findall(r'(\w+)="?([^",]*)"?', m.group(1)))
                ok = params.get("response") == _expected(params)
            if not ok:
                challenge = (f'Digest realm="{REALM}", qop="auth", nonce="{NONCE}"' if scheme == "Digest"
                             else f'Basic realm="{REALM}"')
                peer.send(f"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\n"
                          "Content-Length: 0\r\n\r\n".encode())
                continue
            body = bodies.get(path)
            if body is None:
                peer.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body))
    return LoopbackDevice(serve)


@pytest.fixture
def hik():
    device = recorder({ISAPI_CHANNELS: CHANNELS_XML, ISAPI_STATUS: STATUS_XML})
    yield device
    device.close()


def test_channels_read_with_digest_only_after_the_challenge(hik):
    client = RecorderClient("127.0.0.1", hik.port, link(Credentials(USER, PASSWORD)), timeout=2, deadline=None)
    channels, reason = read_channels("hikvision", client)
    client.close()
    assert reason == "" and [c.channel for c in channels] == ["1", "2"]
    assert channels[0].model == "DS-2CD2032F-I"
    first, *rest = hik.requests
    assert b"authorization" not in first.lower()  # nothing sent before the recorder asked
    assert all(b"Authorization: Digest " in r for r in rest) and len(rest) == 2
    assert not any(PASSWORD.encode() in r for r in hik.requests)


def test_wrong_password_is_tried_once():
    device = recorder({ISAPI_CHANNELS: CHANNELS_XML})
    try:
        inv = RecorderInventory(link(Credentials(USER, "wrong")), 2, None, lambda d: d)
        rows, skip = inv._one(dev(ip="127.0.0.1"), "hikvision", device.port)
    finally:
        device.close()
    assert rows == [] and skip is not None and "bad credentials: the recorder rejected the username/password" in \
        skip.reason
    assert sum(1 for r in device.requests if b"Authorization" in r) == 1


def test_basic_only_recorder_never_gets_the_password():
    device = recorder({ISAPI_CHANNELS: CHANNELS_XML}, scheme="Basic")
    try:
        inv = RecorderInventory(link(Credentials(USER, PASSWORD)), 2, None, lambda d: d)
        rows, skip = inv._one(dev(ip="127.0.0.1"), "hikvision", device.port)
    finally:
        device.close()
    assert rows == [] and "Digest" in skip.reason
    assert not any(b"Authorization" in r for r in device.requests)


def test_inventory_skips_without_credentials_or_out_of_scope(hik):
    rec = dev()
    inv = RecorderInventory(link(None), 2, None, lambda d: d)
    rows, skips = inv.run([rec])
    assert rows == [] and "needs credentials" in skips[0].reason
    # credentials given, but not for this address: asked without them, so never sent
    inv = RecorderInventory(link(Credentials(USER, PASSWORD), (ipaddress.ip_network("203.0.113.0/24"),)), 2, None,
                            lambda d: d)
    rows, skip = inv._one(dev(ip="127.0.0.1"), "hikvision", hik.port)
    assert rows == [] and "credential scope" in skip.reason
    assert not any(b"Authorization" in r for r in hik.requests)
    rows, skips = inv.run([dev(device_class="camera", model="DS-2CD2032F-I")])
    assert rows == [] and skips == []


def test_recorders_beyond_the_cap_are_skipped_saying_so(monkeypatch):
    import camscan.recorders.collect as collect

    monkeypatch.setattr(collect, "MAX_RECORDERS", 2)
    recorders = [dev(ip=f"198.51.100.{30 + i}") for i in range(3)]
    _rows, skips = RecorderInventory(link(None), 2, None, lambda d: d).run(recorders)
    assert [s.ip for s in skips if "needs credentials" in s.reason] == ["198.51.100.30", "198.51.100.31"]
    assert [s.ip for s in skips if "more than 2 recorders" in s.reason] == ["198.51.100.32"]


# ------------------------------------------------------------------------------------------- device rows
def test_camera_rows_keys_maker_verdict_and_risks():
    rec = dev()
    policy = load_policy()

    def judge(d):
        d = policy.evaluate(d)
        return d.__class__(**{**d.__dict__, "risks": match_device(d)})

    hik = judge(camera_device(rec, Channel("1", "isapi", "192.168.254.2", "HIKVISION", model="DS-2CD2032F-I",
                                           firmware="V5.3.0 build 150513", mac="C0-56-E3-AA-BB-01")))
    assert hik.key == "mac:c0:56:e3:aa:bb:01" and hik.ip == "192.168.254.2"
    assert hik.manufacturer == "Hikvision" and hik.verdict.flagged
    assert {r.cve: r.match for r in hik.risks}["CVE-2017-7921"] == "exact"
    assert hik.via.recorder_key == rec.key and hik.via.channel == "1" and hik.via.protocol == "HIKVISION"
    anon = judge(camera_device(rec, Channel("3", "isapi", "192.168.254.4", "ONVIF")))
    assert anon.key == f"via:{rec.key}/3" and anon.verdict is Verdict.UNKNOWN and anon.manufacturer is None
    serial = camera_device(rec, Channel("4", "isapi", None, "HIKVISION", serial="ABC123"))
    assert serial.key == "serial:ABC123" and serial.ip == ""


def test_merge_rows_keeps_the_contacted_row_and_one_row_per_camera():
    rec = dev()
    lan = dev(ip="198.51.100.40", mac="c0:56:e3:aa:bb:01", device_class="camera", model="DS-2CD2032F-I")
    cam = camera_device(rec, Channel("1", "isapi", "192.168.254.2", mac="c0:56:e3:aa:bb:01"))
    other = camera_device(rec, Channel("2", "isapi", "192.168.254.3", mac="c0:56:e3:aa:bb:02"))
    again = camera_device(dev(ip="198.51.100.31", mac="08:ed:ed:00:00:31"),
                          Channel("5", "dahua.RemoteDevice", "192.168.1.9", mac="c0:56:e3:aa:bb:02"))
    merged = merge_rows([rec, lan], [cam, other, again])
    assert [d.key for d in merged] == [rec.key, lan.key, other.key]


def test_no_secret_in_rows_or_debug_logs(hik, caplog):
    caplog.set_level(logging.DEBUG)
    inv = RecorderInventory(link(Credentials(USER, PASSWORD)), 2, None, lambda d: d)
    rows, skip = inv._one(dev(ip="127.0.0.1"), "hikvision", hik.port)
    assert skip is None and len(rows) == 2
    assert SECRET not in repr(rows) and SECRET not in caplog.text and PASSWORD not in caplog.text


# ------------------------------------------------------------------------------------------ ONVIF recorders
def test_media_url_stays_on_the_recorders_own_address():
    onvif = (Evidence("onvif.GetDeviceInformation", "model", "NVR301-04S3"),)
    rec = dev(ip="198.51.100.32", model="NVR301-04S3", maker="Uniview", evidence=onvif,
              xaddrs=("http://198.51.100.32:8080/onvif/device_service",))
    assert recorder_family(rec) == "onvif"
    assert media_url(rec) == ("198.51.100.32", 8080, "/onvif/media_service", False)
    named = rec.__class__(**{**rec.__dict__, "evidence": onvif + (
        Evidence("onvif.GetServices", "xaddr", "http://198.51.100.32/onvif/Media"),)})
    assert media_url(named) == ("198.51.100.32", 80, "/onvif/Media", False)
    elsewhere = rec.__class__(**{**rec.__dict__, "xaddrs": ("http://203.0.113.9/onvif/device_service",),
                                 "evidence": onvif + (Evidence("onvif.GetServices", "xaddr",
                                                               "http://203.0.113.9/onvif/Media"),)})
    assert media_url(elsewhere) is None


def _wsse_ok(body: bytes) -> bool:
    root = etree.fromstring(body)
    ns = {"wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
          "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"}
    tok = root.find(".//wsse:UsernameToken", ns)
    if tok is None:
        return False
    nonce = base64.b64decode(tok.findtext("wsse:Nonce", namespaces=ns))
    created = tok.findtext("wsu:Created", namespaces=ns)
    return (tok.findtext("wsse:Username", namespaces=ns) == USER
            and tok.findtext("wsse:Password", namespaces=ns) == password_digest(nonce, created, PASSWORD))


NOT_AUTHORIZED = (b'<?xml version="1.0" encoding="UTF-8"?>'
                  b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value>'
                  b'<s:Subcode><s:Value>ter:NotAuthorized</s:Value></s:Subcode></s:Code><s:Reason>'
                  b'<s:Text xml:lang="en">Sender not Authorized</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>')


def _soap(status: str, body: bytes) -> bytes:
    return (b"HTTP/1.1 %s\r\nContent-Type: application/soap+xml; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s"
            % (status.encode(), len(body), body))


def test_onvif_sources_anonymous_first_then_ws_security_once():
    def serve(peer):
        while (req := peer.request()) is not None:
            body = req.partition(b"\r\n\r\n")[2]
            peer.send(_soap("200 OK", ONVIF_MEDIA) if _wsse_ok(body) else _soap("400 Bad Request", NOT_AUTHORIZED))

    device = LoopbackDevice(serve)
    try:
        rec = dev(ip="127.0.0.1", model="NVR301-04S3", maker="Uniview",
                  evidence=(Evidence("onvif.GetDeviceInformation", "model", "NVR301-04S3"),),
                  xaddrs=(f"http://127.0.0.1:{device.port}/onvif/device_service",))
        sources, reason = read_onvif_sources(rec, link(Credentials(USER, PASSWORD)), 2, None)
        assert reason == "" and [c.channel for c in sources] == ["VideoSource_1", "VideoSource_2"]
        assert {(c.resolution, c.protocol, c.source) for c in sources} == {("1920x1080", "ONVIF", "onvif.media")}
        first, second = device.requests
        # the request zeep built from the media WSDL subset: its SOAP 1.2 action, the trt element
        assert b'action="http://www.onvif.org/ver10/media/wsdl/GetVideoSources"' in first
        assert b"GetVideoSources" in first.partition(b"\r\n\r\n")[2]
        assert b"UsernameToken" not in first and b"UsernameToken" in second
        assert PASSWORD.encode() not in second  # a digest, never the password
        with pytest.raises(_Denied, match="bad credentials"):  # ... and a wrong password is tried once
            read_onvif_sources(rec, link(Credentials(USER, "wrong")), 2, None)
        assert sum(1 for r in device.requests[2:] if b"UsernameToken" in r) == 1
        # credentials withheld (out of scope): asked anonymously only, refused, and said so
        with pytest.raises(_Denied, match="needs credentials"):
            read_onvif_sources(rec, link(Credentials(USER, PASSWORD), (ipaddress.ip_network("203.0.113.0/24"),)),
                               2, None)
        assert not any(b"UsernameToken" in r for r in device.requests[4:])
    finally:
        device.close()


def test_onvif_sources_hostile_replies_are_reasons_not_crashes():
    replies = iter([_soap("200 OK", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'),
                    _soap("200 OK", b"<not-xml"),
                    _soap("500 Internal", b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/'
                                          b'soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value>'
                                          b'</s:Code><s:Reason><s:Text xml:lang="en">no</s:Text></s:Reason>'
                                          b'</s:Fault></s:Body></s:Envelope>')])

    def serve(peer):
        while peer.request() is not None:
            peer.send(next(replies))

    device = LoopbackDevice(serve)
    try:
        rec = dev(ip="127.0.0.1", model="NVR301-04S3", maker="Uniview",
                  evidence=(Evidence("onvif.GetDeviceInformation", "model", "NVR301-04S3"),),
                  xaddrs=(f"http://127.0.0.1:{device.port}/onvif/device_service",))
        for _ in range(3):
            sources, reason = read_onvif_sources(rec, link(Credentials(USER, PASSWORD)), 2, None)
            assert sources is None and reason
    finally:
        device.close()


def test_one_oui_pass_for_the_cameras_of_all_recorders(hik, monkeypatch):
    """Each pass streams the whole OUI registry: the cameras of every recorder are looked up together, once,
    after the recorders answered."""
    from camscan import oui
    from camscan.recorders import collect

    passes = []
    real = oui.evidence_for

    def counted(macs):
        macs = list(macs)
        passes.append(macs)
        return real(macs)

    monkeypatch.setattr(oui, "evidence_for", counted)
    monkeypatch.setattr(collect, "WEB_PORTS", (hik.port,))
    recorders = [dev(ip="127.0.0.1", ports=(hik.port,)), dev(ip="127.0.0.1", mac="58:50:ed:00:00:31",
                                                              ports=(hik.port,))]
    rows, skips = RecorderInventory(link(Credentials(USER, PASSWORD)), 2, None, lambda d: d).run(recorders)
    assert skips == [] and len(rows) == 4
    assert len(passes) == 1 and len(passes[0]) == 4
    assert all(any(e.source == "oui" for e in r.evidence) for r in rows if r.mac)


def test_a_makers_private_protocol_is_firmware_evidence_only_when_the_recorder_reached_the_camera():
    policy = load_policy()
    rec = dev()
    rule = "hikvision.recorder.proxy-protocol"

    def row(**kw):
        d = policy.evaluate(camera_device(rec, Channel("1", "isapi", "192.168.254.2", model="DS-2CD2032F-I", **kw)))
        return d, {m.rule for m in d.matches}

    online, rules = row(protocol="HIKVISION", online=True)
    assert rule in rules and online.verdict is Verdict.SANCTIONED and online.manufacturer == "Hikvision"
    for kw in ({"protocol": "HIKVISION", "online": False}, {"protocol": "HIKVISION"},
               {"protocol": "ONVIF", "online": True}):
        d, rules = row(**kw)
        assert rule not in rules and d.verdict is Verdict.REVIEW, kw  # the model number: a hint
    dahua = dev(model="NVR4108HS-8P-4KS2", maker="Dahua")
    drule = "dahua.recorder.private-protocol"
    reached = camera_device(dahua, Channel("1", "dahua.RemoteDevice", "192.168.1.108", "Private",
                                           model="IPC-HDW3849H-AS-PV", serial="7J0A1B2CPAZ0001"))
    assert drule in {m.rule for m in reached.matches} and policy.evaluate(reached).verdict is Verdict.SANCTIONED
    never = camera_device(dahua, Channel("2", "dahua.RemoteDevice", "192.168.1.109", "Private",
                                         model="IPC-HDW3849H-AS-PV"))
    assert drule not in {m.rule for m in never.matches}
    # the protocol as an ISAPI answer names it is not Dahua's, nor the other way round
    other = camera_device(rec, Channel("3", "isapi", None, "Private", serial="X1", online=True))
    assert not {rule, drule} & {m.rule for m in other.matches}
