"""ARP sweep: frame codec, plan and reply filter on bytes (scapy as an independent reader of our frames); the
sweep loop against a stand-in socket (retry round, callback, deadline, threads); the socket's refusals; and
the real thing between two network namespaces made here (root only). No frame is sent from the test
process itself: the real sweep runs in a child inside a namespace."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from camscan.discover import arp as arp_mod
from camscan.discover.arp import (
    IFF_NOARP,
    RETRY_MAX_ADDRESSES,
    ArpSweep,
    build_request,
    interface_mac,
    parse_reply,
    reply_filter,
    sweep_plan,
)
from camscan.models import Interface, ScanOptions
from camscan.transport import Transport

MY_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("c056e3000009")
OTHER_MAC = bytes.fromhex("020000000099")


def arp_reply(sender_ip="192.0.2.9", target_ip="192.0.2.10", sha=PEER_MAC, op=2, vlan=False) -> bytes:
    eth = MY_MAC + sha + (b"\x81\x00\x00\x05" if vlan else b"") + b"\x08\x06"
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, socket.inet_aton(sender_ip), MY_MAC,
                       socket.inet_aton(target_ip))
    return eth + body + bytes(18)  # padded to the Ethernet minimum, as on the wire


def test_request_layout():
    frame = build_request(MY_MAC, ipaddress.IPv4Address("192.0.2.10"), ipaddress.IPv4Address("192.0.2.9"))
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == MY_MAC and frame[12:14] == b"\x08\x06"
    assert frame[14:22] == bytes.fromhex("0001080006040001")
    assert frame[22:28] == MY_MAC and frame[28:32] == socket.inet_aton("192.0.2.10")
    assert frame[32:38] == bytes(6) and frame[38:42] == socket.inet_aton("192.0.2.9")
    with pytest.raises(ValueError):
        build_request(b"\x00", ipaddress.IPv4Address("192.0.2.10"), ipaddress.IPv4Address("192.0.2.9"))


def test_scapy_reads_our_request_and_we_read_its_reply():
    # scapy as an independent oracle: its dissector reads the bytes we send, its builder writes what we read.
    l2 = pytest.importorskip("scapy.layers.l2")
    frame = build_request(MY_MAC, ipaddress.IPv4Address("192.0.2.10"), ipaddress.IPv4Address("192.0.2.9"))
    pkt = l2.Ether(frame)
    assert (pkt.dst, pkt.src, pkt.type) == ("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", 0x0806)
    req = pkt[l2.ARP]
    assert (req.hwtype, req.ptype, req.hwlen, req.plen, req.op) == (1, 0x0800, 6, 4, 1)
    assert (req.hwsrc, req.psrc, req.hwdst, req.pdst) == ("02:00:00:00:00:01", "192.0.2.10",
                                                          "00:00:00:00:00:00", "192.0.2.9")
    assert not pkt.payload.payload.payload  # nothing after the ARP body (the NIC pads)
    reply = l2.Ether(dst="02:00:00:00:00:01", src="c0:56:e3:00:00:09") / l2.ARP(
        op="is-at", hwsrc="c0:56:e3:00:00:09", psrc="192.0.2.9", hwdst="02:00:00:00:00:01", pdst="192.0.2.10")
    assert parse_reply(bytes(reply)) == ("192.0.2.9", "c0:56:e3:00:00:09", "192.0.2.10")
    assert parse_reply(bytes(l2.Ether() / l2.ARP(op="who-has", psrc="192.0.2.9"))) is None


def test_reply_parsed():
    assert parse_reply(arp_reply()) == ("192.0.2.9", "c0:56:e3:00:00:09", "192.0.2.10")
    assert parse_reply(arp_reply(vlan=True)) == ("192.0.2.9", "c0:56:e3:00:00:09", "192.0.2.10")


@pytest.mark.parametrize("frame", [
    b"",
    arp_reply()[:30],
    arp_reply(op=1),  # a request, not an answer
    arp_reply(sha=bytes(6)),  # no usable MAC
    arp_reply(sha=b"\xff" * 6),
    arp_reply().replace(b"\x08\x06", b"\x08\x00", 1),
])
def test_non_replies_are_none(frame):
    assert parse_reply(frame) is None


def run_cbpf(prog: bytes, frame: bytes) -> int:
    """The kernel's classic BPF semantics for the three opcodes reply_filter uses (a load past the end of
    the frame drops it)."""
    insns = [struct.unpack_from("=HBBI", prog, i) for i in range(0, len(prog), 8)]
    pc, acc = 0, 0
    for _ in range(len(insns)):
        code, jt, jf, k = insns[pc]
        if code == 0x28:  # ldh [k]
            if k + 2 > len(frame):
                return 0
            acc = struct.unpack_from("!H", frame, k)[0]
            pc += 1
        elif code == 0x15:  # jeq #k, jt, jf
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("program ran off its end")


def test_reply_filter_passes_replies_only():
    prog = reply_filter()
    assert len(prog) == 6 * 8
    assert run_cbpf(prog, arp_reply()) > 0
    assert run_cbpf(prog, arp_reply(op=1)) == 0
    assert run_cbpf(prog, build_request(MY_MAC, ipaddress.IPv4Address("192.0.2.10"),
                                        ipaddress.IPv4Address("192.0.2.9"))) == 0
    assert run_cbpf(prog, arp_reply().replace(b"\x08\x06", b"\x08\x00", 1)) == 0
    assert run_cbpf(prog, arp_reply()[:21]) == 0


def iface(*cidrs: str, flags: int = 0x1 | 0x1000, name: str = "eth9") -> Interface:
    return Interface(name, 99, tuple(ipaddress.IPv4Interface(c) for c in cidrs), flags)


def test_plan_covers_own_subnet_only_without_own_address():
    pairs, notes = sweep_plan(iface("192.0.2.10/29"))
    assert [str(d) for _s, d in pairs] == [f"192.0.2.{i}" for i in (9, 11, 12, 13, 14)]
    assert {str(s) for s, _d in pairs} == {"192.0.2.10"} and notes == []


def test_plan_limited_to_targets_inside_the_subnet():
    nets = [ipaddress.IPv4Network("192.0.2.12/30"), ipaddress.IPv4Network("203.0.113.0/24")]
    pairs, _ = sweep_plan(iface("192.0.2.10/24"), nets)
    assert [str(d) for _s, d in pairs] == ["192.0.2.12", "192.0.2.13", "192.0.2.14", "192.0.2.15"]
    wide = [ipaddress.IPv4Network("192.0.0.0/16")]
    assert len(sweep_plan(iface("192.0.2.10/24"), wide)[0]) == 253


def test_plan_refuses_huge_subnets_and_handles_31_32():
    pairs, notes = sweep_plan(iface("10.0.0.1/8"))
    assert pairs == [] and "not swept" in notes[0]
    assert [str(d) for _s, d in sweep_plan(iface("192.0.2.0/31"))[0]] == ["192.0.2.1"]
    assert sweep_plan(iface("192.0.2.7/32"))[0] == []


def test_retry_limit_keeps_a_20_and_drops_a_16():
    assert len(sweep_plan(iface("10.1.0.1/20"))[0]) <= RETRY_MAX_ADDRESSES
    assert len(sweep_plan(iface("10.1.0.1/19"))[0]) > RETRY_MAX_ADDRESSES


def test_noarp_interface_is_a_skip():
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.10/30", flags=IFF_NOARP)).run(
        time.monotonic() + 1)
    assert found == {} and cov[0].status == "skipped"
    assert "does not use ARP" in skips[0].reason


def test_interface_without_ethernet_mac_is_a_skip():
    # The loopback device has an all-zero MAC (and is not Ethernet): refused before any socket is opened.
    lo = Interface("lo", socket.if_nametoindex("lo"), (ipaddress.IPv4Interface("127.0.0.1/30"),), 0x1 | 0x8)
    found, _cov, skips = ArpSweep(ScanOptions(), lo).run(time.monotonic() + 1)
    assert found == {} and "no Ethernet MAC" in skips[0].reason


def test_interface_mac_refusals():
    assert "no Ethernet MAC" in interface_mac("lo")
    assert interface_mac("camscan-nx0").startswith("cannot read the MAC of camscan-nx0")  # no such device
    assert "not an interface name" in interface_mac("x" * 16)
    assert "not an interface name" in interface_mac("")


def test_nothing_to_sweep():
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.7/32")).run(time.monotonic() + 1)
    assert found == {} and cov[0].status == "skipped" and skips == []


# --------------------------------------------------------------------------- the socket's refusals
@pytest.fixture
def any_mac(monkeypatch):
    """Interface eth9 has a MAC, whatever this machine has: the tests reach the socket step."""
    monkeypatch.setattr(arp_mod, "interface_mac", lambda name: MY_MAC)


class RefusingLink(Transport):
    """A transport whose packet link is refused with ``exc`` (the sweep's only socket)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__()
        self.exc = exc

    def packet_socket(self) -> socket.socket:
        raise self.exc


def test_permission_refused_is_a_skip(any_mac):
    refused = RefusingLink(PermissionError(1, "Operation not permitted"))
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.10/30"), transport=refused).run(time.monotonic() + 1)
    reason = "ARP sweep needs root or CAP_NET_RAW (raw layer-2 socket refused)"
    assert found == {} and [s.reason for s in skips] == [reason]
    assert cov[0].status == "skipped" and cov[0].note == reason


def test_other_socket_errors_are_a_skip(any_mac):
    refused = RefusingLink(OSError(97, "Address family not supported by protocol"))
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.10/30"), transport=refused).run(time.monotonic() + 1)
    assert found == {} and cov[0].status == "skipped"
    assert skips[0].reason.startswith("cannot open a packet socket on eth9: ")


def test_without_af_packet_is_a_skip(monkeypatch):
    monkeypatch.delattr(socket, "AF_PACKET")
    found, cov, skips = ArpSweep(ScanOptions(), iface("192.0.2.10/30")).run(time.monotonic() + 1)
    assert found == {} and cov[0].status == "skipped" and "AF_PACKET" in skips[0].reason


# --------------------------------------------------------------------------- the loop, on a stand-in
class FakeLink:
    """Stands in for the packet socket: counts the requests; each address in ``hosts`` answers with its
    MACs, except to the first request for an address in ``deaf_once`` (a lost frame)."""

    def __init__(self, hosts: dict[str, list[bytes]], deaf_once: set[str] = frozenset()) -> None:
        self.hosts = hosts
        self.deaf = set(deaf_once)
        self.asked: Counter[str] = Counter()
        self.r, self.w = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.r.setblocking(False)

    def fileno(self) -> int:
        return self.r.fileno()

    def send(self, frame: bytes) -> int:
        src, dst = socket.inet_ntoa(frame[28:32]), socket.inet_ntoa(frame[38:42])
        self.asked[dst] += 1
        if dst in self.deaf:
            self.deaf.discard(dst)
            return len(frame)
        for mac in self.hosts.get(dst, ()):
            self.w.send(arp_reply(dst, src, sha=mac))
        return len(frame)

    def recvfrom(self, size: int):
        return self.r.recv(size), ("eth9", 0x0806, 0, 1, b"")  # PACKET_HOST

    def close(self) -> None:
        self.r.close()
        self.w.close()


@pytest.fixture
def quick(monkeypatch):
    """Short waits, so a sweep against a FakeLink takes a fraction of a second."""
    monkeypatch.setattr(arp_mod, "ARP_WAIT", 0.05)
    monkeypatch.setattr(arp_mod, "RETRY_WAIT", 0.02)


def sweep_with(monkeypatch, link: FakeLink, ifc: Interface, deadline: float = 10.0, rate: float = 0.0,
               **kwargs) -> tuple:
    monkeypatch.setattr(ArpSweep, "_open", lambda self: (link, MY_MAC))
    return ArpSweep(ScanOptions(rate=rate), ifc, **kwargs).run(time.monotonic() + deadline)


def test_small_sweep_retries_silent_addresses(monkeypatch, quick):
    link = FakeLink({"192.0.2.9": [PEER_MAC], "192.0.2.12": [OTHER_MAC]}, deaf_once={"192.0.2.12"})
    found, cov, skips = sweep_with(monkeypatch, link, iface("192.0.2.10/29"))
    assert found == {"192.0.2.9": "c0:56:e3:00:00:09", "192.0.2.12": "02:00:00:00:00:99"}  # the retry found .12
    assert link.asked == {"192.0.2.9": 1, "192.0.2.11": 2, "192.0.2.12": 2, "192.0.2.13": 2, "192.0.2.14": 2}
    assert skips == [] and (cov[0].status, cov[0].tried, cov[0].answered, cov[0].note) == ("done", 5, 2, "via eth9")


def test_large_sweep_asks_each_address_once(monkeypatch, quick, caplog):
    monkeypatch.setattr(arp_mod, "RETRY_MAX_ADDRESSES", 4)
    link = FakeLink({"192.0.2.9": [PEER_MAC], "192.0.2.12": [OTHER_MAC]}, deaf_once={"192.0.2.12"})
    with caplog.at_level("DEBUG", logger="camscan.discover.arp"):
        found, cov, _skips = sweep_with(monkeypatch, link, iface("192.0.2.10/29"))
    assert found == {"192.0.2.9": "c0:56:e3:00:00:09"} and set(link.asked.values()) == {1}
    assert cov[0].status == "done" and "each address asked once (5 addresses, retried only up to 4)" in cov[0].note
    assert "no retry round" in caplog.text


def test_on_reply_sees_each_new_host_once_and_its_failure_is_not_the_sweeps(monkeypatch, quick, caplog):
    link = FakeLink({"192.0.2.9": [PEER_MAC, OTHER_MAC], "192.0.2.11": [OTHER_MAC]})
    calls: list[tuple[str, str]] = []

    def on_reply(ip: str, mac: str) -> None:
        calls.append((ip, mac))
        if ip == "192.0.2.9":
            raise RuntimeError("caller bug")

    found, _cov, skips = sweep_with(monkeypatch, link, iface("192.0.2.10/29"), on_reply=on_reply)
    assert sorted(calls) == sorted(found.items()) == [("192.0.2.11", "02:00:00:00:00:99"),
                                                       ("192.0.2.9", "c0:56:e3:00:00:09")]
    assert "on_reply callback failed for 192.0.2.9" in caplog.text
    assert [s.ip for s in skips] == ["192.0.2.9"] and "address conflict: 2 MACs" in skips[0].reason


class StoppingLink(FakeLink):
    """Ends the sweep (as the scan's deadline or a failure would, through its stop event) at the 5th request."""

    def __init__(self, hosts: dict[str, list[bytes]], stop: threading.Event) -> None:
        super().__init__(hosts)
        self.stop = stop

    def send(self, frame: bytes) -> int:
        if sum(self.asked.values()) >= 4:
            self.stop.set()
        return super().send(frame)


def test_a_sweep_cut_short_is_partial(monkeypatch, quick):
    stop = threading.Event()
    link = StoppingLink({"192.0.2.2": [PEER_MAC]}, stop)
    found, cov, skips = sweep_with(monkeypatch, link, iface("192.0.2.10/24"), rate=50, stop=stop)
    assert cov[0].status == "partial" and 0 < cov[0].tried < 253
    assert "scan deadline reached during the ARP sweep of eth9" in skips[-1].reason
    assert found == {"192.0.2.2": "c0:56:e3:00:00:09"}  # asked before the cut, answered


def test_sweeps_in_threads_keep_their_own_results(monkeypatch, quick):
    # One sweep per worker thread, as the scanner may run them beside the UDP discovery window.
    links = {f"eth{i}": FakeLink({f"192.0.{i}.9": [bytes([2, 0, 0, 0, 0, i])]}, deaf_once={f"192.0.{i}.12"})
             for i in range(1, 5)}
    monkeypatch.setattr(ArpSweep, "_open", lambda self: (links[self.iface.name], MY_MAC))
    results: dict[str, tuple] = {}
    start = threading.Barrier(len(links))

    def work(name: str) -> None:
        i = int(name[3:])
        sweep = ArpSweep(ScanOptions(rate=2000), iface(f"192.0.{i}.10/28", name=name))
        start.wait()
        results[name] = sweep.run(time.monotonic() + 10)

    threads = [threading.Thread(target=work, args=(name,)) for name in links]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for name, (found, cov, skips) in results.items():
        i = int(name[3:])
        assert found == {f"192.0.{i}.9": f"02:00:00:00:00:{i:02x}"} and skips == [], name
        assert cov[0].tried == 13 and links[name].asked[f"192.0.{i}.12"] == 2
    assert len(results) == len(links)


# --------------------------------------------------------------------------- between two namespaces
NS_NET = "198.51.100.0/24"
NS_A, NS_B = "198.51.100.1", "198.51.100.2"


@pytest.fixture
def veth_pair() -> Iterator[tuple[str, str, str]]:
    """Namespaces A (veth0, 198.51.100.1/24) and B (veth1, .2 and .3) joined by a veth pair; B's MAC.

    The names carry this process's pid (a crashed run's leftovers are removed on the next run, never a live
    run's); not the lab's ``csXXXX-`` pattern, which the lab's own stale-namespace cleanup owns."""
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces need Linux")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces and veth pairs needs root")
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    if ip is None:
        pytest.skip("iproute2 `ip` not found")
    listing = subprocess.run([ip, "netns", "list"], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        parts = line.split()[0].split("-") if line.strip() else []
        if len(parts) == 4 and parts[:2] == ["camscan", "arptest"] and parts[2].isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(parts[2]), 0)
                continue
            subprocess.run([ip, "netns", "del", "-".join(parts)], capture_output=True)
    a, b = f"camscan-arptest-{os.getpid()}-a", f"camscan-arptest-{os.getpid()}-b"
    try:
        for argv in (["netns", "add", a], ["netns", "add", b],
                     ["link", "add", "veth0", "netns", a, "type", "veth", "peer", "name", "veth1", "netns", b],
                     ["-n", a, "addr", "add", f"{NS_A}/24", "dev", "veth0"],
                     ["-n", b, "addr", "add", f"{NS_B}/24", "dev", "veth1"],
                     ["-n", b, "addr", "add", "198.51.100.3/24", "dev", "veth1"],
                     ["-n", a, "link", "set", "veth0", "up"], ["-n", b, "link", "set", "veth1", "up"]):
            res = subprocess.run([ip, *argv], capture_output=True, text=True)
            if res.returncode != 0:
                pytest.skip(f"cannot build the namespace pair (`ip {' '.join(argv)}`): {res.stderr.strip()}")
        link = json.loads(subprocess.run([ip, "-n", b, "-j", "link", "show", "veth1"], capture_output=True,
                                         text=True, check=True).stdout)
        yield a, b, link[0]["address"]
    finally:
        for ns in (a, b):
            subprocess.run([ip, "netns", "del", ns], capture_output=True)


