"""`camscan diff` between stored scans: which scans it picks, every format, exit codes, -o, --config."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from camscan import cli, store
from camscan.models import Device, ScanResult, Verdict


def dev(ip, mac, verdict=Verdict.CLEAR, manufacturer="Axis", firmware="1.0"):
    return Device(ip=ip, mac=mac, manufacturer=manufacturer, brand=manufacturer, model="M1", firmware=firmware,
                  serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("wsd",),
                  evidence=(), verdict=verdict)


def result(*devices):
    now = datetime.now(UTC)
    return ScanResult(started=now, finished=now, targets=("198.51.100.0/24",), interfaces=("eth0",),
                      methods=("wsd-multicast",), devices=tuple(devices), skips=())


AXIS = dev("198.51.100.11", "00:40:8c:00:00:01")
HIK = dev("198.51.100.10", "58:50:ed:00:00:02", Verdict.SANCTIONED, "Hikvision")
AXIS_FW = dev("198.51.100.11", "00:40:8c:00:00:01", firmware="2.0")


@pytest.fixture
def db(tmp_path):
    """Scan 1: Axis. Scan 2: Axis and a Hikvision. Scan 3: the Axis with new firmware and the Hikvision."""
    path = tmp_path / "inv.sqlite3"
    with store.open(store.Location(path=path)) as inv:
        for scan in (result(AXIS), result(AXIS, HIK), result(AXIS_FW, HIK)):
            inv.record(scan, site="default", note="legal")
    return path


def run(capsys, *argv):
    code = cli.main(["diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_no_argument_compares_the_latest_with_its_predecessor(db, capsys):
    code, out, _err = run(capsys, "--db", str(db), "--format", "json")
    data = json.loads(out)
    assert code == 0  # the Hikvision was already flagged in scan 2
    assert data["scan_id"] == 3 and data["diff"]["previous_scan"] == 2
    assert [c["kind"] for c in data["diff"]["changes"]] == ["firmware"]


def test_one_argument_compares_that_scan_with_its_predecessor(db, capsys):
    code, out, _err = run(capsys, "2", "--db", str(db), "--format", "json")
    data = json.loads(out)
    assert code == 1  # newly flagged in 2
    assert data["diff"]["previous_scan"] == 1 and data["diff"]["new_flagged"] == [HIK.key]


def test_two_arguments_in_either_order(db, capsys):
    code, out, _ = run(capsys, "1", "3", "--db", str(db), "--format", "json")
    assert code == 1
    kinds = sorted(c["kind"] for c in json.loads(out)["diff"]["changes"])
    assert kinds == ["firmware", "new"]
    assert run(capsys, "3", "1", "--db", str(db), "--format", "json")[1] == out


def test_first_scan_has_nothing_before_it(db, capsys):
    code, out, _ = run(capsys, "1", "--db", str(db), "--format", "json")
    assert code == 0 and json.loads(out)["diff"]["previous_scan"] is None


@pytest.mark.parametrize("fmt", ["table", "csv", "html", "json"])
def test_every_format_leads_with_the_changes(db, capsys, fmt):
    code, out, _ = run(capsys, "1", "2", "--db", str(db), "--format", fmt)
    assert code == 1
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert any(r["ip"] == "198.51.100.10" and "newly flagged" in r["change"] for r in rows)
    elif fmt == "json":
        assert json.loads(out)["diff"]["new_flagged"] == [HIK.key]
    else:
        assert out.lower().index("newly flagged") < out.index("198.51.100.11")


def test_output_file_and_config(db, capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[output]\ndb = "{db}"\nformat = "csv"\n')
    out = tmp_path / "diff.csv"
    code, stdout, _ = run(capsys, "--config", str(cfg), "-o", str(out))
    assert code == 0 and stdout == ""
    assert out.read_text().startswith('"ip","mac"')


def test_unknown_scan_is_a_usage_error(db, capsys):
    code, _out, err = run(capsys, "9", "--db", str(db))
    assert code == 2 and "no scan 9" in err
    code, _out, err = run(capsys, "1", "2", "3", "--db", str(db))
    assert code == 2


def test_scans_of_different_sites_are_not_compared(db, capsys):
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("UPDATE scans SET site = 'warehouse' WHERE id = 1")
    con.commit()
    con.close()
    code, _out, err = run(capsys, "1", "2", "--db", str(db))
    assert code == 2 and "different sites" in err


def test_empty_inventory(tmp_path, capsys):
    with store.open(store.Location(path=tmp_path / "inv.sqlite3")):
        pass
    code, _out, err = run(capsys, "--db", str(tmp_path / "inv.sqlite3"))
    assert code == 3 and "no scans stored" in err
