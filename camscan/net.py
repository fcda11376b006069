"""Local interfaces, target parsing and scope checks.

This is the only module that imports ``netifaces``. netifaces reports addresses only; whether an interface
is up, loopback or multicast-capable comes from the kernel (``SIOCGIFFLAGS``).
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator, Sequence

from camscan.errors import NoInterfaceError, UsageError
from camscan.models import Interface

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_MULTICAST = 0x1000
_SIOCGIFFLAGS = 0x8913  # Linux <linux/sockios.h>

# Above this many addresses a target list needs --allow-large: cron has no terminal to confirm on, and a
# sweep of more than a /16 by mistake is a surprise nobody wants on a production network.
LARGE_RANGE = 65536
# Even with --allow-large: a sweep plan of more addresses than this costs hundreds of MB and hours at a
# production-safe rate. Split such a range into several scans.
MAX_RANGE = 1 << 18


def interface_flags(name: str) -> int:
    """Kernel interface flags (IFF_*), or 0 when they cannot be read."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packed = fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return 0
    return struct.unpack_from("H", packed, 16)[0]


def list_interfaces() -> list[Interface]:
    """Every interface with at least one IPv4 address, with its kernel flags."""
    import netifaces  # local import: loading it costs start-up time nobody needs for `--help`

    result = []
    for name in netifaces.interfaces():
        addrs = netifaces.ifaddresses(name).get(netifaces.AF_INET, [])
        v4 = []
        for a in addrs:
            try:
                v4.append(ipaddress.IPv4Interface(f"{a['addr']}/{a.get('netmask') or '255.255.255.255'}"))
            except (KeyError, ValueError):
                continue
        try:
            index = socket.if_nametoindex(name)
        except OSError:
            continue
        result.append(Interface(name=name, index=index, addresses=tuple(v4), flags=interface_flags(name)))
    return result


def usable(iface: Interface) -> bool:
    """Up, multicast-capable, not loopback, with an IPv4 address."""
    f = iface.flags
    return bool(iface.addresses) and bool(f & IFF_UP) and bool(f & IFF_MULTICAST) and not f & IFF_LOOPBACK


def select_interfaces(names: Sequence[str], available: Sequence[Interface] | None = None) -> list[Interface]:
    """The interfaces to scan from: the named ones, or every usable one when none is named.

    An unknown name is a usage error (exit 2); a named interface that exists but cannot be used, or no
    usable interface at all, is a could-not-run error (exit 3).
    """
    available = list(available if available is not None else list_interfaces())
    by_name = {i.name: i for i in available}
    if names:
        chosen = []
        for n in names:
            if n not in by_name:
                try:
                    socket.if_nametoindex(n)
                except OSError:
                    known = ", ".join(sorted(by_name)) or "none"
                    raise UsageError(f"unknown interface {n!r} (known: {known})") from None
                raise NoInterfaceError(f"interface {n!r} has no IPv4 address")
            iface = by_name[n]
            if not iface.flags & IFF_UP:
                raise NoInterfaceError(f"interface {n!r} is down")
            chosen.append(iface)
        return chosen
    chosen = [i for i in available if usable(i)]
    if not chosen:
        raise NoInterfaceError("no usable interface: none is up, multicast-capable and non-loopback with an "
                               "IPv4 address (name one with -i, or give targets)")
    return chosen


def parse_target(text: str) -> list[ipaddress.IPv4Network]:
    """An address, CIDR or range (``a.b.c.d-e.f.g.h`` or ``a.b.c.d-h``) as networks; UsageError if malformed."""
    text = text.strip()
    try:
        if "-" in text:
            first_s, last_s = text.split("-", 1)
            first = ipaddress.IPv4Address(first_s)
            if "." not in last_s:
                last = ipaddress.IPv4Address(int(first) & 0xFFFFFF00 | int(last_s))
            else:
                last = ipaddress.IPv4Address(last_s)
            if last < first:
                raise ValueError("range ends before it starts")
            return list(ipaddress.summarize_address_range(first, last))
        return [ipaddress.IPv4Network(text, strict=False)]
    except ValueError as exc:
        raise UsageError(f"malformed target {text!r}: {exc} (expected an IPv4 address, CIDR or range)") from None


def parse_targets(texts: Iterable[str], allow_large: bool = False) -> tuple[ipaddress.IPv4Network, ...]:
    nets: list[ipaddress.IPv4Network] = []
    for t in texts:
        nets.extend(parse_target(t))
    nets = list(ipaddress.collapse_addresses(nets))
    total = sum(n.num_addresses for n in nets)
    if total > MAX_RANGE:
        raise UsageError(f"targets cover {total} addresses, more than camscan scans at once ({MAX_RANGE}, a /14); "
                         "split them into several scans")
    if total > LARGE_RANGE and not allow_large:
        raise UsageError(f"targets cover {total} addresses, more than {LARGE_RANGE}; pass --allow-large to "
                         "scan them anyway")
    return tuple(nets)


def hosts(nets: Iterable[ipaddress.IPv4Network]) -> Iterator[ipaddress.IPv4Address]:
    """Every host address in the networks (network/broadcast excluded for /30 and larger)."""
    for n in nets:
        if n.prefixlen >= 31:
            yield from n
        else:
            yield from n.hosts()


def in_scope(ip: str, scope: Sequence[ipaddress.IPv4Network]) -> bool:
    """True when ``ip`` lies inside one of the scope networks. Unparsable input is out of scope."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    return any(addr in n for n in scope if n.version == addr.version)


def attached_networks(interfaces: Iterable[ipaddress.IPv4Network | object]) -> tuple[ipaddress.IPv4Network, ...]:
    nets = []
    for iface in interfaces:
        nets.extend(iface.networks)  # type: ignore[attr-defined]
    return tuple(ipaddress.collapse_addresses(nets))


def normalise_mac(text: str | None) -> str | None:
    """``AA-BB-CC-DD-EE-FF`` / ``aabb.ccdd.eeff`` / ``aabbccddeeff`` -> ``aa:bb:cc:dd:ee:ff``; None if not a MAC."""
    if not text:
        return None
    digits = "".join(c for c in text.strip().lower() if c in "0123456789abcdef")
    stripped = "".join(c for c in text.strip().lower() if c not in ":-. ")
    if len(digits) != 12 or digits != stripped:
        return None
    if digits in ("000000000000", "ffffffffffff"):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def neighbour_macs(path: str = "/proc/net/arp") -> dict[str, str]:
    """IPv4 -> MAC from the kernel neighbour table (complete entries only); empty where unavailable."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            next(fh, None)
            for line in fh:
                cols = line.split()
                # IP address, HW type, Flags, HW address, Mask, Device; flag 0x2 = ATF_COM (complete)
                if len(cols) >= 4 and int(cols[2], 16) & 0x2:
                    mac = normalise_mac(cols[3])
                    if mac:
                        out[cols[0]] = mac
    except (OSError, ValueError):
        return {}
    return out
