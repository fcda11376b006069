"""PostgreSQL-only behaviour of the inventory, against a real server (tests/pgserver.py): the per-site run
lock, many writers at once, credentials kept off the command line, libpq parameters passed through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pgserver import PW_PASSWORD, PW_USER

from camscan import store
from camscan.errors import StoreError

HERE = Path(__file__).parent


@pytest.fixture
def pg_url(pg_server):
    return pg_server.new_database()


def test_run_lock_is_per_site_and_names_its_holder(pg_url):
    where = store.Location(url=pg_url)
    with store.run_lock(where, "hq", wait=0):
        with pytest.raises(StoreError) as err, store.run_lock(where, "hq", wait=0.3):
            pass
        msg = str(err.value)
        assert "another camscan scan of site 'hq'" in msg and "--lock-wait" in msg
        assert "camscan scan site hq pid" in msg  # the holder's application_name: its pid and host
        with store.run_lock(where, "branch", wait=0):  # another site is not held up
            pass
    with store.run_lock(where, "hq", wait=0):  # released when its holder ends
        pass


def test_run_lock_is_released_when_its_holder_dies(pg_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from camscan import store; "
         "l = store.run_lock(store.Location(url=sys.argv[1]), 'hq', 0); l.__enter__(); print('held', flush=True); "
         "sys.stdin.readline()", pg_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="another camscan scan"), store.run_lock(
                store.Location(url=pg_url), "hq", wait=0):
            pass
        holder.kill()
        holder.wait(timeout=10)
        # the server notices the closed socket and drops the session's locks; wait for it, bounded
        with store.run_lock(store.Location(url=pg_url), "hq", wait=30):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_many_writers_at_once(pg_url):
    """Six writer processes, three per site, five scans each, started together on an empty database (so they
    also race to create the schema); half skip the run lock. No scan is lost, none fails (no deadlock), every
    scan's diff is against its own site's previous scan, and never another site's."""
    writers = [(site, f"{site}{n}", lock) for site in ("alpha", "bravo") for n, lock in
               ((0, "lock"), (1, "nolock"), (2, "lock"))]
    procs = [subprocess.Popen([sys.executable, str(HERE / "store_writer.py"), pg_url, site, name, "5", lock],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for site, name, lock in writers]
    try:
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert len(out.split()) == 5
    with store.open(store.Location(url=pg_url), readonly=True) as inv:
        assert inv.schema_version() == store.SCHEMA_VERSION
        for site in ("alpha", "bravo"):
            rows = sorted(inv.scans(site=site), key=lambda r: r.id)
            assert len(rows) == 15, site
            previous = None
            for row in rows:
                _id, _site, report = inv.report(row.id)
                d = report["diff"]
                assert d["previous_scan"] == previous, (site, row.id)
                if previous is not None:
                    # the change's 'before' is the firmware the previous scan of this site stored
                    before = {c["before"] for c in d["changes"] if c["kind"] == "firmware"}
                    stored = {rec["firmware"] for rec in inv.sightings(previous).values()}
                    assert not before or before == stored, (site, row.id)
                    assert not [c for c in d["changes"] if c["kind"] in ("new", "gone")]
                previous = row.id
        assert {s.site: s.scans for s in inv.sites()} == {"alpha": 15, "bravo": 15}


def test_password_comes_from_libpq_not_the_url(pg_server, monkeypatch, tmp_path):
    url = pg_server.new_database()
    with store.open(store.Location(url=url)):
        pass
    pg_server.sql(url.split("/")[3].split("?")[0], f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {PW_USER}")
    pw_url = url.replace("camscan@", f"{PW_USER}@", 1)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(StoreError) as err:
        store.open(store.parse(pw_url), readonly=True)
    assert "password" in str(err.value) and PW_PASSWORD not in str(err.value)
    monkeypatch.setenv("PGPASSWORD", PW_PASSWORD)
    with store.open(store.parse(pw_url), readonly=True) as inv:
        assert inv.scans() == []
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:{PW_USER}:{PW_PASSWORD}\n", encoding="utf-8")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with store.open(store.parse(pw_url), readonly=True) as inv:
        assert inv.sites() == []


def test_libpq_parameters_pass_through(pg_url):
    # libpq itself reads sslmode: a value it does not know is its error, so the parameter reached it
    with pytest.raises(StoreError, match="sslmode"):
        store.open(store.parse(pg_url + "&sslmode=bogus"))
    # over a unix socket libpq uses no TLS, so verify-full with a CA file is accepted as given
    with store.open(store.parse(pg_url + "&sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")) as inv:
        assert inv.scans() == []


def test_unreachable_server_is_a_store_error(tmp_path):
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot connect to inventory postgresql://"):
        store.open(store.parse(f"postgresql://nobody@/db?host={tmp_path}"))


def test_a_forked_child_holds_no_database_session(pg_url):
    """The scan's probing child (camscan.privsep) is forked while the run lock's connection is open: its copy
    of that socket is closed at once, so code parsing device bytes never holds an authenticated session."""
    with store.run_lock(store.Location(url=pg_url), "hq", wait=0) as lock:
        fd = lock.conn.fileno()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report whether the socket is still open, then leave without cleanup
            try:
                os.fstat(fd)
                os.write(write_end, b"open")
            except OSError:
                os.write(write_end, b"closed")
            os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 16)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer == b"closed"
        assert lock.conn.execute("SELECT 1").fetchone() == (1,)  # the parent's session is untouched


def test_scan_waits_for_its_site_lock_then_exits_3_naming_the_holder(pg_url):
    """`camscan scan` of a site whose run lock is held: exit 3 after --lock-wait, the holder named, the URL
    printed; a scan of another site is not held up. Each runs in an empty network namespace (unshare -n), so a
    scan that got past the lock could send nothing anywhere."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("unshare") or \
            subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root and unshare -n for an empty network namespace")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}

    def scan(site: str) -> subprocess.CompletedProcess:
        return subprocess.run(["unshare", "-n", "--", sys.executable, "-m", "camscan.cli", "scan", "--db", pg_url,
                               "--site", site, "--lock-wait", "0.5", "--timeout", "0.2", "--deadline", "2",
                               "--format", "json", "198.51.100.0/30"],
                              capture_output=True, text=True, env=env, timeout=60)

    with store.run_lock(store.Location(url=pg_url), "hq", wait=0):
        held = scan("hq")
        assert held.returncode == 3, held.stderr
        assert "another camscan scan of site 'hq' (camscan scan site hq pid" in held.stderr
        assert "postgresql://camscan@/" in held.stderr and "raise --lock-wait" in held.stderr
        assert held.stdout == ""
        other = scan("branch")  # nothing answers in the empty namespace: a clean, stored scan
        assert other.returncode == 0, other.stderr
    with store.open(store.Location(url=pg_url), readonly=True) as inv:
        assert [(r.site, r.devices) for r in inv.scans()] == [("branch", 0)]
