"""ARP sweep of a directly attached subnet: who is on the link, and with which MAC.

ARP is the one question every IPv4 device on a segment must answer, whatever else it ignores, so the sweep
finds cameras that speak none of the discovery protocols and gives the MAC (hence the OUI) of every host.
It needs a raw layer-2 socket (root or CAP_NET_RAW): without it :meth:`ArpSweep.run` returns a Skip that
says so, never an exception.

Frames are built and read by the pure functions at the top (tested on bytes); the standard library gives
the rest: a Linux ``AF_PACKET`` socket (opened by :meth:`camscan.transport.Transport.packet_socket`) bound
to the interface and to the ARP ethertype, and the interface's MAC from ``SIOCGIFHWADDR``. (This used to
be scapy's L2Socket: its import cost 0.5 s and 21-24 MB of RSS per scan for two system calls.) A classic
BPF filter on the socket keeps everything but ARP replies in the kernel, so the other hosts' who-has
broadcasts of a busy segment never wake the sweep, and a 4 MB receive buffer holds the burst of replies a
fast sweep provokes.

Requests go out only on the given interface, only to addresses inside that interface's own subnets, at
``options.rate`` frames per second; the sweep stops :data:`ARP_QUIET` after its last request or its last new
answer, whichever is later (at most :data:`ARP_WAIT` after the last request), or at the scan deadline. Each
address that stayed silent is asked once more, but only in sweeps of at most :data:`RETRY_MAX_ADDRESSES`
addresses: the retry round re-asks nearly every address of a sparse subnet, so in a /16 it would cost another 65
s at the default rate for the rare lost frame (the coverage note says when there was no retry round).

One :class:`ArpSweep` holds all of its state (no module-level state), so a sweep can run in a worker thread
while other discovery runs in the main one; ``on_reply`` hands each new answer to the caller as it arrives.
"""

from __future__ import annotations

import array
import ipaddress
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from camscan.models import Coverage, Evidence, Interface, ScanOptions, Skip
from camscan.net import normalise_mac
from camscan.transport import DIRECT, Transport

log = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
IFF_NOARP = 0x80
PACKET_OUTGOING = 4  # <linux/if_packet.h>: a frame this host sent, seen by the tap
BROADCAST_MAC = b"\xff" * 6
# RFC 826 sets no timing. Hosts answer ARP within milliseconds; slow embedded stacks within a few hundred.
# Linux itself waits retrans_time_ms (1000 ms by default) before it retries a neighbour solicitation, so
# one second after the last request is the conventional "nobody is there".
ARP_WAIT = 1.0
# ... but the final wait ends sooner when the answers have stopped: ARP_QUIET after the later of the last
# request and the last new answer (a prompt stack answers within milliseconds, a slow one within a few hundred;
# the answers to a burst of requests keep arriving while the stragglers answer, and the wait goes on with them).
ARP_QUIET = 0.3
RETRIES = 1  # a second request to each address that stayed silent (a lost frame is not an absent host)
RETRY_WAIT = 0.3  # before the retry round: long enough for every prompt answer to the first one
# The retry round re-asks every silent address, and in a sweep most addresses are silent, so it costs about
# as much as the first round: 4,096 addresses (a /20) add at most 4.1 s at the default 1000 frames/s, in line
# with the per-call timeout and the WS-Discovery window; a /16 would add 65 s to find the odd host whose
# answer was lost. Larger plans get one round (noted in the coverage).
RETRY_MAX_ADDRESSES = 4096
MAX_ADDRESSES = 1 << 16  # one interface subnet larger than a /16 is not swept (nor is it a camera LAN)
SEND_BURST = 0.02
MAX_CONFLICTS = 64  # addresses reported as answered by several MACs (a spoofing flood must not grow the report)
_ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype, ptype, hlen, plen, op, sha, spa, tha, tpa
RCVBUF = 4 << 20  # replies to a full-speed burst of requests; a limit, not an allocation (no RSS cost)
SIOCGIFHWADDR = 0x8927  # <linux/sockios.h>
ARPHRD_ETHER = 1  # <linux/if_arp.h>: the hardware type whose frames build_request writes
IFNAMSIZ = 16
# Socket options the socket module does not name. These are the <asm-generic/socket.h> values (x86, arm,
# riscv, powerpc, s390, ...); alpha, parisc and sparc number them differently, and there the sweep goes
# without them (both are optimisations: the sweep is correct without either).
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
_GENERIC_SOCKOPTS = not os.uname().machine.startswith(("alpha", "parisc", "sparc"))

OnReply = Callable[[str, str], None]


