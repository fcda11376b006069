"""Vendor protocols of the fake devices: Hikvision SADP, Dahua DHIP, RTSP, and the web paths."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from camscan.lab import Site

pytestmark = pytest.mark.netns

ClientFn = Callable[..., dict[str, Any]]
SADP_INQUIRY = (
    '<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>6A1F3C2E-8B4D-4E7A-9C1B-2D3E4F5A6B7C</Uuid>'
    "<Types>inquiry</Types></Probe>"
)


def dhip(body: dict[str, Any]) -> str:
    raw = json.dumps(body).encode()
    return (struct.pack("<I4sIIIIII", 32, b"DHIP", 0, 0, len(raw), 0, len(raw), 0) + raw).hex()


def test_sadp_inquiry_answered_by_hikvision_only(vendor_site: Site, client: ClientFn) -> None:
    res = client(vendor_site, "udp", dest="239.255.255.250", port=37020, payload=SADP_INQUIRY, wait=0.8)
    assert [r["src"] for r in res["replies"]] == ["198.51.100.70"]
    root = etree.fromstring(bytes.fromhex(res["replies"][0]["hex"]))
    hik = vendor_site.device("hik")
    assert root.tag == "ProbeMatch"
    assert root.findtext("Uuid") == "6A1F3C2E-8B4D-4E7A-9C1B-2D3E4F5A6B7C"
    assert root.findtext("MAC") == hik.mac.replace(":", "-")
    assert root.findtext("IPv4Address") == hik.ip
    assert root.findtext("DeviceDescription") == "DS-2CD2385G1-I"
    assert root.findtext("HCPlatformEnable") == "flase"


def test_sadp_write_requests_are_logged_never_answered(vendor_site: Site, client: ClientFn) -> None:
    update = SADP_INQUIRY.replace("inquiry", "update")
    res = client(vendor_site, "udp", dest="198.51.100.70", port=37020, payload=update, wait=0.5)
    assert res["replies"] == []
    entry = [e for e in vendor_site.request_log("hik") if e["proto"] == "sadp"][-1]
    assert entry["op"] == "update" and entry["answered"] is False


def test_dhip_search_answered_by_dahua_family(vendor_site: Site, client: ClientFn) -> None:
    payload = dhip({"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}})
    res = client(vendor_site, "udp", dest="239.255.255.251", port=37810, payload_hex=payload, wait=0.8)
    assert [r["src"] for r in res["replies"]] == ["198.51.100.71"]
    data = bytes.fromhex(res["replies"][0]["hex"])
    assert data[4:8] == b"DHIP"
    (length,) = struct.unpack_from("<I", data, 16)
    doc = json.loads(data[32 : 32 + length].rstrip(b"\x00\n"))
    info = doc["params"]["deviceInfo"]
    assert doc["method"] == "client.notifyDevInfo" and doc["mac"] == vendor_site.device("amcrest").mac
    assert info["Vendor"] == "Amcrest" and info["Port"] == 37777
    assert info["IPv4Address"]["IPAddress"] == "198.51.100.71"


def test_rtsp_options_and_describe_challenge(vendor_site: Site, client: ClientFn) -> None:
    def rtsp(ip: str, method: str) -> str:
        req = f"{method} rtsp://{ip}/ RTSP/1.0\r\nCSeq: 7\r\n\r\n"
        return client(vendor_site, "raw", host=ip, port=554, send=req, timeout=0.8)["head"]

    dahua = rtsp("198.51.100.71", "DESCRIBE")
    assert dahua.startswith("RTSP/1.0 401") and "Server: Dahua Rtsp Server" in dahua
    assert 'Digest realm="Login to ' in dahua
    hik = rtsp("198.51.100.70", "DESCRIBE")
    assert 'Digest realm="Hikvision"' in hik and 'Basic realm="/"' in hik and "Server:" not in hik
    reolink = rtsp("198.51.100.72", "OPTIONS")
    assert reolink.startswith("RTSP/1.0 200 OK") and "Cseq: 7" in reolink


def test_web_paths_and_header_styles(vendor_site: Site, client: ClientFn) -> None:
    hik = client(vendor_site, "http", url="http://198.51.100.70/SDK/activateStatus")
    assert hik["status"] == 200 and hik["headers"]["Server"] == "App-webs/"
    assert "<Activated>true</Activated>" in hik["body"]
    raw = client(vendor_site, "raw", host="198.51.100.71", port=80, send="GET / HTTP/1.0\r\n\r\n", timeout=1)
    head = raw["head"].split("\r\n\r\n")[0]
    assert "Server:" not in head and "CONTENT-LENGTH:" in head and "P3P: CP=CAO PSA OUR" in head
    info = client(vendor_site, "http", url="http://198.51.100.70/ISAPI/System/deviceInfo")
    assert info["status"] == 401 and 'realm="hikvision"' in info["headers"]["WWW-Authenticate"]
    info = client(
        vendor_site,
        "http",
        url="http://198.51.100.70/ISAPI/System/deviceInfo",
        digest=["admin", "camscan-lab-pw"],
    )
    assert info["status"] == 200 and "<model>DS-2CD2385G1-I</model>" in info["body"]