def in_namespace(ns: str, code: str, timeout: float = 30) -> dict:
    """Run ``code`` with this interpreter inside namespace ``ns``; it prints one JSON document."""
    res = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


SWEEP = f"""
    import ipaddress, json, socket, time
    from camscan import serialize
    from camscan.discover.arp import ArpSweep
    from camscan.models import Interface, ScanOptions
    ifc = Interface("veth0", socket.if_nametoindex("veth0"), (ipaddress.IPv4Interface("{NS_A}/24"),), 0x1 | 0x1000)
    calls = []
    sweep = ArpSweep(ScanOptions(), ifc, [ipaddress.IPv4Network("198.51.100.0/28")],
                     on_reply=lambda ip, mac: calls.append([ip, mac]))
    t0 = time.monotonic()
    found, cov, skips = sweep.run(time.monotonic() + 20)
    print(json.dumps({{"found": found, "calls": calls, "cov": [serialize.to_dict(c) for c in cov],
                      "skips": [s.reason for s in skips], "seconds": time.monotonic() - t0}}))
"""


@pytest.mark.netns
def test_sweep_between_namespaces_finds_the_peer_mac(veth_pair):
    a, _b, peer_mac = veth_pair
    out = in_namespace(a, SWEEP)
    assert out["found"] == {NS_B: peer_mac, "198.51.100.3": peer_mac}
    assert sorted(map(tuple, out["calls"])) == sorted(out["found"].items())
    assert out["skips"] == []
    assert out["cov"] == [{"subnet": NS_NET, "method": "arp", "status": "done", "tried": 14, "answered": 2,
                           "note": "via veth0"}]


