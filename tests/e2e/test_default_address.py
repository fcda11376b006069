"""Issue 15 on the 'defaults' site: several unactivated units sharing one factory-default address are separate
rows keyed by MAC (from what ARP and SADP said with each MAC), the shared address gets no IP probe, and each row
says why; a unit misaddressed outside the scanned subnet is a report-only row, never probed nor sent
credentials."""

from __future__ import annotations

import pytest
from siteutil import run_scan

pytestmark = pytest.mark.netns

SHARED = "198.51.100.64"


@pytest.fixture(scope="module")
def scan(defaults_site):
    defaults_site.clear_request_log()
    result = run_scan(defaults_site, "--no-db", "--format", "json", "--timeout", "2", "198.51.100.0/24")
    return result, defaults_site.request_log()


def test_each_unit_on_the_shared_address_is_its_own_row(defaults_site, scan):
    result, _log = scan
    rows = [d for d in result.data["devices"] if d["ip"] == SHARED]
    fresh = [d for d in defaults_site.devices if d.name.startswith("fresh-")]
    assert sorted(r["mac"] for r in rows) == sorted(d.mac for d in fresh)
    assert len({r["key"] for r in rows}) == len(fresh)  # keyed by MAC, not one row for the address
    for row in rows:
        assert row["manufacturer"] == "Hikvision" and row["verdict"] == "sanctioned"
        assert row["serial"] and row["serial"].endswith(row["mac"].replace(":", "")[-6:])  # its own SADP reply
        assert any("shares the address" in w and "not probed over IP" in w for w in row["warnings"])
        assert any("not activated" in w for w in row["warnings"])
        others = {d.mac for d in fresh} - {row["mac"]}
        assert all(any(m in w for w in row["warnings"]) for m in others)
    assert not [s for s in result.skips if s["ip"] == SHARED]  # rows, not a fault skip


def test_no_ip_probe_went_to_the_shared_address(defaults_site, scan):
    _result, log = scan
    for dev in (d for d in defaults_site.devices if d.name.startswith("fresh-")):
        probes = [e for e in defaults_site.request_log(dev.name) if e["proto"] in ("http", "rtsp", "onvif")]
        assert not probes, probes
        assert not [e for e in defaults_site.request_log(dev.name) if e.get("credentialed")]


def test_the_unit_on_its_own_address_is_probed_as_usual(defaults_site, scan):
    result, _log = scan
    dev = defaults_site.device("activated")
    row = result.devices[dev.ip]
    assert row["verdict"] == "sanctioned" and "http" in " ".join(row["seen_by"])
    assert not any("shares the address" in w for w in row["warnings"])


def test_a_misaddressed_unit_is_reported_only(defaults_site):
    """With no targets, a unit heard from outside the attached subnet is a report-only row (issue 12's rows)."""
    dev = defaults_site.device("misaddressed")
    defaults_site.clear_request_log()
    result = run_scan(defaults_site, "--no-db", "--format", "json", "--timeout", "2")
    row = result.devices[dev.ip]
    assert row["manufacturer"] == "Hikvision" and row["verdict"] == "sanctioned"
    assert any(s["stage"] == "scope" and "never probed" in s["reason"] for s in result.skips_for(dev.ip))
    log = defaults_site.request_log("misaddressed")
    assert log and all(e["proto"] == "sadp" and e.get("mcast") for e in log), log  # heard, never asked
    assert not [e for e in log if e.get("credentialed")]
