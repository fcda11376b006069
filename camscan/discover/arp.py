"""ARP sweep of a directly attached subnet: who is on the link, and with which MAC.

ARP is the one question every IPv4 device on a segment must answer, whatever else it ignores, so the sweep
finds cameras that speak none of the discovery protocols and gives the MAC (hence the OUI) of every host.
It needs a raw layer-2 socket (root or CAP_NET_RAW): without it, or without scapy, :meth:`ArpSweep.run`
returns a Skip that says so, never an exception.

Frames are built and read by the pure functions at the top (tested on bytes); scapy provides only the
packet socket and the interface's MAC. Importing all of scapy costs most of a second, so only the two
modules needed are imported, and only when a sweep actually runs.

Requests go out only on the given interface, only to addresses inside that interface's own subnets, at
``options.rate`` frames per second; each silent address gets one retry; the sweep stops
:data:`ARP_WAIT` after its last request or at the scan deadline.
"""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from camscan.models import Coverage, Evidence, Interface, ScanOptions, Skip
from camscan.net import normalise_mac

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
RETRIES = 1  # a second request to each address that stayed silent (a lost frame is not an absent host)
RETRY_WAIT = 0.3  # before the retry round: long enough for every prompt answer to the first one
MAX_ADDRESSES = 1 << 16  # one interface subnet larger than a /16 is not swept (nor is it a camera LAN)
SEND_BURST = 0.02
MAX_CONFLICTS = 64  # addresses reported as answered by several MACs (a spoofing flood must not grow the report)
_ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype, ptype, hlen, plen, op, sha, spa, tha, tpa


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
    """ARP who-has to every address of one interface's subnets (see the module docstring)."""

    name = "arp"

    def __init__(self, options: ScanOptions, iface: Interface,
                 networks: Sequence[ipaddress.IPv4Network] = ()) -> None:
        self.options = options
        self.iface = iface
        self.networks = tuple(networks)

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
        self._conflicts: dict[str, set[str]] = {}
        try:
            found, sent, complete = self._loop(sock, mac, pairs, deadline)
        finally:
            sock.close()
        for ip, macs in self._conflicts.items():
            # Two hosts claim one address (a misconfiguration, or ARP spoofing): whichever answers a TCP
            # connection gets the probes, so what this address reports may describe either.
            skips.append(Skip(ip, "arp", f"address conflict: {len(macs)} MACs answered ARP for {ip} "
                                         f"({', '.join(sorted(macs))}); what this address reports may come "
                                         "from either host"))
        if not complete:
            skips.append(Skip(None, "arp",
                              f"scan deadline reached during the ARP sweep of {self.iface.name}"))
        cov = []
        for a in self.iface.addresses:
            mine = [p for p in pairs if p[1] in a.network]
            if not mine:
                continue
            got = sum(1 for ip in found if ipaddress.IPv4Address(ip) in a.network)
            tried = sum(1 for p in mine if p[1] in sent)
            cov.append(Coverage(str(a.network), "arp", "done" if complete else "partial", tried=tried,
                                answered=got, note=f"via {self.iface.name}"))
        return found, cov, skips

    def _skipped(self, subnets: list[str], reason: str) -> list[Coverage]:
        return [Coverage(s, "arp", "skipped", note=reason) for s in subnets]

    def _open(self) -> tuple[Any, bytes] | str:
        """The interface's packet socket (ARP frames only) and MAC, or the reason there is none."""
        t0 = time.monotonic()
        try:
            # Two modules, not scapy.all: about a quarter of the import time (see the module docstring).
            from scapy.arch import get_if_hwaddr
            from scapy.arch.linux import L2Socket
        except ImportError as exc:
            return f"ARP sweep needs scapy ({exc})"
        log.debug("scapy imported in %.3f s", time.monotonic() - t0)
        try:
            mac = bytes.fromhex((normalise_mac(get_if_hwaddr(self.iface.name)) or "").replace(":", ""))
        except (OSError, ValueError) as exc:
            return f"cannot read the MAC of {self.iface.name}: {exc}"
        if len(mac) != 6:
            return f"interface {self.iface.name} has no Ethernet MAC"
        # scapy warns that it cannot pick a dissector for the socket (scapy.layers.l2 is not loaded, on
        # purpose: frames are read by parse_reply). Silence that one construction, not scapy's logging.
        scapy_log = logging.getLogger("scapy.runtime")
        level = scapy_log.level
        scapy_log.setLevel(logging.ERROR)
        try:
            # promisc off: ARP replies to us are unicast to our MAC; nofilter: no BPF compiler needed.
            sock = L2Socket(iface=self.iface.name, type=ETH_P_ARP, promisc=False, nofilter=1)
        except PermissionError:
            return "ARP sweep needs root or CAP_NET_RAW (raw layer-2 socket refused)"
        except OSError as exc:
            return f"cannot open a packet socket on {self.iface.name}: {exc}"
        finally:
            scapy_log.setLevel(level)
        return sock, mac

    def _loop(self, sock: Any, mac: bytes, pairs: list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]],
              deadline: float) -> tuple[dict[str, str], set[ipaddress.IPv4Address], bool]:
        ins: socket.socket = sock.ins
        ins.setblocking(False)
        wanted = {str(dst): src for src, dst in pairs}
        own = {str(a.ip) for a in self.iface.addresses}
        found: dict[str, str] = {}
        sent: set[ipaddress.IPv4Address] = set()
        gap = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
        queue = deque(pairs)
        rounds = 0
        last_send = time.monotonic()
        next_send = last_send
        sel = selectors.DefaultSelector()
        sel.register(ins, selectors.EVENT_READ)
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
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
                    wait = ARP_WAIT if rounds >= RETRIES else RETRY_WAIT
                    if now >= last_send + wait:
                        if rounds >= RETRIES:
                            return found, sent, True
                        rounds += 1
                        queue = deque(p for p in pairs if str(p[1]) not in found)
                        continue
                    wake = last_send + wait
                else:
                    wake = next_send
                for _key, _mask in sel.select(max(0.0, min(wake, deadline) - time.monotonic())):
                    self._drain(ins, wanted, own, found, self._conflicts)
        finally:
            sel.close()

    @staticmethod
    def _drain(ins: socket.socket, wanted: dict, own: set, found: dict[str, str],
               conflicts: dict[str, set[str]] | None = None) -> None:
        for _ in range(256):
            try:
                frame, sa_ll = ins.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
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
                elif found[ip] != mac and conflicts is not None and (ip in conflicts
                                                                      or len(conflicts) < MAX_CONFLICTS):
                    macs = conflicts.setdefault(ip, {found[ip]})
                    if len(macs) < 8:
                        macs.add(mac)
