"""SADP codec on bytes.

The ProbeMatch bodies below were written for these tests. They are modelled on two real shapes in
/work/shared/reference/captures/sadp/ (a tab-indented reply of a DS-2CD2385G1-I quoted in a public Go
source, with the firmware's ``flase`` typo, and UniversalScanner's CRLF self-test reply); the model, serial,
MAC and addresses here are made up (192.0.2.0/24 is TEST-NET-1).
"""

from __future__ import annotations

import uuid

import pytest

from camscan.codec.datagram import Parsed
from camscan.discover.sadp import (
    SadpProtocol,
    SadpReply,
    build_inquiry,
    parse_sadp,
    sadp_evidence,
)
from camscan.models import Evidence

TAB_REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<ProbeMatch>
\t<Uuid>0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0</Uuid>
\t<Types>inquiry</Types>
\t<DeviceType>150001</DeviceType>
\t<DeviceDescription>DS-2CD2047G2-L</DeviceDescription>
\t<DeviceSN>DS-2CD2047G2-L20210512AAWRG00000001</DeviceSN>
\t<CommandPort>8000</CommandPort>
\t<HttpPort>80</HttpPort>
\t<MAC>c0-56-e3-00-00-01</MAC>
\t<IPv4Address>192.0.2.41</IPv4Address>
\t<IPv4SubnetMask>255.255.255.0</IPv4SubnetMask>
\t<IPv4Gateway>192.0.2.1</IPv4Gateway>
\t<DHCP>false</DHCP>
\t<AnalogChannelNum>0</AnalogChannelNum>
\t<DigitalChannelNum>1</DigitalChannelNum>
\t<SoftwareVersion>V5.7.3build 220112</SoftwareVersion>
\t<DSPVersion>V7.3 build 211230</DSPVersion>
\t<BootTime>1970-01-02 03:04:05</BootTime>
\t<DiskNumber>0</DiskNumber>
\t<Activated>flase</Activated>
\t<DetailOEMCode>1</DetailOEMCode>
\t<HCPlatformEnable>flase</HCPlatformEnable>
\t<SDKOverTLSPort>8443</SDKOverTLSPort>
</ProbeMatch>
"""

CRLF_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b"<ProbeMatch><Uuid>ABCDEF01-2345-6789-ABCD-EF0123456789</Uuid>\r\n"
    b"<Types>inquiry</Types>\r\n<DeviceType>0</DeviceType>\r\n<DeviceDescription>IPCamera</DeviceDescription>\r\n"
    b"<DeviceSN>0420190101CCWR000000002</DeviceSN>\r\n<CommandPort>8000</CommandPort>\r\n"
    b"<HttpPort>8080</HttpPort>\r\n<MAC>00-0f-7c-00-00-02</MAC>\r\n<IPv4Address>192.0.2.42</IPv4Address>\r\n"
    b"<SoftwareVersion>V5.4.0build 160530</SoftwareVersion>\r\n<Activated>true</Activated>\r\n"
    b"<OEMInfo>N/A</OEMInfo>\r\n</ProbeMatch>\r\n"
)


def values(ev: tuple[Evidence, ...], name: str) -> list[str]:
    return [e.value for e in ev if e.source == "sadp" and e.field == name]


def test_inquiry_is_the_read_only_probe():
    uid = "6a1f3c2e-8b4d-4e7a-9c1b-2d3e4f5a6b7c"
    assert build_inquiry(uid) == (
        b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>6A1F3C2E-8B4D-4E7A-9C1B-2D3E4F5A6B7C</Uuid>'
        b"<Types>inquiry</Types></Probe>")
    assert b"inquiry_v32" in build_inquiry(uid, "inquiry_v32")


@pytest.mark.parametrize("kind", ["update", "activate", "reset", "inquiry</Types><Types>update", ""])
def test_inquiry_refuses_write_types(kind):
    with pytest.raises(ValueError):
        build_inquiry(str(uuid.uuid4()), kind)


def test_inquiry_refuses_markup_in_uuid():
    with pytest.raises(ValueError):
        build_inquiry("</Uuid><Types>update</Types><Uuid>")


def test_probes_are_fresh_and_only_inquiries():
    p = SadpProtocol()
    a, b = p.probes()[0], p.probes()[0]
    assert a != b
    assert b"<Types>inquiry</Types>" in a
    assert p.destinations(__import__("ipaddress").IPv4Interface("192.0.2.5/24")) == ["239.255.255.250"]


def test_tab_indented_reply_with_flase():
    reply = parse_sadp(TAB_REPLY)
    assert isinstance(reply, SadpReply)
    assert reply.activated is False
    ev = sadp_evidence(reply)
    assert values(ev, "reply") == ["ProbeMatch"]
    assert values(ev, "model") == ["DS-2CD2047G2-L"]
    assert values(ev, "serial") == ["DS-2CD2047G2-L20210512AAWRG00000001"]
    assert values(ev, "firmware") == ["V5.7.3build 220112"]
    assert values(ev, "dsp_version") == ["V7.3 build 211230"]
    assert values(ev, "mac") == ["c0:56:e3:00:00:01"]
    assert values(ev, "ipv4") == ["192.0.2.41"]
    assert values(ev, "activated") == ["false"]
    assert values(ev, "activated_raw") == ["flase"]
    assert values(ev, "device_type") == ["150001"]
    assert values(ev, "command_port") == ["8000"]
    assert values(ev, "http_port") == ["80"]
    assert values(ev, "sdk_tls_port") == ["8443"]
    assert values(ev, "oem_code") == ["1"]
    assert values(ev, "channels") == ["analog=0,digital=1"]
    assert values(ev, "disks") == ["0"]


def test_crlf_reply_activated_true():
    reply = parse_sadp(CRLF_REPLY)
    assert isinstance(reply, SadpReply)
    ev = sadp_evidence(reply)
    assert values(ev, "activated") == ["true"]
    assert values(ev, "activated_raw") == []
    assert values(ev, "oem_info") == ["N/A"]
    assert values(ev, "http_port") == ["8080"]
    assert values(ev, "channels") == []


def test_missing_activated_is_unknown_not_false():
    data = CRLF_REPLY.replace(b"<Activated>true</Activated>\r\n", b"")
    reply = parse_sadp(data)
    assert isinstance(reply, SadpReply) and reply.activated is None
    assert values(sadp_evidence(reply), "activated") == []


@pytest.mark.parametrize("raw", ["TRUE", " true "])
def test_activated_true_any_case(raw):
    reply = parse_sadp(CRLF_REPLY.replace(b"<Activated>true<", f"<Activated>{raw}<".encode()))
    assert isinstance(reply, SadpReply) and reply.activated is True


def test_padding_bom_and_nuls_tolerated():
    reply = parse_sadp(b"\r\n\xef\xbb\xbf" + TAB_REPLY + b"\x00\x00\x00")
    assert isinstance(reply, SadpReply)


def test_protocol_parse_gives_mac_and_keys_nothing_on_reported_ip():
    parsed = SadpProtocol().parse(TAB_REPLY, "198.51.100.7")
    assert isinstance(parsed, Parsed)
    assert parsed.mac == "c0:56:e3:00:00:01"
    assert Evidence("sadp", "ipv4", "192.0.2.41") in parsed.evidence


def test_values_are_cleaned_and_capped():
    data = TAB_REPLY.replace(b"DS-2CD2047G2-L</DeviceDescription>",
                             "\u009b31mX\nY".encode() + b"A" * 5000 + b"</DeviceDescription>")
    reply = parse_sadp(data)
    assert isinstance(reply, SadpReply)
    model = values(sadp_evidence(reply), "model")[0]
    assert "\u009b" not in model and "\n" not in model and len(model) <= 256
    assert model.startswith("31mX Y")


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"\x00\x00", "empty"),
    (b"not xml", "malformed"),
    (b'<?xml version="1.0"?><Probe><Uuid>x</Uuid><Types>inquiry</Types></Probe>', "inquiry"),
    (b"<Other><MAC>00-11-22-33-44-55</MAC></Other>", "not ProbeMatch"),
    (b"<ProbeMatch><Types>inquiry</Types></ProbeMatch>", "without device fields"),
    (b'<!DOCTYPE x [<!ENTITY a "b">]><ProbeMatch><MAC>&a;</MAC></ProbeMatch>', "DTD"),
    (b"<ProbeMatch>" + b"<F>1</F>" * 300 + b"<MAC>00-11-22-33-44-55</MAC></ProbeMatch>", "too many"),
    (b"x" * 70000, "too large"),
])
def test_rejections_are_reasons(data, reason):
    got = parse_sadp(data)
    assert isinstance(got, str)
    assert reason in got
    assert isinstance(SadpProtocol().parse(data, "192.0.2.1"), str)
