"""Probe parsers on arbitrary input: each returns its documented value or reason and never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from camscan.codec.auth import parse_challenges
from camscan.probe.http import (
    RawResponse,
    extract_title,
    header_style,
    response_evidence,
    summarise_body,
)
from camscan.probe.rtsp import RtspResponse, content_length, parse_rtsp_response, rtsp_evidence
from camscan.probe.tls import CertInfo, format_name, parse_certificate

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTSP = (b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nServer: X\r\n"
        b'WWW-Authenticate: Digest realm="r", nonce="n"\r\n'
        b"Content-Length: 3\r\n\r\nabc")
# A real-shaped certificate prefix is not needed: the DER walker is driven by tags and lengths, which the
# strategy below builds from nested TLVs.


@st.composite
def der(draw, depth: int = 0) -> bytes:
    tags = [0x30, 0x31, 0x06, 0x0C, 0x13, 0x1E, 0x1C, 0x14, 0x02, 0xA0, 0x17, 0x18, 0x04]
    tag = draw(st.sampled_from(tags))
    if tag in (0x30, 0x31, 0xA0) and depth < 5:
        content = b"".join(draw(st.lists(der(depth + 1), max_size=4)))
    else:
        content = draw(st.binary(max_size=24))
    if draw(st.booleans()):
        length = bytes([len(content)]) if len(content) < 0x80 else bytes([0x81, len(content) & 0xFF])
    else:
        length = draw(st.binary(min_size=1, max_size=3))  # lie about it
    return bytes([tag]) + length + content


@SETTINGS
@given(st.one_of(st.binary(max_size=1024), st.binary(max_size=64).map(lambda b: RTSP[: len(b)] + b)))
@example(b"RTSP/1.0 \xb9\xb2\xb3 OK\r\n\r\n")  # latin-1 superscript digits: isdigit() but not int()
@example(b"RTSP/1.0 200 OK\r\nContent-Length: \xb2\r\n\r\n")
def test_parse_rtsp_response(data):
    got = parse_rtsp_response(data)
    assert isinstance(got, RtspResponse | str)
    if isinstance(got, RtspResponse):
        rtsp_evidence(got, got)
        assert 0 <= content_length(got)


@SETTINGS
@given(st.text(max_size=300))
def test_parse_challenges(value):
    for scheme, params in parse_challenges(value):
        assert isinstance(scheme, str) and isinstance(params, dict)


@SETTINGS
@given(st.binary(max_size=2048), st.text(max_size=40))
def test_title_summary_style(body, ctype):
    t = extract_title(body, ctype)
    assert t is None or (0 < len(t) <= 200)
    assert isinstance(summarise_body(body, ctype), str)
    assert header_style([ctype, ctype.upper()]) in (None, "uppercase")


@SETTINGS
@given(st.binary(max_size=512).map(lambda b: b"<title>" + b + b"</title>"))
def test_titles_with_any_inner_bytes(body):
    t = extract_title(body)
    assert t is None or "\x00" not in t


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=80)), max_size=10), st.binary(max_size=300),
       st.integers(100, 599))
def test_response_evidence(headers, body, status):
    response_evidence("/", RawResponse(status, tuple(headers), body), ["server", "www-authenticate"], True)


@SETTINGS
@given(st.one_of(st.binary(max_size=512), der()))
def test_der_parsers(data):
    n = format_name(data)
    assert n is None or isinstance(n, str)
    assert isinstance(parse_certificate(data), CertInfo | str)




@SETTINGS
@given(st.one_of(st.text(max_size=60), st.sampled_from(["Mon, 01 Jan 2024 00:00:00 GMT", "Tue, 99 Foo 99999 99:99:99",
                                                        "Thu, 01 Jan 1970 00:00:00 +9999", "0", ""])))
def test_http_date_header(value):
    from camscan.probe.onvif import http_date

    got = http_date({"Date": value})
    assert got is None or got.tzinfo is not None


@SETTINGS
@given(st.lists(st.text(max_size=12), max_size=4), st.lists(st.text(max_size=60), max_size=4),
       st.lists(st.integers(-10, 70000), max_size=6))
@example(["\u00b9", "\u0663"], [], [])  # digits int() refuses (superscript one) or reads (Arabic-Indic three)
def test_http_services_from_hostile_discovery(ports, xaddrs, open_ports):
    from camscan.models import Evidence, Host
    from camscan.probe.http import http_services

    evidence = tuple(Evidence(src, field, p) for p in ports for src in ("sadp", "dhip")
                     for field in ("http_port", "https_port"))
    host = Host(ip="192.0.2.7", evidence=evidence, xaddrs=tuple(xaddrs))
    for scheme, port in http_services(host, open_ports):
        assert scheme in ("http", "https") and 0 < port < 65536


@SETTINGS
@given(st.one_of(st.binary(max_size=2048), st.binary(max_size=512).map(lambda b: b"<a>" + b + b"</a>")))
def test_xmlsafe_parse_raises_only_unsafe_xml(data):
    from camscan.codec import xmlsafe

    try:
        root = xmlsafe.parse(data)
    except xmlsafe.UnsafeXML:
        return
    assert isinstance(xmlsafe.local(root.tag), str) and isinstance(xmlsafe.text(root), str)
