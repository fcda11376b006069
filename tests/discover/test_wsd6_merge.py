from camscan.discover.wsd6 import merge_ipv6
from camscan.models import Evidence, Host


def test_dual_stack_device_is_one_row_and_ipv6_only_stays():
    v4 = {"198.51.100.10": Host(ip="198.51.100.10", endpoint="urn:uuid:a", seen_by=("wsd",))}
    v6 = {
        "fe80::1%eth0": Host(ip="fe80::1%eth0", endpoint="urn:uuid:a", seen_by=("wsd6",),
                             evidence=(Evidence("wsd6", "address", "fe80::1%eth0"),)),
        "fe80::2%eth0": Host(ip="fe80::2%eth0", endpoint="urn:uuid:b", seen_by=("wsd6",)),
    }
    out = merge_ipv6(v4, v6)
    assert set(out) == {"198.51.100.10", "fe80::2%eth0"}
    assert "wsd6" in out["198.51.100.10"].seen_by
    assert out["198.51.100.10"].first("wsd6", "address") == "fe80::1%eth0"
