"""Issue 7: the benchmark runs and prints its table. A smoke test on a 10-device site without the peers; it
never asserts a time (figures belong in BENCHMARKS.md, not in a pass/fail line)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from camscan.lab import LabUnavailable
from camscan.lab.bench import Scenario, site_document, site_spec
from camscan.lab.netns import check_available

pytestmark = pytest.mark.netns


def test_bench_prints_the_table(tmp_path):
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "camscan.lab.bench", "--scenarios", "a", "--devices-a", "10", "--no-peers",
         "--quiet", "--json", str(out)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any("tool" in line and "wall s" in line and "peak RSS MB" in line for line in lines), proc.stdout
    row = next(line for line in lines if line.split()[:1] == ["a"] and "camscan" in line.split())
    assert "/10" in row, proc.stdout  # the found column counts against the site's 10 devices
    data = json.loads(out.read_text())
    (scenario,) = data["scenarios"]
    (run,) = scenario["runs"]
    assert run["tool"] == "camscan" and run["returncode"] in (0, 1)
    assert run["rss_kb"] > 0 and run["wall_s"] > 0


def test_site_documents_of_the_scenarios():
    """No root needed: the scenario sites are valid, mixed, and placed as documented."""
    a = site_spec(Scenario("a", "", "198.51.100.0/24", 250))
    assert len(a.devices) == 250
    assert len({d.profile_name for d in a.devices}) >= 5  # mixed vendors
    assert {d.ip for d in a.devices} <= {f"198.51.100.{i}" for i in range(3, 255)}
    b = site_document(Scenario("b", "", "198.18.0.0/16", 1000, scatter=True))
    ips = [d["ip"] for d in b["device"]]
    assert len(set(ips)) == 1000
    assert len({ip.split(".")[2] for ip in ips}) > 200  # scattered over the /16, not packed at its start
    assert site_document(Scenario("b", "", "198.18.0.0/16", 1000, scatter=True))["device"] == b["device"]  # seeded
    c = site_document(Scenario("c", "", "198.51.100.0/24", 4, latency_ms=20))
    assert c["defaults"]["latency_ms"] == 20
    with pytest.raises(ValueError):
        site_document(Scenario("a", "", "198.51.100.0/24", 253))
