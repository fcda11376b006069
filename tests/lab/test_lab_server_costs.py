"""The device server's shortcuts, without namespaces: each must give the bytes the plain code path gives.

The server plays every device of a site on one thread, beside the scanner under test, so it parses a
multicast datagram once for all devices (ParseCache), renders a device's ProbeMatches once and fills in the
per-message values (ProbeMatchTemplate), and reuses one XML parser. These tests pin that the shortcuts change
nothing a client can see, and that the caches stay bounded.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from camscan.lab import profile_names
from camscan.lab import server as server_mod
from camscan.lab.device import Device
from camscan.lab.server import ParseCache, raise_neighbour_limits
from camscan.lab.sitefile import build_site
from camscan.lab.soap import NS_TDS, E, Style, XmlRejected, envelope, parse_xml
from camscan.lab.wsd_responder import Probe, ProbeMatchTemplate, parse_probe, render_probe_matches


def device(profile: str, **overrides: Any) -> Device:
    spec = build_site(
        {
            "site": {"username": "admin", "password": "pw"},
            "device": [{"profile": profile, "ip": "198.51.100.10", **overrides}],
        }
    ).devices[0]
    return Device.from_spec(spec.server_entry("cs0000-d1"))


def probe_with_id(message_id: str) -> Probe:
    escaped = message_id.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    data = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
        f"<s:Header><a:MessageID>{escaped}</a:MessageID></s:Header><s:Body><d:Probe/></s:Body></s:Envelope>"
    ).encode()
    probe = parse_probe(data)
    assert not isinstance(probe, str) and probe.message_id == message_id
    return probe


def twins(profile: str, **overrides: Any) -> tuple[Device, Device]:
    """Two devices in the same state, with the same 'random' UUIDs."""
    a, b = device(profile, **overrides), device(profile, **overrides)
    b.instance_id = a.instance_id
    uuids = itertools.count()
    a.random_uuid = b.random_uuid = lambda: f"00000000-0000-4000-8000-{next(uuids) // 2:012d}"  # type: ignore[method-assign]
    return a, b


# --- ProbeMatchTemplate --------------------------------------------------------------------------


@pytest.mark.parametrize("name", profile_names())
@pytest.mark.parametrize(("soap_version", "app_sequence"), [("1.2", True), ("1.2", False), ("1.1", True)])
def test_template_gives_the_rendered_bytes(name: str, soap_version: str, app_sequence: bool) -> None:
    plain, fast = twins(name, wsd_soap_version=soap_version, wsd_app_sequence=app_sequence)
    template = ProbeMatchTemplate(fast)
    assert template.pieces is not None
    for message_id in ("urn:uuid:1", "a<b>&c\"'", "x]]>y{probe_id}{uuid}", "", "ü\u2603"):
        probe = probe_with_id(message_id)
        assert template.render(probe) == render_probe_matches(plain, probe)
    assert fast.message_number == plain.message_number  # AppSequence advanced as often


def test_template_renders_from_scratch_when_a_profile_string_holds_a_marker() -> None:
    plain, fast = twins("hanwha-xnv-6080r")
    plain.settings["wsd_scopes"] = fast.settings["wsd_scopes"] = ["onvif://www.onvif.org/name/\x00probe\x00"]
    template = ProbeMatchTemplate(fast)
    assert template.pieces is None
    probe = probe_with_id("urn:uuid:2")
    assert template.render(probe) == render_probe_matches(plain, probe)


# --- ParseCache ----------------------------------------------------------------------------------


def test_parse_cache_parses_each_payload_once_and_stays_bounded() -> None:
    calls: list[bytes] = []

    def parse(data: bytes) -> str:
        calls.append(data)
        return data.decode()

    cache = ParseCache(parse, entries=4, max_bytes=100)
    assert [cache(b"a") for _ in range(1000)] == ["a"] * 1000
    assert calls == [b"a"]
    for i in range(50):  # a flood of distinct datagrams only evicts
        cache(b"%d" % i)
    assert len(cache._items) == 4
    cache(b"a")
    assert calls.count(b"a") == 2
    big = b"x" * 101  # larger payloads are parsed every time and never kept
    cache(big)
    cache(big)
    assert calls.count(big) == 2 and big not in cache._items


def test_parse_cache_keeps_the_most_recently_used() -> None:
    cache = ParseCache(lambda d: d, entries=2)
    cache(b"a"), cache(b"b"), cache(b"a"), cache(b"c")
    assert list(cache._items) == [b"a", b"c"]


def test_probe_parse_is_shared_and_unchanged() -> None:
    probe = probe_with_id("urn:uuid:3")
    data = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
        b"<s:Header><a:MessageID>urn:uuid:3</a:MessageID></s:Header><s:Body><d:Probe/></s:Body></s:Envelope>"
    )
    first = server_mod._parse_probe(data)
    assert first == probe and server_mod._parse_probe(bytes(data)) is first
    assert server_mod._parse_probe(b"<!DOCTYPE x><x/>") == parse_probe(b"<!DOCTYPE x><x/>")


def test_dhip_method_reason_or_method() -> None:
    from camscan.lab.vendor import dhip_pack

    assert server_mod._dhip_method(dhip_pack(b'{"method":"DHDiscover.search","params":{}}')) == (
        True,
        "DHDiscover.search",
    )
    ok, reason = server_mod._dhip_method(b"DHIP")
    assert not ok and "shorter" in reason


# --- XML -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"<!doctype x><x/>", b"<?xml version='1.0'?><!DocType x><x/>", b"<x><!EnTiTy a 'b'></x>"],
)
def test_dtd_markup_refused_in_any_case(data: bytes) -> None:
    with pytest.raises(XmlRejected, match="DTD"):
        parse_xml(data, 1024)


def test_reused_parser_reports_each_document_on_its_own() -> None:
    for _ in range(2):
        with pytest.raises(XmlRejected, match="Couldn't find end of Start Tag"):
            parse_xml(b"<x", 1024)
        assert parse_xml(b"<a><!-- c --><b/></a>", 1024)[0].tag == "b"


def test_envelope_declares_undeclared_namespaces_after_the_style_ones() -> None:
    body = [E(f"{{{NS_TDS}}}Foo", "a<b&c")]
    bare = Style(name="bare", namespaces=(), indent=None)
    assert envelope(bare, body) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
        b' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Header></env:Header><env:Body>'
        b"<tds:Foo>a&lt;b&amp;c</tds:Foo></env:Body></env:Envelope>"
    )
    listed = Style(name="listed", namespaces=(("s", "http://www.w3.org/2003/05/soap-envelope"),), ns_newline=True)
    assert envelope(listed, body, header=[]).decode().splitlines()[1:3] == [
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"',
        '  xmlns:tds="http://www.onvif.org/ver10/device/wsdl">',
    ]


# --- kernel neighbour tables ---------------------------------------------------------------------


def test_neighbour_limits_are_raised_never_lowered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for family in ("ipv4", "ipv6"):
        (tmp_path / family).mkdir()
        (tmp_path / family / "gc_thresh2").write_text("512\n")
        (tmp_path / family / "gc_thresh3").write_text("100000\n")
    monkeypatch.setattr(server_mod, "NEIGH_SYSCTL", str(tmp_path / "{family}" / "{name}"))
    raise_neighbour_limits(1000)
    for family in ("ipv4", "ipv6"):
        assert (tmp_path / family / "gc_thresh2").read_text() == "4000\n"
        assert (tmp_path / family / "gc_thresh3").read_text() == "100000\n"
    for family in ("ipv4", "ipv6"):  # a small site asks for no more than the kernel's defaults
        (tmp_path / family / "gc_thresh2").write_text("512\n")
        (tmp_path / family / "gc_thresh3").write_text("1024\n")
    raise_neighbour_limits(128)
    assert (tmp_path / "ipv6" / "gc_thresh2").read_text() == "512\n"
    assert (tmp_path / "ipv4" / "gc_thresh3").read_text() == "1024\n"


def test_neighbour_limits_missing_only_warn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setattr(server_mod, "NEIGH_SYSCTL", str(tmp_path / "none" / "{family}-{name}"))
    raise_neighbour_limits(1000)
    assert "cannot raise" in caplog.text