def reply_filter() -> bytes:
    """A classic BPF program (``struct sock_filter[]``, native byte order) that passes ARP replies only::

        ldh [12]              ; ethertype
        jeq #0x0806, 0, 3     ; not ARP: drop
        ldh [20]              ; ARP operation (14-byte Ethernet header + 6)
        jeq #2, 0, 1          ; not a reply: drop
        ret #0xffff           ; accept (up to 64 KiB of the frame)
        ret #0                ; drop

    The socket is bound to the ARP ethertype already; the first test keeps the program correct on its own.
    A frame too short for a load is dropped by the kernel (the program returns 0)."""
    ld_h_abs, jeq_k, ret_k = 0x28, 0x15, 0x06  # BPF_LD|BPF_H|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    prog = [(ld_h_abs, 0, 0, 12), (jeq_k, 0, 3, ETH_P_ARP), (ld_h_abs, 0, 0, 20), (jeq_k, 0, 1, 2),
            (ret_k, 0, 0, 0xFFFF), (ret_k, 0, 0, 0)]
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


def interface_mac(name: str) -> bytes | str:
    """The Ethernet MAC of interface ``name`` (SIOCGIFHWADDR, no privilege needed), or why there is none."""
    raw = name.encode(errors="surrogateescape")
    if not raw or len(raw) >= IFNAMSIZ or b"\0" in raw:
        return f"cannot read the MAC of {name}: not an interface name"
    import fcntl  # Linux only, as is AF_PACKET (checked by the caller)

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifreq = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack("16s24x", raw))
    except OSError as exc:
        return f"cannot read the MAC of {name}: {exc}"
    hatype, addr = struct.unpack_from("=H6s", ifreq, IFNAMSIZ)  # struct sockaddr: family, then the data
    if hatype != ARPHRD_ETHER or normalise_mac(addr.hex()) is None:
        return f"interface {name} has no Ethernet MAC"
    return addr


def build_request(src_mac: bytes, src_ip: ipaddress.IPv4Address, dst_ip: ipaddress.IPv4Address) -> bytes:
    """An Ethernet broadcast ARP who-has ``dst_ip`` tell ``src_ip`` (42 bytes; the NIC pads to 60)."""
    if len(src_mac) != 6:
        raise ValueError("a MAC address is 6 bytes")
    eth = BROADCAST_MAC + src_mac + struct.pack("!H", ETH_P_ARP)
    arp = _ARP.pack(1, ETH_P_IP, 6, 4, 1, src_mac, src_ip.packed, b"\x00" * 6, dst_ip.packed)
    return eth + arp


def parse_reply(frame: bytes) -> tuple[str, str, str] | None:
    """(sender IPv4, sender MAC ``aa:bb:..``, target IPv4) of an Ethernet ARP reply; None for anything
    else (requests, other protocols, truncated or malformed frames). Never raises."""
    if len(frame) < 14 + _ARP.size:
        return None
    offset = 14
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == 0x8100 and len(frame) >= 18 + _ARP.size:  # an 802.1Q tag left in place
        ethertype = struct.unpack_from("!H", frame, 16)[0]
        offset = 18
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = _ARP.unpack_from(frame, offset)
    if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4 or op != 2:
        return None
    mac = normalise_mac(sha.hex())
    if mac is None:
        return None
    return str(ipaddress.IPv4Address(spa)), mac, str(ipaddress.IPv4Address(tpa))


def arp_evidence(mac: str) -> tuple[Evidence, ...]:
    """``("arp", "mac", mac)``: the MAC a host answered ARP with (the scan keys OUI lookups on it)."""
    return (Evidence("arp", "mac", mac),)


def sweep_plan(iface: Interface, networks: Sequence[ipaddress.IPv4Network] = ()
               ) -> tuple[list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]], list[str]]:
    """(source address, target address) pairs for the interface's own subnets, limited to ``networks`` when
    given, the interface's own addresses excluded; plus notes on what was left out and why."""
    own = {a.ip for a in iface.addresses}
    pairs: list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]] = []
    notes: list[str] = []
    seen: set[ipaddress.IPv4Address] = set()
    for addr in iface.addresses:
        attached = addr.network
        if attached.prefixlen >= 32:
            continue
        if networks:
            parts = [n if n.subnet_of(attached) else attached for n in networks if n.overlaps(attached)]
        else:
            parts = [attached]
        for part in parts:
            if part.num_addresses > MAX_ADDRESSES:
                notes.append(f"{part} has more than {MAX_ADDRESSES} addresses: not swept by ARP")
                continue
            edges = ({attached.network_address, attached.broadcast_address} if attached.prefixlen < 31
                     else set())
            for ip in part:
                if ip in own or ip in seen or ip in edges:
                    continue
                seen.add(ip)
                pairs.append((addr.ip, ip))
    return pairs, notes


