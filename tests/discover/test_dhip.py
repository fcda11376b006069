"""DHIP codec on bytes.

The notifyDevInfo bodies were written for these tests, modelled on the replies in
/work/shared/reference/captures/dhip/ (a Dahua IPC quoted in a public Go source, an Intelbras OEM face
terminal from a field note, UniversalScanner's self-test datagram whose body length counts a trailing
newline); models, serials, MACs and addresses here are made up.
"""

from __future__ import annotations

import ipaddress
import json
import struct

import pytest

from camscan.codec.datagram import Parsed
from camscan.discover.dhip import (
    DHIP_GROUP,
    MAX_BODY,
    DhipHeader,
    DhipProtocol,
    DhipReply,
    build_search,
    dhip_evidence,
    pack_dhip,
    parse_dhip,
    unpack_dhip,
)

IPC_INFO = {
    "mac": "3c:ef:8c:00:00:11",
    "method": "client.notifyDevInfo",
    "params": {"deviceInfo": {
        "AlarmInputChannels": 0, "AlarmOutputChannels": 0, "DeviceClass": "IPC", "DeviceID": "",
        "DeviceType": "IPC-HFW2431S-S-S2", "Find": "BC", "FindVersion": 1, "HttpPort": 80,
        "IPv4Address": {"DefaultGateway": "192.0.2.1", "DhcpEnable": False, "IPAddress": "192.0.2.60",
                        "SubnetMask": "255.255.255.0"},
        "IPv6Address": {"DefaultGateway": None, "IPAddress": "/0", "LinkLocalAddress": "fe80::1/64"},
        "Init": 2714, "MachineName": "7A00000PAZ00011", "Manufacturer": "Private", "Port": 37777,
        "RemoteVideoInputChannels": 0, "SerialNo": "7A00000PAZ00011", "UnLoginFuncMask": 1,
        "Vendor": "Private", "Version": "2.800.0000000.25.R", "VideoInputChannels": 1,
        "VideoOutputChannels": 0}},
}
OEM_INFO = {
    "mac": "b4:4c:3b:00:00:22", "method": "client.notifyDevInfo",
    "params": {"deviceInfo": {"DeviceClass": "BSC", "DeviceType": "SS 3540 MF W", "HttpPort": 80,
                              "IPv4Address": {"DhcpEnable": True, "IPAddress": "192.0.2.61"},
                              "Manufacturer": "Intelbras", "SerialNo": "K0000000000RH", "Vendor": "Intelbras",
                              "Version": "2.000.00IB010.0.R"}},
}


def reply_bytes(obj: dict, spaced: bool = False, trailer: bytes = b"") -> bytes:
    sep = (", ", " : ") if spaced else (",", ":")
    return pack_dhip(json.dumps(obj, separators=sep).encode() + trailer)


def values(ev, name):
    return [e.value for e in ev if e.source == "dhip" and e.field == name]


def test_search_datagram_layout():
    data = build_search()
    body = b'{"method":"DHDiscover.search","params":{"mac":"","uni":1}}'
    assert data[32:] == body
    assert data[:32] == (bytes.fromhex("20000000") + b"DHIP" + bytes(8)
                         + struct.pack("<I", len(body)) + bytes(4)
                         + struct.pack("<I", len(body)) + bytes(4))
    assert b"login" not in data.lower()


def test_pack_unpack_roundtrip():
    data = pack_dhip({"a": 1}, request_id=7, session=9)
    got = unpack_dhip(data)
    assert not isinstance(got, str)
    header, obj = got
    assert header == DhipHeader(32, 9, 7, len(data) - 32)
    assert obj == {"a": 1}


def test_destinations_group_and_directed_broadcast():
    p = DhipProtocol()
    assert p.destinations(ipaddress.IPv4Interface("192.0.2.5/24")) == [DHIP_GROUP, "192.0.2.255"]
    assert p.destinations(ipaddress.IPv4Interface("192.0.2.5/32")) == [DHIP_GROUP]


def test_ipc_reply_evidence():
    reply = parse_dhip(reply_bytes(IPC_INFO))
    assert isinstance(reply, DhipReply)
    ev = dhip_evidence(reply)
    assert values(ev, "reply") == ["client.notifyDevInfo"]
    assert values(ev, "model") == ["IPC-HFW2431S-S-S2"]
    assert values(ev, "serial") == ["7A00000PAZ00011"]
    assert values(ev, "firmware") == ["2.800.0000000.25.R"]
    assert values(ev, "vendor") == ["Private"]
    assert values(ev, "manufacturer") == []
    assert values(ev, "device_class") == ["IPC"]
    assert values(ev, "mac") == ["3c:ef:8c:00:00:11"]
    assert values(ev, "ipv4") == ["192.0.2.60"]
    assert values(ev, "http_port") == ["80"]
    assert values(ev, "port") == ["37777"]
    assert values(ev, "remote_channels") == ["0"]


