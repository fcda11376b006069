"""camscan.probe.httpclient against real loopback servers: keep-alive and its stale-connection retry, the call's
wall clock (trickled heads and bodies), the scan deadline, the per-operation timeout, refused and reset
connections, the body cap, chunked and read-to-close bodies, replies that are not HTTP (garbage status lines,
too many or too long headers), bodies that break off, bytes past an answer on a kept-alive connection, TLS (a
self-signed loopback server, and a server that never speaks TLS), sockets numbered above select()'s 1024,
request validation, and :func:`digest_authorization` against the RFC 7616 section 3.9.1 and RFC 2617
section 3.5 examples.

Every server is a plain socket on 127.0.0.1 in a thread; the replies are written for these tests. Time bounds
are generous above (a loaded machine) and tight below only where the lower bound is the point.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backlog import full_backlog
from tcp_fakes import LOOPBACK, LoopbackDevice, Peer

from camscan.codec.auth import digest_authorization
from camscan.probe.httpclient import Connection, HttpFailure, Response


# ------------------------------------------------------------------------------------------------ devices
@pytest.fixture
def device() -> Iterator[Callable[..., LoopbackDevice]]:
    made: list[LoopbackDevice] = []

    def make(serve: Callable[[Peer], None], tls: ssl.SSLContext | None = None) -> LoopbackDevice:
        made.append(LoopbackDevice(serve, tls))
        return made[-1]

    yield make
    for d in made:
        d.close()


def answer(body: bytes = b"hello", status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body


def keep_answering(body: bytes = b"hello") -> Callable[[Peer], None]:
    """A well-behaved keep-alive server: every request on the connection gets ``body``."""
    def serve(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(answer(body))
    return serve


def fail(call: Callable[[], Response]) -> HttpFailure:
    """The HttpFailure ``call`` raises. Which limit ended a call shows in its ``kind`` (``wall``, ``deadline``,
    ``timeout``, ...), never in how long it took: the fake devices here would otherwise go on for seconds."""
    with pytest.raises(HttpFailure) as info:
        call()
    return info.value


def closed_port() -> int:
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()  # bound, never listened: a connect is refused
    return port


# -------------------------------------------------------------------------------------------- keep-alive
def test_two_requests_share_one_connection(device):
    d = device(keep_answering(b"pong"))
    with d.connect() as conn:
        first = conn.request("GET", "/a", headers={"Accept": "*/*"})
        second = conn.request("POST", "/b", b"<x/>", {"Content-Type": "text/xml"})
        assert (first.status, first.body, first.truncated) == (200, b"pong", False)
        assert second.body == b"pong"
        assert conn.connections == 1 and conn.requests == 2
    assert d.connections == 1
    get, post = d.requests
    assert get.startswith(b"GET /a HTTP/1.1\r\n")
    assert f"\r\nHost: {LOOPBACK}:{d.port}\r\n".encode() in get and b"\r\nAccept: */*\r\n" in get
    assert b"Content-Length" not in get
    assert post.startswith(b"POST /b HTTP/1.1\r\n") and post.endswith(b"\r\nContent-Length: 4\r\n\r\n<x/>")


def test_server_closing_after_the_first_answer_is_a_transparent_reconnect(device):
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(answer(b"one"))  # then closes, though it did not say Connection: close

    d = device(serve)
    with d.connect() as conn:
        assert conn.request("GET", "/").body == b"one"
        assert conn.request("GET", "/").body == b"one"
        assert conn.connections == 2
    assert d.connections == 2


@pytest.mark.parametrize("how", ["close", "reset"])
def test_reused_connection_dropped_after_the_request_is_asked_again_once(device, how):
    """The race the retry is for: the device takes the second request, then drops the connection."""
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(answer(b"one"))
        if peer.request() is not None:
            if how == "reset":
                peer.reset()

    d = device(serve)
    with d.connect() as conn:
        conn.request("GET", "/")
        assert conn.request("GET", "/again").body == b"one"
        assert conn.connections == 2
    assert d.connections == 2 and len(d.requests) == 3


def test_fresh_connection_closed_without_a_reply_is_not_retried(device):
    d = device(lambda peer: peer.request() and None)
    with d.connect() as conn:
        exc = fail(lambda: conn.request("GET", "/"))
        assert exc.kind == "closed" and exc.partial is None
        assert conn.connections == 1
    assert d.connections == 1


def test_a_device_that_drops_every_later_request_costs_one_retry_not_a_loop(device):
    answered = threading.Event()

    def serve(peer: Peer) -> None:
        while peer.request() is not None:
            if answered.is_set():
                return  # closed without a reply
            answered.set()
            peer.send(answer())

    d = device(serve)
    with d.connect() as conn:
        conn.request("GET", "/")
        exc = fail(lambda: conn.request("GET", "/"))
        assert exc.kind == "closed" and conn.connections == 2
    assert d.connections == 2


def test_connection_close_and_http10_answers_are_not_reused(device):
    replies = iter([answer(b"a", extra="Connection: close\r\n"), b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb",
                    answer(b"c")])

    def serve(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(next(replies))

    d = device(serve)
    with d.connect() as conn:
        assert [conn.request("GET", "/").body for _ in range(3)] == [b"a", b"b", b"c"]
        assert conn.connections == 3


@pytest.mark.parametrize("later", [False, True], ids=["same-segment", "later-segment"])
def test_bytes_past_an_answer_do_not_poison_the_next_request(device, later):
    """A device that sends more than its Content-Length (an extra CRLF, a stray answer): the next request
    must not read those bytes as its answer."""
    sent = threading.Event()

    def serve(peer: Peer) -> None:
        first = True
        while peer.request() is not None:
            if first and later:
                peer.send(answer(b"one"))
                time.sleep(0.05)
                peer.send(b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
            else:
                peer.send(answer(b"one") + (b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale" if first else b""))
            first = False
            sent.set()

    d = device(serve)
    with d.connect() as conn:
        assert conn.request("GET", "/").body == b"one"
        assert sent.wait(5)  # on loopback, bytes sent are in our receive queue
        assert conn.request("GET", "/").body == b"one"


def test_head_and_204_answers_have_no_body_and_keep_the_connection(device):
    replies = iter([b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n",
                    answer(b"after")])

    def serve(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(next(replies))

    d = device(serve)
    with d.connect() as conn:
        head = conn.request("HEAD", "/")
        assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "1000")
        assert conn.request("GET", "/").status == 204
        assert conn.request("GET", "/").body == b"after"
        assert conn.connections == 1


def test_headers_keep_case_order_and_repeats(device):
    d = device(lambda peer: peer.request() and peer.send(
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"a\", nonce=\"n\"\r\n"
        b"www-authenticate: Basic realm=\"a\"\r\nServer: Boa/0.94\r\nContent-Length: 0\r\n\r\n"))
    with d.connect() as conn:
        resp = conn.request("GET", "/")
    assert resp.status == 401
    assert resp.headers["WWW-AUTHENTICATE"].startswith("Digest") and resp.headers["server"] == "Boa/0.94"
    assert resp.headers.all("www-authenticate") == ['Digest realm="a", nonce="n"', 'Basic realm="a"']
    assert [k for k, _ in resp.headers.items_raw] == ["WWW-Authenticate", "www-authenticate", "Server",
                                                      "Content-Length"]


# ------------------------------------------------------------------------------------------- time limits
def trickle(data: bytes, every: float = 0.2) -> Callable[[Peer], None]:
    def serve(peer: Peer) -> None:
        if peer.request() is None:
            return
        for byte in data:
            if peer.device.stop.is_set():
                return
            peer.send(bytes([byte]))
            time.sleep(every)
    return serve


def test_a_trickled_head_ends_at_the_wall_clock(device):
    d = device(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000))
    with d.connect(timeout=5.0, wall=0.6) as conn:
        exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind == "wall" and "wall-clock" in exc.reason and exc.partial is None


def test_a_trickled_body_ends_at_the_wall_clock_with_the_head_kept(device):
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nServer: slow\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                if peer.device.stop.is_set():
                    return
                peer.send(b"x")
                time.sleep(0.2)

    d = device(serve)
    with d.connect(timeout=5.0, wall=0.6) as conn:
        exc = fail(lambda: conn.request("GET", "/"))
        assert conn.requests == 0  # the connection is not kept after a failure
    assert exc.kind == "wall"
    assert exc.partial is not None and exc.partial.status == 200 and exc.partial.headers["server"] == "slow"


def test_scan_deadline_before_the_wall_clock_ends_the_call(device):
    d = device(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000))
    t0 = time.monotonic()
    with d.connect(timeout=5.0, wall=10.0, deadline=t0 + 0.5) as conn:
        exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind == "deadline" and "scan deadline" in exc.reason


def test_passed_deadline_fails_without_connecting():
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(4)  # never accepted: a connect would still complete into the backlog
    listener.setblocking(False)
    try:
        conn = Connection(LOOPBACK, listener.getsockname()[1], timeout=5.0, deadline=time.monotonic() - 1)
        exc = fail(lambda: conn.request("GET", "/"))
        assert exc.kind == "deadline" and conn.connections == 0
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing connected
    finally:
        listener.close()


def test_silent_server_ends_at_the_per_operation_timeout(device):
    d = device(lambda peer: peer.request() and peer.device.stop.wait(10) and None)
    with d.connect(timeout=0.3, wall=5.0) as conn:
        exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind == "timeout"


def test_refused():
    exc = fail(lambda: Connection(LOOPBACK, closed_port(), timeout=2.0).request("GET", "/"))
    assert exc.kind == "refused"


def test_reset_by_the_device(device):
    d = device(lambda peer: peer.request() and peer.reset())
    with d.connect() as conn:
        exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind in ("reset", "closed")


def test_connect_timeout_when_the_backlog_is_full():
    """A listener whose accept queue is full drops new SYNs (Linux), so connect waits; the per-operation
    timeout ends it, and says so."""
    with full_backlog(LOOPBACK) as port:
        exc = fail(lambda: Connection(LOOPBACK, port, timeout=0.3, wall=5.0).request("GET", "/"))
        assert exc.kind == "connect_timeout"
        exc = fail(lambda: Connection(LOOPBACK, port, timeout=5.0, wall=0.4).request("GET", "/"))
        assert exc.kind == "wall"


# ---------------------------------------------------------------------------------------------- bodies
def test_a_huge_body_is_cut_at_the_cap_and_the_connection_dropped(device):
    def serve(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n")
            for _ in range(160):
                peer.send(b"A" * 65536)

    d = device(serve)
    with d.connect(timeout=2.0, wall=4.0) as conn:
        resp = conn.request("GET", "/", max_bytes=1000)
        assert resp.truncated and resp.body == b"A" * 1000 and resp.status == 200
        assert conn.requests == 0  # closed: the rest of the body is never read
        assert conn.request("GET", "/", max_bytes=10).body == b"A" * 10
        assert conn.connections == 2


def test_the_cap_does_not_wait_for_the_rest_of_the_body(device):
    """The device sends the head and 64 KiB, then hangs: a capped read must not wait for more."""
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 20971520\r\n\r\n" + b"B" * 65536)
            peer.device.stop.wait(10)

    d = device(serve)
    with d.connect(timeout=3.0, wall=6.0) as conn:
        resp = conn.request("GET", "/", max_bytes=1000)  # waiting for more would end in a timeout failure
    assert resp.truncated and len(resp.body) == 1000


@pytest.mark.parametrize("size, truncated", [(999, False), (1000, False), (1001, True)])
def test_the_cap_is_exact(device, size, truncated):
    d = device(keep_answering(b"z" * size))
    with d.connect() as conn:
        resp = conn.request("GET", "/", max_bytes=1000)
        assert resp.truncated is truncated and resp.body == b"z" * min(size, 1000)
        assert conn.requests == (0 if truncated else 1)


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n"


def test_chunked_body_and_keep_alive(device):
    def serve(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(CHUNKED)

    d = device(serve)
    with d.connect() as conn:
        assert conn.request("GET", "/").body == b"hello world"
        capped = conn.request("GET", "/", max_bytes=7)
        assert capped.truncated and capped.body == b"hello w"
        assert conn.request("GET", "/").body == b"hello world"
        assert conn.connections == 2  # the capped answer's connection was dropped, the others reused


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",  # not a chunk size
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" + b"f" * 70000 + b"\r\n",  # too long
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc",  # closed mid-chunk
], ids=["bad-size", "long-size-line", "closed-mid-chunk"])
def test_broken_chunked_bodies_fail_with_the_head_kept(device, reply):
    d = device(lambda peer: peer.request() and peer.send(reply))
    with d.connect() as conn:
        exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind in ("protocol", "closed")
    assert exc.partial is not None and exc.partial.status == 200


def test_body_without_a_length_is_read_to_the_close(device):
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n")
            peer.send(b"all of ")
            time.sleep(0.05)
            peer.send(b"it")

    d = device(serve)
    with d.connect() as conn:
        resp = conn.request("GET", "/")
        assert resp.body == b"all of it" and not resp.truncated
        assert conn.requests == 0  # such a connection cannot be reused


def test_a_body_cut_short_is_a_failure_with_the_head_kept(device):
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nServer: half\r\nContent-Length: 100\r\n\r\n" + b"h" * 40)

    d = device(serve)
    with d.connect() as conn:
        exc = fail(lambda: conn.request("GET", "/"))
        assert conn.requests == 0
    assert exc.kind == "closed"
    assert exc.partial is not None and exc.partial.status == 200 and exc.partial.headers["server"] == "half"
    assert exc.partial.body == b"h" * 40 and exc.partial.truncated


# ------------------------------------------------------------------------------------------ not HTTP
@pytest.mark.parametrize("reply", [
    b"SSH-2.0-OpenSSH_8.9\r\n",
    b"\x00\xff\xfe garbage \x80\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(1000)) + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK " + b"b" * 1_048_576 + b"\r\n\r\n",
    b"\n" * 200_000,
], ids=["ssh", "binary", "status-2000", "1000-headers", "100k-header", "1m-status-line", "blank-lines"])
def test_replies_that_are_not_http_are_protocol_failures(device, reply):
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(reply)
            peer.device.stop.wait(10)  # and keep the connection open: the verdict must not wait for a close

    d = device(serve)
    with d.connect(timeout=3.0, wall=6.0) as conn:
        exc = fail(lambda: conn.request("GET", "/"))
        assert conn.requests == 0
    assert exc.kind == "protocol"


# ------------------------------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def tls_server_context(tmp_path_factory) -> ssl.SSLContext:
    """A server context with a self-signed certificate made now (cryptography if installed, else openssl)."""
    d = tmp_path_factory.mktemp("httpclient-cert")
    key, crt = d / "key.pem", d / "crt.pem"
    try:
        _cert_with_cryptography(key, crt)
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl CLI is available")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(crt), "-days", "30", "-subj", "/CN=camscan-test"],
                       check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


def _cert_with_cryptography(key_path: Path, crt_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "camscan-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_tls_get_with_keep_alive(device, tls_server_context):
    d = device(keep_answering(b"secure"), tls=tls_server_context)
    with d.connect(timeout=3.0) as conn:
        assert conn.request("GET", "/").body == b"secure"
        assert conn.request("GET", "/x").body == b"secure"
        assert conn.connections == 1
    assert d.connections == 1 and f"Host: {LOOPBACK}:{d.port}".encode() in d.requests[0]


def test_tls_body_cap_and_trickle(device, tls_server_context):
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"s" * 5000)
        if peer.request() is not None:
            for _ in range(100):
                if peer.device.stop.is_set():
                    return
                peer.send(b"H")
                time.sleep(0.2)

    d = device(serve, tls=tls_server_context)
    with d.connect(timeout=5.0, wall=0.6) as conn:
        resp = conn.request("GET", "/", max_bytes=100)
        assert resp.truncated and resp.body == b"s" * 100
    with d.connect(timeout=5.0, wall=0.6) as conn:
        conn.request("GET", "/", max_bytes=100)
    with d.connect(timeout=5.0, wall=0.6) as conn:
        exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind == "wall"


def _never_speaks(peer: Peer) -> None:
    peer.device.stop.wait(10)


@pytest.mark.parametrize("timeout, wall, kind", [(0.3, 5.0, "timeout"), (5.0, 0.4, "wall")])
def test_tls_handshake_with_a_silent_server_is_bounded(device, timeout, wall, kind):
    d = device(_never_speaks)  # accepts TCP, never answers the ClientHello
    conn = Connection(LOOPBACK, d.port, tls=True, timeout=timeout, wall=wall)
    exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind == kind and conn.connections == 0


def test_tls_handshake_is_bounded_by_the_deadline(device):
    d = device(_never_speaks)
    conn = Connection(LOOPBACK, d.port, tls=True, timeout=5.0, wall=10.0, deadline=time.monotonic() + 0.3)
    exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind == "deadline"


def test_tls_handshake_with_a_plain_http_server_fails_and_closes_the_socket(device):
    closed = threading.Event()

    def serve(peer: Peer) -> None:
        peer.sock.recv(65536)  # the ClientHello
        peer.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        peer.sock.settimeout(3)
        try:
            while peer.sock.recv(65536):
                pass
            closed.set()
        except OSError:
            closed.set()

    d = device(serve)
    conn = Connection(LOOPBACK, d.port, tls=True, timeout=3.0)
    exc = fail(lambda: conn.request("GET", "/"))
    assert exc.kind == "tls"
    assert closed.wait(2)  # our socket is closed now, not when the exception is collected


def test_tls_handshake_failure_closes_the_socket_at_once(device):
    """Held on to (as a caller logging it might), the failure must not keep the device's socket open."""
    closed = threading.Event()

    def serve(peer: Peer) -> None:
        peer.sock.settimeout(5)
        try:
            while peer.sock.recv(65536):
                pass
        except OSError:
            pass
        closed.set()

    d = device(serve)
    conn = Connection(LOOPBACK, d.port, tls=True, timeout=0.3, wall=5.0)
    with pytest.raises(HttpFailure) as info:
        conn.request("GET", "/")
    assert info.value.kind == "timeout"
    assert closed.wait(2)


