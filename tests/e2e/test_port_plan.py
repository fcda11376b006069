"""The port check on a live site (issue 17): on a host whose WS-Discovery reply gave its ONVIF address, it leaves
out the ONVIF and alternative web ports that add nothing for it, and still asks every port whose answer is
evidence of its own: the vendor SDK ports rules read to tell relabels apart (Dahua's 37777, Xiongmai's 34567),
RTSP, TLS and the usual web port. A host that never answered WS-Discovery gets every port checked."""

from __future__ import annotations

import pytest
from siteutil import emulated_site, run_scan

pytestmark = pytest.mark.netns

DEVICES = [
    # a Dahua-made relabel: WS-Discovery gives its ONVIF address; its SDK port is open too
    {"name": "amcrest", "profile": "amcrest-ip2m-841b", "ip": "198.51.100.10", "tcp_ports": [37777]},
    # ONVIF on 8899, web UI on 80, the Sofia port open
    {"name": "xiongmai", "profile": "xiongmai-xm530", "ip": "198.51.100.11", "tcp_ports": [34567]},
    # no WS-Discovery at all: ONVIF and web on 8080, found by ARP and the port check alone
    {"name": "silent", "profile": "generic-ipcam-631ga", "ip": "198.51.100.12", "wsd": False, "port": 8080,
     "tcp_ports": [37777]},
]


@pytest.fixture(scope="module")
def site():
    yield from emulated_site(DEVICES, "<port plan test>")


@pytest.fixture(scope="module")
def scan(site):
    return run_scan(site, "--no-db", "--format", "json", "--timeout", "2", "198.51.100.0/24")


def _open(device: dict) -> set[str]:
    return {e["value"] for e in device["evidence"] if e["source"] == "tcp" and e["field"] == "open"}


def _rules(device: dict) -> set[str]:
    return {m["rule"] for m in device["matches"]}


def test_the_vendor_sdk_ports_of_identified_hosts_are_still_checked_and_read_by_their_rules(site, scan):
    amcrest = scan.devices[site.device("amcrest").ip]
    assert any(e["source"] == "wsd" for e in amcrest["evidence"])  # identified through WS-Discovery
    assert "37777" in _open(amcrest) and "dahua.tcp.37777" in _rules(amcrest)
    assert amcrest["manufacturer"] == "Dahua" and amcrest["verdict"] in ("sanctioned", "review")
    xiongmai = scan.devices[site.device("xiongmai").ip]
    assert "34567" in _open(xiongmai) and "xiongmai.tcp.34567" in _rules(xiongmai)
    # its web UI on 80, apart from ONVIF on 8899: still read (rules use the Server header and title)
    assert {"80", "8899"} <= _open(xiongmai)
    assert any(e["source"].startswith("http.") for e in xiongmai["evidence"])
    assert xiongmai["manufacturer"] == "Xiongmai"


def test_a_host_that_never_answered_ws_discovery_gets_every_port_checked(site, scan):
    silent = scan.devices[site.device("silent").ip]
    assert not any(e["source"] == "wsd" for e in silent["evidence"])
    assert {"8080", "37777"} <= _open(silent)
    assert any(e["source"].startswith("onvif.") for e in silent["evidence"])  # ONVIF found on its open port
