"""Issue 12, least privilege, end to end: during a scan run as root on an emulated site, the process that probes
and parses the devices' replies has a non-zero uid and no capability beyond CAP_NET_RAW (read from
/proc/<pid>/status while it runs), while the root parent keeps the inventory; and a checkout under a home
directory of mode 0700 (as root's is) still scans and identifies, because every import and data file is loaded
before the privileges go."""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
from siteutil import CAMSCAN, ROOT, cli_env, emulated_site

from camscan.privsep import CAP_NET_RAW, capabilities

pytestmark = pytest.mark.netns

DEVICES = [
    {"name": "hik", "profile": "hikvision-ds-2cd2385g1-i", "ip": "198.51.100.10"},
    {"name": "axis", "profile": "axis-m1065-l", "ip": "198.51.100.11"},
]


@pytest.fixture(scope="module")
def site():
    yield from emulated_site(DEVICES, "<privsep>", auth="read_system")


@pytest.fixture
def service_state():
    """A state directory the service user can reach (pytest's own temporary tree is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="camscan-state-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def probing_pid(proc) -> int:
    """The pid the scan's probing process announces on stderr (-v) once it has dropped its privileges, before it
    sends anything; the lines before it are kept for the failure message."""
    seen = []
    for line in proc.stderr:
        if "probing in process" in line:
            return int(line.split("probing in process", 1)[1].split()[0])
        seen.append(line)
    raise AssertionError(f"no probing process announced: {''.join(seen)}")


def identified(data: dict) -> dict[str, dict]:
    return {d["ip"]: d for d in data["devices"]}


def test_the_process_that_parses_replies_has_no_root_and_no_capability_but_net_raw(site, tmp_path):
    db = tmp_path / "inventory.sqlite3"
    proc = site.popen([*CAMSCAN, "-v", "scan", "--db", str(db), "--format", "json", "--timeout", "2",
                       "198.51.100.0/24"], env=cli_env(site))
    try:
        child = probing_pid(proc)
        status = Path(f"/proc/{child}/status").read_text()
        caps = capabilities(child)
        parent = capabilities(proc.pid)
        ppid = int(next(v for k, _, v in (ln.partition(":") for ln in status.splitlines()) if k == "PPid"))
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert ppid == proc.pid and parent["Uid"] == 0  # the root parent forked it and keeps the inventory
    assert caps["MinUid"] != 0 and caps["Uid"] != 0, status
    allowed = 1 << CAP_NET_RAW
    for name in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert caps[name] & ~allowed == 0, (name, hex(caps[name]), status)
    assert "NoNewPrivs:\t1" in status
    assert proc.returncode in (0, 1), err
    devices = identified(json.loads(out))
    # the child did the probing and parsing: both devices identified from their ONVIF replies
    assert devices["198.51.100.10"]["manufacturer"] and devices["198.51.100.11"]["manufacturer"]
    assert db.stat().st_uid == 0 and db.stat().st_mode & 0o077 == 0


_SKIP_DISTS = ("scapy", "hypothesis", "pytest", "_pytest", "ruff", "pip", "setuptools", "pygments", "__pycache__")


@pytest.fixture(scope="module")
def private_checkout(tmp_path_factory):
    """This checkout's package and its installed dependencies copied under a 0700 home, owned by root."""
    home = tmp_path_factory.mktemp("roothome")
    home.chmod(0o700)
    src = home / "src"
    shutil.copytree(ROOT / "camscan", src / "camscan", ignore=shutil.ignore_patterns("__pycache__"))
    site_packages = Path(sysconfig.get_paths()["purelib"])
    lib = home / "site-packages"
    lib.mkdir()
    for item in site_packages.iterdir():
        if item.name.startswith(_SKIP_DISTS) or item.name.endswith(".pth") or "camscan" in item.name:
            continue
        if item.is_dir():
            shutil.copytree(item, lib / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, lib / item.name)
    return home, src, lib


def test_a_checkout_under_a_0700_home_still_scans_and_identifies(site, private_checkout, tmp_path):
    home, src, lib = private_checkout
    assert home.stat().st_mode & 0o777 == 0o700 and home.stat().st_uid == 0
    # -S: not even the venv's site-packages (readable by anyone) are on the path; only the 0700 copies
    boot = (f"import sys; sys.path[0:0] = [{str(src)!r}, {str(lib)!r}]; from camscan.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    out = tmp_path / "report.json"
    proc = site.popen([sys.executable, "-S", "-c", boot, "scan", "--no-db", "--format", "json", "-o", str(out),
                       "--timeout", "2", "198.51.100.0/24"], env=dict(cli_env(site), HOME=str(home)), cwd=home)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err, err
    data = json.loads(out.read_text())
    devices = identified(data)
    assert set(devices) >= {"198.51.100.10", "198.51.100.11"}, data["skips"]
    for d in devices.values():
        sources = {e["source"].split(".")[0] for e in d["evidence"]}
        # ONVIF (zeep, the WSDL), the web probe (its path plan) and the OUI registry all worked unprivileged
        assert {"onvif", "http", "oui"} <= sources, (d["ip"], sources, data["skips"])
    assert not [s for s in data["skips"] if "internal error" in s["reason"]], data["skips"]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_as_the_units_service_user_with_its_ambient_capabilities(site, service_state):
    """The README's systemd unit: a non-root user holding CAP_NET_RAW and CAP_NET_ADMIN; the config a
    LoadCredential copy owned by that user, mode 0400. The parent opens the sockets, the prober keeps CAP_NET_RAW."""
    state = service_state
    config = state / "camscan.toml"
    config.write_text(f'[scan]\ntargets = ["198.51.100.0/24"]\ntimeout = 2.0\n[credentials]\n'
                      f'username = "{site.username}"\npassword = "{site.password}"\n'
                      f'[output]\ndb = "{state}/inventory.sqlite3"\nformat = "json"\nfile = "{state}/report.json"\n')
    config.chmod(0o400)
    for p in (state, config):
        os.chown(p, 65534, 65534)
    caps = "+net_raw,+net_admin"
    proc = site.popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", f"--inh-caps={caps}",
                       f"--ambient-caps={caps}", "--no-new-privs", *CAMSCAN, "-v", "scan", "--config", str(config)],
                      env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"})
    try:
        child = probing_pid(proc)
        prober, parent = capabilities(child), capabilities(proc.pid)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert parent["CapEff"] & (1 << 12) and parent["Uid"] == 65534  # CAP_NET_ADMIN for the socket step
    assert prober["Uid"] == 65534 and (prober["CapEff"] | prober["CapPrm"] | prober["CapAmb"]) == 1 << CAP_NET_RAW
    assert proc.returncode in (0, 1), err
    devices = identified(json.loads((state / "report.json").read_text()))
    assert devices["198.51.100.10"]["manufacturer"] and devices["198.51.100.11"]["manufacturer"]