@pytest.fixture
def high_descriptors(monkeypatch) -> Iterator[list[int]]:
    """Client sockets numbered above FD_SETSIZE (1024), as in a scan holding many sockets (the port sweep's
    connects): ``socket.create_connection`` hands back its socket moved to a descriptor of at least 1100."""
    import fcntl
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.skip("the descriptor limit is below 1200")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    real = socket.create_connection
    numbers: list[int] = []

    def create_connection(*args, **kwargs):  # type: ignore[no-untyped-def]
        low = real(*args, **kwargs)
        high = socket.socket(fileno=fcntl.fcntl(low.fileno(), fcntl.F_DUPFD_CLOEXEC, 1100))
        high.settimeout(low.gettimeout())
        low.close()
        numbers.append(high.fileno())
        return high

    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield numbers
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_tls_handshake_works_above_descriptor_1024(device, tls_server_context, high_descriptors):
    d = device(keep_answering(b"high"), tls=tls_server_context)
    with d.connect(timeout=3.0) as conn:
        assert conn.request("GET", "/").body == b"high"
        assert conn.request("GET", "/").body == b"high"
        assert conn.connections == 1
    assert len(high_descriptors) == 1 and high_descriptors[0] >= 1100


def test_kept_alive_connection_check_works_above_descriptor_1024(device, high_descriptors):
    d = device(keep_answering(b"high"))
    with d.connect(timeout=3.0) as conn:
        assert [conn.request("GET", "/").body for _ in range(3)] == [b"high"] * 3
        assert conn.connections == 1
    assert len(high_descriptors) == 1 and high_descriptors[0] >= 1100


