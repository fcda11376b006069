"""A small HTTP/1.1 client for talking to devices: one keep-alive connection to one address, every call capped.

The HTTP and ONVIF probes ask a device a handful of short questions in a row. Through requests each one
cost about 1.5 ms of client CPU (session merging, adapters, urllib3 pools), a new connection, and a
watchdog thread: requests' timeout bounds one socket operation, not a call, so a device trickling one
byte a second needed a timer to shut its socket. Here the cap is enforced where the bytes are read:
before every ``recv`` the socket timeout is shrunk to what is left of the call's budget (connect, TLS
handshake, send and the whole reply included), so no call can outlive it and no thread is needed. That
also makes keep-alive safe: the connection is reused for the next question, and the cap still holds.
Every blocking call gives up the probe slot of :data:`camscan.probe.gate.GATE` while it waits.

What it does not do, on purpose: follow redirects, read proxies or netrc from the environment, resolve
names (addresses only, from the caller's scope), decompress, or verify certificates (camscan reads
device certificates, it does not trust them; see :func:`camscan.probe.tls.permissive_context`).

Parsing of the status line and headers is the standard library's (:class:`http.client.HTTPResponse`:
at most 100 headers of at most 64 KiB each, chunked and length-delimited bodies); bodies are read in
pieces up to the caller's cap. Failures are :class:`HttpFailure` with a ``kind`` and a reason in words.

:func:`digest_authorization` computes an RFC 7616 HTTP Digest answer (MD5, SHA-256, their ``-sess``
variants, ``qop=auth``) for the ONVIF probe's Digest fallback.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import select
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from camscan.probe.gate import GATE

READ_CHUNK = 16384
MAX_REQUEST_HEADER = 4096  # bytes of one header value we send (a Digest answer is a few hundred)
# Bytes of a reply's status line and headers. http.client alone allows 100 header lines of 64 KiB each (6.4 MB);
# a device's head is a few hundred bytes, a chatty web server's a few KB.
MAX_HEAD = 64 << 10


class HttpFailure(Exception):
    """A request that produced no usable answer. ``kind`` is one of: ``deadline`` (the scan's deadline),
    ``wall`` (the call's wall-clock cap), ``connect_timeout``, ``timeout`` (one read or write waited the
    per-operation timeout), ``refused``, ``reset``, ``closed`` (closed without a reply), ``tls``,
    ``protocol`` (not HTTP), ``other``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.partial: Response | None = None  # status and headers when the body is what failed


class Headers(Mapping[str, str]):
    """Response headers in their original case and order; lookups ignore case and give the first value."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self.items_raw: tuple[tuple[str, str], ...] = tuple(items)
        first: dict[str, str] = {}
        for k, v in self.items_raw:
            first.setdefault(k.lower(), v)
        self._first = first

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.items_raw if k.lower() == low]


@dataclass(frozen=True)
class Response:
    """One answer. ``truncated``: the body was longer than the cap and only the cap was read."""

    status: int
    headers: Headers
    body: bytes
    truncated: bool = False


class _Budget:
    """The time left for one call: the earlier of its wall-clock cap and the scan's deadline."""

    def __init__(self, wall: float, deadline: float | None, op_timeout: float) -> None:
        now = time.monotonic()
        self.end = now + max(0.0, wall)
        self.kind = "wall"
        if deadline is not None and deadline < self.end:
            self.end, self.kind = deadline, "deadline"
        self.op_timeout = op_timeout
        self.spent = False  # the budget (not the per-operation timeout) ended a wait

    def timeout(self) -> float:
        """The socket timeout for the next operation; raises TimeoutError once the budget is spent."""
        left = self.end - time.monotonic()
        if left <= 0:
            self.spent = True
            raise TimeoutError("call budget spent")
        if left < self.op_timeout:
            self.spent = True  # if this wait times out, the budget ended it
            return left
        self.spent = False
        return self.op_timeout


class _Reader(io.RawIOBase):
    """The socket as a raw stream whose every read waits at most what the call's budget has left."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.budget: _Budget | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def, override]
        if self.budget is not None:
            self.sock.settimeout(self.budget.timeout())
        with GATE.waiting():
            return self.sock.recv_into(buf)

    def close(self) -> None:  # the connection owns the socket: a response finishing must not close it
        super().close()


class _SockView:
    """What :class:`http.client.HTTPResponse` needs of a socket: a buffered reader over :class:`_Reader`."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return _HeadCapped(_Unclosing(self._reader), READ_CHUNK)


class _HeadCapped(io.BufferedReader):
    """The reply stream, whose lines count against :data:`MAX_HEAD` until the head has been read (http.client
    reads the status line and headers with ``readline``)."""

    head_left: int | None = MAX_HEAD

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        line = super().readline(-1 if size is None else size)
        if self.head_left is not None:
            self.head_left -= len(line)
            if self.head_left < 0:
                raise HttpFailure("protocol", f"reply head larger than {MAX_HEAD // 1024} KiB (refused)")
        return line


class _Unclosing(io.RawIOBase):
    """Delegates reads; closing it leaves the shared reader (and the socket) open for the next answer."""

    def __init__(self, inner: _Reader) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def, override]
        return self._inner.readinto(buf)


