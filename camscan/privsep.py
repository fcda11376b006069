"""Privilege separation: no code that reads a device's bytes runs as root (or with any capability but
CAP_NET_RAW).

Users run ``camscan scan`` as root from cron, and every reply a device sends is hostile input to libxml2, zeep,
http.client, the TLS and certificate code and our own parsers. As tcpdump (``-Z``), nping and Wireshark's
dumpcap do, the privileged process does only what needs the privilege and hands the rest to a process that has
none:

* the privileged parent takes the run lock, reads the config, finishes every import and loads every data file
  the scan needs (an unprivileged process may not be able to reach the package by its path, e.g. installed under
  root's 0700 home), and opens the UDP discovery sockets with their forced buffer sizes (CAP_NET_ADMIN);
* it forks a child that drops to an unprivileged user (``--user``, ``[scan] user``, default ``nobody``) when it
  runs as root, keeps CAP_NET_RAW only (the ARP sweep's raw socket) and no other capability, in none of its
  sets, cannot regain any (``PR_SET_NO_NEW_PRIVS``, bounding set emptied but for CAP_NET_RAW, not dumpable),
  and dies with its parent (``PR_SET_PDEATHSIG``);
* the child runs the whole scan (discovery, probing, parsing, identification) and writes the result back as a
  JSON report document over a pipe; the parent reads it with the standard library's JSON parser, rebuilds the
  result (:func:`camscan.serialize.report_from_dict`) and writes the inventory and the reports.

A process without root and without capabilities beyond CAP_NET_RAW runs the scan itself: there is nothing to
drop. One that is not root but holds more capabilities (a systemd unit with ``AmbientCapabilities=CAP_NET_RAW
CAP_NET_ADMIN``) forks the same way and drops the extra capabilities, keeping its user.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import json
import logging
import os
import pkgutil
import pwd
import signal
import sys
from collections.abc import Callable

from camscan.errors import CamscanError, RunError, UsageError
from camscan.models import ScanResult

log = logging.getLogger(__name__)

DEFAULT_USER = "nobody"
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
# The most a child may send back (a 1,000-device report with all its evidence is about 100 MB as JSON).
MAX_RESULT = 1 << 30

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _prctl(option: int, arg: int = 0, arg3: int = 0) -> None:
    if _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(arg3), ctypes.c_ulong(0),
                   ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _capset(effective: int, permitted: int, inheritable: int = 0) -> None:
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> (32 * i)) & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def capabilities(pid: int | str = "self") -> dict[str, int]:
    """The capability sets of a process (``CapEff``, ``CapPrm``, ``CapInh``, ``CapBnd``, ``CapAmb``) as bit masks,
    and its real, effective, saved and filesystem uids (``Uid``), from ``/proc/<pid>/status``."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key.startswith("Cap"):
                out[key] = int(value.strip(), 16)
            elif key == "Uid":
                out["Uid"] = max(int(v) for v in value.split())
                out["MinUid"] = min(int(v) for v in value.split())
    return out


def needs_separation() -> bool:
    """Whether this process holds more than an unprivileged scan may: root, or a capability but CAP_NET_RAW."""
    if os.geteuid() == 0 or os.getuid() == 0:
        return True
    try:
        caps = capabilities()
    except OSError:
        return False
    raw = 1 << CAP_NET_RAW
    return bool((caps.get("CapEff", 0) | caps.get("CapPrm", 0) | caps.get("CapAmb", 0)) & ~raw)


def resolve_user(name: str | None) -> tuple[int, int]:
    """(uid, gid) of the user the unprivileged scan runs as (when running as root). UsageError when there is no
    such user, or when it is root (which would defeat the point)."""
    name = name or DEFAULT_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"no user {name!r} to run the scan's probing as: create it (useradd --system "
                         f"--no-create-home {name}) or pass --user / [scan] user") from None
    if entry.pw_uid == 0:
        raise UsageError(f"--user {name}: the probing must run as an unprivileged user, not uid 0")
    return entry.pw_uid, entry.pw_gid