# ---------------------------------------------------------------------------------- request validation
@pytest.mark.parametrize("method, path, headers", [
    ("GET", "/a\r\nX-Injected: 1", {}),
    ("GET", "/a\nb", {}),
    ("GET", "/a b", {}),
    ("GET", "http://192.0.2.1/", {}),
    ("GET", "", {}),
    ("GET /x", "/", {}),
    ("GET", "/", {"X-A": "v\r\nX-Injected: 1"}),
    ("GET", "/", {"X-A": "v\nw"}),
    ("GET", "/", {"X-A\r\nX-B": "v"}),
    ("GET", "/", {"X-A:": "v"}),
    ("GET", "/", {"Authorization": "Digest " + "n" * 5000}),
])
def test_bad_requests_are_value_errors_before_any_connect(method, path, headers):
    port = closed_port()  # a connect would be "refused", an HttpFailure
    with pytest.raises(ValueError):
        Connection(LOOPBACK, port).request(method, path, headers=headers)


# ----------------------------------------------------------------------------------------- HTTP Digest
RFC7616 = {"realm": "http-auth@example.org", "qop": "auth, auth-int",
           "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
           "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"}
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def params(authorization: str) -> dict[str, str]:
    assert authorization.startswith("Digest ")
    return {k: v.replace('\\"', '"').replace("\\\\", "\\") if q else v for k, q, v in
            ((m[0], m[1], m[2] if m[1] else m[3])
             for m in re.findall(r'(\w+)=(?:(")((?:[^"\\]|\\.)*)"|([^,\s]*))', authorization[7:]))}


