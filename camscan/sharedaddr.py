"""Several devices answering at one address: factory-default units (unactivated Hikvision cameras all come up on
192.168.1.64 or 192.0.0.64, Dahua on 192.168.1.108) and misaddressed ones.

Such an address is not one device. A TCP answer from it cannot be told apart (whichever unit wins the ARP race
gets the connection), so the scan sends it no IP probe at all: each unit becomes a report row of its own, keyed
by the MAC it answered with, identified from what ARP, SADP and DHIP said together with that MAC, and the row
says why it was not probed. An address counts as shared when one protocol heard two or more MACs at it (two ARP
answers, two SADP replies naming different MACs...); MACs from different protocols are not compared, since a
device may report another interface's MAC in its discovery reply.
(A device heard from an address outside every scanned subnet is a report-only row: camscan.discover.live.)
"""

from __future__ import annotations

import threading

from camscan.discover.arp import arp_evidence
from camscan.models import Host

MAX_MACS = 16  # MACs kept per address and protocol (a spoofing flood must not grow the report)


class SharedAddresses:
    """Thread-safe record of the MACs each protocol heard at each address (the ARP thread and the UDP
    window both report to it; probe jobs ask it before they start)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heard: dict[str, dict[str, dict[str, None]]] = {}  # ip -> protocol -> MACs in order
        self._shared: dict[str, None] = {}

    def heard(self, ip: str, mac: str | None, protocol: str) -> None:
        if not mac:
            return
        with self._lock:
            macs = self._heard.setdefault(ip, {}).setdefault(protocol, {})
            if mac not in macs and len(macs) < MAX_MACS:
                macs[mac] = None
                if len(macs) > 1:
                    self._shared[ip] = None

    def heard_by(self, ip: str, protocol: str) -> set[str]:
        with self._lock:
            return set(self._heard.get(ip, {}).get(protocol, ()))

    def is_shared(self, ip: str) -> bool:
        return ip in self._shared

    def shared(self) -> dict[str, list[str]]:
        """Every shared address with all MACs heard there (any protocol), in the order first heard."""
        with self._lock:
            out = {}
            for ip in self._shared:
                macs: dict[str, None] = {}
                for heard in self._heard[ip].values():
                    macs.update(heard)
                out[ip] = list(macs)
            return out


def rows(ip: str, macs: list[str], per_mac: dict[str, Host], arp_macs: set[str]) -> list[Host]:
    """One Host per MAC heard at a shared address: the discovery evidence that came with that MAC (a SADP or
    DHIP reply carries it) and its ARP answer. Nothing sent to the address over IP is in them."""
    out = []
    for mac in macs:
        host = per_mac.get(mac) or Host(ip=ip, mac=mac)
        host = Host(ip=ip, mac=mac, seen_by=host.seen_by, evidence=host.evidence)
        if mac in arp_macs:
            host = host.add(seen_by="arp", evidence=arp_evidence(mac))
        out.append(host)
    return out


def warning(ip: str, mac: str | None, macs: list[str]) -> str:
    others = [m for m in macs if m != mac]
    return (f"shares the address {ip} with {len(others)} other device(s) ({', '.join(others)}): a factory-default "
            "or misaddressed unit. It was not probed over IP (a TCP answer could come from any of them) and is "
            "identified only from what ARP, SADP and DHIP said with its MAC; give each device an address of its "
            "own")

