"""camscan.privsep without a network: the scan function runs in a child that has dropped to the unprivileged
user with at most CAP_NET_RAW, its result comes back whole over the pipe, its errors come back as errors."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from camscan import privsep
from camscan.errors import ConfigError, RunError, UsageError
from camscan.models import ScanResult, Skip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root (CI runs as root)")


def result(note: str) -> ScanResult:
    now = datetime.now(UTC).replace(microsecond=0)
    return ScanResult(started=now, finished=now, targets=("198.51.100.0/24",), interfaces=("eth0",),
                      methods=("arp",), devices=(), skips=(Skip("198.51.100.9", "onvif", "why \u202e"),),
                      coverage=(), notes=(note,))


def test_the_scan_runs_unprivileged_and_its_result_comes_back_whole():
    def scan() -> ScanResult:
        caps = privsep.capabilities()
        return result(f"{os.getpid()} {caps['MinUid']} {caps['CapEff']} {caps['CapPrm']} {caps['CapBnd']}")

    got = privsep.run(scan)
    pid, uid, eff, prm, bnd = map(int, got.notes[0].split())
    assert pid != os.getpid() and uid == 65534
    assert (eff | prm | bnd) & ~(1 << privsep.CAP_NET_RAW) == 0
    assert got.skips == result("").skips and got.targets == ("198.51.100.0/24",)
    assert os.geteuid() == 0  # the parent is untouched


def test_errors_in_the_child_come_back_as_errors():
    def config_error() -> ScanResult:
        raise ConfigError("bad thing in the child")

    def usage_error() -> ScanResult:
        raise UsageError("bad option in the child")

    def crash() -> ScanResult:
        os._exit(9)

    with pytest.raises(RunError, match="bad thing in the child"):
        privsep.run(config_error)
    with pytest.raises(UsageError, match="bad option in the child"):
        privsep.run(usage_error)
    with pytest.raises(RunError, match="ended without a result"):
        privsep.run(crash)


def test_an_unknown_or_root_user_is_a_usage_error():
    with pytest.raises(UsageError, match="no user 'camscan-no-such-user'"):
        privsep.run(lambda: result(""), user="camscan-no-such-user")
    with pytest.raises(UsageError, match="not uid 0"):
        privsep.run(lambda: result(""), user="root")


def test_the_probing_process_cannot_read_root_only_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)

    def scan() -> ScanResult:
        try:
            secret.read_text()
            return result("read")
        except PermissionError:
            return result("denied")

    assert privsep.run(scan).notes == ("denied",)


def test_the_probing_process_holds_none_of_the_parents_descriptors(tmp_path):
    lock_path = tmp_path / "inventory.sqlite3.lock"
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def scan() -> ScanResult:
        targets = []
        for name in os.listdir("/proc/self/fd"):
            try:
                targets.append(os.readlink(f"/proc/self/fd/{name}"))
            except OSError:
                pass  # the listing's own descriptor
        return result(f"stdout={os.readlink('/proc/self/fd/1')}\n" + "\n".join(targets))

    try:
        note = privsep.run(scan).notes[0]
    finally:
        os.close(lock)
    assert note.startswith(f"stdout={os.devnull}\n") and str(lock_path) not in note.splitlines()
