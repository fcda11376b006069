"""Helpers for the end-to-end tests: run the real CLI inside an emulated site's scanner namespace."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from camscan.lab import Site
from camscan.lab.netns import NETNS_DIR, setns

CAMSCAN = [sys.executable, "-m", "camscan.cli"]
# cron's minimal environment: no inherited variables beyond these
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def require_lab() -> None:
    """Skip the calling test, with the reason, when the lab cannot run here; clear what a killed run left."""
    import pytest

    from camscan.lab import LabUnavailable, cleanup_stale
    from camscan.lab.netns import check_available

    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()


def site_doc(devices: list[dict], **defaults: object) -> dict:
    """A site document of ``devices`` on 198.51.100.0/24 (the scanner at .2), with the lab's credentials."""
    return {"site": {"subnet": "198.51.100.0/24", "scanner_ip": "198.51.100.2", "gateway": "198.51.100.1",
                     "username": "admin", "password": "camscan-lab-pw"},
            "defaults": {"wsd_max_delay_ms": 150, **defaults}, "device": devices}


def emulated_site(devices: list[dict], source: str, **defaults: object) -> Iterator[Site]:
    """A running site of ``devices`` (see :func:`site_doc`), for a module fixture to yield from; skips the test
    with the reason when the lab cannot run here."""
    from camscan.lab import load_site
    from camscan.lab.sitefile import build_site

    require_lab()
    with load_site(build_site(site_doc(devices, **defaults), source=source)) as site:
        yield site


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


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds: synchronisation on a real condition, never on a guessed delay.
    ``timeout`` only guards against a hang (the failure names ``what``)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def reached(site: Site, device: str | None, *protos: str) -> Callable[[], bool]:
    """A condition: ``device`` (any device: None) has received a request (of one of ``protos``, any: none
    given) since the site's request log was last cleared."""
    return lambda: any(not protos or e.get("proto") in protos for e in site.request_log(device))


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


ROOT = Path(__file__).resolve().parents[2]


def readme_blocks(lang: str) -> list[str]:
    """The README's fenced code blocks in ``lang``."""
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def localise(text: str, tmp: Path) -> str:
    """The README's install paths mapped onto this checkout and a temporary state directory."""
    venv = Path(sys.executable).parent.parent
    return (
        text.replace("/opt/camscan/.venv", str(venv))
        .replace("${CREDENTIALS_DIRECTORY}/camscan.toml", str(tmp / "camscan.toml"))
        .replace("/etc/camscan/camscan.toml", str(tmp / "camscan.toml"))
        .replace("/var/lib/camscan/", f"{tmp}/")
    )


def socket_in_netns(ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket created inside network namespace ``ns`` (a socket keeps the namespace it was made in), so a
    receiver run by the test process is reachable from a scan inside that namespace. The namespace switch
    happens on a short-lived thread: setns(2) moves only the calling thread."""
    made: dict[str, object] = {}

    def make() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(NETNS_DIR / ns, os.O_RDONLY)
        try:
            setns(target)
            try:
                made["sock"] = socket.socket(family, kind)
            finally:
                setns(own)
        except OSError as exc:
            made["error"] = exc
        finally:
            os.close(target)
            os.close(own)

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]  # type: ignore[misc]
    return made["sock"]  # type: ignore[return-value]
