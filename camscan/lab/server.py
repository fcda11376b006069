"""The device server: one process that plays every fake device of a site.

Usage: ``python -m camscan.lab.server SPEC.json`` (written and started by :class:`camscan.lab.Site`).

For each device the server enters the device's network namespace with setns(2), creates that
device's sockets there, and returns to its own namespace; a socket keeps the namespace it was
created in, so one asyncio loop then serves hundreds of devices. ``READY <devices> <sockets>`` on
stdout means every socket is bound. The server stops on SIGTERM/SIGINT or when stdin reaches EOF
(its parent died), so a crashed test run does not leave it behind.

A protocol is one :class:`Service` subclass registered in :data:`SERVICES`; vendor discovery
protocols (SADP, DHIP) and RTSP plug in the same way as WS-Discovery and HTTP.

The server shares the machine with the scanner under test, so its per-message work is kept small: a
multicast datagram is parsed once for all devices (:class:`ParseCache`), a device's ProbeMatches is rendered
once and only its per-message values filled in. It logs its CPU time when it stops; with
``CAMSCAN_LAB_SERVER_PROFILE=FILE`` in its environment it runs under cProfile and writes the stats to FILE.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from camscan.lab.device import Device
from camscan.lab.httpd import HttpService
from camscan.lab.netns import NETNS_DIR, setns
from camscan.lab.vendor import (
    DHIP_GROUP,
    DHIP_PORT,
    RTSP_PORT,
    SADP_GROUP,
    SADP_PORT,
    SadpProbe,
    parse_dhip,
    parse_rtsp_head,
    parse_sadp,
    render_dhip_reply,
    render_sadp_match,
    rtsp_response,
)
from camscan.lab.wsd_responder import (
    WSD_GROUP_V4,
    WSD_GROUP_V6,
    WSD_PORT,
    Probe,
    ProbeMatchTemplate,
    decide,
    parse_probe,
    render_bye,
    render_fault,
    render_hello,
)

_log = logging.getLogger("camscan.lab.server")
IP_PKTINFO = 8  # <linux/in.h>; not exported by Python's socket module
SOL_IP = socket.IPPROTO_IP
# SOAP-over-UDP (2004 draft, App. I): UDP_MIN_DELAY/UDP_MAX_DELAY 50/250 ms, UDP_UPPER_DELAY 500 ms.
UDP_MIN_DELAY_S, UDP_MAX_DELAY_S, UDP_UPPER_DELAY_S = 0.050, 0.250, 0.500
# Set to a file name, the server runs under cProfile and writes its stats there on exit (the Site passes
# its environment on, so `CAMSCAN_LAB_SERVER_PROFILE=/tmp/srv.prof python -m camscan.lab.bench ...` works).
PROFILE_ENV = "CAMSCAN_LAB_SERVER_PROFILE"
T = TypeVar("T")


class ParseCache(Generic[T]):
    """The parsed form of the last few distinct datagram payloads.

    Every device on a segment receives the same multicast or broadcast datagram, so without this one Probe
    is parsed once per device (1,000 times on a 1,000-device site) on the one thread that also has to send
    the replies. Keyed by the exact bytes, so a hit is the same input as a miss, and bounded twice (entries
    and payload size) so a flood of distinct datagrams only evicts; larger payloads are parsed every time.
    ``parse`` must return a value nobody mutates (the callers get the same object).
    """

    def __init__(self, parse: Callable[[bytes], T], entries: int = 64, max_bytes: int = 8 * 1024) -> None:
        self._parse = parse
        self._entries = entries
        self._max_bytes = max_bytes
        self._items: OrderedDict[bytes, T] = OrderedDict()

    def __call__(self, data: bytes) -> T:
        if len(data) > self._max_bytes:
            return self._parse(data)
        try:
            value = self._items[data]
        except KeyError:
            pass
        else:
            self._items.move_to_end(data)
            return value
        value = self._parse(data)
        self._items[data] = value
        if len(self._items) > self._entries:
            self._items.popitem(last=False)
        return value


class RequestLog:
    """Append-only JSON-lines log of every request the devices receive. Never holds passwords."""

    def __init__(self, path: str) -> None:
        self._fh = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the server

    def write(self, dev: Device, **fields: Any) -> None:
        record = {"t": round(time.time(), 6), "device": dev.name, "ip": dev.ip, **fields}
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")

    def for_device(self, dev: Device) -> Callable[..., None]:
        """A logging function bound to one device."""
        return lambda **fields: self.write(dev, **fields)

    def close(self) -> None:
        self._fh.close()


class Service:
    """One protocol endpoint of one fake device.

    ``wanted(dev)`` says whether the device runs it; ``bind()`` is called inside the device's
    network namespace and must create every socket the service needs (returning how many);
    ``start()`` runs on the event loop; ``stop()`` at shutdown (e.g. to send a Bye).
    """

    name: ClassVar[str] = ""

    def __init__(self, dev: Device, log: RequestLog) -> None:
        self.dev = dev
        self.log = log.for_device(dev)

    @staticmethod
    def wanted(dev: Device) -> bool:
        raise NotImplementedError

    def bind(self) -> int:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Default: nothing to announce."""


