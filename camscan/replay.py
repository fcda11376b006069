"""Recorded device folders: replaying them through the real pipeline, and recording them from a live scan.

A device folder (``fixtures/<device>/``, format in ``fixtures/README.md``) holds the bytes one device sent:
discovery datagrams (``wsd.xml``, ``sadp.xml``, ``dhip.json``/``dhip.bin``), ONVIF replies (``onvif/<Op>.xml``),
web answers (``http/requests.toml`` + raw ``*.http``), RTSP replies (``rtsp.txt`` or ``rtsp/<METHOD>.txt``)
and TLS certificates (``tls/<port>.der``), plus ``device.toml`` (address, MAC, what to expect).

* :func:`replay` runs identification, policy (and the report, from the CLI: ``camscan replay DIR...``) on
  such folders with no network: :class:`RecordedDiscovery` hands the datagrams to the real discovery
  codecs, and :class:`ReplayTransport` answers the real probers' connections from the folder, so every
  parser a scan uses runs on the recorded bytes.
* :class:`RecordingTransport` wraps a live transport (``camscan scan --record DIR``): what devices answered
  is kept and written as one folder per device with :meth:`RecordingTransport.write`. Requests are never
  recorded (they carry the credentials: Authorization headers, WS-Security tokens), and password fields in
  answers are blanked (:func:`scrub`).

From Python::

    from camscan.replay import replay
    result = replay(["fixtures/hikvision-ds-2cd2043g2-i-full"])   # a ScanResult
    result.devices[0].verdict
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from camscan.codec import xmlsafe
from camscan.discover.arp import arp_evidence
from camscan.discover.dhip import DhipProtocol, pack_dhip
from camscan.discover.interface import DiscoverySink, DiscoverySource
from camscan.discover.sadp import SadpProtocol
from camscan.discover.sweep import CAMERA_PORTS, port_evidence
from camscan.discover.wsd import WsdProtocol, device_service_url
from camscan.models import DiscoveryResult, Host, ScanOptions, ScanResult, Skip
from camscan.net import normalise_mac
from camscan.transport import Budget, Stream, Transport, TransportError

MAX_FILE = 4 << 20  # one recorded file: larger is not a device's answer
ONVIF_FAULT = (
    b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Receiver'
    b'</env:Value><env:Subcode><env:Value>ter:ActionNotSupported</env:Value></env:Subcode></env:Code>'
    b'<env:Reason><env:Text xml:lang="en">Optional Action Not Implemented</env:Text></env:Reason></env:Fault>'
    b'</env:Body></env:Envelope>')
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
DATAGRAMS = (("wsd", "wsd.xml"), ("sadp", "sadp.xml"), ("dhip", "dhip.bin"), ("dhip", "dhip.json"))


class FolderError(ValueError):
    """A device folder that cannot be replayed (the message names the file and what is wrong)."""


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE:
        raise FolderError(f"{path}: larger than {MAX_FILE} bytes")
    return path.read_bytes()


# ------------------------------------------------------------------------------------------ the folder
@dataclass
class DeviceFolder:
    """One recorded device, read into memory (the scan that replays it opens no file)."""

    path: Path
    ip: str
    mac: str | None
    spec: dict
    datagrams: list[tuple[str, bytes]] = field(default_factory=list)  # (protocol, datagram as sent)
    onvif: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # operation -> (HTTP status, body)
    http: dict[tuple[int, str], bytes] = field(default_factory=dict)  # (port, path) -> raw response
    https_ports: set[int] = field(default_factory=set)
    rtsp: dict[str, bytes] = field(default_factory=dict)  # method -> raw reply
    certs: dict[int, bytes] = field(default_factory=dict)  # port -> DER certificate
    ports: list[int] = field(default_factory=list)  # ports that accept a connection

    @classmethod
    def load(cls, folder: Path | str) -> DeviceFolder:
        folder = Path(folder)
        spec_file = folder / "device.toml"
        if not folder.exists():
            raise FolderError(f"{folder}: does not exist")
        if not spec_file.is_file():
            raise FolderError(f"{folder}: not a device folder (no device.toml)")
        try:
            spec = tomllib.loads(spec_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise FolderError(f"{spec_file}: {exc}") from None
        dev = spec.get("device", {})
        ip = str(dev.get("ip", "198.51.100.10"))
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise FolderError(f"{spec_file}: [device] ip {ip!r} is not an IPv4 address") from None
        me = cls(folder, ip, normalise_mac(dev.get("mac")), spec)
        for proto, name in DATAGRAMS:
            if (folder / name).is_file():
                data = _read(folder / name)
                me.datagrams.append((proto, pack_dhip(data) if name == "dhip.json" else data))
        if (folder / "onvif").is_dir():
            for f in sorted((folder / "onvif").glob("*.xml")):
                status_file = f.with_suffix(".status")
                status = int(status_file.read_text().strip()) if status_file.is_file() else 200
                me.onvif[f.stem] = (status, _read(f))
        me._load_http(folder / "http")
        if (folder / "rtsp.txt").is_file():
            me.rtsp["OPTIONS"] = _read(folder / "rtsp.txt")
        if (folder / "rtsp").is_dir():
            for f in sorted((folder / "rtsp").glob("*.txt")):
                me.rtsp[f.stem.upper()] = _read(f)
        if (folder / "tls").is_dir():
            for f in sorted((folder / "tls").glob("*.der")):
                if not f.stem.isdigit():
                    raise FolderError(f"{f}: name a certificate after its port (443.der)")
                me.certs[int(f.stem)] = _read(f)
        if (folder / "tls.toml").is_file() and not me.certs:
            raise FolderError(f"{folder / 'tls.toml'}: a certificate summary, not a certificate: convert it with "
                              "fixtures/tools/make_certs.py (writes tls/443.der)")
        # the ports the camera-port check found open (``open_ports``), and every port an answer is recorded for
        me.ports = sorted({int(p) for p in dev.get("open_ports", [])} | set(me._served_ports()))
        return me

    def _load_http(self, folder: Path) -> None:
        if not (folder / "requests.toml").is_file():
            return
        try:
            spec = tomllib.loads((folder / "requests.toml").read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise FolderError(f"{folder / 'requests.toml'}: {exc}") from None
        for entry in spec.get("response", []):
            if not isinstance(entry.get("path"), str) or not isinstance(entry.get("file"), str):
                raise FolderError(f"{folder / 'requests.toml'}: each [[response]] needs path and file")
            scheme = str(entry.get("scheme", "http"))
            port = int(entry.get("port", 443 if scheme == "https" else 80))
            if scheme == "https":
                self.https_ports.add(port)
            self.http[(port, entry["path"])] = _read(folder / entry["file"])

    def _served_ports(self) -> list[int]:
        ports = {p for p, _path in self.http} | set(self.certs)
        if self.rtsp:
            ports.add(554)
        if self.onvif:
            ports.add(self.onvif_port())
        return sorted(ports)

    def onvif_port(self) -> int:
        """The port of the device service: the one its WS-Discovery XAddr names, else 80."""
        for proto, data in self.datagrams:
            if proto != "wsd":
                continue
            parsed = WsdProtocol(ScanOptions()).parse(data, self.ip)
            if not isinstance(parsed, str):
                url = device_service_url(parsed.xaddrs, self.ip)
                if url:
                    return urlsplit(url).port or (443 if url.startswith("https") else 80)
        return 80


def load_folders(paths: Iterable[Path | str]) -> tuple[list[DeviceFolder], list[str]]:  # noqa: D401
    """The device folders, each at its own address (a folder whose address another already holds moves to a
    free one of 192.0.2.0/24, noted), and the notes."""
    folders = [DeviceFolder.load(p) for p in paths]
    taken = {f.ip for f in folders}
    spare = (str(a) for a in ipaddress.ip_network("192.0.2.0/24").hosts() if str(a) not in taken)
    seen: set[str] = set()
    notes = []
    for f in folders:
        if f.ip in seen:
            new = next(spare)
            notes.append(f"{f.path.name} replayed at {new}: its address {f.ip} is another folder's")
            f.ip = new
        seen.add(f.ip)
    return folders, notes


# ------------------------------------------------------------------------------------------ discovery
class RecordedDiscovery(DiscoverySource):
    """The discovery a scan would have made of the folders' devices: each recorded datagram through its real
    codec, the MAC as the ARP sweep would have given it, the ports the device serves as the port check
    would have found them."""

    def __init__(self, folders: Sequence[DeviceFolder], options: ScanOptions | None = None) -> None:
        self.folders = list(folders)
        options = options or ScanOptions()
        self.protocols = {"wsd": WsdProtocol(options), "sadp": SadpProtocol(), "dhip": DhipProtocol()}

    def run(self, deadline: float, sink: DiscoverySink) -> DiscoveryResult:
        out = DiscoveryResult(methods=["replay"])
        for f in self.folders:
            host = Host(ip=f.ip)
            for proto, data in f.datagrams:
                parsed = self.protocols[proto].parse(data, f.ip)
                if isinstance(parsed, str):
                    out.skips.append(Skip(f.ip, proto, f"unparsable {proto} reply: {parsed}"))
                    continue
                if not parsed.evidence:
                    continue
                host = host.merged(Host(ip=f.ip, mac=parsed.mac, seen_by=(proto,), evidence=parsed.evidence,
                                        xaddrs=parsed.xaddrs, endpoint=parsed.endpoint))
            if host.seen_by:
                sink.discovered(host)
            if f.mac:
                host = host.add(seen_by="arp", evidence=arp_evidence(f.mac), mac=f.mac)
            open_ports = [p for p in f.ports if p in CAMERA_PORTS]
            sink.ports_known(f.ip, open_ports)
            if open_ports:
                host = host.add(seen_by="tcp", evidence=port_evidence(open_ports))
                out.open_ports[f.ip] = open_ports
            out.hosts[f.ip] = host
        return out


# ------------------------------------------------------------------------------------------ transport
class ReplayTransport(Transport):
    """Answers the probers' connections from device folders; opens no socket. A port the device does not
    serve refuses the connection."""

    def __init__(self, folders: Sequence[DeviceFolder]) -> None:
        super().__init__()
        self.devices = {f.ip: f for f in folders}

    @property
    def credentials_given(self) -> bool:
        """Whether a folder holds a recorder's recorded channel list (recorded by a scan that had credentials):
        then the recorder inventory asks for it, as that scan did, and the folder answers. No credential exists
        here, so none is ever sent: a recorded answer that is a challenge stays unanswered."""
        from camscan.recorders.collect import DAHUA_REMOTE, ISAPI_CHANNELS

        return any(path in (ISAPI_CHANNELS, DAHUA_REMOTE) for f in self.devices.values() for _port, path in f.http)

    def connect(self, ip: str, port: int, budget: Budget, *, tls: bool = False, context=None) -> Stream:
        dev = self.devices.get(ip)
        if dev is None or port not in dev.ports:
            raise TransportError("refused", "connection refused")
        if tls and port not in dev.certs:
            raise TransportError("tls", "TLS handshake failed")
        return ReplayStream(dev, port, tls)

    def udp_socket(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        raise OSError("replay opens no socket")

    tcp_socket = packet_socket = udp_socket


class ReplayStream(Stream):
    """A connection to a recorded device: each request sent is answered from the folder."""

    def __init__(self, dev: DeviceFolder, port: int, tls: bool) -> None:
        self.dev, self.ip, self.port, self.tls = dev, dev.ip, port, tls
        self.budget = None
        self.pending = b""
        self.request = b""
        self.closed = False

    def send_all(self, data: bytes) -> None:
        if self.closed:
            raise BrokenPipeError("closed")
        self.request += data
        head, sep, body = self.request.partition(b"\r\n\r\n")
        if not sep:
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value.strip())
        if len(body) < length:
            return
        self.request = b""
        self.pending += self._answer(head.split(b"\r\n", 1)[0].decode("latin-1"), head, body[:length])

    def _answer(self, line: str, head: bytes, body: bytes) -> bytes:
        parts = line.split(" ")
        method, target = (parts + ["", ""])[:2]
        if line.endswith("RTSP/1.0"):
            cseq = re.search(rb"(?im)^cseq:\s*(\d+)", head)
            recorded = self.dev.rtsp.get(method.upper())
            if recorded is not None:
                return recorded
            return b"RTSP/1.0 404 Not Found\r\nCSeq: " + (cseq.group(1) if cseq else b"0") + b"\r\n\r\n"
        if method == "POST":
            op = _soap_operation(body)
            status, reply = self.dev.onvif.get(op, (400, ONVIF_FAULT))
            return (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                    "Content-Type: application/soap+xml; charset=utf-8\r\n"
                    f"Content-Length: {len(reply)}\r\n\r\n").encode() + reply
        return self.dev.http.get((self.port, target), NOT_FOUND)

    def recv_into(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buf), len(self.pending))
        buf[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def recv(self, size: int) -> bytes:
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def idle_readable(self) -> bool:
        return bool(self.pending)

    def peer_certificate(self) -> bytes | None:
        return self.dev.certs.get(self.port) if self.tls else None

    def close(self) -> None:
        self.closed = True


def _soap_operation(body: bytes) -> str:
    """The operation a SOAP request asks for: the first element of its Body."""
    try:
        root = xmlsafe.parse(body)
    except xmlsafe.UnsafeXML:
        return ""
    for child in root:
        if xmlsafe.local(child.tag) == "Body" and len(child):
            return xmlsafe.local(child[0].tag)
    return ""


# ------------------------------------------------------------------------------------------ replay
def replay(paths: Iterable[Path | str | DeviceFolder], policy=None, rules=None, timeout: float = 30.0,
           progress: Callable[[str], None] | None = None) -> ScanResult:
    """Identification, policy and risks of recorded device folders, with no network: the real probers and
    parsers over :class:`ReplayTransport`. Raises :class:`FolderError` for a folder that cannot be read.

    A recorded reply is in memory and never waits on a device, so the per-call cap (``timeout``) is only a
    guard against a pathological parse: it is ten times a live scan's, so a busy machine (a starved thread, the
    first zeep template build) cannot turn a recorded reply into a timeout skip and change the verdict."""
    import dataclasses

    from camscan.scan import Scanner

    given = list(paths)
    if all(isinstance(p, DeviceFolder) for p in given):
        folders, notes = given, []  # loaded already (load_folders)
    else:
        folders, notes = load_folders(given)
    options = ScanOptions(targets=tuple(ipaddress.ip_network(f"{f.ip}/32") for f in folders), timeout=timeout,
                          deadline=max(30.0, 8 * timeout))
    transport = ReplayTransport(folders)
    scanner = Scanner(options, rules=rules, policy=policy, progress=progress,
                      discovery=RecordedDiscovery(folders, options), transport=transport, neighbours=dict,
                      list_all=True)  # every folder given is reported, camera evidence or not
    result = scanner.run()
    return dataclasses.replace(result, notes=(*result.notes, *notes))


# ------------------------------------------------------------------------------------------ recording
_SECRET_XML = re.compile(rb"(<(?:[\w.-]+:)?(Password|Passwd|Pwd|Nonce)\b[^>]*>)(.*?)(</(?:[\w.-]+:)?\2\s*>)",
                         re.IGNORECASE | re.DOTALL)
_SECRET_JSON = re.compile(rb'("(?:password|passwd|pwd)"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
_SECRET_HEADER = re.compile(rb"(?im)^((?:authorization|proxy-authorization|cookie|set-cookie):)[^\r\n]*")
# key=value configuration lines whose key names a secret: Dahua's configManager.cgi answers
# (table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Password=...: a recorder's camera passwords)
_SECRET_KV = re.compile(rb"(?im)^([ \t]*[\w.\[\]:-]*(?:password|passwd|pwd|secret|token)[\w\[\]]*[ \t]*=)[^\r\n]*")


def scrub(data: bytes) -> bytes:
    """``data`` with password fields blanked (XML Password/Nonce elements, JSON "password" members, key=value
    lines whose key names a password, secret or token) and authorization and cookie headers emptied: a device
    may hand a password back; a recording never keeps it."""
    data = _SECRET_XML.sub(rb"\1\4", data)
    data = _SECRET_JSON.sub(rb'\1""', data)
    data = _SECRET_KV.sub(rb"\1", data)
    return _SECRET_HEADER.sub(rb"\1", data)


def scrub_http(reply: bytes) -> bytes:
    """A recorded HTTP (or RTSP) reply, :func:`scrub`-bed, with a Content-Length that still matches its body (a
    blanked password shortens it; a replayed answer must not promise bytes it no longer has). A chunked body is
    stored de-chunked, with its length."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    if not sep:
        return scrub(reply)
    lines = head.split(b"\r\n")
    chunked = any(ln.lower().startswith(b"transfer-encoding:") and b"chunked" in ln.lower() for ln in lines[1:])
    if chunked:
        body = _dechunk(body)
        lines = [ln for ln in lines if not ln.lower().startswith(b"transfer-encoding:")]
    new_body = scrub(body)
    sized = any(ln.lower().startswith(b"content-length:") for ln in lines[1:])
    if sized or chunked:
        lines = [ln for ln in lines if not ln.lower().startswith(b"content-length:")]
        lines.append(b"Content-Length: %d" % len(new_body))
    return scrub(b"\r\n".join(lines)) + sep + new_body


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            break
        if not sep or size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)


