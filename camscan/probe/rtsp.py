"""RTSP (RFC 2326) OPTIONS and an unauthenticated DESCRIBE: the streaming server's name and auth realm.

Camera RTSP servers name themselves (``Server: Dahua Rtsp Server``) or give their family away in the
Digest realm a DESCRIBE without credentials is refused with (``realm="Hikvision"``, ``Login to <id>``).
The probe sends OPTIONS, then DESCRIBE of the root URL, both without credentials, on one connection, and
never SETUP or PLAY: no stream is ever started.

Codec: :func:`parse_rtsp_response` (pure, never raises). Source: :class:`RtspProbe` (one
:meth:`camscan.transport.Transport.connect` stream, one wall-clock cap for both exchanges, bounded reply size).

Evidence (exact names): ``("rtsp", "status", code)`` of OPTIONS, ``("rtsp", "describe_status", code)``,
``("rtsp", "server", value)``, ``("rtsp", "public", value)``, ``("rtsp.realm", <scheme lower-case>, realm)``,
``("rtsp", "sdp_session", s= line)`` when a DESCRIBE is answered without authentication.
"""

from __future__ import annotations

from dataclasses import dataclass

from camscan.codec.auth import parse_challenges
from camscan.codec.text import strip_controls
from camscan.models import Evidence, Skip
from camscan.transport import DIRECT, Budget, Stream, Transport, TransportError

RTSP_PORT = 554
MAX_HEAD = 16 << 10  # status line + headers of one reply
MAX_BODY = 16 << 10  # an SDP is a few hundred bytes
MAX_HEADERS = 100
USER_AGENT = "camscan"


@dataclass(frozen=True)
class RtspResponse:
    """One RTSP reply: status code and reason, headers in order (original case), body if any."""

    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]


def parse_rtsp_response(data: bytes) -> RtspResponse | str:
    """Parse a reply (head and whatever body follows it) or say why it is not one. Never raises.

    Lines may end in CRLF or bare LF (some servers); header values are stripped; continuation lines are
    folded (RFC 2326 section 4 uses RFC 822 header syntax)."""
    if len(data) > MAX_HEAD + MAX_BODY:
        return f"reply of {len(data)} bytes exceeds the limit"
    end = _head_end(data)
    if end is None:
        return "incomplete reply (no blank line after the headers)"
    head, rest = data[:end[0]], data[end[1]:]
    if len(head) > MAX_HEAD:
        return "reply headers too large"
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    status_line = lines[0].strip()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].upper().startswith("RTSP/"):
        return f"not an RTSP reply: {strip_controls(status_line, 60)!r}"
    # isascii: latin-1 decoding turns bytes B2/B3/B9 into superscript digits, which isdigit() accepts and
    # int() refuses
    if not (parts[1].isascii() and parts[1].isdigit() and len(parts[1]) == 3):
        return f"bad status code {strip_controls(parts[1], 20)!r}"
    headers: list[list[str]] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[0] in " \t" and headers:  # folded continuation
            headers[-1][1] += " " + line.strip()
            continue
        if ":" not in line:
            continue  # a broken line: skip it, keep the rest
        name, value = line.split(":", 1)
        headers.append([name.strip(), value.strip()])
        if len(headers) > MAX_HEADERS:
            return "too many headers"
    return RtspResponse(version=strip_controls(parts[0], 16), status=int(parts[1]),
                        reason=strip_controls(parts[2] if len(parts) > 2 else "", 80),
                        headers=tuple((strip_controls(k, 64), v) for k, v in headers), body=rest[:MAX_BODY])


def _head_end(data: bytes) -> tuple[int, int] | None:
    """(end of head, start of body) at the first blank line (CRLFCRLF or LFLF)."""
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return None
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 4
    return lf, lf + 2


def content_length(resp: RtspResponse) -> int:
    values = resp.header("content-length")
    if values and values[0].strip().isascii() and values[0].strip().isdigit():
        return min(int(values[0].strip()), MAX_BODY)
    return 0


