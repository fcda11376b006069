"""Issue 11: ``camscan scan --record DIR`` on the emulated 'vendors' site (with credentials, as root: the
unprivileged prober writes the recording), then every recorded folder replayed without the network gives the
device's maker, model, firmware and verdict the live scan gave, and no recorded byte holds the credentials."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from siteutil import run_scan

from camscan.replay import replay

pytestmark = pytest.mark.netns

TARGETS = ("198.51.100.0/24", "203.0.113.0/24")


@pytest.fixture(scope="module")
def recorded(vendors_site):
    base = Path(tempfile.mkdtemp(prefix="camscan-rec-"))
    base.chmod(0o711)  # the unprivileged prober reaches the recording directory camscan creates inside
    try:
        scan = run_scan(vendors_site, "--no-db", "--format", "json", "--timeout", "2", "--record",
                        str(base / "rec"), *TARGETS)
        yield scan, base / "rec"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_every_reported_device_is_recorded_and_replays_to_the_same_identity(recorded):
    scan, folder = recorded
    assert scan.proc.returncode in (0, 1), scan.proc.stderr
    live = {ip: d for ip, d in scan.devices.items() if d.get("via") is None}
    assert live and {p.name for p in folder.iterdir()} == set(live)
    kinds = {f.name for dev in folder.iterdir() for f in dev.iterdir()}
    assert {"device.toml", "wsd.xml", "onvif", "http", "sadp.xml", "dhip.bin"} <= kinds, kinds
    replayed = replay(sorted(folder.iterdir()))
    got = {d.ip: d for d in replayed.devices}
    for ip, d in live.items():
        r = got[ip]
        assert (r.manufacturer, r.model, r.firmware, str(r.verdict)) == (
            d["manufacturer"], d["model"], d["firmware"], d["verdict"]), ip


def test_no_credential_is_recorded(vendors_site, recorded):
    _scan, folder = recorded
    secrets = [vendors_site.password.encode(), b"UsernameToken", b"PasswordDigest", b"Authorization: "]
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in secrets if s in data], path
    assert os.stat(folder).st_mode & 0o077 == 0  # owner only


def test_the_recording_belongs_to_the_user_who_ran_camscan(recorded):
    """Review 16: the unprivileged prober writes the tree (as nobody); afterwards it is handed back to the user
    who ran the scan (root here), still owner only."""
    _scan, folder = recorded
    for path in [folder, *folder.rglob("*")]:
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), path
