"""Issue 6, bad user input: malformed targets, huge ranges, missing permissions, unreadable or invalid
config, a locked or corrupt inventory. Each ends in one line on stderr that says what is wrong and what to
do, with exit 2 (usage) or 3 (could not run), an empty stdout and never a traceback.

Every command runs the real CLI in a fresh, empty network namespace (``unshare -n``: only a loopback that
is down), so even a scan that should have been refused cannot send a packet anywhere. Missing permissions
are real: the process runs without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH, so file modes apply to it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess

import pytest
from siteutil import BASE_ENV, CAMSCAN, ROOT

pytestmark = pytest.mark.netns

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
FAST = ["--deadline", "1", "--timeout", "1"]  # in an empty namespace nothing answers: end soon


@pytest.fixture(scope="module")
def isolated():
    """Skip unless an empty network namespace can be made (root, util-linux)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for an empty network namespace")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not permitted here")


def camscan(*args: str, env: dict[str, str] | None = None, no_dac: bool = False,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    prefix = ["unshare", "-n", "--"] + (NO_DAC if no_dac else [])
    return subprocess.run([*prefix, *CAMSCAN, *args], env=env or BASE_ENV, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, pattern: str) -> None:
    err = proc.stderr
    assert "Traceback" not in err, err
    assert proc.returncode == code, (proc.returncode, err)
    assert err.startswith("camscan: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert re.search(pattern, err), err
    assert proc.stdout == ""


# ---------------------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(("args", "pattern"), [
    (["198.51.100.300"], r"malformed target '198\.51\.100\.300'.*expected an IPv4 address, CIDR or range"),
    (["not-a-target"], r"malformed target 'not-a-target'"),
    (["198.51.100.9-3"], r"malformed target .*range ends before it starts"),
    (["198.51.100.0/33"], r"malformed target '198\.51\.100\.0/33'"),
    (["fe80::1"], r"malformed target 'fe80::1'"),
    (["198.51.100.1\x1b[2J"], r"malformed target '198\.51\.100\.1\\x1b\[2J'"),  # echoed escaped, not raw
    (["198.18.0.0/15"], r"131072 addresses, more than 65536; pass --allow-large"),
    (["10.0.0.0/8", "--allow-large"], r"16777216 addresses, more than camscan scans at once .*split them"),
    (["198.51.100.0/24", "--timeout", "-1"], r"--timeout: '-1' must be greater than 0"),
    (["198.51.100.0/24", "--timeout", "soon"], r"--timeout: 'soon' is not a number"),
    (["198.51.100.0/24", "--format", "xml"], r"--format: .xml. is not a report format \(choose from table, json"),
    (["198.51.100.0/24", "--password", "x"], r"unrecognized arguments: --password"),
    (["-i", "nope0"], r"unknown interface 'nope0'"),
])
def test_usage_errors_exit_2(isolated, args, pattern):
    assert_one_line_error(camscan("scan", "--no-db", *args), 2, pattern)


def test_huge_range_limit_is_documented(isolated):
    readme = (ROOT / "README.md").read_text()
    assert "65,536" in readme and "--allow-large" in readme


@pytest.mark.parametrize("args", [
    ["--deadline", "inf"],
    ["--timeout", "nan"],
    ["--wsd-wait", "inf"],
    ["--lock-wait", "nan"],
])
def test_non_finite_numbers_are_usage_errors(isolated, args):
    # after FAST: the value under test wins (argparse keeps the last), the others keep a refused run short
    assert_one_line_error(camscan("scan", "--no-db", "198.51.100.0/30", *FAST, *args, timeout=30), 2,
                          r"must be a finite number|greater than 0")


# ------------------------------------------------------------------------------------- cannot run (3)
def test_no_usable_interface(isolated):
    assert_one_line_error(camscan("scan", "--no-db"), 3, r"no usable interface.*name one with -i, or give targets")