class Connection:
    """HTTP/1.1 to one ``ip:port`` (``tls`` for HTTPS), reused across requests while the device allows it.

    ``timeout`` bounds each connect, send and read; ``wall`` caps each request as a whole (connect to last
    body byte); ``deadline`` (``time.monotonic()``) is the scan's: no request starts or runs past it. Not
    thread-safe: one probe, one thread, one connection.
    """

    def __init__(self, ip: str, port: int, *, tls: bool = False, timeout: float = 3.0, wall: float | None = None,
                 deadline: float | None = None, context: ssl.SSLContext | None = None,
                 user_agent: str = "camscan") -> None:
        self.ip = ip
        self.port = port
        self.tls = tls
        self.timeout = timeout
        self.wall = wall if wall is not None else 2 * timeout
        self.deadline = deadline
        self.context = context
        self.user_agent = user_agent
        self._sock: socket.socket | None = None
        self._reader: _Reader | None = None
        self.requests = 0  # sent on the current connection
        self.connections = 0  # opened so far

    @property
    def authority(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return host if self.port == default else f"{host}:{self.port}"

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._reader = None
        self.requests = 0

    def request(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None,
                max_bytes: int = 1 << 20, resend: bool = True) -> Response:
        """Send one request and read its answer (body capped at ``max_bytes``: longer bodies come back
        ``truncated`` and the connection is closed). Raises :class:`HttpFailure`.

        A kept-alive connection the device closed before answering is normal HTTP/1.1, and the request is sent
        again once on a new connection, unless ``resend`` is false: a request carrying credentials must not be,
        since the device may have read it and counted a failed login before it hung up."""
        if not path.startswith("/") or any(c in path for c in "\r\n\x00 ") or any(c in method for c in "\r\n\x00 "):
            raise ValueError(f"bad request line: {method!r} {path!r}")
        budget = _Budget(self.wall, self.deadline, self.timeout)
        if budget.kind == "deadline" and budget.end <= time.monotonic():
            raise HttpFailure("deadline", "scan deadline reached before the request")
        data = self._encode(method, path, body, headers or {})
        max_bytes = max(0, max_bytes)
        if self._sock is not None and _readable(self._sock):
            # Before being asked, the device closed or reset the connection, or sent bytes past its last answer
            # (the next answer would be read from them): either way not a connection to ask on.
            self.close()
        reused = self._sock is not None
        try:
            return self._exchange(method, data, budget, max_bytes)
        except _Stale:
            # A kept-alive connection the device had already closed: the usual race of HTTP/1.1, and our
            # requests are reads, so asking again once on a new connection is safe (when ``resend``).
            self.close()
            if not reused or not resend:
                raise HttpFailure("closed", "the device closed the connection without a reply") from None
            try:
                return self._exchange(method, data, budget, max_bytes)
            except _Stale:
                self.close()
                raise HttpFailure("closed", "the device closed the connection without a reply") from None

    # ------------------------------------------------------------------------------------------ internals
    def _encode(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.authority}", f"User-Agent: {self.user_agent}",
                 "Accept-Encoding: identity"]
        for name, value in headers.items():
            value = str(value)
            if (any(c in name for c in "\r\n\x00: ") or any(c in value for c in "\r\n\x00")
                    or len(value) > MAX_REQUEST_HEADER):
                raise ValueError(f"bad request header {name!r}")
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _exchange(self, method: str, data: bytes, budget: _Budget, max_bytes: int) -> Response:
        if self._sock is None:
            self._connect(budget)
        sock, reader = self._sock, self._reader
        assert sock is not None and reader is not None
        fresh = self.requests == 0
        self.requests += 1
        try:
            sock.settimeout(budget.timeout())
            with GATE.waiting():
                sock.sendall(data)
            reader.budget = budget
            resp = http.client.HTTPResponse(_SockView(reader), method=method)  # type: ignore[arg-type]
            resp.begin()
            if isinstance(resp.fp, _HeadCapped):
                resp.fp.head_left = None  # the head is read: the body has its own cap
            _check_length(resp)
        except http.client.RemoteDisconnected:
            self.close()
            if fresh:
                raise HttpFailure("closed", "the device closed the connection without a reply") from None
            raise _Stale() from None
        except (ConnectionResetError, BrokenPipeError):
            self.close()
            if not fresh:
                raise _Stale() from None
            raise HttpFailure("reset", "connection reset by the device") from None
        except BaseException as exc:
            self.close()
            raise _failure(exc, budget) from None
        headers = Headers((str(k)[:128], str(v)) for k, v in resp.getheaders()[:200])
        chunks: list[bytes] = []
        size = 0
        truncated = False
        try:
            while True:
                chunk = resp.read(min(READ_CHUNK, max_bytes + 1 - size)) if size <= max_bytes else b""
                if not chunk:
                    break
                size += len(chunk)
                chunks.append(chunk)
                if size > max_bytes:
                    truncated = True
                    break
        except BaseException as exc:
            self.close()
            failure = _failure(exc, budget)
            failure.partial = Response(resp.status, headers, b"".join(chunks), truncated=True)
            raise failure from None
        if not truncated and resp.length:
            # The connection closed before Content-Length bytes came: http.client returns the short body as
            # if it were whole (its read(amt) does not raise IncompleteRead), so say it here.
            self.close()
            failure = HttpFailure("closed", "the device closed the connection in the middle of the reply")
            failure.partial = Response(resp.status, headers, b"".join(chunks), truncated=True)
            raise failure
        body = b"".join(chunks)
        if truncated:
            body = body[:max_bytes]
        if truncated or resp.will_close or not resp.isclosed():
            self.close()
        return Response(resp.status, headers, body, truncated)

    def _connect(self, budget: _Budget) -> None:
        try:
            timeout = budget.timeout()
            with GATE.waiting():
                sock = socket.create_connection((self.ip, self.port), timeout=timeout)
        except BaseException as exc:
            if isinstance(exc, (TimeoutError, socket.timeout)) and not budget.spent:
                raise HttpFailure("connect_timeout", "connect timed out") from None
            raise _failure(exc, budget) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests, sent whole
            if self.tls:
                sock = self._handshake(sock, budget)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._reader = _Reader(sock)
        self.requests = 0
        self.connections += 1

    def _handshake(self, raw: socket.socket, budget: _Budget) -> socket.socket:
        """TLS over ``raw`` with every wait inside the budget (a device dribbling its handshake cannot hold
        the call: the handshake runs non-blocking and each wait is bounded by what is left)."""
        from camscan.probe.tls import permissive_context

        ctx = self.context or permissive_context()
        try:
            tls = ctx.wrap_socket(raw, server_hostname=None, do_handshake_on_connect=False)
        except (ssl.SSLError, OSError) as exc:
            raise HttpFailure("tls", f"TLS handshake failed: {exc}") from None
        try:
            tls.setblocking(False)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    write = False
                except ssl.SSLWantWriteError:
                    write = True
                except (ssl.SSLError, OSError) as exc:
                    raise HttpFailure("tls", "TLS handshake failed") from exc
                try:
                    left = budget.timeout()
                except TimeoutError:
                    raise HttpFailure(budget.kind, _slow(budget.kind)) from None
                with GATE.waiting():
                    ready = _wait(tls, write, left)
                if not ready:
                    if budget.spent:
                        raise HttpFailure(budget.kind, _slow(budget.kind))
                    raise HttpFailure("timeout", "TLS handshake timed out")
        except BaseException:
            # wrap_socket detached ``raw``: closing it (as the caller does) no longer closes the descriptor,
            # and the failure's traceback would hold this socket open for as long as the failure is kept.
            tls.close()
            raise
        return tls


