"""``camscan demo``: build an emulated site, run the real ``camscan scan`` inside it, tear it down.

The scan runs as a child process in the site's scanner namespace (``sys.executable -m camscan``: the same
install as this one, wherever it lives) with the site's credentials in ``CAMSCAN_USERNAME``/
``CAMSCAN_PASSWORD``; its report goes straight to this process's stdout and its exit code is returned, so
``camscan demo`` behaves like a scan of a real network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from camscan.errors import PermissionDenied, UsageError
from camscan.lab.netns import LabUnavailable, cleanup_stale, load_site
from camscan.lab.sitefile import SiteFileError

DEMO_SCAN_TIMEOUT_S = 600.0


def scan_argv(fmt: str, targets: list[str], quiet: bool = False) -> list[str]:
    """The command line of the scan the demo runs (the real CLI, without the inventory; ``camscan demo -q``
    runs it with --quiet)."""
    return [sys.executable, "-m", "camscan", "scan", "--no-db", "--demo", *(["--quiet"] if quiet else []),
            "--format", fmt, *targets]


def run_demo(site: str | Path, fmt: object = "table", quiet: bool = False) -> int:
    """Run the demo on a shipped site name or a site file; returns the scan's exit code."""
    cleanup_stale()
    try:
        lab = load_site(site)
    except SiteFileError as exc:
        raise UsageError(f"demo site: {exc}") from None
    env = dict(os.environ)
    if lab.username:
        env["CAMSCAN_USERNAME"] = lab.username
        env["CAMSCAN_PASSWORD"] = lab.password
    targets = [lab.spec.subnet, *(s.cidr for s in lab.spec.subnets)]
    try:
        with lab:
            # stdout/stderr are inherited: the report is the scan's own output.
            proc = lab.popen(scan_argv(str(fmt), targets, quiet), env=env, stdout=None, stderr=None, text=False)
            try:
                return proc.wait(timeout=DEMO_SCAN_TIMEOUT_S)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    except LabUnavailable as exc:
        raise PermissionDenied(f"camscan demo needs the emulated lab: {exc}") from None
