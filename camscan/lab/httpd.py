"""A small HTTP/1.1 server for one fake device: ONVIF service paths, profile paths, connection faults.

One :class:`HttpService` per device; its ``handle`` coroutine is the asyncio stream callback. Every
read has a deadline and every body a size cap, so a misbehaving client can only cost its own
connection. Faults (``fault`` in the profile) and ``latency_ms`` are applied here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

from camscan.lab.device import Device
from camscan.lab.onvif_service import (
    SERVICES,
    AuthResult,
    HttpRequest,
    HttpResponse,
    check_http_digest,
    handle_soap,
    www_authenticate,
)

MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 64
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT_S = 10.0  # idle time allowed between requests on a keep-alive connection
HANG_MAX_S = 600.0  # a "hang" device holds a connection at most this long
TRICKLE_INTERVAL_S = 1.0
HUGE_BODY_BYTES = 20 * 1024 * 1024

REASONS = {
    200: "OK",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}

LogFn = Callable[..., None]
log = logging.getLogger(__name__)


class BadRequest(Exception):
    """The client sent something that is not HTTP/1.x within our limits."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def read_request(reader: asyncio.StreamReader, peer: str, timeout: float) -> HttpRequest | None:
    """Read one request; None on a clean EOF before any byte. Raises BadRequest or TimeoutError."""
    try:
        # asyncio.timeout, not wait_for: wait_for wraps the read in a task of its own, a measurable share of the
        # device server's time when one process answers a whole site.
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequest(400, "truncated request head") from None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "request head too large") from None
    if len(head) > MAX_HEADER_BYTES:
        raise BadRequest(431, "request head too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "bad request line")
    method, target, version = parts
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest(431, "too many headers")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "bad header line")
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        # Real cameras often refuse chunked uploads; we do too rather than implement it.
        raise BadRequest(400, "chunked request bodies are not supported")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if length < 0:
        raise BadRequest(400, "bad Content-Length")
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, f"body of {length} bytes exceeds the cap")
    body = b""
    if length:
        async with asyncio.timeout(timeout):
            body = await reader.readexactly(length)
    return HttpRequest(method=method, target=target, version=version, headers=headers, body=body, peer=peer)


def _case(name: str, style: str) -> str:
    if style == "upper":
        return name.upper()
    if style == "lower":
        return name.lower()
    return name


def _entity_bomb() -> bytes:
    """Billion-laughs reply: a parser that expands entities would need gigabytes."""
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [\n'
        + "\n".join(ents)
        + '\n]>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><SOAP-ENV:Body>'
        "<tds:GetDeviceInformationResponse><tds:Manufacturer>&lol9;</tds:Manufacturer>"
        "<tds:Model>&lol9;</tds:Model><tds:FirmwareVersion/><tds:SerialNumber/><tds:HardwareId/>"
        "</tds:GetDeviceInformationResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>\n"
    ).encode()


