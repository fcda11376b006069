"""Issue 15 on the 'telecom' site: Huawei and ZTE network equipment and a Hytera repeater, which speak no camera
protocol, are found by the ARP sweep and port check, named from their web UI and flagged with citations."""

from __future__ import annotations

import pytest
from siteutil import run_scan

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def scan(telecom_site):
    return run_scan(telecom_site, "--no-db", "--format", "json", "--timeout", "2", "198.51.100.0/24")


@pytest.mark.parametrize("name, entity, device_class", [
    ("huawei-ont", "huawei", "network"),
    ("zte-gateway", "zte", "network"),
    ("hytera-repeater", "hytera", "radio"),
])
def test_network_and_radio_equipment_is_flagged_with_citations(telecom_site, scan, name, entity, device_class):
    dev = scan.devices[telecom_site.device(name).ip]
    assert dev["verdict"] == "sanctioned", dev["matches"]
    assert dev["device_class"] == device_class
    finding = dev["findings"][0]
    assert finding["entity"] == entity
    lists = {c["list"]: c for c in finding["lists"]}
    assert "ndaa_889" in lists and "fcc_covered" in lists
    assert lists["ndaa_889"]["citation"] and lists["fcc_covered"]["date"] == "2021-03-12"
    assert {e["evidence"]["source"] for e in finding["evidence"]} & {"http.realm", "http.header", "http.title"}


def test_the_camera_beside_them_stays_clear(telecom_site, scan):
    dev = scan.devices[telecom_site.device("axis").ip]
    assert dev["verdict"] == "clear" and dev["manufacturer"] == "Axis" and dev["device_class"] == "camera"