class UdpService(Service):
    """A non-blocking UDP socket served with ``add_reader`` + ``recvmsg`` (to learn the destination
    address from IP_PKTINFO, i.e. whether a datagram was multicast)."""

    sock: socket.socket

    async def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(64):  # bounded so one flooded socket cannot starve the others
            try:
                data, anc, flags, addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(64))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if flags & socket.MSG_TRUNC:
                continue
            dst = ""
            for level, ctype, cdata in anc:
                if level == SOL_IP and ctype == IP_PKTINFO and len(cdata) >= 12:
                    dst = socket.inet_ntoa(cdata[8:12])
                elif level == socket.IPPROTO_IPV6 and ctype == socket.IPV6_PKTINFO and len(cdata) >= 16:
                    dst = socket.inet_ntop(socket.AF_INET6, cdata[:16])
            try:
                self.datagram(data, addr, dst)
            except Exception as exc:  # noqa: BLE001 - last-resort guard: a bad datagram must not kill the device
                _log.error("device %s: %s error: %r", self.dev.name, self.name, exc)

    def datagram(self, data: bytes, addr: Any, dst: str) -> None:
        raise NotImplementedError

    def send(self, data: bytes, addr: Any) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:
            _log.warning("device %s: %s send to %s: %s", self.dev.name, self.name, addr, exc)

    def send_later(self, delay: float, data: bytes, addr: Any) -> None:
        asyncio.get_running_loop().call_later(delay, self.send, data, addr)

    def stop(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        except RuntimeError:
            pass


def bind_udp_v4(port: int, group: str) -> socket.socket:
    """A non-blocking UDP socket on 0.0.0.0:port (unicast, broadcast and ``group`` joined on eth0)."""
    ifindex = socket.if_nametoindex("eth0")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    mreqn = struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"), ifindex)
    s.setsockopt(SOL_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    s.setsockopt(SOL_IP, socket.IP_MULTICAST_IF, mreqn)
    s.setsockopt(SOL_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(SOL_IP, socket.IP_MULTICAST_LOOP, 0)
    s.setsockopt(SOL_IP, IP_PKTINFO, 1)
    s.setblocking(False)
    return s


_SCOPES_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?Scopes>")
MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP header) - 8 (UDP header)


def pad_scopes(reply: bytes, size: int) -> bytes:
    """``reply`` grown to ``size`` bytes (at most an IPv4 datagram) with junk scopes: an oversized but
    well-formed ProbeMatch."""
    size = min(size, MAX_UDP_PAYLOAD)
    m = _SCOPES_END.search(reply)
    if m is None or size <= len(reply):
        return reply
    fill = bytearray()
    i = 0
    while len(reply) + len(fill) < size - 40:
        fill += b" onvif://www.onvif.org/pad/%06d" % i
        i += 1
    fill += b" " * max(0, size - len(reply) - len(fill))
    return reply[: m.start()] + bytes(fill) + reply[m.start() :]


def _fmt_addr(addr: Any) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class WsdService(UdpService):
    """WS-Discovery 2005/04 responder on UDP 3702 (IPv4 group 239.255.255.250)."""

    name = "wsd"
    family = socket.AF_INET
    group = WSD_GROUP_V4
    # id(device) -> (device, template); holding the device keeps its id from being reused.
    _templates: ClassVar[dict[int, tuple[Device, ProbeMatchTemplate]]] = {}

    @staticmethod
    def wanted(dev: Device) -> bool:
        return bool(dev["wsd"])

    def bind(self) -> int:
        self.sock = bind_udp_v4(WSD_PORT, self.group)
        return 1

    def group_addr(self) -> Any:
        return (self.group, WSD_PORT)

    async def start(self) -> None:
        await super().start()
        try:
            self._probe_match_template()
        except Exception as exc:  # noqa: BLE001 - a profile that cannot render fails at its first reply, logged
            _log.error("device %s: %s cannot render a ProbeMatch: %r", self.dev.name, self.name, exc)
        if self.dev["wsd_hello"]:
            delay = random.uniform(0, self.dev["wsd_max_delay_ms"] / 1000.0)
            self.send_later(delay, render_hello(self.dev), self.group_addr())

    def stop(self) -> None:
        if self.dev["wsd_bye"]:
            self.send(render_bye(self.dev), self.group_addr())
        super().stop()

    def datagram(self, data: bytes, addr: Any, dst: str) -> None:
        # Cheap pre-filter: Hellos/Byes of the other devices reach every device on the segment.
        if b"Probe" not in data:
            return
        multicast = dst in (WSD_GROUP_V4, WSD_GROUP_V6) or dst.lower().startswith("ff")
        probe = _parse_probe(data)
        entry: dict[str, Any] = {
            "proto": "wsd" if self.family == socket.AF_INET else "wsd6",
            "src": _fmt_addr(addr),
            "mcast": multicast,
            "credentialed": False,
            "username": "",
            "auth_ok": None,
        }
        if isinstance(probe, str):
            self.log(op="ignored", reason=probe, **entry)
            return
        entry.update(op="Probe", message_id=probe.message_id, types=probe.types_text or "")
        if probe.message_id and not self.dev.first_sight(probe.message_id):
            # A SOAP-over-UDP repeat of a probe already handled: receivers de-duplicate by MessageID.
            self.log(answered=False, reason="repeat", **entry)
            return
        decision = decide(self.dev, probe, multicast)
        self.log(answered=decision.answer, reason=decision.reason, fault=decision.fault, **entry)
        if decision.fault:
            self.send_later(self.dev.latency_s, render_fault(self.dev, probe, decision.fault), addr)
            return
        if not decision.answer:
            return
        self._answer(probe, addr)

    def _probe_match_template(self) -> ProbeMatchTemplate:
        """The device's ProbeMatches template, shared by its IPv4 and IPv6 responders. Built before READY, as a
        camera has its reply ready: otherwise every device renders it at the scan's first probe, all at once,
        on the one thread, on the CPU the scanner under test needs at that moment."""
        entry = self._templates.get(id(self.dev))
        if entry is None or entry[0] is not self.dev:
            entry = self._templates[id(self.dev)] = (self.dev, ProbeMatchTemplate(self.dev))
        return entry[1]

    def _render(self, probe: Probe) -> bytes:
        dev = self.dev
        reply = self._probe_match_template().render(probe)
        if dev["wsd_pad_bytes"]:
            reply = pad_scopes(reply, int(dev["wsd_pad_bytes"]))
        fault = dev["wsd_fault"]
        if fault == "malformed_xml":
            reply = reply[: max(1, int(len(reply) * 0.6))]
        elif fault == "entity_bomb":
            reply = (
                b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
                + reply[reply.index(b"<", 5) :].replace(b"</d:Scopes>", b"&c;</d:Scopes>", 1)
            )
        elif fault == "xxe":
            # An external entity naming another address (a trap): a resolving parser would fetch it.
            url = dev.fill(dev["fault_url"]).encode()
            reply = _SCOPES_END.sub(
                lambda m: b"&xxe;" + m.group(0),
                b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "' + url + b'">]>'
                + reply[reply.index(b"<", 5) :],
                count=1,
            )
        return reply

    def _answer(self, probe: Probe, addr: Any) -> None:
        dev = self.dev
        reply = self._render(probe)
        # APP_MAX_DELAY: a random wait in 0..wsd_max_delay_ms spreads replies (WS-D 2005/04 §3.1.3).
        delay = random.uniform(0, max(0, dev["wsd_max_delay_ms"]) / 1000.0) + dev.latency_s
        self.send_later(delay, reply, addr)
        # A flood: copies with fresh MessageIDs, 1 ms apart (closer would only overflow our own send
        # buffer, which drops them here instead of at the receiver).
        for i in range(int(dev["wsd_flood"])):
            self.send_later(delay + 0.001 * (i + 1), self._render(probe), addr)
        # UNICAST_UDP_REPEAT copies, first gap 50-250 ms, doubling, capped at 500 ms.
        gap = random.uniform(UDP_MIN_DELAY_S, UDP_MAX_DELAY_S)
        for _ in range(int(dev["wsd_repeat"])):
            delay += gap
            self.send_later(delay, reply, addr)
            gap = min(gap * 2, UDP_UPPER_DELAY_S)


class WsdV6Service(WsdService):
    """The same responder on [::]:3702, group FF02::C on eth0."""

    name = "wsd6"
    family = socket.AF_INET6
    group = WSD_GROUP_V6

    @staticmethod
    def wanted(dev: Device) -> bool:
        return bool(dev["wsd"]) and bool(dev["ipv6"])

    def bind(self) -> int:
        self.ifindex = socket.if_nametoindex("eth0")
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::", WSD_PORT))
        mreq = struct.pack("16sI", socket.inet_pton(socket.AF_INET6, self.group), self.ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.setblocking(False)
        self.sock = s
        return 1

    def group_addr(self) -> Any:
        return (self.group, WSD_PORT, 0, self.ifindex)


class HttpListener(Service):
    """TCP listeners for the ONVIF port and, if different, the web UI port."""

    name = "http"

    @staticmethod
    def wanted(dev: Device) -> bool:
        return True

    def bind(self) -> int:
        self.socks: list[socket.socket] = []
        for port in sorted({self.dev.port, self.dev.http_port}):
            if self.dev["ipv6"]:
                # One dual-stack socket: IPv4 peers appear as ::ffff:a.b.c.d (normalised in the log).
                s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("::", port))
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.dev.ip, port))
            # Accepted sockets inherit this: without it every keep-alive request after the first waits for
            # the client's delayed ACK (about 40 ms) before the reply leaves.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.listen(128)
            s.setblocking(False)
            self.socks.append(s)
        return len(self.socks)

    async def start(self) -> None:
        service = HttpService(self.dev, self.log)
        tls = lab_tls_context() if self.dev["tls"] else None
        self.servers = [
            await asyncio.start_server(service.handle, sock=s, limit=64 * 1024, ssl=tls) for s in self.socks
        ]

    def stop(self) -> None:
        for srv in getattr(self, "servers", []):
            srv.close()


