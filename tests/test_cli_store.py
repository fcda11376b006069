"""The inventory commands of the CLI (history, report, db upgrade; --db, --site, --config) on both backends,
without a network: scans are stored through the store interface, then read back through the CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from camscan import cli, store
from camscan.models import Device, ScanResult, Verdict
from camscan.report import sites as sites_report

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def dev(ip, mac, verdict=Verdict.CLEAR, manufacturer="Axis"):
    return Device(ip=ip, mac=mac, manufacturer=manufacturer, brand=manufacturer, model="M1", firmware="1.0",
                  serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("wsd",),
                  evidence=(), verdict=verdict)


def scan(when, *devices):
    return ScanResult(started=when, finished=when, targets=("198.51.100.0/24",), interfaces=("eth0",),
                      methods=("wsd-multicast",), devices=tuple(devices), skips=())


def text(where: store.Location) -> str:
    return where.url if where.is_postgres else str(where.path)


@pytest.fixture
def two_sites(store_location):
    """Site hq: one Axis, then the Axis and a Hikvision. Site branch: one Axis at the same address."""
    with store.open(store_location) as inv:
        inv.record(scan(T0, dev("198.51.100.10", None)), site="hq")
        inv.record(scan(T0 + timedelta(minutes=1), dev("198.51.100.10", None)), site="branch")
        inv.record(scan(T0 + timedelta(minutes=2), dev("198.51.100.10", None),
                        dev("198.51.100.11", "58:50:ed:00:00:01", Verdict.SANCTIONED, "Hikvision")),
                   site="hq")
    return store_location


def test_history_lists_every_site_or_one(two_sites, capsys):
    assert cli.main(["history", "--db", text(two_sites)]) == 0
    out = capsys.readouterr().out
    assert "Site" in out.splitlines()[0]
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [("3", "hq"), ("2", "branch"), ("1", "hq")]
    assert cli.main(["history", "--db", text(two_sites), "--site", "branch"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [("2", "branch")]
    assert cli.main(["history", "--db", text(two_sites), "--site", "nowhere"]) == 0
    assert "No scans of site 'nowhere' stored." in capsys.readouterr().out


def test_report_of_one_site(two_sites, capsys):
    assert cli.main(["report", "--db", text(two_sites), "--site", "branch", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scan_id"] == 2 and [d["ip"] for d in data["devices"]] == ["198.51.100.10"]
    assert cli.main(["report", "--db", text(two_sites), "--site", "hq", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scan_id"] == 3 and data["diff"]["previous_scan"] == 1  # hq's own previous scan
    assert [c["kind"] for c in data["diff"]["changes"]] == ["new"]
    assert cli.main(["report", "--db", text(two_sites), "--site", "branch", "--scan", "3"]) == 2  # unknown id: usage
    assert "no scan 3 of site 'branch'" in capsys.readouterr().err


def test_config_names_the_inventory_for_readers(two_sites, tmp_path, capsys):
    cfg = tmp_path / "camscan.toml"
    cfg.write_text(f'[output]\ndb = "{text(two_sites)}"\n', encoding="utf-8")
    assert cli.main(["history", "--config", str(cfg), "--site", "hq"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    assert cli.main(["report", "--config", str(cfg), "--site", "branch", "--format", "csv"]) == 0
    assert "198.51.100.10" in capsys.readouterr().out


def test_db_upgrade_creates_and_is_idempotent(store_location, capsys):
    assert cli.main(["db", "upgrade", "--db", text(store_location)]) == 0
    assert f"created at schema {store.SCHEMA_VERSION}" in capsys.readouterr().out
    assert cli.main(["db", "upgrade", "--db", text(store_location)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli.main(["history", "--db", text(store_location)]) == 0
    assert "No scans stored." in capsys.readouterr().out


def test_db_upgrade_migrates_a_schema_1_file(tmp_path, capsys):
    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    con.executescript((DATA / "inventory_v1.sql").read_text(encoding="utf-8"))
    con.close()
    assert cli.main(["history", "--db", str(db)]) == 3
    assert "camscan db upgrade" in capsys.readouterr().err
    assert cli.main(["db", "upgrade", "--db", str(db)]) == 0
    assert "migrated from schema 1 to 2" in capsys.readouterr().out
    assert cli.main(["history", "--db", str(db), "--site", "default"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_a_newer_database_is_exit_3(tmp_path, capsys):
    db = tmp_path / "new.sqlite3"
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 7")
    con.close()
    for argv in (["db", "upgrade"], ["history"], ["report"], ["scan", "198.51.100.0/30"]):
        assert cli.main([*argv, "--db", str(db)]) == 3, argv
        err = capsys.readouterr().err
        assert "has schema 7, newer than this camscan" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", [["scan", "198.51.100.0/30"], ["history"], ["report"], ["db", "upgrade"]])
def test_a_password_in_the_url_is_a_usage_error(command, capsys, monkeypatch):
    assert cli.main([*command, "--db", "postgresql://camscan:hunter2@db.example.org/camscan"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "PGPASSWORD" in err and "~/.pgpass" in err and "PGSERVICEFILE" in err
    monkeypatch.setenv("CAMSCAN_DB", "postgresql://camscan@db.example.org/camscan?password=hunter2")
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "CAMSCAN_DB" in err


def test_site_names_are_checked(tmp_path, capsys):
    assert cli.main(["scan", "--site", "a b", "--db", str(tmp_path / "x"), "198.51.100.0/30"]) == 2
    assert "invalid site name" in capsys.readouterr().err
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scan]\nsite = "../etc"\n', encoding="utf-8")
    assert cli.main(["config", "check", "--config", str(cfg)]) == 3
    assert "not a valid site name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_demo_site_file_keeps_the_old_spelling(capsys):
    parser = cli.build_parser()
    assert parser.parse_args(["demo", "--site-file", "vendors"]).site_file == "vendors"
    assert parser.parse_args(["demo", "--site", "vendors"]).site_file == "vendors"
    assert parser.parse_args(["demo"]).site_file == "demo"
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--site-file" in out and "--site " not in out


def test_diff_stays_within_a_site(two_sites, capsys):
    """hq's scans are 1 and 3, branch's 2: 'diff 3' compares with 1, '--site branch' has no predecessor."""
    db = text(two_sites)
    assert cli.main(["diff", "3", "--db", db, "--format", "json"]) == 1  # the Hikvision is new since scan 1
    data = json.loads(capsys.readouterr().out)
    assert data["diff"]["previous_scan"] == 1
    assert [(c["kind"], c["ip"]) for c in data["diff"]["changes"]] == [("new", "198.51.100.11")]
    assert cli.main(["diff", "--site", "branch", "--db", db, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["diff"]["previous_scan"] is None
    assert cli.main(["diff", "2", "3", "--db", db]) == 2
    assert "different sites ('branch', 'hq')" in capsys.readouterr().err
    assert cli.main(["diff", "2", "--site", "hq", "--db", db]) == 2
    assert "scan 2 is of site 'branch', not 'hq'" in capsys.readouterr().err


def test_cross_site_report_leads_with_a_summary_in_every_format(two_sites, capsys):
    """Without --site, on an inventory of several sites: each site's latest scan, led by a per-site summary."""
    db = text(two_sites)
    assert cli.main(["report", "--db", db, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data).index("sites") < list(data).index("devices")
    assert [(s["site"], s["scan_id"], s["devices"], s["flagged"]) for s in data["sites"]] == \
        [("branch", 2, 1, 0), ("hq", 3, 2, 1)]
    assert data["sites"][1]["new_flagged"] == 1 and data["sites"][0]["new_flagged"] == 0  # branch: 1st scan
    assert sorted((d["site"], d["ip"]) for d in data["devices"]) == \
        [("branch", "198.51.100.10"), ("hq", "198.51.100.10"), ("hq", "198.51.100.11")]
    assert data["summary"]["devices"] == 3 and data["summary"]["sanctioned"] == 1
    assert data["diff"] is None and data["scan_id"] is None

    assert cli.main(["report", "--db", db, "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("camscan: 2 sites, 3 device(s), 1 flagged")
    head = out.split("\n\n")[0]
    assert "branch" in head and "hq" in head and "#3" in head
    assert any(line.split()[:2] == ["Site", "IP"] for line in out.splitlines())  # the device table's column

    assert cli.main(["report", "--db", db, "--format", "csv"]) == 0
    summary, devices = capsys.readouterr().out.split("\r\n\r\n", 1)
    rows = list(csv.reader(io.StringIO(summary)))
    assert rows[0] == list(sites_report.COLUMNS) and [r[0] for r in rows[1:]] == ["branch", "hq"]
    table = list(csv.DictReader(io.StringIO(devices)))
    assert sorted((r["site"], r["ip"]) for r in table) == \
        [("branch", "198.51.100.10"), ("hq", "198.51.100.10"), ("hq", "198.51.100.11")]

    assert cli.main(["report", "--db", db, "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.index('id="sites"') < page.index('id="summary"')
    assert "<td>branch</td>" in page and "<td>hq</td>" in page


def test_an_inventory_of_one_site_reports_as_before(store_location, capsys):
    with store.open(store_location) as inv:
        inv.record(scan(T0, dev("198.51.100.10", None)), site="default")
    assert cli.main(["report", "--db", text(store_location), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "sites" not in data and data["scan"]["site"] == "default" and "site" not in data["devices"][0]
    assert cli.main(["report", "--db", text(store_location), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith('"ip","mac"')


def test_cross_site_bom_refs_stay_unique(store_location, capsys):
    """The same key on two sites: two components with their own bom-ref (site/key) in the CycloneDX BOM."""
    with store.open(store_location) as inv:
        for site in ("hq", "branch"):
            inv.record(scan(T0, dev("198.51.100.10", None)), site=site)
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation import json as validation

    assert cli.main(["report", "--db", text(store_location), "--format", "cyclonedx"]) == 0
    out = capsys.readouterr().out
    assert validation.JsonStrictValidator(SchemaVersion.V1_6).validate_str(out) is None
    bom = json.loads(out)
    assert sorted(c["bom-ref"] for c in bom["components"]) == ["branch/ip:198.51.100.10", "hq/ip:198.51.100.10"]
    props = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert props["camscan:site.hq"].startswith("1 device(s), 0 flagged, last scan #1")
    assert props["camscan:site.branch"].startswith("1 device(s), 0 flagged, last scan #2")
