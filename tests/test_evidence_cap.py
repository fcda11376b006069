"""Issue 12: evidence per device is capped (a 1 MB GetScopes gave 18,000 rows), the flooded source gives way
first, and a skip says what was left out."""

from __future__ import annotations

from camscan.models import Evidence, Host, ProbeResult, ScanOptions, Skip
from camscan.scan import MAX_EVIDENCE, Scanner, cap_evidence


def flood() -> tuple[Evidence, ...]:
    return ((Evidence("onvif.GetDeviceInformation", "manufacturer", "HIKVISION"),)
            + tuple(Evidence("onvif.GetScopes", "scope", f"onvif://www.onvif.org/x/{i}") for i in range(18000))
            + tuple(Evidence("http.header", f"x-{i}", "v") for i in range(40)))


def test_the_flooded_source_gives_way_and_the_rest_is_kept():
    kept, cut = cap_evidence(flood())
    assert len(kept) <= MAX_EVIDENCE
    assert kept[0].field == "manufacturer" and sum(1 for e in kept if e.source == "http.header") == 40
    assert cut == {"onvif.GetScopes": 18000 - sum(1 for e in kept if e.source == "onvif.GetScopes")}


def test_small_evidence_is_untouched():
    ev = flood()[:100]
    assert cap_evidence(ev) == (ev, {})


def test_the_scanner_caps_a_device_and_says_so():
    scanner = Scanner(ScanOptions(), neighbours=dict)  # no kernel neighbour table: a fake stage
    skips: list[Skip] = []
    hosts = {"198.51.100.7": Host(ip="198.51.100.7", seen_by=("wsd",))}
    merged = scanner._merge(hosts, [{"198.51.100.7": ProbeResult(evidence=list(flood()))}], skips)
    host = merged["198.51.100.7"]
    assert len(host.evidence) <= MAX_EVIDENCE + 2  # OUI evidence comes after the cap
    (skip,) = [s for s in skips if s.stage == "evidence"]
    assert skip.ip == "198.51.100.7" and "onvif.GetScopes" in skip.reason and f"at most {MAX_EVIDENCE}" in skip.reason