class RecordingTransport(Transport):
    """A live transport that keeps what devices answered (never what was sent): see the module docstring."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(gate=inner.gate, credentials=inner.credentials)
        self.inner = inner
        self.lock = threading.Lock()
        self.datagrams: dict[str, dict[str, bytes]] = {}  # ip -> protocol -> first datagram
        self.answers: dict[str, list[tuple[int, bool, str, bytes]]] = {}  # ip -> (port, tls, request line, reply)
        self.certs: dict[str, dict[int, bytes]] = {}

    def connect(self, ip: str, port: int, budget: Budget, *, tls: bool = False, context=None) -> Stream:
        stream = self.inner.connect(ip, port, budget, tls=tls, context=context)
        if tls:
            try:
                der = stream.peer_certificate()
            except OSError:
                der = None
            if der:
                with self.lock:
                    self.certs.setdefault(ip, {})[port] = der
        return _RecordingStream(stream, self)

    def udp_socket(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        return self.inner.udp_socket(*args, **kwargs)

    def tcp_socket(self):  # type: ignore[no-untyped-def, override]
        return self.inner.tcp_socket()

    def packet_socket(self):  # type: ignore[no-untyped-def, override]
        return self.inner.packet_socket()

    def received(self, protocol: str, ip: str, data: bytes) -> None:
        with self.lock:
            self.datagrams.setdefault(ip, {}).setdefault(protocol, data)

    def _answer(self, ip: str, port: int, tls: bool, line: str, reply: bytes) -> None:
        with self.lock:
            self.answers.setdefault(ip, []).append((port, tls, line, reply))

    def write(self, folder: Path | str, result: ScanResult) -> list[Path]:
        """One device folder per device of ``result`` under ``folder`` (created); the folders written."""
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        written = []
        for d in result.devices:
            if getattr(d, "via", None) is not None:
                continue  # a camera behind a recorder: never contacted, nothing recorded
            out = root / d.ip
            out.mkdir(exist_ok=True)
            self._write_device(out, d)
            written.append(out)
        return written

    def _write_device(self, out: Path, device) -> None:  # type: ignore[no-untyped-def]
        ip = device.ip
        ports = sorted({int(e.value) for e in device.evidence if e.source == "tcp" and e.field == "open"
                        and e.value.isdigit()})
        lines = [f'provenance = "Recorded by camscan scan --record on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"',
                 "[device]", f'ip = "{ip}"']  # open_ports last, once the answers say which ports were asked
        if device.mac:
            lines.append(f'mac = "{device.mac}"')
        (out / "device.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        names = {"wsd": "wsd.xml", "sadp": "sadp.xml", "dhip": "dhip.bin"}
        for proto, data in self.datagrams.get(ip, {}).items():
            if proto in names:
                (out / names[proto]).write_bytes(scrub(data))
        http_entries = []
        served = set(ports)
        for n, (port, tls, line, reply) in enumerate(self.answers.get(ip, [])):
            served.add(port)
            method, _, rest = line.partition(" ")
            target = rest.rsplit(" ", 1)[0]
            if line.endswith("RTSP/1.0"):
                (out / "rtsp").mkdir(exist_ok=True)
                (out / "rtsp" / f"{method.upper()}.txt").write_bytes(scrub_http(reply))
            elif method == "POST":
                op = _reply_operation(reply)
                if op:
                    (out / "onvif").mkdir(exist_ok=True)
                    head, _, body = reply.partition(b"\r\n\r\n")
                    status = head.split(b" ", 2)[1].decode("latin-1") if b" " in head else "200"
                    (out / "onvif" / f"{op}.xml").write_bytes(scrub(body))
                    if status != "200":
                        (out / "onvif" / f"{op}.status").write_text(status + "\n")
            elif method == "GET":
                (out / "http").mkdir(exist_ok=True)
                name = f"{port}-{n}.http"
                (out / "http" / name).write_bytes(scrub_http(reply))
                http_entries.append((target, name, port, tls))
        if http_entries:
            toml = ["# GET path -> raw HTTP response file (recorded)"]
            for target, name, port, tls in http_entries:
                toml += ["[[response]]", f"path = {json.dumps(target)}", f'file = "{name}"', f"port = {port}"]
                if tls:
                    toml.append('scheme = "https"')
                toml.append("")
            (out / "http" / "requests.toml").write_text("\n".join(toml), encoding="utf-8")
        for port, der in self.certs.get(ip, {}).items():
            (out / "tls").mkdir(exist_ok=True)
            (out / "tls" / f"{port}.der").write_bytes(der)
        with (out / "device.toml").open("a", encoding="utf-8") as fh:
            fh.write(f"open_ports = [{', '.join(str(p) for p in sorted(served))}]\n")


def _reply_operation(reply: bytes) -> str:
    """The ONVIF operation an HTTP reply answers (``GetScopesResponse`` -> ``GetScopes``), '' if none."""
    body = reply.partition(b"\r\n\r\n")[2]
    m = re.search(rb"<(?:[\w.-]+:)?(\w+?)Response\b", body)
    return m.group(1).decode() if m else ""


class _RecordingStream(Stream):
    """A live stream whose answers are kept per request (the request itself is not)."""

    def __init__(self, inner: Stream, recorder: RecordingTransport) -> None:
        self.inner, self.recorder = inner, recorder
        self.ip, self.port, self.tls = inner.ip, inner.port, inner.tls
        self.line = ""
        self.reply = b""

    @property
    def budget(self):  # type: ignore[no-untyped-def, override]
        return self.inner.budget

    @budget.setter
    def budget(self, value) -> None:  # type: ignore[no-untyped-def]
        self.inner.budget = value

    def _flush(self) -> None:
        if self.line and self.reply:
            self.recorder._answer(self.ip, self.port, self.tls, self.line, self.reply)
        self.line, self.reply = "", b""

    def send_all(self, data: bytes) -> None:
        self._flush()
        self.line = data.split(b"\r\n", 1)[0].decode("latin-1", errors="replace")  # method, target, version
        self.inner.send_all(data)

    def recv_into(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = self.inner.recv_into(buf)
        self.reply += bytes(memoryview(buf)[:n])
        return n

    def recv(self, size: int) -> bytes:
        got = self.inner.recv(size)
        self.reply += got
        return got

    def idle_readable(self) -> bool:
        return self.inner.idle_readable()

    def peer_certificate(self) -> bytes | None:
        return self.inner.peer_certificate()

    def close(self) -> None:
        self._flush()
        self.inner.close()