def _xxe(url: str) -> bytes:
    """A reply whose DTD declares an external entity (XXE): a parser that resolves it fetches ``url``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY xxe SYSTEM "{url}">]>\n'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><SOAP-ENV:Body>'
        "<tds:GetDeviceInformationResponse><tds:Manufacturer>&xxe;</tds:Manufacturer>"
        "<tds:Model>&xxe;</tds:Model><tds:FirmwareVersion/><tds:SerialNumber/><tds:HardwareId/>"
        "</tds:GetDeviceInformationResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>\n"
    ).encode()


def _carries_credentials(req: HttpRequest) -> str | None:
    """The username of credentials a request carries in any form (HTTP Authorization of any scheme, a
    WS-Security UsernameToken in the body), '' when unnamed; None when it carries none."""
    auth = req.headers.get("authorization")
    if auth is not None:
        m = re.search(r'username="([^"]*)"', auth)
        return m.group(1) if m else ""
    if b"UsernameToken" in req.body:
        m = re.search(rb"<(?:\w+:)?Username>([^<]*)<", req.body)
        return m.group(1).decode("utf-8", "replace") if m else ""
    return None


def _huge_stream() -> tuple[Callable[[], AsyncIterator[bytes]], int]:
    """A 20 MB SOAP reply: a valid envelope whose Manufacturer is megabytes of text."""
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope '
        b'xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><SOAP-ENV:Body>'
        b"<tds:GetDeviceInformationResponse><tds:Manufacturer>"
    )
    tail = (
        b"</tds:Manufacturer><tds:Model/><tds:FirmwareVersion/><tds:SerialNumber/><tds:HardwareId/>"
        b"</tds:GetDeviceInformationResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>\n"
    )
    fill = HUGE_BODY_BYTES - len(head) - len(tail)
    chunk = b"A" * 65536

    async def gen() -> AsyncIterator[bytes]:
        yield head
        left = fill
        while left > 0:
            piece = chunk[: min(left, len(chunk))]
            left -= len(piece)
            yield piece
        yield tail

    return gen, HUGE_BODY_BYTES


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close so that the peer sees a TCP RST rather than a FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class HttpService:
    """The HTTP side of one device (ONVIF service paths + profile paths)."""

    def __init__(self, dev: Device, log: LogFn) -> None:
        self.dev = dev
        self.log = log
        self.onvif_paths = {
            dev.fill(path) for name, (_, path, _) in SERVICES.items() if name in dev["services"]
        }
        self.onvif_paths.add(dev.fill(dev["onvif_path"]))

    # --- routing ------------------------------------------------------------------------------

    def route(self, req: HttpRequest, local_port: int) -> tuple[HttpResponse, dict[str, Any]]:
        """Build the response for one request and the fields for the request log."""
        dev = self.dev
        fields: dict[str, Any] = {"path": req.target, "method": req.method}
        if dev["onvif"] and local_port == dev.port and req.path in self.onvif_paths:
            outcome = handle_soap(dev, req)
            fields.update(_auth_fields(outcome.auth))
            fields["op"] = outcome.op
            resp = outcome.response
            server = dev["onvif_server"] or dev["http"]["server"]
            if server and server != "none":
                resp.headers.insert(0, ("Server", server))
            self._apply_body_fault(resp)
            return resp, fields
        if local_port != dev.http_port:
            # The ONVIF port of a device with a separate web port serves nothing else (XM 8899).
            return HttpResponse(404, headers=[]), fields
        return self._static(req, fields), fields

    def _static(self, req: HttpRequest, fields: dict[str, Any]) -> HttpResponse:
        http = self.dev["http"]
        spec = http["paths"].get(req.target) or http["paths"].get(req.path)
        server = [("Server", http["server"])] if http["server"] else []
        if spec is None:
            body = self.dev.fill(http["not_found_body"]).encode()
            return HttpResponse(404, body, "text/html" if body else None, headers=server)
        if spec.get("auth") == "digest":
            auth = check_http_digest(self.dev, req)
            fields.update(_auth_fields(auth))
            if not auth.ok:
                body = self.dev.fill(http["unauthorized_body"]).encode()
                return HttpResponse(
                    401,
                    body,
                    http["unauthorized_content_type"] if body else None,
                    headers=[*server, ("WWW-Authenticate", www_authenticate(self.dev))],
                )
        headers = [*server, *((k, self.dev.fill(str(v))) for k, v in spec.get("headers", {}).items())]
        body = self.dev.fill(spec.get("body", "")).encode()
        return HttpResponse(int(spec.get("status", 200)), body, spec.get("content_type"), headers=headers)

    def _apply_body_fault(self, resp: HttpResponse) -> None:
        fault = self.dev["fault"]
        if fault == "malformed_xml" and resp.body:
            # Cut the document mid-element: what a crashed or size-limited gSOAP writer leaves behind.
            cut = max(1, int(len(resp.body) * 0.6))
            resp.body = resp.body[:cut] + b"<tt:Broken attr=</"
        elif fault == "entity_bomb":
            resp.status = 200
            resp.body = _entity_bomb()
        elif fault == "xxe":
            resp.status = 200
            resp.body = _xxe(self.dev.fill(self.dev["fault_url"]))
        elif fault == "redirect":
            resp.status = 307
            resp.body = b""
            resp.content_type = None
            resp.headers = [("Location", self.dev.fill(self.dev["fault_url"]))]
        elif fault == "huge":
            resp.status = 200
            resp.stream, resp.stream_length = _huge_stream()
            resp.body = b""

    # --- framing ------------------------------------------------------------------------------

    def _head(self, resp: HttpResponse, length: int, close: bool) -> bytes:
        http = self.dev["http"]
        hc = http["header_case"]
        lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}"]
        names = {k.lower() for k, _ in resp.headers}
        for name, value in resp.headers:
            lines.append(f"{_case(name, hc)}: {value}")
        for name, value in http["headers"].items():
            if name.lower() not in names:
                lines.append(f"{name}: {self.dev.fill(str(value))}")  # extra headers keep their own case
        if resp.content_type:
            lines.append(f"{_case('Content-Type', hc)}: {resp.content_type}")
        lines.append(f"{_case('Content-Length', hc)}: {length}")
        lines.append(f"{_case('Connection', hc)}: {'close' if close else 'keep-alive'}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(
        self, writer: asyncio.StreamWriter, resp: HttpResponse, close: bool, head_only: bool
    ) -> None:
        length = resp.stream_length if resp.stream else len(resp.body)
        data = self._head(resp, length, close)
        if self.dev["fault"] == "trickle":
            payload = data + (b"" if head_only else resp.body)
            for i in range(len(payload)):
                writer.write(payload[i : i + 1])
                await writer.drain()
                await asyncio.sleep(TRICKLE_INTERVAL_S)
            return
        if resp.stream and not head_only:
            writer.write(data)
            async for piece in resp.stream():
                writer.write(piece)
                await writer.drain()
        else:
            # Head and body in one write: one send(2) and, with TCP_NODELAY, one segment instead of two. A send
            # on a veth runs the kernel's whole path to the client (softirq included) on the server's one thread.
            writer.write(data if head_only or not resp.body else data + resp.body)
        await writer.drain()

    # --- connection ---------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one TCP connection until close, error or timeout; never raises."""
        dev = self.dev
        peername = writer.get_extra_info("peername") or ("?", 0)
        sockname = writer.get_extra_info("sockname") or ("?", 0)
        peer_ip = str(peername[0]).removeprefix("::ffff:")
        peer = f"{peer_ip}:{peername[1]}"
        local_port = int(sockname[1])
        try:
            if dev["fault"] == "reset":
                self.log(proto="tcp", src=peer, op="reset", port=local_port)
                _abort_with_rst(writer)
                return
            while True:
                try:
                    req = await read_request(reader, peer, READ_TIMEOUT_S)
                except BadRequest as exc:
                    self.log(proto="http", src=peer, op="bad-request", error=str(exc), port=local_port)
                    body = str(exc).encode()
                    await self._send(writer, HttpResponse(exc.status, body, "text/plain"), True, False)
                    return
                if req is None:
                    return
                if dev["fault"] == "hang":
                    user = _carries_credentials(req)
                    self.log(
                        proto="http", src=peer, path=req.target, method=req.method, op="hang", port=local_port,
                        credentialed=user is not None, username=user or "", auth_ok=None,
                    )
                    # Hold the connection open without answering until the client gives up;
                    # whatever it sends meanwhile is read and dropped, never buffered.
                    await asyncio.wait_for(_drain_until_eof(reader), HANG_MAX_S)
                    return
                resp, fields = self.route(req, local_port)
                if not fields.get("credentialed"):
                    # Credentials sent where no check asked for them (a static path, a trap): still logged.
                    user = _carries_credentials(req)
                    if user is not None:
                        fields.update(credentialed=True, username=user, auth_ok=False,
                                      auth_reason="credentials sent to a path that asks for none")
                fields.setdefault("credentialed", False)
                fields.setdefault("username", "")
                fields.setdefault("auth_ok", None)
                if dev["tls"]:
                    fields["tls"] = True
                self.log(proto="http", src=peer, status=resp.status, port=local_port, **fields)
                if dev.latency_s:
                    await asyncio.sleep(dev.latency_s)
                conn = req.headers.get("connection", "").lower()
                close = (
                    resp.close
                    or dev["http"]["connection"] == "close"
                    or conn == "close"
                    or (req.version == "HTTP/1.0" and conn != "keep-alive")
                    or resp.stream is not None
                )
                await self._send(writer, resp, close, req.method == "HEAD")
                if close:
                    return
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError):
            return  # the client went away or stalled: that is its business, not the device's
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - last-resort guard: one client must not kill the device
            log.error("device %s: HTTP handler error: %r", dev.name, exc)
        finally:
            if not writer.is_closing():
                writer.close()


async def _drain_until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


def _auth_fields(auth: AuthResult) -> dict[str, Any]:
    return {
        "credentialed": auth.credentialed,
        "username": auth.username,
        "auth_ok": auth.ok if auth.credentialed else None,
        **({"auth_reason": auth.reason} if auth.reason else {}),
        **({"auth_scheme": auth.scheme} if auth.credentialed and auth.scheme else {}),
        **({"password_type": auth.password_type} if auth.password_type else {}),
    }
