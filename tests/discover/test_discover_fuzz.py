"""Discovery codecs on arbitrary bytes: each returns its documented value or reason and never raises.

Besides random bytes, the strategies mutate valid datagrams (byte flips, cuts, splices), which reaches the
parsers' deeper branches far more often than noise does.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camscan.codec.datagram import Parsed
from camscan.codec.scopes import split_scope
from camscan.discover.arp import parse_reply
from camscan.discover.dhip import DhipProtocol, DhipReply, pack_dhip, parse_dhip, unpack_dhip
from camscan.discover.sadp import SadpProtocol, SadpReply, build_inquiry, parse_sadp, sadp_evidence
from camscan.discover.wsd import (
    MAX_ITEMS,
    WsdProtocol,
    build_probe,
    device_service_url,
    match_evidence,
    normalise_endpoint,
    parse_message,
)
from camscan.models import ScanOptions
from camscan.net import normalise_mac

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SADP = (b'<?xml version="1.0" encoding="UTF-8"?>\r\n<ProbeMatch><Uuid>u</Uuid>'
        b"<DeviceDescription>DS-X</DeviceDescription>"
        b"<DeviceSN>DS-X2020</DeviceSN><MAC>c0-56-e3-00-00-01</MAC><IPv4Address>192.0.2.1</IPv4Address>"
        b"<Activated>flase</Activated><AnalogChannelNum>0</AnalogChannelNum></ProbeMatch>")
DHIP = pack_dhip(json.dumps({"mac": "3c:ef:8c:00:00:01", "method": "client.notifyDevInfo", "params": {
    "deviceInfo": {"DeviceType": "IPC-X", "SerialNo": "S", "Version": "2.800.0000000.1.R", "Vendor": "V",
                   "IPv4Address": {"IPAddress": "192.0.2.2"}, "HttpPort": 80}}}).encode() + b"\n\x00")
WSD = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
       b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
       b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:MessageID>m</a:MessageID>'
       b"</s:Header><s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>uuid:1</a:Address>"
       b"</a:EndpointReference><d:Scopes>onvif://www.onvif.org/name/X</d:Scopes>"
       b"<d:XAddrs>http://192.0.2.3/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches></s:Body>"
       b"</s:Envelope>")


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "insert":
            data[i:i] = draw(st.binary(max_size=16))
        else:
            data[i:i] = data[i:i + draw(st.integers(1, 64))]
    return bytes(data)


def anything(seed: bytes):
    return st.one_of(st.binary(max_size=2048), mutated(seed))


@SETTINGS
@given(anything(WSD))
def test_wsd_parse_message(data):
    matches, reason = parse_message(data)
    assert (reason is None) == bool(matches)
    assert isinstance(WsdProtocol(ScanOptions()).parse(data, "192.0.2.1"), Parsed | str)


@SETTINGS
@given(anything(SADP))
def test_parse_sadp(data):
    got = parse_sadp(data)
    assert isinstance(got, SadpReply | str)
    if isinstance(got, SadpReply):
        assert all(e.source == "sadp" for e in sadp_evidence(got))
    assert isinstance(SadpProtocol().parse(data, "192.0.2.1"), Parsed | str)


@SETTINGS
@given(anything(DHIP))
def test_unpack_and_parse_dhip(data):
    got = unpack_dhip(data)
    assert isinstance(got, str) or isinstance(got[1], dict)
    assert isinstance(parse_dhip(data), DhipReply | str)
    assert isinstance(DhipProtocol().parse(data, "192.0.2.1"), Parsed | str)


@SETTINGS
@given(st.binary(max_size=200))
def test_dhip_header_with_random_body(body):
    assert isinstance(parse_dhip(pack_dhip(body)), DhipReply | str)


@SETTINGS
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                    max_leaves=30))
def test_dhip_any_json_in_device_info(value):
    data = pack_dhip(json.dumps({"method": "client.notifyDevInfo", "mac": value,
                                 "params": {"deviceInfo": {"DeviceType": value, "IPv4Address": value,
                                                           "Vendor": value, "HttpPort": value}}}).encode())
    assert isinstance(DhipProtocol().parse(data, "192.0.2.1"), Parsed | str)


@SETTINGS
@given(st.binary(max_size=128))
def test_arp_parse_reply(frame):
    got = parse_reply(frame)
    assert got is None or (isinstance(got, tuple) and len(got) == 3)


@SETTINGS
@given(st.uuids())
def test_probes_are_well_formed(u):
    assert parse_sadp(build_inquiry(str(u))) == "a SADP inquiry, not a reply"
    assert parse_message(build_probe(f"urn:uuid:{u}", None))[1] is not None  # a Probe is not a reply


XADDR = st.one_of(
    st.text(max_size=80),
    st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
              st.sampled_from(["http", "https", "HTTP", "ftp", "", "javascript"]),
              st.one_of(st.sampled_from(["192.0.2.7", "192.0.2.8", "[fe80::1]", "[::1", "evil.example", "",
                                         "192.0.2.7@192.0.2.99", "user:pw@192.0.2.99"]), st.text(max_size=20)),
              st.one_of(st.just(""), st.integers(-5, 70000).map(lambda p: f":{p}"), st.text(max_size=6)),
              st.text(max_size=30)),
)


@SETTINGS
@given(st.lists(XADDR, max_size=6))
def test_device_service_url_never_names_another_host(xaddrs):
    url = device_service_url(xaddrs, "192.0.2.7")
    assert url is None or urlsplit(url).hostname == "192.0.2.7"


@SETTINGS
@given(st.text(max_size=200))
def test_scope_and_endpoint_helpers(text):
    got = split_scope(text)
    assert got is None or (isinstance(got[0], str) and isinstance(got[1], str))
    ep = normalise_endpoint(text)
    assert ep is None or (isinstance(ep, str) and not any(c.isspace() for c in ep))


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.none()))
def test_normalise_mac(text):
    mac = normalise_mac(text)
    assert mac is None or (len(mac) == 17 and mac.count(":") == 5)


@SETTINGS
@given(anything(WSD))
def test_wsd_evidence_is_bounded(data):
    matches, _reason = parse_message(data)
    for m in matches:
        assert len(m.scopes) <= MAX_ITEMS and len(m.xaddrs) <= MAX_ITEMS and len(m.types) <= MAX_ITEMS
        assert all(isinstance(e.value, str) for e in match_evidence(m))
