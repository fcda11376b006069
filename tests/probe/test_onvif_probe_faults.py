"""OnvifProbe against hostile loopback devices (issue 6): each fault ends the device as one skip that names
it, within the per-call wall clock, and the probe never follows the device anywhere. The replies are written
for these tests; the same faults run end to end on the emulated site (tests/e2e/test_faults.py)."""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from guards import returns
from tcp_fakes import LoopbackDevice, Peer

from camscan.models import Credentials
from camscan.probe.onvif import OnvifClientFactory, OnvifProbe
from camscan.transport import CredentialPolicy, Transport

FAULT = (b'<?xml version="1.0" encoding="UTF-8"?>'
         b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
         b'xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Receiver'
         b"</env:Value><env:Subcode><env:Value>ter:Action</env:Value></env:Subcode></env:Code><env:Reason>"
         b'<env:Text xml:lang="en">Internal error</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>')
NOT_AUTHORIZED = (b'<?xml version="1.0" encoding="UTF-8"?>'
                  b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
                  b'xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>'
                  b"env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode>"
                  b'</env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>'
                  b"</env:Fault></env:Body></env:Envelope>")
DTD = (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "http://192.0.2.99/x.dtd">]>'
       b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&x;</env:Body></env:Envelope>')


class _Device:
    """A TCP server on 127.0.0.1 that hands every connection to ``serve`` (on its own thread)."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.serve = serve
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/onvif/device_service"

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def reply(status: str, body: bytes, extra: str = "") -> Callable[[socket.socket], None]:
    def serve(conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/soap+xml; charset=utf-8\r\n{extra}"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    return serve


def trickle(conn: socket.socket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def huge(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 20971520\r\n\r\n")
    for _ in range(320):
        conn.sendall(b"A" * 65536)


@pytest.fixture(scope="module")
def factory() -> OnvifClientFactory:
    return OnvifClientFactory()


@pytest.fixture
def device(request) -> Iterator[_Device]:
    d = _Device(request.param)
    yield d
    d.close()


CREDS = Credentials("admin", "camscan-unit-pw")
# loopback devices listen on any port: every port is a credential port here
WITH_CREDS = Transport(credentials=CredentialPolicy(CREDS, [ipaddress.ip_network("127.0.0.0/8")],
                                                    ports=range(1, 65536)))


@pytest.mark.parametrize("device, reason", [
    (trickle, "too slow"),
    (reset, "(connection reset by the device|closed the connection without a reply)"),
    (huge, "reply larger than 65536 bytes"),
    (reply("200 OK", DTD), "DTD"),
    (reply("307 Temporary Redirect", b"", "Location: http://192.0.2.99/onvif/device_service\r\n"),
     r"redirect to 'http://192\.0\.2\.99/onvif/device_service' \(not followed\)"),
], indirect=["device"])
def test_fault_ends_the_device_as_one_skip_within_the_wall_clock(factory, device, reason):
    probe = OnvifProbe(factory, timeout=0.4, max_bytes=65536, transport=WITH_CREDS)
    result = probe.probe("127.0.0.1", device.url)
    assert len(result.skips) == 1 and result.skips[0].stage == "onvif"
    assert re.search(reason, result.skips[0].reason)
    assert CREDS.password not in repr(result)


@pytest.mark.parametrize("device", [reply("500 Internal Server Error", FAULT)], indirect=True)
def test_soap_fault_instead_of_the_identity_is_a_skip(factory, device):
    result = OnvifProbe(factory, timeout=1.0, max_bytes=65536).probe("127.0.0.1", device.url)
    skips = [s for s in result.skips if s.stage == "onvif.GetDeviceInformation"]
    assert len(skips) == 1 and "SOAP fault" in skips[0].reason and "Internal error" in skips[0].reason


SDT_OVERFLOW = (b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
                b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">'
                b"<env:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP"
                b"</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time>"
                b"<tt:Hour>1</tt:Hour><tt:Minute>2</tt:Minute><tt:Second>3</tt:Second></tt:Time><tt:Date>"
                b"<tt:Year>99999999999999999999</tt:Year><tt:Month>1</tt:Month><tt:Day>1</tt:Day></tt:Date>"
                b"</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></env:Body>"
                b"</env:Envelope>")


@pytest.mark.parametrize("device", [reply("200 OK", SDT_OVERFLOW)], indirect=True)
def test_a_clock_beyond_any_calendar_is_ignored_not_a_crash(factory, device):
    result = OnvifProbe(factory, timeout=1.0, max_bytes=65536).probe("127.0.0.1", device.url)
    assert not [e for e in result.evidence if e.field == "clock_offset_s"]


@pytest.mark.parametrize("device", [trickle], indirect=True)
def test_scan_deadline_cuts_a_call_short_and_stops_the_next(factory, device):
    probe = OnvifProbe(factory, timeout=5.0, max_bytes=65536, deadline=time.monotonic() + 0.5)
    result = probe.probe("127.0.0.1", device.url)  # the call's own cap would be 10 s: the reason says which
    assert [s.reason for s in result.skips] == ["scan deadline reached while waiting for the reply"]
    late = OnvifProbe(factory, timeout=5.0, max_bytes=65536, deadline=time.monotonic() - 1)
    assert [s.reason for s in late.probe("127.0.0.1", device.url).skips] == [
        "scan deadline reached before this call"]
    assert device.connections == 1  # the late probe never connected


@pytest.mark.parametrize("device", [trickle], indirect=True)
def test_http_probe_respects_the_scan_deadline(device):
    from camscan.probe.http import HttpProbe

    # the call's own caps (60 s wall clock) lie beyond the hang guard: only the scan deadline can end it in time
    probe = HttpProbe(timeout=30.0, wall=60.0, deadline=time.monotonic() + 0.5)
    result = returns(probe.probe, "127.0.0.1", [("http", device.port)])
    assert result.skips and "scan deadline reached" in result.skips[0].reason  # the deadline, not the call cap
    late = HttpProbe(timeout=5.0, deadline=time.monotonic() - 1).probe("127.0.0.1", [("http", device.port)])
    assert "scan deadline reached" in late.skips[0].reason


# --------------------------------------------------------------- credentials are never tried twice per device
SDT = (b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
       b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>'
       b"<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
       b"<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>11</tt:Hour>"
       b"<tt:Minute>5</tt:Minute><tt:Second>7</tt:Second></tt:Time><tt:Date><tt:Year>2025</tt:Year>"
       b"<tt:Month>3</tt:Month><tt:Day>14</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
       b"</tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>")


def _keep_alive(answer: Callable[[bytes], bytes | None]) -> LoopbackDevice:
    """HTTP/1.1 with keep-alive: ``answer(request)`` gives the response, or None to hang up without one."""
    def serve(peer: Peer) -> None:
        while (request := peer.request()) is not None:
            out = answer(request)
            if out is None:
                return
            peer.send(out)
    return LoopbackDevice(serve)


def _url(dev: LoopbackDevice) -> str:
    return f"http://127.0.0.1:{dev.port}/onvif/device_service"


def _http(status: str, body: bytes = b"", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/soap+xml\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
            .encode() + body)


def test_a_wrong_digest_password_is_sent_once_even_when_every_401_brings_a_new_nonce():
    nonces = iter(range(1000))

    def answer(request: bytes) -> bytes:
        return _http("401 Unauthorized", b"<userCheck><statusValue>401</statusValue></userCheck>",
                     f'WWW-Authenticate: Digest realm="cam", nonce="n{next(nonces)}", qop="auth"\r\n')

    dev = _keep_alive(answer)
    try:
        result = OnvifProbe(OnvifClientFactory(), timeout=2, max_bytes=1 << 20,
                            transport=WITH_CREDS).probe("127.0.0.1", _url(dev))
    finally:
        dev.close()
    answered = [r for r in dev.requests if b"Authorization: Digest" in r]
    assert len(answered) == 1, [r.split(b"\r\n", 1)[0] for r in dev.requests]
    assert not [r for r in dev.requests if b"UsernameToken" in r]
    assert any("bad credentials" in s.reason or "not authorized" in s.reason for s in result.skips), result.skips


def test_a_request_with_credentials_is_not_sent_again_when_the_device_hangs_up():
    def answer(request: bytes) -> bytes | None:
        if b"UsernameToken" in request:
            return None  # read it (a login attempt the device may count), then hang up without a reply
        if b"GetSystemDateAndTime" in request:
            return _http("200 OK", SDT)  # the anonymous clock call, on a kept-alive connection
        return _http("400 Bad Request", NOT_AUTHORIZED)  # asks for credentials

    dev = _keep_alive(answer)
    try:
        result = OnvifProbe(OnvifClientFactory(), timeout=2, max_bytes=1 << 20,
                            transport=WITH_CREDS).probe("127.0.0.1", _url(dev))
    finally:
        dev.close()
    assert len([r for r in dev.requests if b"UsernameToken" in r]) == 1
    assert [s.reason for s in result.skips if s.stage == "onvif"] == [
        "the device closed the connection without a reply"]
