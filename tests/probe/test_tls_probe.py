"""TLS probe: the DER Name parser on hand-built and openssl-generated certificates, and a certificate
fetched from a loopback TLS server.

The subjects are modelled on the certificates fingerprints.md quotes (recog's HIKVISION DVR subject, a Dahua
NVR issuer written with U+00A0 no-break spaces); the certificates themselves are generated here.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from camscan.models import Evidence
from camscan.probe.tls import CertInfo, TlsProbe, fetch_certificate, format_name, parse_certificate

HAVE_OPENSSL = shutil.which("openssl") is not None


# ------------------------------------------------------------------------------------------ DER helpers
def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytes([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


def rdn(*attrs: tuple[str, int, bytes]) -> bytes:
    return tlv(0x31, b"".join(tlv(0x30, oid(o) + tlv(tag, v)) for o, tag, v in attrs))


def name(*rdns: bytes) -> bytes:
    return tlv(0x30, b"".join(rdns))


CN, O_, C, OU, ST, L = "2.5.4.3", "2.5.4.10", "2.5.4.6", "2.5.4.11", "2.5.4.8", "2.5.4.7"


def test_name_types_and_order():
    der = name(
        rdn((C, 0x13, b"CN")),
        rdn((ST, 0x0C, b"Zhejiang")),
        rdn((O_, 0x1E, "Zhejiang\u00a0Dahua".encode("utf-16-be"))),  # BMPString
        rdn((OU, 0x14, b"Caf\xe9")),  # T61String read as Latin-1
        rdn((CN, 0x0C, "Dahua\u00a0Device\u00a0NVR\u00a0CA".encode())),
    )
    assert format_name(der) == ("CN=Dahua\u00a0Device\u00a0NVR\u00a0CA,OU=Caf\u00e9,O=Zhejiang\u00a0Dahua,"
                                "ST=Zhejiang,C=CN")


def test_name_escaping_multivalue_and_unknown_types():
    der = name(rdn((CN, 0x0C, b"a,b+c"), ("2.5.4.5", 0x13, b"123")),
               rdn(("1.2.3.4", 0x04, b"\x01\x02")))
    assert format_name(der) == "1.2.3.4=#0102,CN=a\\,b\\+c+serialNumber=123"


def test_name_control_characters_removed():
    assert format_name(name(rdn((CN, 0x0C, b"evil\x1b[2J\x00x")))) == "CN=evil[2Jx"


@pytest.mark.parametrize("der", [
    b"", b"\x30", b"\x30\x80\x00\x00", b"\x31\x00", b"\x30\x05\x31\x03\x30\x01\x06",
    b"\x30\x84\xff\xff\xff\xff", b"\x1f\x01\x00",
    name(rdn((CN, 0x0C, b"x"))) [:-1],
])
def test_bad_names_are_none(der):
    assert format_name(der) is None


@pytest.mark.parametrize("der, reason", [
    (b"", "empty"),
    (b"\x02\x01\x00", "not a SEQUENCE"),
    (tlv(0x30, tlv(0x30, tlv(0x02, b"\x01"))), "lacks"),
    (b"\x30" * 70000, "exceeds"),
    (b"\x30\x82\x01\x00" + b"\x00" * 10, "malformed"),
])
def test_bad_certificates_are_reasons(der, reason):
    got = parse_certificate(der)
    assert isinstance(got, str) and reason in got


# ------------------------------------------------------------------------------------- real certificates
@pytest.fixture(scope="module")
def hik_style_cert(tmp_path_factory) -> tuple[Path, Path]:
    if not HAVE_OPENSSL:
        pytest.skip("openssl CLI not available")
    d = tmp_path_factory.mktemp("cert")
    key, crt = d / "key.pem", d / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "3650", "-utf8",
                    "-subj", "/C=CN/ST=ZheJiang/L=HangZhou/O=HIKVISION/OU=DVRNVR/CN=www.hikvision.com"],
                   check=True, capture_output=True, timeout=60)
    return key, crt


def test_parse_openssl_certificate(hik_style_cert):
    _key, crt = hik_style_cert
    der = ssl.PEM_cert_to_DER_cert(crt.read_text())
    info = parse_certificate(der)
    assert isinstance(info, CertInfo)
    assert info.subject == "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
    assert info.issuer == info.subject and info.self_signed
    assert info.not_before[:2] == "20" and info.not_after > info.not_before
    # the parser agrees with the ssl module's own decoding
    decoded = ssl._ssl._test_decode_cert(str(crt))  # noqa: SLF001 - the stdlib's reference decoder
    flat = {k: v for rdn_ in decoded["subject"] for k, v in rdn_}
    assert flat["organizationName"] == "HIKVISION" and flat["commonName"] == "www.hikvision.com"


def test_fetch_from_loopback_tls_server(hik_style_cert):
    key, crt = hik_style_cert
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        ev, skips = TlsProbe(timeout=3).probe("127.0.0.1", port)
    finally:
        t.join(5)
        srv.close()
    assert skips == ()
    subject = "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
    assert Evidence("tls", "subject", subject) in ev
    assert Evidence("tls", "self_signed", "true") in ev
    assert any(e.field == "sha256" and len(e.value) == 64 for e in ev)


def test_plain_tcp_server_is_a_reason():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        got = fetch_certificate("127.0.0.1", port, 2)
    finally:
        t.join(5)
        srv.close()
    assert isinstance(got, str) and "TLS" in got


def test_silent_server_times_out_on_the_wall_clock():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)  # accepts (kernel backlog) but never speaks
    try:
        got = fetch_certificate("127.0.0.1", srv.getsockname()[1], 0.3)
    finally:
        srv.close()
    assert isinstance(got, str) and "timed out" in got


def test_no_handshake_runs_past_the_scan_deadline():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        got = fetch_certificate("127.0.0.1", srv.getsockname()[1], 5, deadline=time.monotonic() - 1)
    finally:
        srv.close()
    assert isinstance(got, str) and "timed out" in got