def _wait(sock: socket.socket, write: bool, timeout: float) -> bool:
    """Whether ``sock`` is ready to read (or write) within ``timeout`` seconds. poll() where there is one:
    select() refuses descriptors above FD_SETSIZE (1024), and a scan holds many sockets at once."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000))
    ready = select.select([sock] if not write else [], [sock] if write else [], [], max(0.0, timeout))
    return any(ready)


def _readable(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection has anything to say (bytes, a close, a reset, an error)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        return _wait(sock, False, 0.0)
    except (OSError, ValueError):
        return True


def _check_length(resp: http.client.HTTPResponse) -> None:
    """Refuse a reply whose length is ambiguous: several Content-Length values that differ (RFC 9112 section
    6.3: an unrecoverable framing error; two readers of the stream could disagree on where the reply ends)."""
    values = resp.msg.get_all("Content-Length") or []
    lengths = {v.strip() for value in values for v in str(value).split(",")}
    if len(lengths) > 1:
        raise HttpFailure("protocol", "conflicting Content-Length headers (refused)")


class _Stale(Exception):
    """A reused connection was closed by the device before any byte of the answer."""


def _slow(kind: str) -> str:
    return ("scan deadline reached while waiting for the reply" if kind == "deadline"
            else "no complete answer within the wall-clock cap")


def _failure(exc: BaseException, budget: _Budget) -> HttpFailure:
    """What went wrong, as an HttpFailure (re-raises what is not the device's doing)."""
    if isinstance(exc, HttpFailure):
        return exc
    if isinstance(exc, (TimeoutError, socket.timeout)):
        if budget.spent:
            return HttpFailure(budget.kind, _slow(budget.kind))
        return HttpFailure("timeout", "read timed out")
    if isinstance(exc, ConnectionRefusedError):
        return HttpFailure("refused", "connection refused")
    if isinstance(exc, http.client.RemoteDisconnected):
        return HttpFailure("closed", "the device closed the connection without a reply")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return HttpFailure("reset", "connection reset by the device")
    if isinstance(exc, ssl.SSLError):
        return HttpFailure("tls", "TLS failed")
    if isinstance(exc, http.client.IncompleteRead):
        return HttpFailure("closed", "the device closed the connection in the middle of the reply")
    if isinstance(exc, (http.client.HTTPException, ValueError, UnicodeError)):
        return HttpFailure("protocol", f"not a valid HTTP reply ({type(exc).__name__})")
    if isinstance(exc, OSError):
        return HttpFailure("other", f"connection failed: {exc.strerror or exc}")
    if isinstance(exc, Exception):
        return HttpFailure("other", f"{type(exc).__name__}: {exc}"[:160])
    raise exc  # KeyboardInterrupt, SystemExit: not ours to turn into a skip


# ----------------------------------------------------------------------------------------- HTTP Digest
_DIGEST_HASHES = {"md5": hashlib.md5, "sha-256": hashlib.sha256}


def digest_authorization(challenge: Mapping[str, str], method: str, uri: str, username: str, password: str,
                         nc: int = 1, cnonce: str | None = None) -> str | None:
    """The ``Authorization`` value answering a Digest challenge (params with lower-case names, as
    :func:`camscan.probe.http.parse_challenges` gives them), per RFC 7616 section 3.4; None when the
    challenge asks for something this client does not do (an unknown algorithm, ``auth-int`` only)."""
    algorithm = challenge.get("algorithm", "MD5").strip()
    base = algorithm.lower().removesuffix("-sess")
    factory = _DIGEST_HASHES.get(base)
    if factory is None:
        return None
    realm = challenge.get("realm", "")
    nonce = challenge.get("nonce", "")
    if not nonce:
        return None
    if any(c in v for v in challenge.values() for c in "\r\n\x00"):
        return None  # a device's challenge never reaches our request's header block with line breaks in it
    qops = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        return None

    def h(text: str) -> str:
        return factory(text.encode("utf-8")).hexdigest()

    cnonce = cnonce or os.urandom(8).hex()
    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.lower().endswith("-sess"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    ncv = f"{nc:08x}"
    if qops:
        response = h(f"{ha1}:{nonce}:{ncv}:{cnonce}:auth:{ha2}")
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
    parts = [f'username="{_quote(username)}"', f'realm="{_quote(realm)}"', f'nonce="{_quote(nonce)}"',
             f'uri="{_quote(uri)}"', f"algorithm={algorithm}", f'response="{response}"']
    if "opaque" in challenge:
        parts.append(f'opaque="{_quote(challenge["opaque"])}"')
    if qops:
        parts += ["qop=auth", f"nc={ncv}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(parts)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
