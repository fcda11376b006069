"""``camscan demo`` through the real CLI on the smallest shipped site: -q reaches the scan it runs, and the run
summary says why nothing was stored (the demo, not a --no-db nobody passed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from camscan.lab import LabUnavailable, cleanup_stale
from camscan.lab.netns import check_available

pytestmark = pytest.mark.netns


@pytest.fixture(autouse=True)
def _lab():
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camscan", "demo", "--site-file", "telecom", *args],
                          capture_output=True, text=True, timeout=300)


def test_demo_quiet_prints_only_the_alert_summary():
    proc = demo("-q", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert "not stored" not in proc.stderr and "device(s)," not in proc.stderr  # no run summary line
    assert "Huawei" in proc.stderr  # the --quiet alert: what exit 1 is about


def test_demo_summary_says_demo_not_no_db():
    proc = demo("--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert "not stored (demo)" in proc.stderr and "--no-db" not in proc.stderr