@pytest.mark.netns
def test_sweep_without_cap_net_raw_is_a_skip_in_a_namespace(veth_pair):
    a, _b, _mac = veth_pair
    if shutil.which("setpriv") is None:
        pytest.skip("util-linux `setpriv` not found")
    drop = "import subprocess, sys; subprocess.run(['setpriv', '--bounding-set', '-net_raw,-net_admin', " \
           "'--inh-caps', '-net_raw,-net_admin', sys.executable, '-c', " + repr(textwrap.dedent(SWEEP)) + \
           "], check=True)"
    out = in_namespace(a, drop)
    assert out["found"] == {} and out["skips"] == [
        "ARP sweep needs root or CAP_NET_RAW (raw layer-2 socket refused)"]


FILTER = f"""
    import ipaddress, json, select, socket, subprocess, sys
    from camscan.discover.arp import ArpSweep
    from camscan.models import Interface, ScanOptions
    ifc = Interface("veth0", socket.if_nametoindex("veth0"), (ipaddress.IPv4Interface("{NS_A}/24"),), 0x1 | 0x1000)
    filtered, mac = ArpSweep(ScanOptions(), ifc)._open()
    control = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))  # no filter
    control.bind(("veth0", 0x0806))
    control.setblocking(False)
    def read(sock):
        out = []
        while True:
            try:
                frame, sa = sock.recvfrom(2048)
            except BlockingIOError:
                return out
            out.append([sa[2], int.from_bytes(frame[20:22], "big")])
    seen = []
    def until(op):  # the unfiltered socket has seen an ARP frame with this op (5 s: a hang guard)
        while not any(o == op for _t, o in seen):
            if not select.select([control], [], [], 5)[0]:
                sys.exit(f"no ARP op {{op}} on the link")
            seen.extend(read(control))
    # B asks who has {NS_A} (a broadcast request to us), then we ask who has {NS_B} (B's reply comes back).
    subprocess.run(["ip", "netns", "exec", sys.argv[1], sys.executable, "-c",
                    "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('{NS_A}', 9))"],
                   check=True)
    until(1)
    subprocess.run(["ip", "neigh", "flush", "dev", "veth0"], check=True)
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("{NS_B}", 9))
    until(2)
    print(json.dumps({{"filtered": read(filtered), "control": seen + read(control), "mac": mac.hex()}}))
"""


@pytest.mark.netns
def test_kernel_filter_keeps_requests_out(veth_pair):
    a, b, peer_mac = veth_pair
    res = subprocess.run(["ip", "netns", "exec", a, sys.executable, "-c", textwrap.dedent(FILTER), b],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    control_ops = {op for _type, op in out["control"]}
    assert control_ops == {1, 2}, out  # both happened on the link
    assert out["filtered"] and {op for _type, op in out["filtered"]} == {2}, out
    assert len(out["mac"]) == 12 and out["mac"] != peer_mac.replace(":", "")