_TLS_CONTEXT: ssl.SSLContext | None = None


def lab_tls_context() -> ssl.SSLContext:
    """The server-side TLS context of the lab's HTTPS devices (``tls = true``): one self-signed certificate
    per server process (CN camscan-lab, naming no maker), made with the openssl command (the lab needs no
    package beyond camscan's own dependencies)."""
    global _TLS_CONTEXT
    if _TLS_CONTEXT is None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("a lab device serves TLS (tls = true): the openssl command is needed to make its "
                               "certificate (apt-get install openssl)")
        with tempfile.TemporaryDirectory(prefix="camscan-lab-tls-") as tmp:
            key, crt = Path(tmp) / "key.pem", Path(tmp) / "crt.pem"
            subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "30",
                            "-subj", "/CN=camscan-lab"], check=True, capture_output=True, timeout=60)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(crt), str(key))
        _TLS_CONTEXT = ctx
    return _TLS_CONTEXT


_NO_AUTH = {"credentialed": False, "username": "", "auth_ok": None}


class SadpService(UdpService):
    """Hikvision SADP responder on UDP 37020 (group 239.255.255.250), profiles with ``[sadp]``."""

    name = "sadp"

    @staticmethod
    def wanted(dev: Device) -> bool:
        return bool(dev["sadp"]) and dev["sadp"].get("enabled", True)

    def bind(self) -> int:
        self.sock = bind_udp_v4(SADP_PORT, SADP_GROUP)
        return 1

    def datagram(self, data: bytes, addr: Any, dst: str) -> None:
        if b"<Probe" not in data:
            return  # other devices' ProbeMatch/announcements
        probe = _parse_sadp(data)
        entry = {"proto": "sadp", "src": _fmt_addr(addr), "mcast": dst == SADP_GROUP, **_NO_AUTH}
        if isinstance(probe, str):
            self.log(op="ignored", reason=probe, **entry)
            return
        # Anything but an inquiry (update, activate, password reset) is a write: never answered,
        # always logged, so tests can assert a scanner never sends one.
        self.log(op=probe.types or "?", uuid=probe.uuid, answered=probe.is_inquiry, **entry)
        if probe.is_inquiry:
            self.send_later(self.dev.latency_s, render_sadp_match(self.dev, probe), addr)


