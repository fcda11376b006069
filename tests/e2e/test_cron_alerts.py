"""Issue 14, done-when: the README's crontab line, run as cron runs it on an emulated site, reaches a person.

The first scan into an empty inventory exits 1, prints a summary naming the flagged devices on stderr and
POSTs one notification; an identical second scan exits 0, prints nothing and notifies nobody; a third scan
after a flagged device appears prints and notifies again. The webhook receiver's socket is made inside the
scanner's namespace (a loopback receiver of the root namespace is unreachable from there); the syslog
receiver is a unix socket, which namespaces do not separate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from receivers import SyslogReceiver, WebhookReceiver
from siteutil import BASE_ENV, CAMSCAN, cli_env, localise, readme_blocks, site_doc, socket_in_netns

from camscan.lab import load_site
from camscan.lab.sitefile import build_site

pytestmark = pytest.mark.netns

HIK = {"name": "hik", "profile": "hikvision-ds-2cd2385g1-i", "ip": "198.51.100.10"}
AXIS = {"name": "axis", "profile": "axis-m1065-l", "ip": "198.51.100.11"}
DAHUA = {"name": "dahua", "profile": "dahua-general-ipc-hdw1431t1-s4", "ip": "198.51.100.12"}

def cron_command(tmp: Path) -> str:
    (cron,) = readme_blocks("crontab")
    fields = cron.strip().split(None, 6)
    assert fields[5] == "root"
    return localise(fields[6], tmp)


def run_as_cron(site, command: str) -> subprocess.CompletedProcess:
    return site.exec(["env", "-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "HOME=/root", "LOGNAME=root",
                      "/bin/sh", "-c", command], env=None, timeout=180)


def write_config(tmp: Path, site, webhook: str, syslog_path: Path) -> None:
    config = tmp / "camscan.toml"
    config.write_text(
        f'[scan]\ntargets = ["198.51.100.0/24"]\ntimeout = 2.0\n'
        f'[credentials]\nusername = "{site.username}"\npassword = "{site.password}"\n'
        f'[output]\ndb = "{tmp}/inventory.sqlite3"\n'
        f'[notify]\nwebhooks = ["{webhook}"]\nsyslog = true\nsyslog_address = "{syslog_path}"\n')
    config.chmod(0o600)


def test_cron_line_alerts_on_first_scan_then_only_on_news(lab, tmp_path):
    command = cron_command(tmp_path)
    assert "--quiet" in command and "--fail-on new" in command
    results = []
    with SyslogReceiver(str(tmp_path / "syslog.sock")) as syslog:
        for devices in ([HIK, AXIS], [HIK, AXIS], [HIK, AXIS, DAHUA]):
            with load_site(build_site(site_doc(devices), source="<cron-alerts>")) as site:
                with WebhookReceiver(socket_in_netns(site.scanner_ns)) as hook:
                    write_config(tmp_path, site, hook.url, tmp_path / "syslog.sock")
                    proc = run_as_cron(site, command)
                    results.append((proc, hook.posts(), syslog.pending()))
    (first, posts1, log1), (second, posts2, log2), (third, posts3, log3) = results

    # 1. empty inventory: every flagged device is new
    assert first.returncode == 1, first.stderr
    assert first.stdout == ""
    lines = first.stderr.splitlines()
    assert "1 device newly flagged" in lines[0], first.stderr
    assert len(lines) == 2 and "SANCTIONED" in lines[1] and "198.51.100.10" in lines[1]
    assert "Hikvision" in lines[1]
    assert len(posts1) == 1
    assert [d["ip"] for d in posts1[0]["newly_flagged"]] == ["198.51.100.10"]
    assert "198.51.100.10" in posts1[0]["text"] and posts1[0]["newly_flagged"][0]["verdict"] == "sanctioned"
    assert len(log1) == 2 and "198.51.100.10" in log1[1] and log1[1].startswith("<12>")

    # 2. nothing new: silent, exit 0, nobody told
    assert second.returncode == 0, second.stderr
    assert second.stderr == "" and second.stdout == ""
    assert posts2 == [] and log2 == []

    # 3. a sanctioned Dahua appears: only it is news
    assert third.returncode == 1, third.stderr
    lines = third.stderr.splitlines()
    assert len(lines) == 2 and "198.51.100.12" in lines[1] and "Dahua" in lines[1], third.stderr
    assert [d["ip"] for d in posts3[0]["newly_flagged"]] == ["198.51.100.12"] and len(posts3) == 1
    assert len(log3) == 2

    for proc in (first, second, third):
        assert "camscan-lab-pw" not in proc.stderr
    report = (tmp_path / "report.html").read_text()
    assert "198.51.100.12" in report and "camscan-lab-pw" not in report


def test_failed_notification_is_reported_and_loses_nothing(lab, tmp_path):
    """A webhook answering 500 twice: the scan is stored, the report written, the exit status unchanged and
    stderr says which webhook failed (without its secret path)."""
    with load_site(build_site(site_doc([HIK]), source="<notify-fail>")) as site:
        with WebhookReceiver(socket_in_netns(site.scanner_ns), statuses=(500, 500)) as hook:
            write_config(tmp_path, site, hook.url, tmp_path / "nobody-listens.sock")
            proc = run_as_cron(site, cron_command(tmp_path))
            attempts = len(hook.requests)
    assert proc.returncode == 1
    assert attempts == 2  # one retry
    assert "webhook http://127.0.0.1" in proc.stderr and "HTTP 500" in proc.stderr
    assert "SECRET-TOKEN" not in proc.stderr
    assert "syslog" in proc.stderr  # the missing syslog socket is reported too
    assert (tmp_path / "report.html").is_file()
    hist = subprocess.run([*CAMSCAN, "history", "--db", str(tmp_path / "inventory.sqlite3")],
                          capture_output=True, text=True, env=BASE_ENV)
    assert hist.returncode == 0 and "198.51.100.0/24" in hist.stdout


def test_bad_output_path_fails_before_scanning_and_stores_nothing(lab, tmp_path):
    """-o into a missing directory: exit 2 at once; into an unwritable place: exit 3; no scan stored."""
    with load_site(build_site(site_doc([HIK]), source="<bad-output>")) as site:
        db = tmp_path / "inv.sqlite3"
        missing = site.exec([*CAMSCAN, "scan", "--db", str(db), "-o", str(tmp_path / "no" / "r.html"),
                             "198.51.100.0/24"], env=cli_env(site), timeout=60)
        assert missing.returncode == 2 and "does not exist" in missing.stderr
        assert not db.exists()
        # a report that cannot be written after the scan (a directory appears where the file goes): the scan
        # is not stored, so its findings are still new next time
        out = tmp_path / "report.json"
        cmd = ("import os, sys, camscan.cli as c\n"
               "real = c.write_report\n"
               "def racing(output, *a, **k):\n"
               "    os.mkdir(output)\n"
               "    return real(output, *a, **k)\n"
               "c.write_report = racing\n"
               "sys.exit(c.main(sys.argv[1:]))\n")
        proc = site.exec([sys.executable, "-c", cmd, "scan", "--db", str(db), "--format", "json", "-o",
                          str(out), "--fail-on", "new", "--timeout", "2", "198.51.100.0/24"],
                         env=cli_env(site), timeout=120)
        assert proc.returncode == 3 and "cannot write report" in proc.stderr, proc.stderr
        hist = subprocess.run([*CAMSCAN, "history", "--db", str(db)], capture_output=True, text=True,
                              env=BASE_ENV)
        assert "No scans stored." in hist.stdout
        out.rmdir()
        again = site.exec([*CAMSCAN, "scan", "--db", str(db), "--format", "json", "-o", str(out), "--fail-on",
                           "new", "--timeout", "2", "198.51.100.0/24"], env=cli_env(site), timeout=120)
        assert again.returncode == 1, again.stderr  # still new: the failed run was not stored
        assert json.loads(out.read_text())["diff"]["new_flagged"]
        assert "wrote" in again.stderr and str(out) in again.stderr  # not quiet: the one-line summary


def test_progress_on_a_terminal_only(lab, tmp_path):
    """On a terminal (a pty as stderr) the scan shows discovered/identified counts and time left, then ends
    with the one-line summary; piped (as under cron) the same scan shows no progress."""
    import os
    import pty

    with load_site(build_site(site_doc([HIK, AXIS]), source="<progress>")) as site:
        argv = [*CAMSCAN, "scan", "--no-db", "--format", "json", "-o", str(tmp_path / "r.json"), "--timeout", "2",
                "198.51.100.0/24"]
        master, slave = pty.openpty()
        proc = site.popen(argv, env=dict(cli_env(site), TERM="xterm"), stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        assert proc.wait(timeout=120) == 1
        piped = site.exec(argv, env=cli_env(site), timeout=120)
    text = seen.decode(errors="replace")
    assert "discovered" in text and "identified" in text and "s left" in text
    assert "2 device(s), 1 flagged" in text and "wrote" in text
    assert "discovered" not in piped.stderr and "\x1b" not in piped.stderr
    assert piped.stderr.startswith("camscan: scan: 2 device(s), 1 flagged") and piped.stderr.count("\n") == 1