def test_oem_reply_spaced_with_newline_and_nul():
    # UniversalScanner-style spacing, and the "\n\0" some firmware appends (counted in the length).
    reply = parse_dhip(reply_bytes(OEM_INFO, spaced=True, trailer=b"\n\x00"))
    assert isinstance(reply, DhipReply)
    ev = dhip_evidence(reply)
    assert values(ev, "vendor") == ["Intelbras"]
    assert values(ev, "model") == ["SS 3540 MF W"]
    assert values(ev, "firmware") == ["2.000.00IB010.0.R"]


def test_manufacturer_only_and_differing():
    info = json.loads(json.dumps(OEM_INFO))
    del info["params"]["deviceInfo"]["Vendor"]
    assert values(dhip_evidence(parse_dhip(reply_bytes(info))), "vendor") == ["Intelbras"]
    info["params"]["deviceInfo"]["Vendor"] = "General"
    ev = dhip_evidence(parse_dhip(reply_bytes(info)))
    assert values(ev, "vendor") == ["General"] and values(ev, "manufacturer") == ["Intelbras"]


def test_body_length_counting_unsent_trailer_is_tolerated():
    body = json.dumps(IPC_INFO).encode()
    data = pack_dhip(body)
    short = data[:16] + struct.pack("<I", len(body) + 2) + data[20:24] + struct.pack("<I", len(body) + 2) \
        + data[28:]
    assert isinstance(parse_dhip(short), DhipReply)


def test_protocol_parse():
    parsed = DhipProtocol().parse(reply_bytes(IPC_INFO), "198.51.100.9")
    assert isinstance(parsed, Parsed) and parsed.mac == "3c:ef:8c:00:00:11"


def test_scalar_fields_only():
    info = json.loads(json.dumps(IPC_INFO))
    info["params"]["deviceInfo"]["DeviceType"] = {"nested": "x"}
    info["params"]["deviceInfo"]["SerialNo"] = ["a"]
    info["params"]["deviceInfo"]["Version"] = None
    ev = dhip_evidence(parse_dhip(reply_bytes(info)))
    assert values(ev, "model") == values(ev, "serial") == values(ev, "firmware") == []


def _with_header(body: bytes, magic=b"DHIP", hlen=32, blen=None, blen2=None) -> bytes:
    n = len(body) if blen is None else blen
    n2 = n if blen2 is None else blen2
    return struct.pack("<I4sIIIIII", hlen, magic, 0, 0, n, 0, n2, 0) + body


@pytest.mark.parametrize("data, reason", [
    (b"", "shorter"),
    (b"DHIP" * 4, "shorter"),
    (_with_header(b"{}", magic=b"DHIQ"), "magic"),
    (_with_header(b"{}", hlen=36), "header length"),
    (_with_header(b"{}", blen=MAX_BODY + 1), "exceeds"),
    (_with_header(b'{"a":1}', blen=50), "truncated"),
    (_with_header(b'{"a":1}', blen2=3), "disagree"),
    (_with_header(b"\x00\x00\n"), "empty"),
    (_with_header(b'{"a": "1.0000, "b": 2}'), "malformed JSON"),  # the self-test's broken quote
    (_with_header(b"[1, 2]"), "not a JSON object"),
    (_with_header(b"[" * 5000 + b"]" * 5000), "deeper"),
    (_with_header(b'{"a":' * 40 + b"1" + b"}" * 40), "deeper"),
    (_with_header(b'{"a": 1' + b"1" * 5000 + b"}"), "malformed JSON"),  # over the int digit limit
])
def test_unpack_rejections(data, reason):
    got = unpack_dhip(data)
    assert isinstance(got, str) and reason in got


@pytest.mark.parametrize("obj, reason", [
    ({"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}}, "search"),
    ({"method": "client.notifyDevInfo", "params": {}}, "deviceInfo"),
    ({"method": "client.notifyDevInfo", "params": []}, "deviceInfo"),
])
def test_parse_rejections(obj, reason):
    got = parse_dhip(pack_dhip(obj))
    assert isinstance(got, str) and reason in got


def test_strings_inside_json_do_not_count_as_nesting():
    info = json.loads(json.dumps(IPC_INFO))
    info["params"]["deviceInfo"]["MachineName"] = "[[[[[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{{"
    assert isinstance(parse_dhip(reply_bytes(info)), DhipReply)