class DhipService(UdpService):
    """Dahua DHDiscover responder on UDP 37810 (group 239.255.255.251), profiles with ``[dhip]``."""

    name = "dhip"

    @staticmethod
    def wanted(dev: Device) -> bool:
        return bool(dev["dhip"]) and dev["dhip"].get("enabled", True)

    def bind(self) -> int:
        self.sock = bind_udp_v4(DHIP_PORT, DHIP_GROUP)
        return 1

    def datagram(self, data: bytes, addr: Any, dst: str) -> None:
        ok, method = _dhip_method(data)
        entry = {"proto": "dhip", "src": _fmt_addr(addr), "mcast": dst == DHIP_GROUP, **_NO_AUTH}
        if not ok:
            self.log(op="ignored", reason=method, **entry)
            return
        if method == "client.notifyDevInfo":
            return  # another device's reply or announcement
        self.log(op=method, answered=method == "DHDiscover.search", **entry)
        if method == "DHDiscover.search":
            self.send_later(self.dev.latency_s, render_dhip_reply(self.dev), addr)


def _dhip_method_uncached(data: bytes) -> tuple[bool, str]:
    """(True, method) of a DHIP request, or (False, why it was ignored): immutable, so it can be shared."""
    doc = parse_dhip(data)
    if isinstance(doc, str):
        return False, doc
    return True, str(doc.get("method", ""))


