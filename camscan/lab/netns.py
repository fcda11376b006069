"""The emulated site's network: Linux network namespaces, a bridge, veth pairs, one device server.

Topology (all names carry a per-run prefix such as ``cs1a2b``)::

    {prefix}-sw    switch: bridge br0 (multicast snooping off, so multicast floods; STP off,
                   forward delay 0); br1.. for routed subnets
    {prefix}-scan  the scanner host: eth0 into br0 (scanner_ip), default route via the gateway
    {prefix}-rt    router (only with routed subnets): eth0 on br0 = gateway, eth1.. on br1..
    {prefix}-dN    one namespace per fake device: eth0 (own MAC, own IP, EUI-64 link-local)

Nothing is ever attached to a host NIC (ARCHITECTURE.md "Seams for testing" 6): the veth pairs
join namespaces created here, and the device server creates its sockets inside the device
namespaces. Teardown runs on context exit, on exceptions and on SIGINT/SIGTERM; a marker file per
run lets :func:`cleanup_stale` tell a crashed run's namespaces from a live parallel run's.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from camscan.lab.sitefile import DeviceSpec, SiteSpec, load_site_spec

MARKER_DIR = Path("/run/camscan-lab")
NETNS_DIR = Path("/var/run/netns")
DEFAULT_ROOT_PREFIX = "cs"
IP_TIMEOUT_S = 120.0  # one `ip -batch` run; 1000 veth pairs take a few seconds
CONFIG_WORKERS = 4  # concurrent `ip -batch` children while configuring namespaces


class LabUnavailable(RuntimeError):
    """The lab cannot run here (not root, no `ip netns`, no setns); the message says why."""


class LabError(RuntimeError):
    """Building the site or starting the device server failed."""


@dataclass(frozen=True)
class LabDevice:
    """A fake device as the tests see it."""

    name: str
    ns: str
    ip: str
    mac: str
    port: int
    ipv6_ll: str
    uuid: str
    profile_name: str
    profile: dict[str, Any] = field(repr=False, compare=False)

    @property
    def manufacturer(self) -> str:
        """The Manufacturer the device reports over ONVIF."""
        return str(self.profile["manufacturer"])

    @property
    def model(self) -> str:
        """The Model the device reports over ONVIF."""
        return str(self.profile["model"])

    @property
    def username(self) -> str:
        """The one user the device accepts."""
        return str(self.profile["username"])

    @property
    def password(self) -> str:
        """That user's password (tests only; never logged)."""
        return str(self.profile["password"])

    @property
    def xaddr(self) -> str:
        """The device-service URL on the device's own address."""
        suffix = "" if self.port == 80 else f":{self.port}"
        return f"http://{self.ip}{suffix}{self.profile['onvif_path']}"


# --- helpers ----------------------------------------------------------------------------------


def _run(
    argv: Sequence[str], *, input: str | None = None, timeout: float = IP_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False
    )


_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    """Move the calling *thread* into the network namespace behind ``fd`` (setns(2))."""
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ip() -> str:
    """The iproute2 binary, resolved once against this process's PATH."""
    global _IP_BIN
    if _IP_BIN is None:
        _IP_BIN = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin") or "ip"
    return _IP_BIN


_IP_BIN: str | None = None


def check_available() -> None:
    """Raise :class:`LabUnavailable` unless namespaces can be built here."""
    if not sys.platform.startswith("linux"):
        raise LabUnavailable("network namespaces need Linux")
    if os.geteuid() != 0:
        raise LabUnavailable("the lab needs root (network namespaces, veth, bridges)")
    if shutil.which(_ip()) is None:
        raise LabUnavailable("iproute2 `ip` not found")
    if not Path("/proc/self/ns/net").exists():
        raise LabUnavailable("kernel without network namespace support")
    res = _run([_ip(), "netns", "list"], timeout=10)
    if res.returncode != 0:
        raise LabUnavailable(f"`ip netns` unavailable: {res.stderr.strip()}")


