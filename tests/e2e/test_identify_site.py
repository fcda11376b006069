"""Issues 3 and 4 on the 'vendors' site: who really made each box (relabels, look-alikes, citations, site
policy), and what camscan sees past ONVIF (SADP-only, DHIP-only, a routed camera that ignores discovery,
ARP MACs, coverage, running without raw-socket privileges)."""

from __future__ import annotations

import pytest
from siteutil import cli_env, run_scan

pytestmark = pytest.mark.netns

TARGETS = ("198.51.100.0/24", "203.0.113.0/24")
FLAGGED = {"sanctioned", "review"}


@pytest.fixture(scope="module")
def scan(vendors_site):
    return run_scan(vendors_site, "--no-db", "--format", "json", "--timeout", "2", *TARGETS)


@pytest.fixture(scope="module")
def table(vendors_site):
    return run_scan(vendors_site, "--no-db", "--timeout", "2", *TARGETS)


def device(site, scan, name):
    return scan.devices[site.device(name).ip]


# ------------------------------------------------------------------------------------------- issue 3
def test_relabelled_dahua_and_neutral_hikvision_oem_are_flagged_with_reasons(vendors_site, scan):
    amcrest = device(vendors_site, scan, "amcrest-relabel")
    assert amcrest["verdict"] in FLAGGED and amcrest["brand"] == "Amcrest"
    assert amcrest["findings"][0]["entity"] == "dahua" and amcrest["findings"][0]["evidence"]
    oem = device(vendors_site, scan, "oem-neutral-hik")
    assert oem["verdict"] in FLAGGED and oem["brand"] == "SecurVue"
    finding = oem["findings"][0]
    assert finding["entity"] == "hikvision"
    assert {e["evidence"]["source"] for e in finding["evidence"]} & {"sadp", "http.header"}


@pytest.mark.parametrize(
    "name, maker",
    [
        ("tapo-lookalike", "TP-Link"),
        ("xiongmai-h264", "Xiongmai"),
        ("axis", "Axis"),
        ("hanwha", "Hanwha Vision"),
        ("uniview", "Uniview"),
    ],
)
def test_look_alikes_and_unlisted_makers_are_never_flagged(vendors_site, scan, name, maker):
    got = device(vendors_site, scan, name)
    assert got["verdict"] in ("clear", "unknown") and not got["findings"]
    assert got["manufacturer"] == maker


def test_citations_in_json_and_table(vendors_site, scan, table):
    lists = {
        (c["list"], c["date"])
        for c in device(vendors_site, scan, "hik-nvr-sadp-only")["findings"][0]["lists"]
    }
    assert ("entity_list", "2019-10-09") in lists and ("fcc_covered", "2021-03-12") in lists
    assert any(name == "ndaa_889" for name, _ in lists)
    out = table.proc.stdout
    assert "Entity List" in out and "2019-10-09" in out and "84 FR 54002" in out
    assert "not a ban on owning or operating a camera" in out


def test_site_policy_file_changes_verdicts(vendors_site, tmp_path_factory):
    policy = tmp_path_factory.mktemp("policy") / "site.toml"
    policy.write_text("""
[lists.site_rules]
name = "Site security standard: no Uniview"
default = true
[[entities]]
id = "uniview"
name = "Zhejiang Uniview Technologies Co., Ltd."
short = "Uniview"
[[entities.listings]]
list = "site_rules"
date = "2026-01-01"
citation = "Site security standard 4.2"
""")
    ip = vendors_site.device("uniview").ip
    res = run_scan(vendors_site, "--no-db", "--format", "json", "--timeout", "2", "--policy", str(policy), ip)
    got = res.devices[ip]
    assert (
        got["verdict"] == "sanctioned"
        and got["findings"][0]["lists"][0]["citation"] == "Site security standard 4.2"
    )
    assert res.proc.returncode == 1


# ------------------------------------------------------------------------------------------- issue 4
def test_sadp_only_nvr_is_a_full_row(vendors_site, scan):
    got = device(vendors_site, scan, "hik-nvr-sadp-only")
    assert "sadp" in got["seen_by"] and "wsd" not in got["seen_by"] and "onvif" not in got["seen_by"]
    assert (
        got["model"] == "DS-7608NI-K2"
        and got["manufacturer"] == "Hikvision"
        and got["verdict"] == "sanctioned"
    )
    assert got["firmware"] and got["serial"]


def test_dhip_only_device_is_a_full_row(vendors_site, scan):
    got = device(vendors_site, scan, "dahua-dhip-only")
    assert "dhip" in got["seen_by"] and "wsd" not in got["seen_by"]
    assert (
        got["model"] == "IPC-HDW1431T1-S4"
        and got["manufacturer"] == "Dahua"
        and got["verdict"] == "sanctioned"
    )


def test_routed_camera_that_ignores_discovery_is_found_by_the_port_check(vendors_site, scan):
    dev = vendors_site.device("routed-silent")
    got = scan.devices[dev.ip]
    assert got["model"] == dev.model and "onvif" in got["seen_by"] and "tcp" in got["seen_by"]
    assert got["mac"] == dev.mac  # from ONVIF GetNetworkInterfaces: ARP cannot cross the router


def test_arp_supplies_macs_for_every_device_on_the_segment(vendors_site, scan):
    for dev in vendors_site.devices:
        if dev.ip.startswith("198.51.100."):
            got = scan.devices[dev.ip]
            assert got["mac"] == dev.mac and "arp" in got["seen_by"], dev.name


def test_coverage_in_json_and_table(scan, table):
    cov = {(c["subnet"], c["method"]): c for c in scan.data["coverage"]}
    assert cov[("198.51.100.0/24", "arp")]["answered"] >= 10
    assert cov[("203.0.113.0/24", "multicast")]["status"] == "skipped"
    assert "multicast and ARP cannot cross routers" in cov[("203.0.113.0/24", "multicast")]["note"]
    assert "Coverage" in table.proc.stdout and "cannot cross routers" in table.proc.stdout


def test_without_raw_socket_privilege_arp_is_a_stated_skip(vendors_site):
    # drop CAP_NET_RAW/CAP_NET_ADMIN from the bounding set: what a non-root user has
    argv = ["setpriv", "--bounding-set", "-net_raw,-net_admin", "--inh-caps", "-net_raw,-net_admin"]
    from siteutil import CAMSCAN

    proc = vendors_site.exec(
        [*argv, *CAMSCAN, "scan", "--no-db", "--format", "json", "--timeout", "2", "198.51.100.0/24"],
        env=cli_env(vendors_site),
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    import json

    data = json.loads(proc.stdout)
    arp_skips = [s for s in data["skips"] if s["stage"] == "arp"]
    assert arp_skips and any("CAP_NET_RAW" in s["reason"] or "root" in s["reason"] for s in arp_skips)
    assert vendors_site.device("hik-nvr-sadp-only").ip in {d["ip"] for d in data["devices"]}
