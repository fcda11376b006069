"""The benchmark: camscan's full inventory of emulated sites, with WS-Discovery peers side by side.

    python -m camscan.lab.bench                                   # scenarios a, b, c with the peers
    python -m camscan.lab.bench --scenarios a,c --repeat 3        # medians of three runs
    python -m camscan.lab.bench --scenarios a --devices-a 10 --no-peers   # a quick look (the smoke test)

Scenarios (issue 7), each on its own emulated site (``camscan.lab``: network namespaces, one device-server
process serving every fake device, so hundreds of devices are not hundreds of processes):

* ``a``: a /24 (198.51.100.0/24) with 250 devices cycling through every shipped profile (mixed vendors);
* ``b``: a directly attached /16 (198.18.0.0/16) with 1,000 devices scattered over it (fixed seed);
* ``c``: the site of ``a`` with 20 ms added to every reply (the profile knob ``latency_ms``; the kernel here has
  no netem, so the fake devices wait before they answer).

For each site the benchmark runs, inside the scanner namespace, one after the other: camscan's full inventory
through its real CLI (``camscan scan --no-db --format json TARGET``: discovery, ONVIF identity, HTTP evidence,
verdicts) at its default settings, nmap's ``broadcast-wsdd-discover`` script and the WSDiscovery package's
``wsdiscover`` (both WS-Discovery only). Before every run each device learns the scanner's MAC (one unicast ARP
request each, see ``_WARM``) and the scanner's own neighbour cache is flushed. Per run it records the wall time
of the process, the devices found (addresses of the site's devices in the tool's output), the peak RSS (``wait4``
rusage of the tool itself, see ``_RUNNER``), CPU time, UDP datagrams the kernel dropped because a socket's receive
buffer was full (``RcvbufErrors`` of the scanner namespace; nothing else runs there) and frames the scanner's
interface dropped on receive (the emulation's own losses).

The peers are benchmark-only: nmap comes from the distribution (``apt-get install -y nmap``) and WSDiscovery
from the package index into a throwaway virtual environment (``--peers-dir``), never into camscan's own,
each only when missing (``--no-install`` to never install). The benchmark prints figures; it never asserts a
time (BENCHMARKS.md has the method and a run's output).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camscan.lab.netns import LabUnavailable, Site, check_available, cleanup_stale, load_site
from camscan.lab.sitefile import SiteSpec, build_site, load_profile, profile_names

# --- defaults (issue 7) ---------------------------------------------------------------------------------------
DEVICES_A = 250
DEVICES_B = 1000
LATENCY_MS = 20
CIDR_A = "198.51.100.0/24"
CIDR_B = "198.18.0.0/16"
SEED = 7  # where the /16's devices land: fixed, so every run scans the same site
USERNAME, PASSWORD = "admin", "camscan-lab-pw"
# Targets the issues set (7, then 17; printed beside the figures, never asserted).
TARGET_A_RATIO = 0.3  # camscan's full inventory <= 0.3 x nmap's discovery-only time, every device found
TARGET_CPU_MS = 10.0  # camscan's CPU (user + system) per device, on a and no higher on b
TARGET_B_SECONDS = 300.0  # the /16 complete at the defaults (every device identified, no deadline skip)
TARGET_B_RSS_MB = 100.0
TARGET_C_EXTRA_S = 0.5  # 20 ms per reply costs at most this much over scenario a
PEERS_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "camscan-bench" / "peers"
RUN_TIMEOUT_S = 900.0  # one tool run; camscan's own deadline (120 s by default) ends it well before
BUILD_TIMEOUT_S = 600.0  # a 1,000-device site builds in tens of seconds


# --- scenarios -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """One emulated site to benchmark."""

    key: str
    title: str
    cidr: str
    devices: int
    scatter: bool = False
    latency_ms: int = 0


def scenarios(devices_a: int = DEVICES_A, devices_b: int = DEVICES_B, latency_ms: int = LATENCY_MS
              ) -> dict[str, Scenario]:
    """The three scenarios of issue 7, keyed a, b, c."""
    return {
        "a": Scenario("a", f"/24, {devices_a} devices, mixed vendors", CIDR_A, devices_a),
        "b": Scenario("b", f"/16, {devices_b} devices scattered", CIDR_B, devices_b, scatter=True),
        "c": Scenario("c", f"/24, {devices_a} devices, +{latency_ms} ms per reply", CIDR_A, devices_a,
                      latency_ms=latency_ms),
    }


def bench_profiles() -> list[str]:
    """Every shipped profile that models a healthy device (no fault knob set): the vendor mix."""
    names = []
    for name in profile_names():
        p = load_profile(name)
        if not p.get("fault") and not p.get("wsd_fault") and p.get("wsd", True):
            names.append(name)
    return names


def site_document(sc: Scenario, profiles: Sequence[str] | None = None, seed: int = SEED) -> dict[str, Any]:
    """The site document (the TOML layout as a dict) for a scenario: gateway .1, scanner .2, devices cycling
    through ``profiles``; consecutive from .3 on, or scattered over the whole subnet with ``seed``."""
    net = ipaddress.IPv4Network(sc.cidr)
    base = int(net.network_address)
    first, last = base + 3, int(net.broadcast_address) - 1
    room = last - first + 1
    if sc.devices > room:
        raise ValueError(f"{sc.devices} devices do not fit in {sc.cidr} (room for {room})")
    if sc.scatter:
        addrs = sorted(random.Random(seed).sample(range(first, last + 1), sc.devices))
    else:
        addrs = list(range(first, first + sc.devices))
    names = list(profiles) if profiles else bench_profiles()
    # No Hello storms (each device would receive every other device's Hello: O(n^2) at this scale).
    defaults: dict[str, Any] = {"wsd_hello": False}
    if sc.latency_ms:
        defaults["latency_ms"] = sc.latency_ms
    return {
        "site": {
            "name": f"bench-{sc.key}",
            "description": sc.title,
            "subnet": str(net),
            "gateway": str(ipaddress.IPv4Address(base + 1)),
            "scanner_ip": str(ipaddress.IPv4Address(base + 2)),
            "username": USERNAME,
            "password": PASSWORD,
        },
        "defaults": defaults,
        "device": [{"profile": names[i % len(names)], "ip": str(ipaddress.IPv4Address(a))}
                   for i, a in enumerate(addrs)],
    }


def site_spec(sc: Scenario, profiles: Sequence[str] | None = None, seed: int = SEED) -> SiteSpec:
    """The validated :class:`SiteSpec` of a scenario."""
    return build_site(site_document(sc, profiles, seed), source=f"<bench {sc.key}>")


# --- measuring one process -------------------------------------------------------------------------------------
@dataclass
class Measured:
    """One process run inside the scanner namespace."""

    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    wall: float  # seconds from start to exit of the process
    rss_kb: int  # peak resident set size (wait4 rusage of the tool, forked from a small runner: see _RUNNER)
    cpu: float  # user + system seconds
    rcvbuf_drops: int  # UDP datagrams dropped for a full receive buffer in the scanner namespace
    if_drops: int = 0  # frames the scanner's eth0 dropped on receive (the emulation's own losses)
    sys: float = 0.0  # of cpu, the system (kernel) seconds: on b mostly the ARP broadcasts' copies


def _udp_counters(site: Site) -> dict[str, int]:
    """The scanner namespace's UDP counters (``/proc/net/snmp`` is per network namespace)."""
    res = site.exec(["cat", "/proc/net/snmp"], timeout=10)
    rows = [line.split() for line in res.stdout.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2:
        return {}
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=False)}


