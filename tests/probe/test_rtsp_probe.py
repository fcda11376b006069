"""RTSP probe: the reply parser on bytes and OPTIONS/DESCRIBE against a loopback fake server.

Replies were written for these tests, modelled on the Foscam/HiSilicon OPTIONS reply in
/work/shared/reference/captures/foscam/, the Reolink go2rtc trace (trailing spaces, ``Cseq``), and the
Hikvision and Dahua 401 replies fingerprints.md quotes from nmap's probes; nonces and ids are made up.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from camscan.models import Evidence
from camscan.probe.rtsp import RtspProbe, RtspResponse, parse_rtsp_response, rtsp_evidence

HISILICON_OPTIONS = (b"RTSP/1.0 200 OK\r\nServer: Hisilicon Streaming Media Server/1.0.0(Jan 01 2016)\r\n"
                     b"Cseq: 1\r\n"
                     b"Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, SET_PARAMETER, "
                     b"GET_PARAMETER\r\n\r\n")
REOLINK_STYLE = (b"RTSP/1.0 200 OK \r\nPublic: OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE \r\n"
                 b"Cseq: 1 \r\n"
                 b"Date: Mon, Jan 01 2024 00:00:00 GMT \r\n\r\n")
HIK_401 = (b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm="Hikvision", '
           b'nonce="00000000000000000000000000000000", stale="FALSE"\r\nWWW-Authenticate: Basic realm="/"\r\n'
           b"Date:  Mon, Jan 01 2024 00:00:00 GMT\r\n\r\n")
DAHUA_401 = (b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Basic realm="device"\r\n'
             b"Server: Dahua Rtsp Server\r\n\r\n")


def test_parse_options():
    r = parse_rtsp_response(HISILICON_OPTIONS)
    assert isinstance(r, RtspResponse)
    assert (r.version, r.status, r.reason) == ("RTSP/1.0", 200, "OK")
    assert r.header("server") == ["Hisilicon Streaming Media Server/1.0.0(Jan 01 2016)"]
    assert r.header("CSEQ") == ["1"]


def test_parse_trailing_spaces_and_bare_lf():
    r = parse_rtsp_response(REOLINK_STYLE.replace(b"\r\n", b"\n"))
    assert isinstance(r, RtspResponse)
    assert r.header("public") == ["OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE"]


def test_parse_folded_header_and_body():
    r = parse_rtsp_response(b"RTSP/1.0 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 5\r\n\r\nv=0\r\n")
    assert isinstance(r, RtspResponse)
    assert r.header("x-long") == ["a b"] and r.body == b"v=0\r\n"


@pytest.mark.parametrize("data, reason", [
    (b"", "incomplete"),
    (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n", "incomplete"),
    (b"HTTP/1.1 200 OK\r\n\r\n", "not an RTSP reply"),
    (b"RTSP/1.0 2000 OK\r\n\r\n", "bad status"),
    (b"RTSP/1.0\r\n\r\n", "not an RTSP reply"),
    (b"RTSP/1.0 200 OK\r\n" + b"A: b\r\n" * 200 + b"\r\n", "too many headers"),
    (b"RTSP/1.0 200 OK\r\n" + b"A" * 70000 + b"\r\n\r\n", "exceeds"),
])
def test_parse_rejections(data, reason):
    got = parse_rtsp_response(data)
    assert isinstance(got, str) and reason in got


def test_evidence_names():
    opts = parse_rtsp_response(DAHUA_401.replace(b"401 Unauthorized", b"200 OK"))
    desc = parse_rtsp_response(HIK_401)
    ev = rtsp_evidence(opts, desc)
    assert Evidence("rtsp", "status", "200") in ev
    assert Evidence("rtsp", "describe_status", "401") in ev
    assert Evidence("rtsp", "server", "Dahua Rtsp Server") in ev
    assert Evidence("rtsp.realm", "digest", "Hikvision") in ev
    assert Evidence("rtsp.realm", "basic", "/") in ev
    assert Evidence("rtsp.realm", "basic", "device") in ev


class FakeRtsp:
    """Answers OPTIONS with ``options`` and DESCRIBE with ``describe``; records requests."""

    def __init__(self, options: bytes, describe: bytes | None, dribble: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.options, self.describe, self.dribble = options, describe, dribble
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(3)
            buf = b""
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\r\n\r\n" in buf:
                    req, buf = buf.split(b"\r\n\r\n", 1)
                    self.requests.append(req)
                    reply = self.options if req.startswith(b"OPTIONS") else self.describe
                    if reply is None:
                        return
                    try:
                        if self.dribble:
                            for b in reply:
                                conn.sendall(bytes([b]))
                                time.sleep(0.05)
                        else:
                            conn.sendall(reply)
                    except OSError:
                        return

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def test_loopback_options_then_describe():
    dev = FakeRtsp(HISILICON_OPTIONS, HIK_401)
    try:
        ev, skips = RtspProbe(timeout=2).probe("127.0.0.1", dev.port)
    finally:
        dev.close()
    assert skips == []
    assert Evidence("rtsp", "server", "Hisilicon Streaming Media Server/1.0.0(Jan 01 2016)") in ev
    assert Evidence("rtsp.realm", "digest", "Hikvision") in ev
    assert [r.split(b" ", 1)[0] for r in dev.requests] == [b"OPTIONS", b"DESCRIBE"]
    assert all(b"Authorization" not in r for r in dev.requests)


def test_loopback_sdp_session_name():
    sdp = b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=Media Presentation\r\nt=0 0\r\n"
    describe = b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: %d\r\n\r\n%s" % (len(sdp), sdp)
    dev = FakeRtsp(REOLINK_STYLE, describe)
    try:
        ev, skips = RtspProbe(timeout=2).probe("127.0.0.1", dev.port)
    finally:
        dev.close()
    assert Evidence("rtsp", "sdp_session", "Media Presentation") in ev and skips == []


def test_loopback_describe_unanswered_is_a_skip_not_a_failure():
    dev = FakeRtsp(REOLINK_STYLE, None)
    try:
        ev, skips = RtspProbe(timeout=1).probe("127.0.0.1", dev.port)
    finally:
        dev.close()
    assert Evidence("rtsp", "status", "200") in ev
    assert skips and skips[0].stage == "rtsp" and "DESCRIBE" in skips[0].reason


def test_loopback_wall_clock_cap():
    dev = FakeRtsp(HISILICON_OPTIONS, HIK_401, dribble=True)  # ~9 s to send the OPTIONS reply
    try:
        ev, skips = RtspProbe(timeout=1, wall=0.5).probe("127.0.0.1", dev.port)
    finally:
        dev.close()
    # a byte every 50 ms never trips the 1 s operation timeout: only the 0.5 s wall clock ends the call
    assert ev == [] and "timed out" in skips[0].reason and len(dev.requests) == 1


def test_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ev, skips = RtspProbe(timeout=1).probe("127.0.0.1", port)
    assert ev == [] and "refused" in skips[0].reason.lower()


def test_no_exchange_runs_past_the_scan_deadline():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts (kernel backlog), never speaks
        ev, skips = RtspProbe(timeout=5, deadline=time.monotonic() - 1).probe("127.0.0.1", s.getsockname()[1])
    assert ev == [] and "deadline" in skips[0].reason
