"""Issue 13, done-when: two emulated sites scanned at once into one PostgreSQL database with different --site
names; `camscan history` lists both, `camscan report --site NAME` gives that site's devices, the cross-site
report counts both, and a third scan of one site diffs against that site only.

Each site is its own set of network namespaces (the same subnet on both, as two branch offices may well
have); the scanner inside each reaches the database over its unix socket (the filesystem is shared across
network namespaces), the way a site's scanner reaches a central database: outbound, nothing to the site."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from siteutil import BASE_ENV, CAMSCAN, cli_env, site_doc

from camscan.lab import load_site
from camscan.lab.sitefile import build_site

pytestmark = pytest.mark.netns

ALPHA = [
    {"name": "hik", "profile": "hikvision-ds-2cd2385g1-i", "ip": "198.51.100.10"},
    {"name": "axis", "profile": "axis-m1065-l", "ip": "198.51.100.11"},
]
BRAVO = [
    {"name": "dahua", "profile": "dahua-general-ipc-hdw1431t1-s4", "ip": "198.51.100.10"},
    {"name": "uniview", "profile": "uniview-ipc2122lb-sf28-a", "ip": "198.51.100.12"},
    {"name": "bosch", "profile": "bosch-flexidome-indoor-5100i-ir", "ip": "198.51.100.13"},
]
ALPHA_LATER = ALPHA[1:] + [{"name": "reolink", "profile": "reolink-rlc-410-5mp", "ip": "198.51.100.14"}]


def scan_argv(db: str, site: str, out) -> list[str]:
    return [*CAMSCAN, "scan", "--site", site, "--db", db, "--format", "json", "-o", str(out), "--timeout", "2",
            "198.51.100.0/24"]


def camscan(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CAMSCAN, *argv], capture_output=True, text=True, env=BASE_ENV, timeout=60)


@pytest.fixture(scope="module")
def sites(lab, pg_server, tmp_path_factory):
    """alpha and bravo scanned at the same time, then alpha again after a device left and another came."""
    db = pg_server.new_database()
    tmp = tmp_path_factory.mktemp("multisite")
    reports = {}
    with load_site(build_site(site_doc(ALPHA), source="<alpha>")) as alpha, \
            load_site(build_site(site_doc(BRAVO), source="<bravo>")) as bravo:
        procs = {name: site.popen(scan_argv(db, name, tmp / f"{name}-1.json"), env=cli_env(site))
                 for name, site in (("alpha", alpha), ("bravo", bravo))}
        for name, proc in procs.items():
            _out, err = proc.communicate(timeout=180)
            assert proc.returncode == 1, (name, err)  # Hikvision on alpha, Dahua on bravo
            reports[f"{name}-1"] = json.loads((tmp / f"{name}-1.json").read_text())
        # the run lock is per site: bravo's scanner is not held up by alpha's
    # the third scan names its site, database and retention in a config file instead: [output] keep = 1 keeps
    # alpha's newest scan only, and leaves bravo's alone
    cfg = tmp / "alpha.toml"
    cfg.write_text(f'[scan]\nsite = "alpha"\n[output]\ndb = "{db}"\nkeep = 1\n', encoding="utf-8")
    with load_site(build_site(site_doc(ALPHA_LATER), source="<alpha later>")) as alpha:
        argv = [*CAMSCAN, "scan", "--config", str(cfg), "--format", "json", "-o", str(tmp / "alpha-2.json"),
                "--timeout", "2", "198.51.100.0/24"]
        proc = alpha.exec(argv, env=cli_env(alpha), timeout=180)
        assert proc.returncode == 0, proc.stderr  # the Hikvision unit is gone: nothing flagged
        reports["alpha-2"] = json.loads((tmp / "alpha-2.json").read_text())
    return db, reports


def test_history_lists_both_sites(sites):
    db, reports = sites
    hist = camscan("history", "--db", db)
    assert hist.returncode == 0, hist.stderr
    rows = [line.split() for line in hist.stdout.splitlines()[2:]]
    # alpha's first scan went with [output] keep = 1 on its third; bravo's, of another site, stays
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (str(reports[k]["scan_id"]), k.split("-")[0]) for k in ("bravo-1", "alpha-2"))
    only = camscan("history", "--db", db, "--site", "bravo")
    assert [line.split()[1] for line in only.stdout.splitlines()[2:]] == ["bravo"]


def test_report_of_a_site_gives_its_devices(sites):
    db, reports = sites
    for site, devices in (("bravo", BRAVO), ("alpha", ALPHA_LATER)):
        proc = camscan("report", "--db", db, "--site", site, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert sorted(d["ip"] for d in data["devices"]) == sorted(d["ip"] for d in devices), site
    bravo = json.loads(camscan("report", "--db", db, "--site", "bravo", "--format", "json").stdout)
    assert bravo["scan_id"] == reports["bravo-1"]["scan_id"]


def test_third_scan_diffs_against_its_own_site_only(sites):
    _db, reports = sites
    first, third = reports["alpha-1"], reports["alpha-2"]
    assert third["diff"]["previous_scan"] == first["scan_id"]  # not bravo's scan, whichever came last
    kinds = {(c["kind"], c["ip"]) for c in third["diff"]["changes"]}
    assert kinds == {("gone", "198.51.100.10"), ("new", "198.51.100.14")}, third["diff"]["changes"]
    # bravo's devices (a Dahua at the same address .10, .12, .13) are neither 'new' nor 'gone' for alpha
    assert reports["bravo-1"]["diff"]["previous_scan"] is None


def test_no_lock_file_for_a_url(sites):
    """The run lock lives in the database: nothing like '<db>.lock' was made from the URL (which, read as a
    path, would have been 'postgresql:/...' under the scans' working directory)."""
    assert not list(Path.cwd().glob("postgres*"))


def test_the_cross_site_report_counts_both(sites):
    db, reports = sites
    proc = camscan("report", "--db", db, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    summary = {s["site"]: s for s in data["sites"]}
    assert list(summary) == ["alpha", "bravo"]
    assert summary["alpha"]["scan_id"] == reports["alpha-2"]["scan_id"]  # each site's latest scan
    assert summary["bravo"]["scan_id"] == reports["bravo-1"]["scan_id"]
    assert (summary["alpha"]["devices"], summary["bravo"]["devices"]) == (len(ALPHA_LATER), len(BRAVO))
    assert summary["bravo"]["flagged"] >= 1 and summary["alpha"]["flagged"] == 0  # Dahua on bravo only
    assert data["summary"]["devices"] == len(ALPHA_LATER) + len(BRAVO)
    assert sorted((d["site"], d["ip"]) for d in data["devices"]) == sorted(
        [("alpha", d["ip"]) for d in ALPHA_LATER] + [("bravo", d["ip"]) for d in BRAVO])
    table = camscan("report", "--db", db)
    assert table.returncode == 0 and table.stdout.startswith("camscan: 2 sites, 5 device(s)")
