"""Several devices at one address (issue 15): which addresses count as shared, and the rows made for them."""

from __future__ import annotations

from camscan.models import Evidence, Host
from camscan.sharedaddr import SharedAddresses, rows, warning

IP = "198.51.100.64"
A, B, C = "98:df:82:00:06:41", "98:df:82:00:06:42", "98:df:82:00:06:43"


def test_two_macs_from_one_protocol_make_an_address_shared():
    s = SharedAddresses()
    s.heard(IP, A, "arp")
    s.heard(IP, A, "sadp")
    assert not s.is_shared(IP)
    s.heard(IP, B, "sadp")
    assert s.is_shared(IP) and s.shared() == {IP: [A, B]}
    assert s.heard_by(IP, "arp") == {A}


def test_macs_from_different_protocols_are_not_compared():
    """A device may report another interface's MAC in its SADP reply than the one it answers ARP with."""
    s = SharedAddresses()
    s.heard(IP, A, "arp")
    s.heard(IP, B, "sadp")
    s.heard(IP, None, "wsd")
    assert not s.is_shared(IP) and s.shared() == {}


def test_a_flood_of_macs_is_capped():
    s = SharedAddresses()
    for i in range(100):
        s.heard(IP, f"02:00:00:00:00:{i:02x}", "arp")
    assert len(s.shared()[IP]) == 16


def test_rows_keep_each_macs_own_evidence_and_warn_with_the_others():
    per_mac = {A: Host(ip=IP, mac=A, seen_by=("sadp",), evidence=(Evidence("sadp", "serial", "SN-A"),)),
               B: Host(ip=IP, mac=B, seen_by=("sadp",), evidence=(Evidence("sadp", "serial", "SN-B"),))}
    got = rows(IP, [A, B, C], per_mac, arp_macs={A, C})
    assert [h.mac for h in got] == [A, B, C]
    assert got[0].first("sadp", "serial") == "SN-A" and got[0].first("arp", "mac") == A
    assert got[1].first("sadp", "serial") == "SN-B" and got[1].first("arp", "mac") is None
    assert got[2].evidence == (Evidence("arp", "mac", C),)
    text = warning(IP, A, [A, B, C])
    assert B in text and C in text and A not in text and "not probed over IP" in text
