"""A small HTTP/1.1 client for talking to devices: one keep-alive connection to one address, every call capped.

The HTTP and ONVIF probes ask a device a handful of short questions in a row. Through requests each one
cost about 1.5 ms of client CPU (session merging, adapters, urllib3 pools), a new connection, and a
watchdog thread: requests' timeout bounds one socket operation, not a call, so a device trickling one
byte a second needed a timer to shut its socket. Here the cap is enforced where the bytes are read:
before every ``recv`` the socket timeout is shrunk to what is left of the call's budget (connect, TLS
handshake, send and the whole reply included), so no call can outlive it and no thread is needed. That
also makes keep-alive safe: the connection is reused for the next question, and the cap still holds.
Connections come from a :class:`camscan.transport.Transport` (``transport=``; the scan's gives up the
scheduler's CPU slot while a call waits, and records or replays when the scan does).

What it does not do, on purpose: follow redirects, read proxies or netrc from the environment, resolve
names (addresses only, from the caller's scope), decompress, or verify certificates (camscan reads
device certificates, it does not trust them; see :func:`camscan.transport.permissive_context`).

Parsing of the status line and headers is the standard library's (:class:`http.client.HTTPResponse`:
at most 100 headers of at most 64 KiB each, chunked and length-delimited bodies); bodies are read in
pieces up to the caller's cap. Failures are :class:`HttpFailure` with a ``kind`` and a reason in words.
"""

from __future__ import annotations

import http.client
import io
import ssl
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from camscan.transport import DIRECT, Budget, Stream, Transport, TransportError, failure

READ_CHUNK = 16384
MAX_REQUEST_HEADER = 4096  # bytes of one header value we send (a Digest answer is a few hundred)
# Bytes of a reply's status line and headers. http.client alone allows 100 header lines of 64 KiB each (6.4 MB);
# a device's head is a few hundred bytes, a chatty web server's a few KB.
MAX_HEAD = 64 << 10


class HttpFailure(TransportError):
    """A request that produced no usable answer (``kind`` as :class:`camscan.transport.TransportError`;
    ``protocol``: not HTTP)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(kind, reason)
        self.partial: Response | None = None  # status and headers when the body is what failed

    @classmethod
    def of(cls, exc: BaseException, budget: Budget) -> HttpFailure:
        if isinstance(exc, HttpFailure):
            return exc
        got = failure(exc, budget)
        return cls(got.kind, got.reason)


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


class _Reader(io.RawIOBase):
    """The stream as a raw reader whose every read waits at most what the call's budget has left."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def, override]
        return self.stream.recv_into(buf)

    def close(self) -> None:  # the connection owns the stream: a response finishing must not close it
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
    body byte); ``deadline`` (``time.monotonic()``) is the scan's: no request starts or runs past it. The
    connection is opened through ``transport``. Not thread-safe: one probe, one thread, one connection.
    """

    def __init__(self, ip: str, port: int, *, tls: bool = False, timeout: float = 3.0, wall: float | None = None,
                 deadline: float | None = None, context: ssl.SSLContext | None = None,
                 user_agent: str = "camscan", transport: Transport = DIRECT) -> None:
        self.ip = ip
        self.port = port
        self.tls = tls
        self.timeout = timeout
        self.wall = wall if wall is not None else 2 * timeout
        self.deadline = deadline
        self.context = context
        self.user_agent = user_agent
        self.transport = transport
        self._stream: Stream | None = None
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
        if self._stream is not None:
            self._stream.close()
        self._stream = None
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
        budget = Budget(self.wall, self.deadline, self.timeout)
        if budget.kind == "deadline" and budget.over():
            raise HttpFailure("deadline", "scan deadline reached before the request")
        data = self._encode(method, path, body, headers or {})
        max_bytes = max(0, max_bytes)
        if self._stream is not None and self._stream.idle_readable():
            # Before being asked, the device closed or reset the connection, or sent bytes past its last answer
            # (the next answer would be read from them): either way not a connection to ask on.
            self.close()
        reused = self._stream is not None
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

    def _exchange(self, method: str, data: bytes, budget: Budget, max_bytes: int) -> Response:
        if self._stream is None:
            self._connect(budget)
        stream, reader = self._stream, self._reader
        assert stream is not None and reader is not None
        fresh = self.requests == 0
        self.requests += 1
        try:
            stream.budget = budget
            stream.send_all(data)
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
            raise HttpFailure.of(exc, budget) from None
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
            err = HttpFailure.of(exc, budget)
            err.partial = Response(resp.status, headers, b"".join(chunks), truncated=True)
            raise err from None
        if not truncated and resp.length:
            # The connection closed before Content-Length bytes came: http.client returns the short body as
            # if it were whole (its read(amt) does not raise IncompleteRead), so say it here.
            self.close()
            err = HttpFailure("closed", "the device closed the connection in the middle of the reply")
            err.partial = Response(resp.status, headers, b"".join(chunks), truncated=True)
            raise err
        body = b"".join(chunks)
        if truncated:
            body = body[:max_bytes]
        if truncated or resp.will_close or not resp.isclosed():
            self.close()
        return Response(resp.status, headers, body, truncated)

    def _connect(self, budget: Budget) -> None:
        try:
            stream = self.transport.connect(self.ip, self.port, budget, tls=self.tls, context=self.context)
        except TransportError as exc:
            raise HttpFailure(exc.kind, exc.reason) from None
        self._stream = stream
        self._reader = _Reader(stream)
        self.requests = 0
        self.connections += 1


def _check_length(resp: http.client.HTTPResponse) -> None:
    """Refuse a reply whose length is ambiguous: several Content-Length values that differ (RFC 9112 section
    6.3: an unrecoverable framing error; two readers of the stream could disagree on where the reply ends)."""
    values = resp.msg.get_all("Content-Length") or []
    lengths = {v.strip() for value in values for v in str(value).split(",")}
    if len(lengths) > 1:
        raise HttpFailure("protocol", "conflicting Content-Length headers (refused)")


class _Stale(Exception):
    """A reused connection was closed by the device before any byte of the answer."""