class ArpSweep:
    """ARP who-has to every address of one interface's subnets (see the module docstring).

    ``on_reply(ip, mac)`` is called in the sweeping thread as each address first answers, so a caller can
    start on a host before the sweep ends. It should return at once (hand the host to an executor): the
    sweep's pacing and its deadline wait for it. Every answer is in :meth:`run`'s result all the same, so an
    exception from the callback is logged and the sweep goes on."""

    name = "arp"

    def __init__(self, options: ScanOptions, iface: Interface, networks: Sequence[ipaddress.IPv4Network] = (),
                 *, on_reply: OnReply | None = None, on_conflict: OnReply | None = None,
                 stop: threading.Event | None = None,
                 transport: Transport = DIRECT) -> None:
        self.options = options
        self.transport = transport  # opens the packet link
        self.iface = iface
        self.networks = tuple(networks)
        self.on_reply = on_reply
        self.on_conflict = on_conflict  # (ip, mac) for each further MAC answering for an address
        self.stop = stop  # set by the caller to end the sweep now (the scan failed or was interrupted)

    def run(self, deadline: float) -> tuple[dict[str, str], list[Coverage], list[Skip]]:
        """{ip: mac} of every address that answered, coverage per subnet, and skips."""
        pairs, notes = sweep_plan(self.iface, self.networks)
        subnets = sorted({str(a.network) for a in self.iface.addresses})
        skips = [Skip(None, "arp", n) for n in notes]
        if not pairs:
            return {}, [Coverage(s, "arp", "skipped", note="nothing to sweep") for s in subnets], skips
        if self.iface.flags & IFF_NOARP:
            return {}, self._skipped(subnets, "interface does not use ARP"), skips + [
                Skip(None, "arp", f"interface {self.iface.name} does not use ARP")]
        opened = self._open()
        if isinstance(opened, str):
            return {}, self._skipped(subnets, opened), skips + [Skip(None, "arp", opened)]
        sock, mac = opened
        retries = RETRIES if len(pairs) <= RETRY_MAX_ADDRESSES else 0
        if retries < RETRIES:
            log.debug("ARP sweep of %s: %d addresses, more than %d: no retry round", self.iface.name, len(pairs),
                      RETRY_MAX_ADDRESSES)
        conflicts: dict[str, set[str]] = {}
        try:
            found, sent, complete = self._loop(sock, mac, pairs, deadline, retries, conflicts)
        finally:
            sock.close()
        for ip, macs in conflicts.items():
            # Two hosts claim one address (a misconfiguration, or ARP spoofing): whichever answers a TCP
            # connection gets the probes, so what this address reports may describe either.
            skips.append(Skip(ip, "arp", f"address conflict: {len(macs)} MACs answered ARP for {ip} "
                                         f"({', '.join(sorted(macs))}); what this address reports may come "
                                         "from either host"))
        if not complete:
            skips.append(Skip(None, "arp",
                              f"scan deadline reached during the ARP sweep of {self.iface.name}"))
        note = f"via {self.iface.name}"
        if retries < RETRIES:
            note += f"; each address asked once ({len(pairs)} addresses, retried only up to {RETRY_MAX_ADDRESSES})"
        cov = []
        for a in self.iface.addresses:
            mine = [p for p in pairs if p[1] in a.network]
            if not mine:
                continue
            got = sum(1 for ip in found if ipaddress.IPv4Address(ip) in a.network)
            tried = sum(1 for p in mine if p[1] in sent)
            cov.append(Coverage(str(a.network), "arp", "done" if complete else "partial", tried=tried,
                                answered=got, note=note))
        return found, cov, skips

    def _skipped(self, subnets: list[str], reason: str) -> list[Coverage]:
        return [Coverage(s, "arp", "skipped", note=reason) for s in subnets]

    def _open(self) -> tuple[socket.socket, bytes] | str:
        """The interface's packet socket (ARP replies only, non-blocking) and MAC, or the reason there is none."""
        name = self.iface.name
        if not hasattr(socket, "AF_PACKET"):
            return "ARP sweep needs a Linux packet socket (AF_PACKET), not available on this system"
        mac = interface_mac(name)  # before the socket: an interface without a MAC is refused without privilege
        if isinstance(mac, str):
            return mac
        try:
            # Protocol 0: the socket receives nothing until bind() names the interface and the ethertype, so
            # no other interface's frame is queued in between (packet(7)).
            sock = self.transport.packet_socket()
        except PermissionError:
            return "ARP sweep needs root or CAP_NET_RAW (raw layer-2 socket refused)"
        except OSError as exc:
            return f"cannot open a packet socket on {name}: {exc}"
        try:
            self._tune(sock)
            sock.bind((name, ETH_P_ARP))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            return f"cannot open a packet socket on {name}: {exc}"
        return sock, mac

    @staticmethod
    def _tune(sock: socket.socket) -> None:
        """The receive buffer and the reply filter; either may be refused, and the sweep works without."""
        try:
            # SO_RCVBUFFORCE passes net.core.rmem_max (208 KB by default) but needs CAP_NET_ADMIN.
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE if _GENERIC_SOCKOPTS else socket.SO_RCVBUF, RCVBUF)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)  # silently capped at rmem_max
            except OSError as exc:
                log.debug("ARP socket: receive buffer left as it is: %s", exc)
        if not _GENERIC_SOCKOPTS:
            return
        prog = array.array("B", reply_filter())
        address, _length = prog.buffer_info()
        try:
            # struct sock_fprog {unsigned short len; struct sock_filter *filter;}: the kernel copies the program.
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HP", len(prog) // 8, address))
        except OSError as exc:
            log.debug("ARP socket: no reply filter, every ARP frame is read: %s", exc)

    def _loop(self, sock: socket.socket, mac: bytes,
              pairs: list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]], deadline: float,
              retries: int = RETRIES, conflicts: dict[str, set[str]] | None = None
              ) -> tuple[dict[str, str], set[ipaddress.IPv4Address], bool]:
        wanted = {str(dst): src for src, dst in pairs}
        own = {str(a.ip) for a in self.iface.addresses}
        found: dict[str, str] = {}
        sent: set[ipaddress.IPv4Address] = set()
        gap = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
        queue = deque(pairs)
        rounds = 0
        last_send = time.monotonic()
        last_answer = 0.0  # when the last new answer arrived
        next_send = last_send
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        try:
            while True:
                now = time.monotonic()
                if now >= deadline or (self.stop is not None and self.stop.is_set()):
                    return found, sent, False
                if next_send < now - SEND_BURST:
                    next_send = now - SEND_BURST
                while queue and next_send <= now:
                    src, dst = queue.popleft()
                    if str(dst) in found:
                        continue
                    try:
                        sock.send(build_request(mac, src, dst))
                    except BlockingIOError:
                        queue.appendleft((src, dst))
                        next_send = now + 0.002
                        break
                    except OSError as exc:
                        log.debug("ARP request to %s failed: %s", dst, exc)
                    sent.add(dst)
                    last_send = time.monotonic()
                    next_send += gap
                if not queue:
                    if len(found) == len(wanted):
                        return found, sent, True
                    if rounds >= retries:  # the final wait: ARP_WAIT at most, over once the answers stop
                        end = min(last_send + ARP_WAIT, max(last_send, last_answer) + ARP_QUIET)
                    else:
                        end = last_send + RETRY_WAIT
                    if now >= end:
                        if rounds >= retries:
                            return found, sent, True
                        rounds += 1
                        queue = deque(p for p in pairs if str(p[1]) not in found)
                        continue
                    wake = end
                else:
                    wake = next_send
                for _key, _mask in sel.select(max(0.0, min(wake, deadline) - time.monotonic())):
                    before = len(found)
                    self._drain(sock, wanted, own, found, conflicts, self.on_reply, self.on_conflict)
                    if len(found) > before:
                        last_answer = time.monotonic()
        finally:
            sel.close()

    @staticmethod
    def _drain(ins: socket.socket, wanted: dict, own: set, found: dict[str, str],
               conflicts: dict[str, set[str]] | None = None, on_reply: OnReply | None = None,
               on_conflict: OnReply | None = None) -> None:
        for _ in range(256):
            try:
                frame, sa_ll = ins.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            # Linux gives a socket bound to one ethertype no outgoing frames (only ETH_P_ALL taps see
            # them); the check stays so that our own frames are never read as answers whatever the socket.
            if len(sa_ll) > 2 and sa_ll[2] == PACKET_OUTGOING:
                continue
            parsed = parse_reply(frame)
            if parsed is None:
                continue
            ip, mac, target = parsed
            # Only answers to our own questions: a reply for an address we asked about, sent to us.
            if ip in wanted and target in own:
                if ip not in found:
                    found[ip] = mac
                    if on_reply is not None:
                        try:
                            on_reply(ip, mac)
                        except Exception:
                            log.exception("ARP on_reply callback failed for %s", ip)
                elif found[ip] != mac and conflicts is not None and (ip in conflicts
                                                                      or len(conflicts) < MAX_CONFLICTS):
                    macs = conflicts.setdefault(ip, {found[ip]})
                    if len(macs) < 8 and mac not in macs:
                        macs.add(mac)
                        if on_conflict is not None:
                            try:
                                on_conflict(ip, mac)
                            except Exception:
                                log.exception("ARP on_conflict callback failed for %s", ip)