def rtsp_evidence(options: RtspResponse | None, describe: RtspResponse | None) -> list[Evidence]:
    """Evidence from the OPTIONS and DESCRIBE replies (either may be missing)."""
    ev: list[Evidence] = []
    if options is not None:
        ev.append(Evidence("rtsp", "status", str(options.status)))
    if describe is not None:
        ev.append(Evidence("rtsp", "describe_status", str(describe.status)))
    for resp in (options, describe):
        if resp is None:
            continue
        for v in resp.header("server"):
            ev.append(Evidence("rtsp", "server", strip_controls(v)))
        for v in resp.header("public"):
            ev.append(Evidence("rtsp", "public", strip_controls(v, 512)))
        for v in resp.header("www-authenticate"):
            for scheme, params in parse_challenges(v):
                realm = strip_controls(params.get("realm", ""))
                if realm:
                    ev.append(Evidence("rtsp.realm", scheme, realm))
    if describe is not None and describe.status == 200 and describe.body:
        for line in describe.body.decode("utf-8", errors="replace").splitlines()[:64]:
            if line.startswith("s="):
                ev.append(Evidence("rtsp", "sdp_session", strip_controls(line[2:])))
                break
    return list(dict.fromkeys(ev))


class RtspProbe:
    """OPTIONS then DESCRIBE on one RTSP port, without credentials (see the module docstring)."""

    def __init__(self, timeout: float, wall: float | None = None, transport: Transport = DIRECT,
                 deadline: float | None = None) -> None:
        self.timeout = timeout
        self.wall = wall if wall is not None else 2 * timeout
        self.transport = transport
        self.deadline = deadline  # the scan's (time.monotonic()): no exchange runs past it

    def probe(self, ip: str, port: int = RTSP_PORT) -> tuple[list[Evidence], list[Skip]]:
        """(evidence, skips) for ``ip:port``; every failure is a Skip with stage ``rtsp``."""
        budget = Budget(self.wall, self.deadline, self.timeout)  # both exchanges share one wall clock
        url = f"rtsp://{ip}:{port}/"
        try:
            stream = self.transport.connect(ip, port, budget)
        except TransportError as exc:
            return [], [Skip(ip, "rtsp", f"connect to port {port} failed: {exc.reason}")]
        stream.budget = budget
        options = describe = None
        skips: list[Skip] = []
        try:
            options = self._exchange(stream, _request("OPTIONS", url, 1))
            if isinstance(options, str):
                return [], [Skip(ip, "rtsp", f"OPTIONS on port {port}: {options}")]
            if not _closes(options):
                # DESCRIBE without credentials: a 401 carries the realm; never SETUP/PLAY.
                got = self._exchange(stream, _request("DESCRIBE", url, 2, "Accept: application/sdp\r\n"))
                if isinstance(got, str):
                    skips.append(Skip(ip, "rtsp", f"DESCRIBE on port {port}: {got}"))
                else:
                    describe = got
        finally:
            stream.close()
        return rtsp_evidence(options, describe), skips

    @staticmethod
    def _exchange(stream: Stream, request: bytes) -> RtspResponse | str:
        try:
            stream.send_all(request)
        except TimeoutError:
            return "timed out sending the request"
        except OSError as exc:
            return f"send failed: {exc.strerror or exc}"
        buf = b""
        while True:
            end = _head_end(buf)
            if end is not None:
                parsed = parse_rtsp_response(buf)
                if isinstance(parsed, str):
                    return parsed
                if len(parsed.body) >= content_length(parsed):
                    return parsed
            if len(buf) > MAX_HEAD + MAX_BODY:
                return "reply too large"
            try:
                chunk = stream.recv(4096)
            except TimeoutError:
                return "timed out waiting for the reply"
            except ConnectionResetError:
                return "connection reset"
            except OSError as exc:
                return f"receive failed: {exc.strerror or exc}"
            if not chunk:
                if end is not None:
                    return parse_rtsp_response(buf)  # closed after a short body: take what came
                return "connection closed before a complete reply"
            buf += chunk


def _request(method: str, url: str, cseq: int, extra: str = "") -> bytes:
    return (f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: {USER_AGENT}\r\n{extra}\r\n").encode()


def _closes(resp: RtspResponse) -> bool:
    return any(v.strip().lower() == "close" for v in resp.header("connection"))