def _rx_dropped(site: Site) -> int:
    res = site.exec(["cat", "/sys/class/net/eth0/statistics/rx_dropped"], timeout=10)
    try:
        return int(res.stdout.strip())
    except ValueError:
        return 0


# Run in the scanner namespace: one *unicast* ARP request to each device's own MAC (never flooded by the bridge),
# so every device learns the scanner's MAC as it would have on a live LAN. Without it, a thousand devices answering
# one multicast Probe all broadcast an ARP request for the scanner at once, and this one machine has to deliver
# 1,000 x 1,000 copies: its backlog drops replies that a real switch would have carried (the emulation's limit,
# not the tool's). camscan's own ARP sweep does the same for camscan; this gives the peers the same footing.
_WARM = r"""
import json, socket, struct, sys, time
pairs, src_ip = json.load(sys.stdin)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0))
src = s.getsockname()[4]
for ip, mac in pairs:
    dst = bytes.fromhex(mac.replace(":", ""))
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src, socket.inet_aton(src_ip), b"\0" * 6,
                      socket.inet_aton(ip))
    s.send(dst + src + b"\x08\x06" + arp)
    time.sleep(0.0002)
time.sleep(0.3)
"""


def warm_neighbours(site: Site) -> None:
    """Every device learns the scanner's MAC (see :data:`_WARM`); then the scanner's own cache is flushed."""
    pairs = [(d.ip, d.mac) for d in site.devices]
    site.exec([sys.executable, "-c", _WARM], input=json.dumps([pairs, site.scanner_ip]), timeout=120)
    site.exec(["ip", "neigh", "flush", "all"], timeout=10)  # every tool starts without ARP entries of its own