@pytest.mark.parametrize("algorithm, response", [
    (None, "8ca523f5e9506fed4657c9700eebdbec"),
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_digest_rfc7616_example(algorithm, response):
    challenge = dict(RFC7616, **({"algorithm": algorithm} if algorithm else {}))
    got = digest_authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle of Life", nc=1,
                               cnonce=RFC7616_CNONCE)
    assert got is not None
    p = params(got)
    assert p["response"] == response
    assert p == {"username": "Mufasa", "realm": "http-auth@example.org", "uri": "/dir/index.html",
                 "nonce": RFC7616["nonce"], "algorithm": algorithm or "MD5", "response": response,
                 "opaque": RFC7616["opaque"], "qop": "auth", "nc": "00000001", "cnonce": RFC7616_CNONCE}


def test_digest_rfc2617_example():
    challenge = {"realm": "testrealm@host.com", "qop": "auth,auth-int", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 "opaque": "5ccc069c403ebaf9f0171e9517f40e41"}
    got = digest_authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    assert got is not None and params(got)["response"] == "6629fae49393a05397450978507c4ef1"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_digest_without_qop_is_refused():
    # issue 12: RFC 2069 Digest (no qop, no client nonce) is never answered: a listener could replay the answer
    assert digest_authorization({"realm": "cam", "nonce": "abc"}, "POST", "/onvif/device_service", "admin",
                                "pw") is None


@pytest.mark.parametrize("algorithm, h", [("MD5-sess", hashlib.md5), ("SHA-256-sess", hashlib.sha256),
                                          ("md5-SESS", hashlib.md5)])
def test_digest_sess_variants(algorithm, h):
    def hx(text: str) -> str:
        return h(text.encode()).hexdigest()

    challenge = {"realm": "r", "nonce": "n0", "qop": "auth", "algorithm": algorithm}
    got = digest_authorization(challenge, "GET", "/p", "u", "secret", nc=2, cnonce="c0")
    assert got is not None
    ha1 = hx(f"{hx('u:r:secret')}:n0:c0")
    assert params(got)["response"] == hx(f"{ha1}:n0:00000002:c0:auth:{hx('GET:/p')}")
    assert params(got)["nc"] == "00000002" and params(got)["algorithm"] == algorithm


def test_digest_fresh_cnonce_each_time():
    a = params(digest_authorization({"nonce": "n", "qop": "auth"}, "GET", "/", "u", "p") or "")
    b = params(digest_authorization({"nonce": "n", "qop": "auth"}, "GET", "/", "u", "p") or "")
    assert a["cnonce"] != b["cnonce"] and a["response"] != b["response"]


@pytest.mark.parametrize("challenge", [
    {"realm": "r", "nonce": "n", "algorithm": "SHA-512-256"},
    {"realm": "r", "nonce": "n", "algorithm": "bogus"},
    {"realm": "r", "nonce": "n", "qop": "auth-int"},
    {"realm": "r", "nonce": ""},
    {"realm": "r"},
    {"realm": "r\r\nX-Injected: 1", "nonce": "n"},
    {"realm": "r", "nonce": "n\nx"},
    {"realm": "r", "nonce": "n", "opaque": "o\r\n"},
    {"realm": "r", "nonce": "n\x00"},
])
def test_digest_challenges_it_cannot_answer(challenge):
    assert digest_authorization(challenge, "GET", "/", "u", "p") is None


def test_digest_quotes_what_it_echoes():
    got = digest_authorization({"realm": 'a "quoted" \\ realm', "nonce": "n", "qop": "auth"}, "GET", "/", 'us"er',
                               "p")
    assert got is not None
    assert 'realm="a \\"quoted\\" \\\\ realm"' in got and 'username="us\\"er"' in got
    assert params(got)["realm"] == 'a "quoted" \\ realm'