def _list_netns() -> list[str]:
    res = _run([_ip(), "netns", "list"], timeout=10)
    if res.returncode != 0:
        return []
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete_namespaces(names: Sequence[str]) -> None:
    if names:
        _run([_ip(), "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in names))


def cleanup_stale(root_prefix: str = DEFAULT_ROOT_PREFIX) -> list[str]:
    """Delete namespaces left by crashed runs whose names start with ``root_prefix``.

    Only namespaces named ``{root_prefix}xxxx-...`` (four hex digits, as :class:`Site` makes them)
    are touched, and only if the run that made them is gone: its marker file is missing or names
    a dead process. Returns the deleted names.
    """
    if os.geteuid() != 0 or shutil.which(_ip()) is None:
        return []
    pattern = re.compile(rf"^({re.escape(root_prefix)}[0-9a-f]{{4}})-")
    stale: list[str] = []
    stale_prefixes: set[str] = set()
    for name in _list_netns():
        m = pattern.match(name)
        if m and _run_is_gone(m.group(1)):
            stale.append(name)
            stale_prefixes.add(m.group(1))
    _delete_namespaces(stale)
    # Markers and work directories of dead runs, with or without namespaces left.
    for marker in MARKER_DIR.glob(f"{root_prefix}*.pid") if MARKER_DIR.is_dir() else ():
        if re.fullmatch(rf"{re.escape(root_prefix)}[0-9a-f]{{4}}", marker.stem) and _run_is_gone(marker.stem):
            stale_prefixes.add(marker.stem)
    for prefix in stale_prefixes:
        (MARKER_DIR / f"{prefix}.pid").unlink(missing_ok=True)
        for workdir in Path(tempfile.gettempdir()).glob(f"camscan-lab-{prefix}-*"):
            shutil.rmtree(workdir, ignore_errors=True)
    return stale


def _run_is_gone(prefix: str) -> bool:
    """True if the run that owns ``prefix`` has ended (no marker, or its process is dead)."""
    if prefix in _LIVE_PREFIXES:
        return False
    try:
        pid = int((MARKER_DIR / f"{prefix}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return True
    return pid == os.getpid() or not _pid_alive(pid)


# --- signal handling ----------------------------------------------------------------------------

_LIVE: list[Site] = []
_LIVE_PREFIXES: set[str] = set()
_LIVE_LOCK = threading.RLock()
_PREVIOUS_HANDLERS: dict[int, Any] = {}


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Tear every live site down, then behave as the previous handler would have."""
    with _LIVE_LOCK:
        sites = list(_LIVE)
    for site in sites:
        site.close()
    previous = _PREVIOUS_HANDLERS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _close_all() -> None:
    """Last resort at interpreter exit: a script that never closed its site."""
    with _LIVE_LOCK:
        sites = list(_LIVE)
    for site in sites:
        site.close()


atexit.register(_close_all)


def _register(site: Site) -> None:
    with _LIVE_LOCK:
        _LIVE.append(site)
        _LIVE_PREFIXES.add(site.prefix)
        if threading.current_thread() is threading.main_thread() and not _PREVIOUS_HANDLERS:
            for sig in (signal.SIGINT, signal.SIGTERM):
                _PREVIOUS_HANDLERS[sig] = signal.getsignal(sig)
                signal.signal(sig, _on_signal)


def _unregister(site: Site) -> None:
    with _LIVE_LOCK:
        if site in _LIVE:
            _LIVE.remove(site)
        _LIVE_PREFIXES.discard(site.prefix)
        if not _LIVE and _PREVIOUS_HANDLERS and threading.current_thread() is threading.main_thread():
            for sig, handler in _PREVIOUS_HANDLERS.items():
                signal.signal(sig, handler)
            _PREVIOUS_HANDLERS.clear()


# --- the site -----------------------------------------------------------------------------------


class Site:
    """An emulated site in network namespaces, as a context manager.

    >>> with load_site("test") as site:                       # doctest: +SKIP
    ...     site.exec(["camscan", "scan", "--format", "json"])
    """

    def __init__(
        self,
        spec: SiteSpec,
        *,
        prefix: str | None = None,
        root_prefix: str = DEFAULT_ROOT_PREFIX,
        ready_timeout: float = 60.0,
        python: str = sys.executable,
        keep_workdir: bool = False,
    ) -> None:
        self.spec = spec
        self.root_prefix = root_prefix
        self._auto_prefix = prefix is None
        self.ready_timeout = ready_timeout
        self.python = python
        self.keep_workdir = keep_workdir
        self._assign_prefix(prefix or f"{root_prefix}{secrets.token_hex(2)}")
        self.workdir: Path | None = None
        self.server: subprocess.Popen[str] | None = None
        self.build_seconds = 0.0
        self.teardown_seconds = 0.0
        self._closed = False
        self._started = False
        self._final_log: list[dict[str, Any]] | None = None
        self._final_server_log: str | None = None
        self._close_lock = threading.Lock()

    def _assign_prefix(self, prefix: str) -> None:
        """Name every namespace of the site after ``prefix``."""
        if not re.fullmatch(r"[a-z][a-z0-9]{1,7}", prefix):
            raise ValueError(f"prefix {prefix!r} must be 2-8 lower-case letters/digits")
        spec = self.spec
        self.prefix = prefix
        self.switch_ns = f"{prefix}-sw"
        self.scanner_ns = f"{prefix}-scan"
        self.router_ns = f"{prefix}-rt" if spec.routed else None
        self.devices: list[LabDevice] = [
            LabDevice(
                name=d.name,
                ns=f"{prefix}-d{d.index}",
                ip=d.ip,
                mac=d.mac,
                port=int(d.settings["port"]),
                ipv6_ll=d.ipv6_ll,
                uuid=d.uuid,
                profile_name=d.profile_name,
                profile=d.settings,
            )
            for d in spec.devices
        ]

    def _claim_prefix(self) -> None:
        """Create the run's marker file exclusively; pick another random prefix if it is taken."""
        MARKER_DIR.mkdir(parents=True, exist_ok=True)
        existing = {n.split("-", 1)[0] for n in _list_netns()}
        for _ in range(32):
            marker = MARKER_DIR / f"{self.prefix}.pid"
            if self.prefix not in existing:
                try:
                    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    pass
                else:
                    with os.fdopen(fd, "w") as fh:
                        fh.write(f"{os.getpid()}\n")
                    return
            if not self._auto_prefix:
                raise LabError(f"namespace prefix {self.prefix!r} is in use by another run")
            self._assign_prefix(f"{self.root_prefix}{secrets.token_hex(2)}")
        raise LabError("could not find a free namespace prefix")

    # --- public properties ------------------------------------------------------------------

    @property
    def scanner_ip(self) -> str:
        """The scanner host's IPv4 address."""
        return self.spec.scanner_ip

    @property
    def username(self) -> str:
        """The site-wide username (what an operator would configure in camscan)."""
        return self.spec.username

    @property
    def password(self) -> str:
        """The site-wide password."""
        return self.spec.password

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of the site."""
        names = [self.switch_ns, self.scanner_ns]
        if self.router_ns:
            names.append(self.router_ns)
        return names + [d.ns for d in self.devices]

    @property
    def log_path(self) -> Path:
        """The JSON-lines request log of the device server."""
        assert self.workdir is not None, "site not started"
        return self.workdir / "requests.jsonl"

    def device(self, key: str) -> LabDevice:
        """A device by name or IP."""
        for d in self.devices:
            if key in (d.name, d.ip):
                return d
        raise KeyError(key)

    # --- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Site:
        # Both `with load_site(...) as s:` and `s = load_site(...).start(); with s:` work.
        if self._started and not self._closed:
            return self
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> Site:
        """Build the namespaces and start the device server; tears down again on any failure."""
        if self._started:
            raise LabError("a Site can be started once")
        check_available()
        t0 = time.monotonic()
        self._claim_prefix()
        self._started = True
        _register(self)
        try:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"camscan-lab-{self.prefix}-"))
            self._build_network()
            self._start_server()
        except BaseException:
            self.close()
            raise
        self.build_seconds = time.monotonic() - t0
        return self

    def close(self) -> None:
        """Stop the server and delete every namespace of the site. Idempotent, never raises."""
        with self._close_lock:
            if self._closed or not self._started:
                return
            self._closed = True
        t0 = time.monotonic()
        try:
            self._stop_server()
            try:
                self._final_log = self._read_log()
            except OSError:
                self._final_log = []
            self._final_server_log = self.server_log()
            existing = set(_list_netns())
            _delete_namespaces([n for n in self.namespaces if n in existing])
            (MARKER_DIR / f"{self.prefix}.pid").unlink(missing_ok=True)
            if self.workdir and not self.keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            _unregister(self)
            self.teardown_seconds = time.monotonic() - t0

    # --- building ---------------------------------------------------------------------------

    def _ip_batch(self, lines: list[str], ns: str | None = None) -> None:
        argv = [_ip(), "-batch", "-"]
        data = "\n".join(lines) + "\n"
        if ns is None:
            res = _run(argv, input=data)
        else:
            # Not `ip -n NS`: that unshares the mount namespace and remounts /sys per call, which
            # copies every /run/netns mount and makes building n namespaces O(n²). Instead this
            # worker thread enters NS and the `ip` child inherits the thread's network namespace.
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(NETNS_DIR / ns, os.O_RDONLY)
            try:
                setns(target)
                try:
                    res = _run(argv, input=data)
                finally:
                    setns(own)
            finally:
                os.close(target)
                os.close(own)
            argv = [_ip(), "-n", ns, "-batch", "-"]  # for the error message
        if res.returncode != 0:
            err = res.stderr.strip()
            if "Operation not permitted" in err or "Permission denied" in err:
                raise LabUnavailable(f"cannot create network namespaces: {err}")
            raise LabError(f"`{' '.join(argv)}` failed: {err}")

    def _build_network(self) -> None:
        spec = self.spec
        # 1. Namespaces, in one `ip -batch` (netns add mounts a file per namespace).
        self._ip_batch([f"netns add {n}" for n in self.namespaces])
        # 2. Bridges and veth pairs, created from the switch namespace with the peer placed straight
        #    into its namespace (interface names here are v<N>, well under IFNAMSIZ).
        sw: list[str] = []
        bridges = ["br0"] + [s.bridge for s in spec.subnets]
        for br in bridges:
            sw.append(f"link add {br} type bridge mcast_snooping 0 stp_state 0 forward_delay 0")
            sw.append(f"link set {br} addrgenmode none up")
        sw.append(
            f"link add vscan type veth peer name eth0 netns {self.scanner_ns} address {spec.scanner_mac}"
        )
        sw.append("link set vscan master br0 addrgenmode none up")
        if self.router_ns:
            sw.append(f"link add vrt0 type veth peer name eth0 netns {self.router_ns}")
            sw.append("link set vrt0 master br0 addrgenmode none up")
            for i, sub in enumerate(spec.subnets, start=1):
                sw.append(f"link add vrt{i} type veth peer name eth{i} netns {self.router_ns}")
                sw.append(f"link set vrt{i} master {sub.bridge} addrgenmode none up")
        for dev, lab in zip(spec.devices, self.devices, strict=True):
            sw.append(f"link add v{dev.index} type veth peer name eth0 netns {lab.ns} address {dev.mac}")
            sw.append(f"link set v{dev.index} master {dev.bridge} addrgenmode none up")
        self._ip_batch(sw, self.switch_ns)
        # 3. Addresses and routes inside each namespace. IPv6 link-local addresses are added by hand
        #    with nodad (addrgenmode none) so sockets can bind at once: no DAD wait.
        jobs: list[tuple[str, list[str]]] = []
        scan = _iface_lines("eth0", f"{spec.scanner_ip}/{spec.prefixlen}", _ll(spec.scanner_mac))
        scan.append(f"route add default via {spec.gateway}")
        jobs.append((self.scanner_ns, scan))
        if self.router_ns:
            rt = _iface_lines("eth0", f"{spec.gateway}/{spec.prefixlen}", None)
            for i, sub in enumerate(spec.subnets, start=1):
                plen = sub.cidr.split("/")[1]
                rt += _iface_lines(f"eth{i}", f"{sub.router_ip}/{plen}", None, lo=False)
            jobs.append((self.router_ns, rt))
        for dev, lab in zip(spec.devices, self.devices, strict=True):
            jobs.append((lab.ns, _device_lines(dev)))
        with concurrent.futures.ThreadPoolExecutor(max_workers=CONFIG_WORKERS) as pool:
            for fut in [pool.submit(self._ip_batch, lines, ns) for ns, lines in jobs]:
                fut.result()
        if self.router_ns:
            # Forwarding is per namespace; multicast is not routed (no mrouted), as in a real LAN.
            res = _run(
                [_ip(), "netns", "exec", self.router_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"], timeout=10
            )
            if res.returncode != 0:
                raise LabError(f"enabling forwarding in {self.router_ns}: {res.stderr.strip()}")

    def _write_spec(self) -> Path:
        assert self.workdir is not None
        devices = [dev.server_entry(lab.ns) for dev, lab in zip(self.spec.devices, self.devices, strict=True)]
        path = self.workdir / "spec.json"
        path.write_text(json.dumps({"prefix": self.prefix, "log": str(self.log_path), "devices": devices}))
        self.log_path.touch()
        return path

    def _start_server(self) -> None:
        assert self.workdir is not None
        spec_path = self._write_spec()
        self._server_log = self.workdir / "server.log"
        with open(self._server_log, "wb") as err:
            # New session: a Ctrl-C on the terminal reaches us, and we stop the server in order.
            self.server = subprocess.Popen(
                [self.python, "-m", "camscan.lab.server", str(spec_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        assert self.server.stdout is not None
        deadline = time.monotonic() + self.ready_timeout
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select(
                [self.server.stdout], [], [], min(0.5, max(0.0, deadline - time.monotonic()))
            )
            if ready:
                line = self.server.stdout.readline()
                if line.startswith("READY"):
                    return
                if not line:  # EOF: the server died
                    break
            elif self.server.poll() is not None:
                break
        tail = self._server_log.read_text(errors="replace")[-2000:] if self._server_log.exists() else ""
        if self.server.poll() is None:
            raise LabError(f"device server not READY after {self.ready_timeout:.0f} s; log tail:\n{tail}")
        raise LabError(f"device server exited with {self.server.returncode} before READY; log tail:\n{tail}")

    def _stop_server(self) -> None:
        srv = self.server
        if srv is None:
            return
        if srv.poll() is None:
            srv.terminate()
            try:
                srv.wait(timeout=5)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait(timeout=5)
        for stream in (srv.stdin, srv.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    # --- running things in the scanner namespace -------------------------------------------

    def _netns_argv(self, argv: Sequence[str], ns: str | None) -> list[str]:
        if not self._started or self._closed:
            raise LabError("site is not running")
        # Absolute path: a caller-supplied env without PATH must still find `ip`.
        return [_ip(), "netns", "exec", ns or self.scanner_ns, *argv]

    def exec(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        *,
        input: str | bytes | None = None,
        text: bool = True,
        ns: str | None = None,
    ) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` inside the scanner namespace (or ``ns``) and capture stdout/stderr.

        ``env=None`` inherits this process's environment. Raises ``subprocess.TimeoutExpired``
        after ``timeout`` seconds (the child is killed).
        """
        return subprocess.run(
            self._netns_argv(argv, ns),
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
            check=False,
        )

    def popen(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        ns: str | None = None,
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` inside the scanner namespace (or ``ns``); stdout/stderr piped, text mode,
        unless overridden in ``kwargs``. The caller waits for or kills the process."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("text", True)
        return subprocess.Popen(
            self._netns_argv(argv, ns), env=dict(env) if env is not None else None, **kwargs
        )

    # --- request log ------------------------------------------------------------------------

    def _read_log(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with open(self.log_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line still being written
        return out

    def request_log(self, device: str | None = None) -> list[dict[str, Any]]:
        """Every request the devices received so far (after close: the final log), oldest first.

        Each entry: ``t``, ``device``, ``ip``, ``proto`` (wsd, wsd6, http, tcp, ...), ``src``,
        ``op`` and/or ``path``, ``credentialed``, ``username``, ``auth_ok`` (None when no
        credentials were sent), plus protocol details. ``device`` filters by name or IP.
        """
        entries = self._final_log if self._final_log is not None else self._read_log()
        if device is None:
            return list(entries)
        return [e for e in entries if device in (e.get("device"), e.get("ip"))]

    def server_log(self) -> str:
        """The device server's stderr so far: per-device handler errors, bind failures."""
        if self._final_server_log is not None:
            return self._final_server_log
        path = self.workdir / "server.log" if self.workdir else None
        try:
            return path.read_text(errors="replace") if path else ""
        except OSError:
            return ""

    def clear_request_log(self) -> None:
        """Forget the requests logged so far (between steps of one test)."""
        if self._final_log is not None:
            self._final_log = []
        else:
            with open(self.log_path, "r+", encoding="utf-8") as fh:
                fh.truncate(0)


def _ll(mac: str) -> str:
    from camscan.lab.sitefile import ipv6_link_local

    return ipv6_link_local(mac)


def _iface_lines(iface: str, cidr: str, ll: str | None, lo: bool = True) -> list[str]:
    lines = ["link set lo up"] if lo else []
    lines += [f"link set {iface} addrgenmode none", f"link set {iface} up", f"addr add {cidr} dev {iface}"]
    if ll:
        lines.append(f"addr add {ll}/64 dev {iface} nodad")
    if iface == "eth0":
        # Multicast joins and sends need a route; without a default route the kernel has none.
        lines.append(f"route add 224.0.0.0/4 dev {iface}")
    return lines


def _device_lines(dev: DeviceSpec) -> list[str]:
    lines = _iface_lines("eth0", f"{dev.ip}/{dev.prefixlen}", dev.ipv6_ll if dev.settings["ipv6"] else None)
    lines.append(f"route add default via {dev.gateway}")
    if dev.onlink:
        lines.append(f"route add {dev.onlink} dev eth0")
    return lines


def load_site(name_or_path: str | Path | SiteSpec, **kwargs: Any) -> Site:
    """A :class:`Site` (not yet started) for a shipped site name, a site file path, or a SiteSpec.

    Keyword arguments go to :class:`Site` (``prefix``, ``ready_timeout``, ``keep_workdir`` ...).
    Use it as a context manager: ``with load_site("test") as site: ...``.
    """
    spec = name_or_path if isinstance(name_or_path, SiteSpec) else load_site_spec(name_or_path)
    return Site(spec, **kwargs)
