"""Discovery codecs on arbitrary bytes: each returns its documented value or reason and never raises.

Besides random bytes, the strategies mutate valid datagrams (byte flips, cuts, splices), which reaches the
parsers' deeper branches far more often than noise does.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camscan.discover.arp import parse_reply
from camscan.discover.dhip import DhipProtocol, DhipReply, pack_dhip, parse_dhip, unpack_dhip
from camscan.discover.sadp import SadpProtocol, SadpReply, build_inquiry, parse_sadp, sadp_evidence
from camscan.discover.udp import Parsed
from camscan.discover.wsd import WsdProtocol, build_probe, parse_message
from camscan.models import ScanOptions

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
