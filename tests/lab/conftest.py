"""Fixtures for the lab tests: sites built from small inline site documents, a client runner.

Tests that need namespaces carry ``@pytest.mark.netns`` and skip (with the reason) when the lab is
unavailable, e.g. when not root.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from camscan.lab import LabUnavailable, Site, cleanup_stale, load_site
from camscan.lab.netns import check_available
from camscan.lab.sitefile import build_site

CLIENT = Path(__file__).with_name("lab_client.py")
PASSWORD = "camscan-lab-pw"


@pytest.fixture(scope="session")
def lab_available() -> None:
    """Skip unless namespaces can be built; remove a crashed run's leftovers once per session."""
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()


def build(doc: dict[str, Any]) -> Site:
    """A started Site from an inline site document; LabUnavailable becomes a skip."""
    try:
        return load_site(build_site(doc, source="<test>")).start()
    except LabUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def make_site(lab_available: None) -> Iterator[Callable[[dict[str, Any]], Site]]:
    """Factory for started sites from inline documents; all are closed after the test."""
    sites: list[Site] = []

    def factory(doc: dict[str, Any]) -> Site:
        site = build(doc)
        sites.append(site)
        return site

    yield factory
    for site in sites:
        site.close()


@pytest.fixture(scope="module")
def three_site(lab_available: None) -> Iterator[Site]:
    """Three devices: a Hikvision with a 3 h clock skew, an IPCAM that only answers untyped probes,
    and a Hanwha that wants HTTP Digest. Short APP_MAX_DELAY keeps the tests quick."""
    doc = {
        "site": {
            "subnet": "198.51.100.0/24",
            "scanner_ip": "198.51.100.2",
            "username": "admin",
            "password": PASSWORD,
        },
        "defaults": {"wsd_max_delay_ms": 100},
        "device": [
            {
                "name": "hik",
                "profile": "hikvision-ds-2cd2385g1-i",
                "ip": "198.51.100.10",
                "clock_offset_s": 10800,
            },
            {"name": "ipcam", "profile": "generic-ipcam-631ga", "ip": "198.51.100.11"},
            {"name": "hanwha", "profile": "hanwha-xnv-6080r", "ip": "198.51.100.12"},
        ],
    }
    site = build(doc)
    try:
        yield site
    finally:
        site.close()


FAULTS = ["hang", "reset", "trickle", "huge", "entity_bomb", "soap_fault", "malformed_xml"]


@pytest.fixture(scope="module")
def fault_site(lab_available: None) -> Iterator[Site]:
    """One device per fault, a slow device (400 ms latency), an Axis on a routed subnet and a
    Tapo with WS-Discovery switched off."""
    devices: list[dict[str, Any]] = [
        {"name": f, "profile": "generic-ipcam-631ga", "ip": f"198.51.100.{40 + i}", "fault": f}
        for i, f in enumerate(FAULTS)
    ]
    devices.append(
        {
            "name": "slow",
            "profile": "xiongmai-xm530",
            "ip": "198.51.100.60",
            "latency_ms": 400,
            "wsd_max_delay_ms": 0,
        }
    )
    devices.append({"name": "far", "profile": "axis-m1065-l", "ip": "203.0.113.20", "wsd_max_delay_ms": 0})
    devices.append({"name": "silent", "profile": "tapo-c200", "ip": "198.51.100.61", "wsd": False})
    doc = {
        "site": {"username": "admin", "password": PASSWORD},
        "subnet": [{"cidr": "203.0.113.0/24", "routed": True}],
        "device": devices,
    }
    site = build(doc)
    try:
        yield site
    finally:
        site.close()


@pytest.fixture(scope="module")
def vendor_site(lab_available: None) -> Iterator[Site]:
    """Devices with vendor protocols: Hikvision (SADP, RTSP), Amcrest (DHIP, RTSP), Reolink (RTSP)."""
    doc = {
        "site": {"username": "admin", "password": PASSWORD},
        "device": [
            {"name": "hik", "profile": "hikvision-ds-2cd2385g1-i", "ip": "198.51.100.70"},
            {"name": "amcrest", "profile": "amcrest-ip2m-841b", "ip": "198.51.100.71"},
            {"name": "reolink", "profile": "reolink-rlc-410-5mp", "ip": "198.51.100.72"},
        ],
    }
    site = build(doc)
    try:
        yield site
    finally:
        site.close()


ClientFn = Callable[..., dict[str, Any]]


def run_client(site: Site, command: str, exec_timeout: float = 60.0, **args: Any) -> dict[str, Any]:
    """Run tests/lab/lab_client.py inside the scanner namespace and return its JSON output."""
    res: subprocess.CompletedProcess[str] = site.exec(
        [sys.executable, str(CLIENT), command, json.dumps(args)], timeout=exec_timeout
    )
    assert res.returncode == 0, f"client failed: {res.stderr}"
    return json.loads(res.stdout)


@pytest.fixture
def client() -> ClientFn:
    """``client(site, "probe"|"soap"|"http", **args)``."""
    return run_client