# One cache per protocol, shared by every device: all of them receive the same datagrams.
_parse_probe: ParseCache[Probe | str] = ParseCache(parse_probe)
_parse_sadp: ParseCache[SadpProbe | str] = ParseCache(parse_sadp)
_dhip_method: ParseCache[tuple[bool, str]] = ParseCache(_dhip_method_uncached)


class RtspListener(Service):
    """A minimal RTSP/1.0 server (OPTIONS, DESCRIBE with auth challenge) for profiles with ``[rtsp]``."""

    name = "rtsp"

    @staticmethod
    def wanted(dev: Device) -> bool:
        return bool(dev["rtsp"]) and dev["rtsp"].get("enabled", True)

    def bind(self) -> int:
        port = int(self.dev["rtsp"].get("port", RTSP_PORT))
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.dev.ip, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see HttpListener.bind
        s.listen(64)
        s.setblocking(False)
        self.socks = [s]
        return 1

    async def start(self) -> None:
        self.servers = [await asyncio.start_server(self.handle, sock=self.socks[0], limit=16 * 1024)]

    def stop(self) -> None:
        for srv in getattr(self, "servers", []):
            srv.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve RTSP requests on one connection; never raises."""
        peer = writer.get_extra_info("peername") or ("?", 0)
        try:
            while True:
                async with asyncio.timeout(10.0):  # not wait_for: no task per read (see httpd.read_request)
                    head = await reader.readuntil(b"\r\n\r\n")
                req = parse_rtsp_head(head)
                if isinstance(req, str):
                    self.log(proto="rtsp", src=_fmt_addr(peer), op="bad-request", reason=req, **_NO_AUTH)
                    return
                reply, fields = rtsp_response(self.dev, req)
                fields.setdefault("username", "")
                fields.setdefault("auth_ok", None)
                self.log(proto="rtsp", src=_fmt_addr(peer), **fields)
                if self.dev.latency_s:
                    await asyncio.sleep(self.dev.latency_s)
                writer.write(reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            return  # ConnectionError is an OSError: the client went away or stalled
        except Exception as exc:  # noqa: BLE001 - last-resort guard: one client must not kill the device
            _log.error("device %s: RTSP handler error: %r", self.dev.name, exc)
        finally:
            writer.close()


class TcpPorts(Service):
    """Plain TCP listeners on a device's ``tcp_ports`` (vendor SDK ports such as Dahua's 37777 or Xiongmai's
    34567): every connection is accepted and closed, which is all a port check sees of them."""

    name = "tcp"

    @staticmethod
    def wanted(dev: Device) -> bool:
        return bool(dev["tcp_ports"])

    def bind(self) -> int:
        self.socks = []
        for port in sorted({int(p) for p in self.dev["tcp_ports"]}):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.dev.ip, port))
            s.listen(64)
            s.setblocking(False)
            self.socks.append(s)
        return len(self.socks)

    async def start(self) -> None:
        self.servers = [await asyncio.start_server(self.handle, sock=s) for s in self.socks]

    def stop(self) -> None:
        for srv in getattr(self, "servers", []):
            srv.close()

    @staticmethod
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()


# The protocol registry: each device runs every service whose ``wanted`` says so. A new protocol is
# one Service subclass appended here (or registered with @register).
SERVICES: list[type[Service]] = [
    WsdService,
    WsdV6Service,
    HttpListener,
    SadpService,
    DhipService,
    RtspListener,
    TcpPorts,
]


def register(service: type[Service]) -> type[Service]:
    """Class decorator adding a protocol to :data:`SERVICES`."""
    SERVICES.append(service)
    return service


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, needed + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


NEIGH_SYSCTL = "/proc/sys/net/{family}/neigh/default/{name}"


def raise_neighbour_limits(devices: int) -> None:
    """Make room for a site of ``devices`` devices in the kernel's neighbour tables (ARP and IPv6 ND).

    Those tables are shared by every network namespace and sized by the initial namespace's gc_thresh2 and
    gc_thresh3 (512 and 1,024 by default). A site uses about 3 entries per device and family (each device's
    for the scanner, the scanner's for each device, ...). Past gc_thresh3 the kernel cannot create the entry
    a reply needs and sendto(2) fails with EINVAL: the wsd6 replies to the scanner's link-local address at
    1,000 devices (the destination and its scope id are right). Past gc_thresh2 it collects entries idle for
    5 s, the devices' entries for the scanner among them, and hundreds of devices then resolve the scanner
    again at once by broadcast, each broadcast reaching every namespace: the replies to a scan's first probe
    arrived over seconds, some not at all. So gc_thresh2 is set above one site's need and gc_thresh3 with room
    for a second site of the same size; only ever raised, never lowered, and only from the initial namespace,
    where the Site starts this server: elsewhere the files are missing or read-only and this only warns.
    :func:`restore_neighbour_limits` puts the old values back when the server stops, unless someone (another
    site) changed them since.
    """
    for family in ("ipv4", "ipv6"):
        # Up to 128 devices this asks for no more than the defaults: small sites leave the host alone.
        for name, want in (("gc_thresh3", 8 * devices), ("gc_thresh2", 4 * devices)):
            path = NEIGH_SYSCTL.format(family=family, name=name)
            try:
                with open(path, "r+", encoding="ascii") as fh:
                    have = int(fh.read().strip() or 0)
                    if have >= want:
                        continue
                    fh.seek(0)
                    fh.write(f"{want}\n")
            except (OSError, ValueError) as exc:
                _log.warning("cannot raise %s for %d devices: %s", path, devices, exc)
                continue
            _RAISED.append((path, have, want))
            _log.info("raised %s from %d to %d for %d devices", path, have, want, devices)


_RAISED: list[tuple[str, int, int]] = []  # (sysctl file, value before, value set) by raise_neighbour_limits


def restore_neighbour_limits() -> None:
    """Undo :func:`raise_neighbour_limits` where the value is still the one it set (the host is left as found)."""
    while _RAISED:
        path, before, raised = _RAISED.pop()
        try:
            with open(path, "r+", encoding="ascii") as fh:
                if int(fh.read().strip() or 0) != raised:
                    continue  # changed since (another site raised it further): leave it
                fh.seek(0)
                fh.write(f"{before}\n")
        except (OSError, ValueError) as exc:
            _log.warning("cannot restore %s to %d: %s", path, before, exc)


def bind_all(devices: list[Device], log: RequestLog) -> list[Service]:
    """Create every device's sockets inside its namespace; returns the services, not yet started."""
    _raise_fd_limit(len(devices) * 4)
    raise_neighbour_limits(len(devices))
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    services: list[Service] = []
    try:
        for dev in devices:
            fd = os.open(NETNS_DIR / dev.ns, os.O_RDONLY)
            try:
                setns(fd)
                for cls in SERVICES:
                    if cls.wanted(dev):
                        svc = cls(dev, log)
                        try:
                            svc.bind()
                        except OSError as exc:
                            raise OSError(
                                exc.errno, f"device {dev.name} ({dev.ip}) {cls.name}: {exc.strerror}"
                            ) from exc
                        services.append(svc)
            finally:
                setns(own)
                os.close(fd)
    finally:
        os.close(own)
    return services


async def serve(spec: dict[str, Any]) -> int:
    """Bind, announce READY, serve until told to stop."""
    t0 = time.monotonic()
    devices = [Device.from_spec(d) for d in spec["devices"]]
    log = RequestLog(spec["log"])
    try:
        services = bind_all(devices, log)
        t_bound = time.monotonic()
    except OSError as exc:
        _log.error("binding sockets: %s", exc)
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Parent death: our stdin is a pipe from the Site; EOF means nobody will ever stop us.
    stdin = sys.stdin.fileno()

    def stdin_readable() -> None:
        try:
            if os.read(stdin, 4096):
                return
        except OSError:
            pass
        loop.remove_reader(stdin)
        stop.set()

    loop.add_reader(stdin, stdin_readable)
    for svc in services:
        await svc.start()
    sockets = sum(len(getattr(s, "socks", [None])) for s in services)
    t_ready = time.monotonic()
    _log.info(
        "%d devices, %d sockets: bound in %.2f s, serving after %.2f s",
        len(devices),
        sockets,
        t_bound - t0,
        t_ready - t0,
    )
    # The one line of the stdout protocol with the Site.
    sys.stdout.write(f"READY {len(devices)} {sockets}\n")
    sys.stdout.flush()
    await stop.wait()
    for svc in services:
        try:
            svc.stop()
        except OSError:
            pass
    log.close()
    restore_neighbour_limits()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    _log.info("stopping: CPU %.2f s user, %.2f s system", ru.ru_utime, ru.ru_stime)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m camscan.lab.server SPEC.json``."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(levelname)s: %(message)s")
    if len(args) != 1:
        _log.error("usage: python -m camscan.lab.server SPEC.json")
        return 2
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    profile_path = os.environ.get(PROFILE_ENV)
    if not profile_path:
        return asyncio.run(serve(spec))
    import cProfile  # noqa: PLC0415 - only when asked for

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(asyncio.run, serve(spec))
    finally:
        profiler.dump_stats(profile_path)
        _log.info("profile written to %s", profile_path)


if __name__ == "__main__":
    sys.exit(main())
