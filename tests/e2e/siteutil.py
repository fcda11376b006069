"""Helpers for the end-to-end tests: run the real CLI inside an emulated site's scanner namespace."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from camscan.lab import Site

CAMSCAN = [sys.executable, "-m", "camscan.cli"]
# cron's minimal environment: no inherited variables beyond these
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def cli_env(site: Site, **extra: str) -> dict[str, str]:
    env = dict(BASE_ENV, CAMSCAN_USERNAME=site.username, CAMSCAN_PASSWORD=site.password)
    env.update(extra)
    return env


class Scan:
    def __init__(self, proc, data):
        self.proc = proc
        self.data = data
        self.devices = {d["ip"]: d for d in data["devices"]} if data else {}
        self.skips = data["skips"] if data else []

    def skips_for(self, ip: str) -> list[dict]:
        return [s for s in self.skips if s["ip"] == ip]


def run_scan(site: Site, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Scan:
    """`camscan scan ... --format json` inside the scanner namespace; JSON parsed when it is JSON."""
    env = env if env is not None else cli_env(site)
    proc = site.exec([*CAMSCAN, "scan", *args], env=env, timeout=timeout)
    data = None
    if "--format" in args and args[args.index("--format") + 1] == "json" and "-o" not in args:
        data = json.loads(proc.stdout) if proc.stdout.strip() else None
    return Scan(proc, data)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


ROOT = Path(__file__).resolve().parents[2]