@pytest.mark.parametrize(("text", "mode", "pattern"), [
    (None, 0o600, r"config file .* does not exist"),
    ("[scan]\ntargets = [\n", 0o600, r"is not valid TOML"),
    (b"\xff\xfe[scan]", 0o600, r"is not UTF-8 text"),
    ("[scan]\ntarget = []\n", 0o600, r"unknown key 'target'"),
    ('[credentials]\nusername = "u"\npassword = "p4ss"\n', 0o644, r"accessible by other users.*chmod o-rwx"),
    ('[scan]\ntargets = ["198.51.100.0/30"]\n', 0o000, r"cannot read config file .*Permission denied"),
])
def test_bad_config_exits_3(isolated, tmp_path, text, mode, pattern):
    path = tmp_path / "camscan.toml"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        path.chmod(mode)
    proc = camscan("scan", "--no-db", "--config", str(path), "198.51.100.0/30", no_dac=True)
    assert_one_line_error(proc, 3, pattern)
    assert "p4ss" not in proc.stderr


def test_config_that_is_a_directory(isolated, tmp_path):
    assert_one_line_error(camscan("scan", "--no-db", "--config", str(tmp_path), "198.51.100.0/30"), 3,
                          r"cannot read config file .*Is a directory")


@pytest.mark.parametrize(("text", "short"), [
    ("[scan]\ndeadline = inf\n", ["--timeout", "1"]),  # command-line options would override the file's
    ("[scan]\ntimeout = -1.0\n", ["--deadline", "1"]),
    ('[output]\nformat = "xml"\n', FAST),
    ('[output]\nfail_on = "sometimes"\n', FAST),
])
def test_out_of_range_config_values_exit_3(isolated, tmp_path, text, short):
    path = tmp_path / "camscan.toml"
    path.write_text(text)
    assert_one_line_error(camscan("scan", "--no-db", "--config", str(path), "198.51.100.0/30", *short,
                                  timeout=30), 3, r"camscan\.toml")


def test_policy_file_that_is_not_text_exits_3(isolated, tmp_path):
    path = tmp_path / "site-policy.toml"
    path.write_bytes(b"\xff\xfe\x00")
    assert_one_line_error(camscan("scan", "--no-db", "--policy", str(path), "198.51.100.0/30"), 3,
                          r"policy file .*site-policy\.toml")


def test_inventory_directory_not_writable(isolated, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert_one_line_error(camscan("scan", "--db", str(ro / "inv.sqlite3"), "198.51.100.0/30", *FAST, no_dac=True),
                          3, r"cannot create lock file .*Permission denied")


def test_report_file_not_writable(isolated, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    proc = camscan("scan", "--no-db", "-o", str(ro / "report.json"), "198.51.100.0/30", *FAST, no_dac=True)
    assert_one_line_error(proc, 3, r"cannot write report .*Permission denied")
    assert not list(ro.iterdir())


def test_corrupt_inventory(isolated, tmp_path):
    db = tmp_path / "inventory.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    assert_one_line_error(camscan("scan", "--db", str(db), "198.51.100.0/30", *FAST), 3,
                          r"inventory .* is unusable: file is not a database \(move it aside")
    for command in (["history"], ["report"]):
        assert_one_line_error(camscan(*command, "--db", str(db)), 3, r"is unusable")


def test_inventory_locked_by_a_running_scan(isolated, tmp_path):
    db = tmp_path / "inventory.sqlite3"
    fd = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242\n")
        proc = camscan("scan", "--db", str(db), "--lock-wait", "0.5", "198.51.100.0/30", *FAST)
    finally:
        os.close(fd)
    assert_one_line_error(proc, 3, r"another camscan scan \(pid 4242\) holds .*raise --lock-wait")


def test_inventory_locked_by_sqlite_says_locked_not_corrupt(isolated, tmp_path):
    import sqlite3

    db = tmp_path / "inventory.sqlite3"
    assert camscan("scan", "--db", str(db), "198.51.100.0/30", *FAST).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        proc = camscan("history", "--db", str(db))
    finally:
        holder.close()
    assert_one_line_error(proc, 3, r"locked")
    assert "move it aside" not in proc.stderr


def test_missing_inventory_for_report_and_history(isolated, tmp_path):
    for command in ("report", "history"):
        assert_one_line_error(camscan(command, "--db", str(tmp_path / "none.sqlite3")), 3,
                              r"no inventory at .*run 'camscan scan' first")


def test_nothing_was_written_where_nothing_should_be(isolated, tmp_path):
    """A refused run leaves no inventory, lock or report behind (a cron job retried later starts clean)."""
    out = tmp_path / "report.json"
    camscan("scan", "--db", str(tmp_path / "inv.sqlite3"), "-o", str(out), "198.51.100.300")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