# What the privileged parent alone uses, after the child has finished: the report formats it renders and the
# inventory backends it stores into (about 7 MB and 50 ms of imports, cyclonedx's above all, that the probing
# child would only carry). Imported by the parent when it needs them, as root.
PARENT_ONLY = ("camscan.report.", "camscan.store.")


def import_scanner_modules() -> None:
    """Import every camscan module the probing child may use: all but the emulated site (``camscan.lab``),
    ``camscan.__main__`` (which runs the CLI) and the parent's own (:data:`PARENT_ONLY`). Not
    ``pkgutil.walk_packages``: it imports each package it walks into, the lab included."""
    todo = ["camscan"]
    while todo:
        package = importlib.import_module(todo.pop())
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if info.name in ("camscan.lab", "camscan.__main__") or info.name.startswith(PARENT_ONLY):
                continue
            try:
                importlib.import_module(info.name)
            except ImportError as exc:  # an optional module whose dependency is not installed: not the scan's
                log.debug("not preloaded: %s (%s)", info.name, exc)
                continue
            if info.ispkg:
                todo.append(info.name)


def prepare() -> None:
    """Everything the unprivileged process needs from the file system, done while it can still be read: every
    camscan module it may use (not the lab, not the parent's report formats and stores) and what they import, the
    data files, the WSDL; and the discovery sockets whose buffer sizes need CAP_NET_ADMIN."""
    import_scanner_modules()
    from camscan import oui
    from camscan.discover import udp
    from camscan.probe import http, onvif
    from camscan.recorders import media

    http.default_plan()
    onvif.preload()
    media.preload()  # the media WSDL subset's bytes (parsed only if a scan meets an ONVIF recorder)
    oui.preload()
    udp.preopen(3)  # one per UDP protocol (WS-Discovery, SADP, DHIP)
    "".encode("idna")  # codecs the probes may use, imported while the standard library is reachable
    b"".decode("utf-16")


def drop(uid: int | None, gid: int | None, keep_raw: bool = True) -> None:
    """Drop to ``uid``/``gid`` (when given: the process is root) with no supplementary groups, keeping at most
    CAP_NET_RAW (``keep_raw``, and only when the process has it) in the effective and permitted sets and nothing
    in the inheritable and ambient sets or, when the process may change it, the bounding set. Irreversible."""
    have = capabilities()
    raw = (1 << CAP_NET_RAW) if keep_raw and have.get("CapPrm", 0) & (1 << CAP_NET_RAW) else 0
    try:
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass  # a kernel before 4.3 has no ambient set
    last = _last_cap()
    if have.get("CapEff", 0) & (1 << 8):  # CAP_SETPCAP: the bounding set can shrink
        for cap in range(last + 1):
            if cap != CAP_NET_RAW or not raw:
                _prctl(_PR_CAPBSET_DROP, cap)
    if uid is not None and gid is not None:
        os.setgroups([])
        _prctl(_PR_SET_KEEPCAPS, 1)  # keep the permitted set across the uid change, to keep CAP_NET_RAW
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        _prctl(_PR_SET_KEEPCAPS, 0)
    _capset(raw, raw, 0)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_DUMPABLE, 0)  # no process of that user reads this one's memory (it holds the password)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    after = capabilities()
    if after["MinUid"] == 0 and uid is not None or (after["CapEff"] | after["CapPrm"]) & ~raw:
        raise RunError("privileges could not be dropped for the probing process")


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return 40


def run(scan: Callable[[], ScanResult], user: str | None = None) -> ScanResult:
    """``scan()`` in an unprivileged child process when this one is privileged (see the module docstring),
    else here. Errors the scan raises come back as the same kind of error."""
    if not needs_separation():
        return scan()
    ids = resolve_user(user) if os.geteuid() == 0 else (None, None)
    prepare()
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(scan, ids, write_fd)
    os.close(write_fd)
    from camscan.transport import close_preopened

    close_preopened()  # the child has them; the parent never reads from them
    try:
        lines = _read_lines(read_fd)
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.close(read_fd)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        raise
    os.close(read_fd)
    return _decode(lines, status)


