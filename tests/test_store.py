"""The inventory store on both backends: every test that takes ``store_location`` runs on a fresh SQLite file
and on a fresh database of a real PostgreSQL server (tests/pgserver.py), with the same expectations."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from camscan import serialize, store
from camscan.errors import StoreError, UsageError
from camscan.models import ChangeKind, Device, ScanResult, Verdict

DATA = Path(__file__).parent / "data"


def dev(ip, mac, firmware="1.0", verdict=Verdict.CLEAR, manufacturer="Axis"):
    return Device(ip=ip, mac=mac, manufacturer=manufacturer, brand=manufacturer, model="M1", firmware=firmware,
                  serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("wsd",),
                  evidence=(), verdict=verdict)


def result(*devices, when=None, targets=("198.51.100.0/24",)):
    now = when or datetime.now(UTC)
    return ScanResult(started=now, finished=now, targets=targets, interfaces=("eth0",),
                      methods=("wsd-multicast",), devices=tuple(devices), skips=())


def test_store_diff_and_history(store_location):
    a, b = dev("198.51.100.10", "00:40:8c:00:00:01"), dev("198.51.100.11", "00:40:8c:00:00:02")
    with store.open(store_location) as inv:
        first = inv.record(result(a, b), site="default")
        assert first.diff.previous_scan is None and first.diff.changes == ()  # a first scan has no diff
        s1 = first.scan_id
    c = dev("198.51.100.12", "58:50:ed:00:00:03", verdict=Verdict.SANCTIONED, manufacturer="Hikvision")
    a2 = dev("198.51.100.20", "00:40:8c:00:00:01", firmware="2.0")
    with store.open(store_location) as inv:
        second = result(a2, c)
        preview = inv.diff_against_latest(second, site="default")
        stored = inv.record(second, site="default", note="legal")
        assert stored.diff == preview
        d = stored.diff
        kinds = {(ch.kind, ch.key) for ch in d.changes}
        assert ("new", c.key) in kinds and ("gone", b.key) in kinds
        assert ("ip", a.key) in kinds and ("firmware", a.key) in kinds
        assert d.new_flagged == (c.key,) and d.changes[0].key == c.key  # new sanctioned finding leads
        assert d.previous_scan == s1
        s2 = stored.scan_id
        assert [r.id for r in inv.scans()] == [s2, s1]
        stored_id, stored_site, doc = inv.report()
        assert (stored_id, stored_site) == (s2, "default")
        assert doc == serialize.report_dict(stored, "legal") and doc["diff"]["previous_scan"] == s1
        assert inv.report(s1)[2]["scan_id"] == s1
        assert inv.sightings(s2) == {x.key: serialize.to_dict(x) for x in (a2, c)}
        assert inv.addresses("default", a.key) == ["198.51.100.10", "198.51.100.20"]
        assert [h[0] for h in inv.device_history("default", a.key)] == [s1, s2]
        assert inv.sightings(s2)[c.key]["verdict"] == "sanctioned"


def test_failed_store_leaves_previous_scan_intact(store_location, monkeypatch):
    with store.open(store_location) as inv:
        kept = inv.record(result(dev("198.51.100.10", "00:40:8c:00:00:01")), site="default").scan_id

    def boom(_result, _note=""):
        raise RuntimeError("killed mid-scan")

    with store.open(store_location) as inv, pytest.raises(RuntimeError):
        with monkeypatch.context() as m:
            m.setattr(serialize, "report_dict", boom)  # fails after the devices were written
            inv.record(result(dev("198.51.100.11", "00:40:8c:00:00:02")), site="default")
    with store.open(store_location) as inv:
        assert [r.id for r in inv.scans()] == [kept] and inv.report()[2]["scan_id"] == kept
        assert list(inv.sightings(kept)) == ["mac:00:40:8c:00:00:01"]
        assert inv.addresses("default", "mac:00:40:8c:00:00:02") == []
        # and the next scan still diffs against the one that was kept
        again = inv.record(result(dev("198.51.100.10", "00:40:8c:00:00:01")), site="default")
        assert again.diff.previous_scan == kept and again.diff.changes == ()


def test_retention_is_per_site(store_location):
    with store.open(store_location) as inv:
        other = inv.record(result(dev("198.51.100.10", "00:40:8c:00:00:01")), site="branch").scan_id
        ids = [inv.record(result(dev("198.51.100.10", "00:40:8c:00:00:01")), site="hq", keep=2).scan_id
               for _ in range(4)]
        assert [r.id for r in inv.scans(site="hq")] == ids[:1:-1]
        assert [r.id for r in inv.scans(site="branch")] == [other]  # another site's scans are not counted
        assert inv.sightings(ids[0]) == {}  # a dropped scan takes its sightings with it


def test_sites_are_separate(store_location):
    """The same key on two sites is two devices: diffs, history and addresses never cross sites."""
    same_ip = dev("10.0.0.7", None)  # no MAC: keyed ip:10.0.0.7 on both sites
    t0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with store.open(store_location) as inv:
        a1 = inv.record(result(same_ip, when=t0), site="alpha")
        b1 = inv.record(result(dev("10.0.0.8", None), when=t0 + timedelta(minutes=1)), site="bravo")
        assert a1.diff.previous_scan is None and b1.diff.previous_scan is None  # bravo's first scan: no diff
        flagged = dev("10.0.0.7", None, verdict=Verdict.SANCTIONED, manufacturer="Hikvision")
        b2 = inv.record(result(flagged, when=t0 + timedelta(minutes=2), targets=("10.0.0.0/24",)), site="bravo")
        assert b2.diff.previous_scan == b1.scan_id
        assert {(c.kind, c.key) for c in b2.diff.changes} == {("new", "ip:10.0.0.7"), ("gone", "ip:10.0.0.8")}
        a2 = inv.record(result(same_ip, when=t0 + timedelta(minutes=3)), site="alpha")
        assert a2.diff.previous_scan == a1.scan_id and a2.diff.changes == ()
        assert [h[0] for h in inv.device_history("alpha", "ip:10.0.0.7")] == [a1.scan_id, a2.scan_id]
        assert [h[0] for h in inv.device_history("bravo", "ip:10.0.0.7")] == [b2.scan_id]
        assert [r.site for r in inv.scans()] == ["alpha", "bravo", "bravo", "alpha"]
        assert [r.id for r in inv.scans(site="bravo", limit=1)] == [b2.scan_id]
        sites = {s.site: s for s in inv.sites()}
        assert list(sites) == ["alpha", "bravo"]
        assert (sites["bravo"].last_scan, sites["bravo"].devices, sites["bravo"].flagged, sites["bravo"].scans) == \
            (b2.scan_id, 1, 1, 2)
        assert sites["alpha"].last_started == "2026-12-01T02:03:00Z" and sites["alpha"].flagged == 0
        assert [s.site for s in inv.sites(site="bravo")] == ["bravo"]
        assert [(i, s) for i, s, _ in inv.latest_reports()] == [(a2.scan_id, "alpha"), (b2.scan_id, "bravo")]
        assert inv.report(site="bravo")[0] == b2.scan_id
        assert inv.report(a1.scan_id, site="bravo") is None  # a scan id of another site


def test_newer_schema_is_refused(store_location):
    with store.open(store_location):
        pass
    if store_location.is_postgres:
        import psycopg

        with psycopg.connect(store_location.url, autocommit=True) as con:
            con.execute("UPDATE camscan_schema SET version = 99")
    else:
        con = sqlite3.connect(store_location.path)
        con.execute("PRAGMA user_version = 99")
        con.close()
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"schema 99, newer than this camscan \(2\); upgrade camscan"):
            store.open(store_location, readonly=readonly)


def test_readonly_open_of_nothing_is_an_error(store_location):
    with pytest.raises(StoreError, match="run 'camscan scan' first"):
        store.open(store_location, readonly=True)


def test_upgrade_creates_then_is_idempotent(store_location):
    with store.open(store_location) as inv:  # opening for writing migrates
        assert inv.schema_version() == store.SCHEMA_VERSION
        assert inv.upgrade() == (store.SCHEMA_VERSION, store.SCHEMA_VERSION)
    with store.open(store_location, readonly=True) as inv:
        assert inv.scans() == [] and inv.sites() == [] and inv.report() is None


def test_a_schema_1_sqlite_inventory_migrates_into_site_default(tmp_path):
    """A file written by the schema-1 code (tests/data/inventory_v1.sql): its scans become site 'default', and
    the next scan of 'default' diffs against its latest."""
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript((DATA / "inventory_v1.sql").read_text(encoding="utf-8"))
    con.close()
    where = store.Location(path=path)
    with pytest.raises(StoreError, match="camscan db upgrade"):
        store.open(where, readonly=True)  # a reader never migrates
    with store.open(where) as inv:
        assert inv.schema_version() == 2
        assert [(r.id, r.site, r.devices, r.flagged) for r in inv.scans()] == \
            [(2, "default", 2, 1), (1, "default", 2, 0)]
        assert inv.report()[2]["scan_id"] == 2
        assert inv.addresses("default", "mac:00:40:8c:00:00:01") == ["198.51.100.10"]
        nxt = inv.record(result(dev("198.51.100.10", "00:40:8c:00:00:01", firmware="2.0")), site="default")
        assert nxt.scan_id == 3 and nxt.diff.previous_scan == 2
        assert {(c.kind, c.key) for c in nxt.diff.changes} == {("gone", "mac:58:50:ed:00:00:03")}
        other = inv.record(result(dev("198.51.100.10", "00:40:8c:00:00:01")), site="annex")
        assert other.diff.previous_scan is None


def test_corrupt_sqlite_database_is_a_store_error(tmp_path):
    p = tmp_path / "bad.sqlite3"
    p.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="unusable"):
        store.open(store.Location(path=p))


def test_diff_without_previous():
    d = store.diff({}, [dev("198.51.100.1", "00:40:8c:00:00:09")])
    assert [c.kind for c in d.changes] == ["new"]


# ------------------------------------------------------------------------------------------------ locations
def test_location_is_a_path_or_a_postgresql_url(monkeypatch):
    assert store.parse("/var/lib/x.sqlite3") == store.Location(path=Path("/var/lib/x.sqlite3"))
    url = "postgresql://camscan@db.example.org/inventory?sslmode=verify-full&sslrootcert=/etc/camscan/ca.pem"
    loc = store.parse(url)
    assert loc.is_postgres and loc.url == url  # every libpq parameter passes through unchanged
    assert store.parse("postgres://h/db").url == "postgres://h/db"
    with pytest.raises(UsageError, match="unsupported database URL"):
        store.parse("mysql://h/db")
    monkeypatch.setenv("CAMSCAN_DB", "postgresql:///inv?host=/run/postgresql")
    assert store.resolve(None, "/from/config").url == "postgresql:///inv?host=/run/postgresql"
    assert store.resolve("/from/flag", "/from/config").path == Path("/from/flag")
    monkeypatch.delenv("CAMSCAN_DB")
    assert store.resolve(None, "/from/config").path == Path("/from/config")


@pytest.mark.parametrize("url", [
    "postgresql://camscan:hunter2@db.example.org/inventory",
    "postgresql://camscan:hunter2@db1:5432,db2:5432/inventory",
    "postgresql:///inventory?user=camscan&password=hunter2&sslmode=require",
])
def test_a_url_with_a_password_is_a_usage_error_without_the_password(url):
    with pytest.raises(UsageError) as err:
        store.parse(url)
    msg = str(err.value)
    assert "hunter2" not in msg
    assert "PGPASSWORD" in msg and "~/.pgpass" in msg and "PGSERVICEFILE" in msg
    assert err.value.exit_code == 2


def test_redact_removes_any_password():
    assert store.redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert store.redact("postgresql://u@h/db?password=pw&sslmode=require") == \
        "postgresql://u@h/db?password=***&sslmode=require"
    assert store.redact("postgresql://u@h/db?sslmode=require") == "postgresql://u@h/db?sslmode=require"
    assert str(store.Location(url="postgresql://u@h/db")) == "postgresql://u@h/db"


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 64, "é"])
def test_bad_site_names(name):
    with pytest.raises(UsageError, match="invalid site name"):
        store.site_name(name)


def test_good_site_names():
    for name in ("default", "hq", "site-03.berlin_2", "x" * 63):
        assert store.site_name(name) == name


@pytest.mark.parametrize(("before", "newly_flagged"), [
    (Verdict.REVIEW, False),  # flagged before, flagged now: not new
    (Verdict.CLEAR, True),
    ("a-word-from-a-later-version", True),  # an unreadable verdict never counted as flagged
])
def test_newly_flagged_reads_the_stored_verdict(before, newly_flagged):
    old = serialize.to_dict(dev("198.51.100.1", "00:40:8c:00:00:09", verdict=Verdict.CLEAR))
    old["verdict"] = str(before)
    now = dev("198.51.100.1", "00:40:8c:00:00:09", verdict=Verdict.SANCTIONED)
    d = store.diff({now.key: old}, [now])
    assert d.new_flagged == ((now.key,) if newly_flagged else ())
    assert [(c.kind, c.before, c.after) for c in d.changes] == [(ChangeKind.VERDICT, str(before), "sanctioned")]


def test_a_url_without_psycopg_says_which_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    with pytest.raises(StoreError, match=r"needs psycopg 3: pip install 'camscan\[postgres\]'") as err:
        store.open(store.parse("postgresql://camscan@db.example.org/camscan"))
    assert err.value.exit_code == 3


def test_a_narrower_scan_does_not_mark_devices_outside_its_targets_gone(store_location):
    """Review 11: a scan of one subnet of two must not report the other subnet's devices gone (it did not look
    for them); a device inside the narrower targets that is missing is still gone."""
    from dataclasses import replace

    a, b = dev("198.51.100.10", "00:40:8c:00:00:01"), dev("198.51.100.11", "00:40:8c:00:00:02")
    far = dev("203.0.113.7", "00:40:8c:00:00:03")
    with store.open(store_location) as inv:
        inv.record(replace(result(a, b, far), targets=("198.51.100.0/24", "203.0.113.0/24")), site="default")
        narrow = inv.record(replace(result(a), targets=("198.51.100.0/24",)), site="default")
    gone = {c.key for c in narrow.diff.of_kind(ChangeKind.GONE)}
    assert gone == {b.key}
    assert store.diff({far.key: serialize.to_dict(far)}, [], targets=("198.51.100.10-20",)).changes == ()
    assert store.diff({far.key: serialize.to_dict(far)}, [], targets=()).changes[0].kind == ChangeKind.GONE