# Run inside the scanner namespace as ``python -I -S -c _RUNNER OUT ARGV...``: fork, exec the tool, wait4 it and
# write its wall time and rusage to OUT. The tool must be forked from this small process, not from the benchmark:
# Linux keeps the largest RSS a process had across exec (signal->maxrss), so a tool forked straight from the
# benchmark would report the benchmark's own size as its peak whenever it is smaller.
_RUNNER = r"""
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
with open(out, "w") as fh:
    json.dump({"wall": wall, "code": os.waitstatus_to_exitcode(status), "maxrss_kb": ru.ru_maxrss,
               "cpu": ru.ru_utime + ru.ru_stime, "sys": ru.ru_stime}, fh)
sys.exit(0)
"""


def measure(site: Site, argv: Sequence[str], env: dict[str, str], timeout: float = RUN_TIMEOUT_S) -> Measured:
    """Run ``argv`` in the scanner namespace (devices warm, scanner cache cold): wall time, peak RSS, CPU, drops."""
    warm_neighbours(site)
    before = _udp_counters(site)
    rx_before = _rx_dropped(site)
    fd, stats_path = tempfile.mkstemp(prefix="camscan-bench-", suffix=".json")
    os.close(fd)
    runner = [sys.executable, "-I", "-S", "-c", _RUNNER, stats_path, *argv]
    t0 = time.monotonic()
    # A session of its own: a tool that outlives the timeout is killed with its whole process group.
    proc = site.popen(runner, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False,
                      start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        killed = True
    outer_wall = time.monotonic() - t0
    try:
        stats = json.loads(Path(stats_path).read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        stats = {}
    finally:
        Path(stats_path).unlink(missing_ok=True)
    after = _udp_counters(site)
    if_drops = _rx_dropped(site) - rx_before
    return Measured(
        returncode=None if killed or "code" not in stats else int(stats["code"]),
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        wall=float(stats.get("wall", outer_wall)),
        rss_kb=int(stats.get("maxrss_kb", 0)),
        cpu=float(stats.get("cpu", 0.0)),
        sys=float(stats.get("sys", 0.0)),
        rcvbuf_drops=after.get("RcvbufErrors", 0) - before.get("RcvbufErrors", 0),
        if_drops=if_drops,
    )


# --- the tools -------------------------------------------------------------------------------------------------
_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"


@dataclass
class ToolRun:
    """One tool's run on one site: the measurement and what it found."""

    tool: str
    m: Measured
    found: int
    expected: int
    detail: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class Tool:
    """How to run one tool and read what it found from its output."""

    name: str
    argv: Callable[[Site], list[str]]
    found: Callable[[Measured, set[str]], tuple[set[str], dict[str, Any], str]]
    env: Callable[[Site], dict[str, str]]
    available: str = ""  # why it cannot run, or "" when it can


def base_env() -> dict[str, str]:
    """A minimal environment (cron-like): nothing of this shell leaks into the measured process."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
            "LANG": "C.UTF-8"}


def camscan_tool(python: str = sys.executable, extra_args: Sequence[str] = (), profile_dir: Path | None = None,
                 py_spy: Path | None = None) -> Tool:
    """camscan's full inventory through its real CLI, at its default settings (plus ``extra_args``); with
    ``profile_dir``, under ``py-spy record`` (a speedscope file per run; such runs are slower)."""
    runs = [0]

    def argv(site: Site) -> list[str]:
        targets = [site.spec.subnet, *(s.cidr for s in site.spec.subnets)]
        cmd = [python, "-m", "camscan", "scan", "--no-db", "--format", "json", *extra_args, *targets]
        if profile_dir is None or py_spy is None:
            return cmd
        runs[0] += 1
        out = profile_dir / f"camscan-{site.spec.name}-{runs[0]}.speedscope.json"
        return [str(py_spy), "record", "--idle", "--threads", "--rate", "250", "--format", "speedscope",
                "-o", str(out), "--", *cmd]

    def env(site: Site) -> dict[str, str]:
        e = base_env()
        e["CAMSCAN_USERNAME"], e["CAMSCAN_PASSWORD"] = site.username, site.password
        return e

    return Tool("camscan", argv, camscan_found, env)


def camscan_found(m: Measured, lab_ips: set[str]) -> tuple[set[str], dict[str, Any], str]:
    """Devices in camscan's JSON report, with how many carry an ONVIF identity and HTTP evidence."""
    # Under --profile, py-spy writes its own "py-spy> ..." lines into the same stdout.
    text = "\n".join(line for line in m.stdout.splitlines() if not line.startswith("py-spy> "))
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        tail = m.stderr.strip().splitlines()[-1:] or ["no output"]
        return set(), {}, f"no JSON report (exit {m.returncode}): {tail[0][:100]}"
    devices = [d for d in data.get("devices", []) if d.get("ip") in lab_ips]
    found = {d["ip"] for d in devices}

    def has(d: dict, pred: Callable[[dict], bool]) -> bool:
        return any(pred(e) for e in d.get("evidence", []))

    identified = {d["ip"] for d in devices if has(d, lambda e: e["source"] == "onvif.GetDeviceInformation"
                                                  and e["field"] != "error")}
    identity = len(identified)
    # why the others have none: their skips (stage and reason, addresses and numbers left out), counted
    causes: dict[str, int] = {}
    for s in data.get("skips", []):
        if s.get("ip") in found and s.get("ip") not in identified:
            why = re.sub(r"\d+(\.\d+)?", "N", f"{s.get('stage', '?')}: {s.get('reason', '')}")[:80]
            causes[why] = causes.get(why, 0) + 1
    http = sum(1 for d in devices if has(d, lambda e: e["source"].startswith("http.")))
    verdicts = sum(1 for d in devices if d.get("verdict") not in (None, "", "unknown"))
    try:
        start = dt.datetime.fromisoformat(data["scan"]["start"].replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(data["scan"]["end"].replace("Z", "+00:00"))
        scan_s = (end - start).total_seconds()
    except (KeyError, TypeError, ValueError):
        scan_s = None
    deadline = [s["reason"] for s in data.get("skips", []) if "deadline" in s.get("reason", "")]
    notes = [f"scan {scan_s:.2f} s in-process"] if scan_s is not None else []
    if deadline:
        notes.append(f"deadline reached ({len(deadline)} skips)")
    if len(found) > identity:
        top = sorted(causes.items(), key=lambda kv: -kv[1])[:3]
        notes.append(f"{len(found) - identity} without an ONVIF identity" + (
            " (" + "; ".join(f"{n} x {why}" for why, n in top) + ")" if top else ""))
    note = "; ".join(notes)
    return found, {"identity": identity, "http": http, "verdict": verdicts, "scan_s": scan_s,
                   "no_identity": causes}, note


def nmap_tool() -> Tool:
    """nmap's broadcast-wsdd-discover at its default timing (it listens until 5 s pass without a reply)."""

    def argv(site: Site) -> list[str]:
        return ["nmap", "-sn", "-n", "-e", "eth0", "--script", "broadcast-wsdd-discover"]

    return Tool("nmap wsdd", argv, nmap_found, lambda site: base_env(),
                available="" if shutil.which("nmap") else "nmap not installed")


def nmap_found(m: Measured, lab_ips: set[str]) -> tuple[set[str], dict[str, Any], str]:
    """Addresses in nmap's script output: the XAddrs' hosts (nmap 7.9x names multicast replies by the group
    address, so the device shows in its XAddrs), and any host line that is a device's address."""
    ips = set(re.findall(rf"Address:\s*\w+://({_IPV4})", m.stdout))
    ips |= set(re.findall(rf"^\|\s+({_IPV4})\s*$", m.stdout, re.M))
    undecoded = len(re.findall(r"Failed to decode", m.stdout))
    note = f"{undecoded} replies it could not decode" if undecoded else ""
    return ips & lab_ips, {}, note


def wsdiscover_tool(peers_dir: Path) -> Tool:
    """WSDiscovery's ``wsdiscover`` command at its defaults (one untyped Probe, 3 s timeout)."""
    exe = peers_dir / "bin" / "wsdiscover"

    def argv(site: Site) -> list[str]:
        return [str(exe)]

    return Tool("wsdiscover", argv, wsdiscover_found, lambda site: base_env(),
                available="" if exe.exists() else f"wsdiscover not installed in {peers_dir}")


def wsdiscover_found(m: Measured, lab_ips: set[str]) -> tuple[set[str], dict[str, Any], str]:
    """Hosts of the ``address:`` lines (the first XAddr's host[:port] of each service)."""
    ips = set(re.findall(rf"^\s*address:\s*({_IPV4})", m.stdout, re.M))
    return ips & lab_ips, {}, ""


# --- installing the peers --------------------------------------------------------------------------------------
def install_peers(peers_dir: Path, say: Callable[[str], None], nmap: bool = True, wsdiscover: bool = True) -> None:
    """nmap from the distribution and WSDiscovery into a throwaway venv, each only when missing."""
    if nmap and shutil.which("nmap") is None:
        if shutil.which("apt-get") is None:
            say("nmap missing and no apt-get here: the nmap column stays empty")
        else:
            say("installing nmap (apt-get install -y nmap)...")
            apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            cmd = ["apt-get", "install", "-y", "-q", "nmap"]
            res = subprocess.run(cmd, capture_output=True, text=True, env=apt_env, check=False)
            if res.returncode != 0:  # a machine that never fetched the package lists
                subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=apt_env, check=False)
                res = subprocess.run(cmd, capture_output=True, text=True, env=apt_env, check=False)
            if res.returncode != 0:
                say(f"apt-get install nmap failed: {res.stderr.strip()[-300:]}")
    exe = peers_dir / "bin" / "wsdiscover"
    if wsdiscover and not exe.exists():
        say(f"installing WSDiscovery into {peers_dir} (a separate venv, not camscan's)...")
        peers_dir.parent.mkdir(parents=True, exist_ok=True)
        base = getattr(sys, "_base_executable", None) or sys.executable
        steps = [[base, "-m", "venv", str(peers_dir)],
                 [str(peers_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                  "--disable-pip-version-check", "WSDiscovery"]]
        for step in steps:
            res = subprocess.run(step, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                say(f"{' '.join(step[:4])} failed: {res.stderr.strip()[-300:]}")
                break


def install_py_spy(peers_dir: Path, say: Callable[[str], None], install: bool = True) -> Path | None:
    """py-spy (for --profile) from the package index into the peers' venv, only when missing."""
    exe = peers_dir / "bin" / "py-spy"
    if not exe.exists() and install:
        say(f"installing py-spy into {peers_dir}...")
        if not (peers_dir / "bin" / "python").exists():
            base = getattr(sys, "_base_executable", None) or sys.executable
            subprocess.run([base, "-m", "venv", str(peers_dir)], capture_output=True, check=False)
        subprocess.run([str(peers_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "py-spy"], capture_output=True, check=False)
    found = exe if exe.exists() else (Path(p) if (p := shutil.which("py-spy")) else None)
    return found


def peer_versions(peers_dir: Path) -> dict[str, str]:
    out = {}
    if shutil.which("nmap"):
        res = subprocess.run(["nmap", "--version"], capture_output=True, text=True, check=False)
        out["nmap"] = (res.stdout.splitlines() or ["?"])[0].replace("Nmap version ", "").split(" (")[0]
    py = peers_dir / "bin" / "python"
    if py.exists():
        res = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('WSDiscovery'))"],
                             capture_output=True, text=True, check=False)
        out["WSDiscovery"] = res.stdout.strip() or "?"
    return out


# --- the machine -----------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemTotal:")))
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / (1 << 20), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load": os.getloadavg(),
    }


# --- running a scenario ----------------------------------------------------------------------------------------
@dataclass
class ScenarioResult:
    scenario: Scenario
    build_s: float = 0.0
    teardown_s: float = 0.0
    runs: dict[str, list[ToolRun]] = field(default_factory=dict)
    error: str = ""


def run_scenario(sc: Scenario, tools: Sequence[Tool], repeat: int, say: Callable[[str], None],
                 profiles: Sequence[str] | None = None) -> ScenarioResult:
    """Build the scenario's site, run every tool ``repeat`` times (interleaved), tear the site down."""
    out = ScenarioResult(sc)
    spec = site_spec(sc, profiles)
    lab_ips = {d.ip for d in spec.devices}
    say(f"[{sc.key}] building {sc.title} ({len(spec.devices)} devices)...")
    site = load_site(spec, ready_timeout=BUILD_TIMEOUT_S)
    try:
        with site:
            out.build_s = site.build_seconds
            say(f"[{sc.key}] built in {site.build_seconds:.1f} s")
            for i in range(repeat):
                for tool in tools:
                    if tool.available:
                        continue
                    m = measure(site, tool.argv(site), tool.env(site))
                    found, detail, note = tool.found(m, lab_ips)
                    if m.returncode is None:
                        note = f"killed after {m.wall:.0f} s" + (f"; {note}" if note else "")
                    run = ToolRun(tool.name, m, len(found), len(lab_ips), detail, note)
                    out.runs.setdefault(tool.name, []).append(run)
                    say(f"[{sc.key}] run {i + 1}/{repeat} {tool.name}: {m.wall:.2f} s, {len(found)}/{len(lab_ips)}"
                        f" found, {m.rss_kb / 1024:.0f} MB, {m.rcvbuf_drops} dropped" + (f" ({note})" if note
                                                                                             else ""))
    except (LabUnavailable, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - one scenario's failure is reported; the others still run
        out.error = f"{type(exc).__name__}: {exc}"
        say(f"[{sc.key}] failed: {out.error}")
    out.teardown_s = site.teardown_seconds
    return out


# --- the table -------------------------------------------------------------------------------------------------
def _median_run(runs: list[ToolRun]) -> ToolRun:
    ordered = sorted(runs, key=lambda r: r.m.wall)
    return ordered[(len(ordered) - 1) // 2]


def _fmt_wall(runs: list[ToolRun]) -> str:
    walls = [r.m.wall for r in runs]
    med = statistics.median(walls)
    if len(walls) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(walls):.2f}-{max(walls):.2f})"


def table_rows(results: Sequence[ScenarioResult]) -> list[list[str]]:
    rows = []
    for res in results:
        sc = res.scenario
        if res.error and not res.runs:
            rows.append([sc.key, sc.title, "-", "error", "", "", "", "", "", "", "", "", res.error[:80]])
            continue
        cam = res.runs.get("camscan")
        cam_wall = statistics.median(r.m.wall for r in cam) if cam else None
        for i, (name, runs) in enumerate(res.runs.items()):
            r = _median_run(runs)
            wall = statistics.median(x.m.wall for x in runs)
            if name == "camscan":
                ratio = ""
                d = r.detail
                what = (f"identity {d.get('identity', 0)}, http {d.get('http', 0)}" if d else "")
            else:
                ratio = f"{cam_wall / wall:.2f}x" if cam_wall and wall else ""
                what = "discovery only"
            rows.append([sc.key, sc.title if i == 0 else "", name, _fmt_wall(runs),
                         f"{r.found}/{r.expected}", what, f"{r.m.rss_kb / 1024:.0f}", f"{r.m.cpu:.1f}",
                         _cpu_ms(r) if name == "camscan" else "", str(r.m.rcvbuf_drops), str(r.m.if_drops), ratio,
                         r.note])
    return rows


HEADERS = ["", "site", "tool", "wall s", "found", "evidence", "peak RSS MB", "CPU s", "CPU ms/device",
           "rcvbuf drops", "if drops", "camscan / peer", "note"]


def cpu_per_device_ms(r: ToolRun) -> float:
    """The tool's CPU (user + system) in milliseconds per device of the site."""
    return 1000 * r.m.cpu / max(r.expected, 1)


def _cpu_ms(r: ToolRun) -> str:
    return f"{cpu_per_device_ms(r):.1f}"


def targets(results: Sequence[ScenarioResult]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for the issue's targets that these results speak to."""
    by = {r.scenario.key: r for r in results}

    def med(key: str, tool: str) -> float | None:
        runs = by[key].runs.get(tool) if key in by else None
        return statistics.median(r.m.wall for r in runs) if runs else None

    out: list[tuple[str, str, str]] = []
    a_cam, a_nmap = med("a", "camscan"), med("a", "nmap wsdd")
    if a_cam is not None:
        r = _median_run(by["a"].runs["camscan"])
        all_found = r.found == r.expected
        if a_nmap:
            limit = TARGET_A_RATIO * a_nmap
            ok = a_cam <= limit and all_found
            out.append((f"a: full inventory <= {TARGET_A_RATIO} x nmap ({limit:.2f} s), every device found",
                        f"{a_cam:.2f} s = {a_cam / a_nmap:.2f}x nmap; {r.found}/{r.expected} found",
                        "met" if ok else "MISSED"))
        else:
            out.append((f"a: full inventory <= {TARGET_A_RATIO} x nmap, every device found",
                        f"{a_cam:.2f} s; {r.found}/{r.expected} found", "no nmap run to compare"))
        cpu = cpu_per_device_ms(r)
        out.append((f"a: CPU per device <= {TARGET_CPU_MS:.0f} ms", f"{cpu:.1f} ms ({r.m.cpu:.2f} s / {r.expected})",
                    "met" if cpu <= TARGET_CPU_MS else "MISSED"))
    b_cam = med("b", "camscan")
    if b_cam is not None:
        r = _median_run(by["b"].runs["camscan"])
        rss = r.m.rss_kb / 1024
        # RSS and drops speak for 1,000 devices only when the inventory got that far.
        complete = bool(r.detail) and r.found == r.expected and "deadline" not in r.note
        identified = r.detail.get("identity", 0) == r.expected if r.detail else False
        partial = "" if complete else "; not a complete inventory"
        out.append((f"b: /16 complete at the defaults (every device identified, no deadline skip) "
                     f"<= {TARGET_B_SECONDS:.0f} s",
                    f"{b_cam:.1f} s; {r.found}/{r.expected} found, {(r.detail or {}).get('identity', 0)} identified"
                    + (f" ({r.note})" if r.note else ""),
                    "met" if b_cam <= TARGET_B_SECONDS and complete and identified else "MISSED"))
        cpu = cpu_per_device_ms(r)
        out.append((f"b: CPU per device <= {TARGET_CPU_MS:.0f} ms", f"{cpu:.1f} ms ({r.m.cpu:.1f} s / {r.expected})",
                    "met" if cpu <= TARGET_CPU_MS else "MISSED"))
        out.append((f"b: peak RSS <= {TARGET_B_RSS_MB:.0f} MB at {r.expected} devices", f"{rss:.0f} MB{partial}",
                    ("met" if rss <= TARGET_B_RSS_MB else "MISSED") if complete else "not shown"))
        out.append(("b: no reply lost to a socket buffer",
                    f"{r.m.rcvbuf_drops} datagrams dropped (interface: {r.m.if_drops}){partial}",
                    ("met" if r.m.rcvbuf_drops == 0 else "MISSED") if complete else "not shown"))
    c_cam = med("c", "camscan")
    if c_cam is not None and a_cam is not None:
        diff = c_cam - a_cam
        # run-to-run spread of the medians' inputs: a difference smaller than it is not a measurement
        spread = max(max(r.m.wall for r in by[k].runs["camscan"]) - min(r.m.wall for r in by[k].runs["camscan"])
                     for k in ("a", "c"))
        if diff > TARGET_C_EXTRA_S + spread:
            verdict = "MISSED"
        elif diff <= TARGET_C_EXTRA_S and spread <= TARGET_C_EXTRA_S:
            verdict = "met"
        else:
            verdict = f"unclear: runs vary by {spread:.1f} s" if spread else "MISSED" if diff > TARGET_C_EXTRA_S \
                else "met"
        out.append((f"c: +{by['c'].scenario.latency_ms} ms per reply costs <= {TARGET_C_EXTRA_S} s over a",
                    f"{c_cam:.2f} s vs {a_cam:.2f} s ({diff:+.2f} s; spread {spread:.2f} s)", verdict))
    return out


def render_table(rows: list[list[str]], headers: list[str], markdown: bool) -> str:
    try:
        from tabulate import tabulate
    except ImportError:  # pragma: no cover - tabulate is a camscan dependency
        return "\n".join("  ".join(r) for r in [headers, *rows])
    return tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple", disable_numparse=True)


def report(results: Sequence[ScenarioResult], info: dict[str, Any], markdown: bool = False) -> str:
    lines = []
    m = info["machine"]
    lines.append(f"camscan benchmark  {info['started']}  (python -m camscan.lab.bench {info['argv']})")
    lines.append(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
                 f"Python {m['python']}; load average at start {m['load'][0]:.2f}")
    peers = info.get("peers") or {}
    lines.append("peers: " + (", ".join(f"{k} {v}" for k, v in peers.items()) or "none"))
    if info.get("profiled"):
        lines.append(f"camscan ran under py-spy (profiles in {info['profiled']}): its times are not figures")
    for res in results:
        lines.append(f"site {res.scenario.key}: {res.scenario.title}: built in {res.build_s:.1f} s, "
                     f"torn down in {res.teardown_s:.1f} s" + (f"; ERROR {res.error}" if res.error else ""))
    lines.append("")
    lines.append(render_table(table_rows(results), HEADERS, markdown))
    tg = targets(results)
    if tg:
        lines.append("")
        lines.append(render_table([list(t) for t in tg], ["target (issue 17)", "measured", ""], markdown))
    return "\n".join(lines) + "\n"


def as_json(results: Sequence[ScenarioResult], info: dict[str, Any]) -> dict[str, Any]:
    return {
        **info,
        "scenarios": [{
            "key": r.scenario.key, "title": r.scenario.title, "cidr": r.scenario.cidr,
            "devices": r.scenario.devices, "latency_ms": r.scenario.latency_ms, "build_s": r.build_s,
            "teardown_s": r.teardown_s, "error": r.error,
            "runs": [{"tool": t.tool, "wall_s": t.m.wall, "returncode": t.m.returncode, "found": t.found,
                      "expected": t.expected, "rss_kb": t.m.rss_kb, "cpu_s": t.m.cpu, "sys_s": t.m.sys,
                      "cpu_ms_per_device": round(cpu_per_device_ms(t), 2),
                      "rcvbuf_drops": t.m.rcvbuf_drops, "if_drops": t.m.if_drops, "note": t.note, **t.detail,
                      **({"stderr_tail": t.m.stderr[-4000:]} if t.m.returncode not in (0, 1) or t.note else {})}
                     for runs in r.runs.values() for t in runs],
        } for r in results],
        "targets": [{"target": t, "measured": v, "verdict": s} for t, v, s in targets(results)],
    }


# --- command line ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m camscan.lab.bench",
                                description="Benchmark camscan's full inventory on emulated sites (root, Linux), "
                                            "with nmap's and WSDiscovery's WS-Discovery side by side.")
    p.add_argument("--scenarios", default="a,b,c", help="comma-separated: a (/24), b (/16), c (/24 + latency); "
                                                         "default a,b,c")
    p.add_argument("--devices-a", type=int, default=DEVICES_A, metavar="N", help="devices in a and c (default 250)")
    p.add_argument("--devices-b", type=int, default=DEVICES_B, metavar="N", help="devices in b (default 1000)")
    p.add_argument("--latency-ms", type=int, default=LATENCY_MS, metavar="MS",
                   help="added to every reply in c (default 20)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="runs of every tool per site; the table shows medians (default 1)")
    p.add_argument("--tools", default="camscan,nmap,wsdiscover",
                   help="comma-separated subset of camscan, nmap, wsdiscover (default: all three)")
    p.add_argument("--no-peers", action="store_true", help="camscan only (same as --tools camscan)")
    p.add_argument("--no-install", action="store_true", help="never install a missing peer")
    p.add_argument("--peers-dir", type=Path, default=PEERS_DIR,
                   help=f"throwaway venv for WSDiscovery (default {PEERS_DIR})")
    p.add_argument("--camscan-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for camscan scan (repeatable), e.g. --camscan-arg=--rate=2000")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="run camscan under py-spy (installed into --peers-dir when missing) and write one "
                        "speedscope profile per run to DIR; profiled runs are slower, so their times are not figures")
    p.add_argument("--markdown", action="store_true", help="GitHub tables (for BENCHMARKS.md)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every run's figures to FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    say = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    all_sc = scenarios(args.devices_a, args.devices_b, args.latency_ms)
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = [k for k in keys if k not in all_sc]
    if unknown or not keys or args.repeat < 1:
        print(f"bench: unknown scenario(s) {unknown} (choose from a, b, c)" if unknown
              else "bench: need at least one scenario and --repeat >= 1", file=sys.stderr)
        return 2
    try:
        check_available()
    except LabUnavailable as exc:
        print(f"bench: the emulated lab cannot run here: {exc}", file=sys.stderr)
        return 3
    cleanup_stale()
    wanted = {t.strip() for t in args.tools.split(",") if t.strip()}
    if args.no_peers:
        wanted &= {"camscan"}
    if not wanted or wanted - {"camscan", "nmap", "wsdiscover"}:
        print(f"bench: --tools takes camscan, nmap, wsdiscover (got {args.tools!r})", file=sys.stderr)
        return 2
    py_spy = None
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        py_spy = install_py_spy(args.peers_dir, say, install=not args.no_install)
        if py_spy is None:
            print("bench: --profile needs py-spy (pip install py-spy into --peers-dir)", file=sys.stderr)
            return 3
    tools = ([camscan_tool(sys.executable, args.camscan_arg, args.profile, py_spy)] if "camscan" in wanted
             else [])
    peers: dict[str, str] = {}
    if wanted & {"nmap", "wsdiscover"}:
        if not args.no_install:
            install_peers(args.peers_dir, say, nmap="nmap" in wanted, wsdiscover="wsdiscover" in wanted)
        if "nmap" in wanted:
            tools.append(nmap_tool())
        if "wsdiscover" in wanted:
            tools.append(wsdiscover_tool(args.peers_dir))
        for t in tools:
            if t.available:
                say(f"skipping {t.name}: {t.available}")
        peers = peer_versions(args.peers_dir)
    info = {
        "profiled": str(args.profile) if args.profile else "",
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "peers": peers,
    }
    profiles = bench_profiles()
    results = []
    for key in dict.fromkeys(keys):
        results.append(run_scenario(all_sc[key], tools, args.repeat, say, profiles))
    info["load_end"] = os.getloadavg()
    sys.stdout.write(report(results, info, markdown=args.markdown))
    if args.json:
        args.json.write_text(json.dumps(as_json(results, info), indent=2) + "\n")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