def _read_lines(fd: int) -> list:
    """The child's JSON lines, each decoded as it arrives (a device line straight into a Device, so the parent
    never holds the whole document nor its decoded form); the first line stays a dict. A line that is not JSON
    is kept as the exception it raised, for :func:`_decode` to report."""
    from camscan import serialize
    from camscan.models import Device

    out: list = []
    size = 0
    with os.fdopen(os.dup(fd), "rb", buffering=1 << 16) as fh:
        for line in fh:
            size += len(line)
            if size > MAX_RESULT:
                raise RunError(f"the probing process sent more than {MAX_RESULT} bytes (refused)")
            try:
                out.append(json.loads(line) if not out else serialize.from_dict(Device, json.loads(line)))
            except (ValueError, TypeError) as exc:
                out.append(exc)
    return out


def _decode(lines: list, status: int) -> ScanResult:
    import dataclasses

    from camscan import serialize

    if not lines:
        why = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.waitstatus_to_exitcode(status)}")
        raise RunError(f"the unprivileged probing process ended without a result ({why})")
    try:
        message, devices = lines[0], lines[1:]
        for item in (message, *devices):
            if isinstance(item, Exception):
                raise item
        if "error" in message:
            exc = (UsageError if message.get("exit_code") == UsageError.exit_code else RunError)(str(message["error"]))
            raise exc
        if len(devices) != message["devices"]:
            raise ValueError(f"{len(devices)} of {message['devices']} devices arrived")
        result = serialize.report_from_dict(message["result"])
        return dataclasses.replace(result, devices=tuple(devices))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RunError(f"the probing process sent an unreadable result: {str(exc)[:200]}") from None


def _shed_descriptors(result_fd: int) -> None:
    """What the parent holds open is not the child's: the run lock, the report's stdout (a child that wrote
    there would corrupt the report the parent writes). Every descriptor but stdin, stderr, the result pipe,
    the discovery sockets and the OUI registry is closed; stdout goes to /dev/null."""
    from camscan import oui
    from camscan.transport import _preopened

    keep = {0, 2, result_fd, *(s.fileno() for s in _preopened)}
    if oui._preloaded is not None:
        keep.add(oui._preloaded)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for n in fds:
        if n > 2 and n not in keep:
            try:
                os.close(n)
            except OSError:
                pass  # the listing's own descriptor, already gone


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _send_result(result: ScanResult, fd: int) -> None:
    """The result as JSON lines: the report without its devices (and their count), then one line per device.
    Neither side ever holds the whole document or its decoded form: at 1,000 devices that was about 30 MB of
    peak RSS on each side."""
    import dataclasses

    from camscan import serialize

    head = serialize.report_dict(dataclasses.replace(result, devices=()))
    _write(fd, json.dumps({"result": head, "devices": len(result.devices)}).encode("ascii") + b"\n")
    for device in result.devices:
        _write(fd, json.dumps(serialize.to_dict(device)).encode("ascii") + b"\n")


def _child(scan: Callable[[], ScanResult], ids: tuple[int | None, int | None], fd: int) -> None:
    code = 0
    try:
        try:
            os.chdir("/")
            _shed_descriptors(fd)
            drop(*ids)
            caps = capabilities()
            log.info("probing in process %d as uid %d (capabilities %#x)", os.getpid(), caps["Uid"], caps["CapEff"])
            result = scan()
            _send_result(result, fd)
            message = None
        except CamscanError as exc:
            message = {"error": str(exc), "exit_code": exc.exit_code}
        except KeyboardInterrupt:
            code = 130
            message = None
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides the exit
            log.debug("probing process failed", exc_info=True)
            message = {"error": f"internal error in the probing process: {type(exc).__name__}: {exc}"}
        if message is not None:
            _write(fd, json.dumps(message).encode("ascii") + b"\n")
    except BaseException:  # noqa: BLE001 - nothing may return into the parent's stack
        code = code or 70
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)
