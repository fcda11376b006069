"""The two descriptions of one device stay together (issue 11): where a lab profile
(``camscan/lab/profiles/<name>.toml``) and a fixture folder (``fixtures/<name>/``) describe the same device,
replaying the fixture (``camscan replay``) and scanning the emulated device give the same maker, model,
firmware and verdict. A profile and a folder describe the same device when they carry the same name.

The lab scan runs with the site's credentials; a fixture recorded without them (a device that answers nothing
anonymously) shows no firmware, and then the firmware is not compared."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from siteutil import CAMSCAN, run_scan

from camscan.lab import LabUnavailable, cleanup_stale, load_site, profile_names
from camscan.lab.netns import check_available
from camscan.lab.sitefile import build_site

pytestmark = pytest.mark.netns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PAIRS = sorted(name for name in profile_names() if (FIXTURES / name / "device.toml").is_file())
FIELDS = ("manufacturer", "model", "firmware", "verdict")


def test_the_pairs_are_the_ones_expected():
    # a renamed profile or folder would silently drop a device from the comparison below
    assert len(PAIRS) >= 10, PAIRS


@pytest.fixture(scope="module")
def replayed() -> dict[str, dict]:
    """Each paired fixture folder's device, as ``camscan replay`` reports it (one run over all of them)."""
    proc = subprocess.run([*CAMSCAN, "replay", "--format", "json", *(str(FIXTURES / n) for n in PAIRS)],
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode == 2 and "invalid choice: 'replay'" in proc.stderr:
        pytest.skip("this tree has no 'camscan replay' yet")
    assert proc.returncode in (0, 1), proc.stderr
    by_ip = {d["ip"]: d for d in json.loads(proc.stdout)["devices"]}
    out = {}
    for name in PAIRS:
        ip = tomllib.loads((FIXTURES / name / "device.toml").read_text(encoding="utf-8"))["device"]["ip"]
        out[name] = by_ip[ip]
    return out


@pytest.fixture(scope="module")
def scanned() -> dict[str, dict]:
    """Each paired profile as one device of an emulated site, scanned through the real CLI."""
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()
    devices = [{"name": name, "profile": name, "ip": f"198.51.100.{10 + i}"} for i, name in enumerate(PAIRS)]
    doc = {"site": {"subnet": "198.51.100.0/24", "scanner_ip": "198.51.100.2", "gateway": "198.51.100.1",
                    "username": "admin", "password": "camscan-lab-pw"},
           "defaults": {"wsd_max_delay_ms": 150}, "device": devices}
    with load_site(build_site(doc, source="<profiles with fixtures>")) as site:
        scan = run_scan(site, "--no-db", "--format", "json", "198.51.100.0/24")
        assert scan.proc.returncode in (0, 1), scan.proc.stderr
        return {name: scan.devices[site.device(name).ip] for name in PAIRS}


@pytest.mark.parametrize("name", PAIRS)
def test_replaying_the_fixture_and_scanning_the_lab_device_agree(name, replayed, scanned):
    fields = [f for f in FIELDS if f != "firmware" or replayed[name]["firmware"] is not None]
    fixture = {f: replayed[name][f] for f in fields}
    lab = {f: scanned[name][f] for f in fields}
    assert lab == fixture, f"fixtures/{name} and camscan/lab/profiles/{name}.toml describe different devices"


def test_the_comparison_is_not_empty(scanned):
    assert all(d["manufacturer"] and d["model"] for d in scanned.values())
