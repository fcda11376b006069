"""Inventory store and diff on hand-made scan results."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from camscan import serialize
from camscan.errors import StoreError
from camscan.inventory import Inventory, diff
from camscan.models import ChangeKind, Device, ScanResult, Verdict


def dev(ip, mac, firmware="1.0", verdict=Verdict.CLEAR, manufacturer="Axis"):
    return Device(ip=ip, mac=mac, manufacturer=manufacturer, brand=manufacturer, model="M1", firmware=firmware,
                  serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("wsd",),
                  evidence=(), verdict=verdict)


def result(*devices):
    now = datetime.now(UTC)
    return ScanResult(started=now, finished=now, targets=("198.51.100.0/24",), interfaces=("eth0",),
                      methods=("wsd-multicast",), devices=tuple(devices), skips=())


def test_store_diff_and_history(tmp_path):
    path = tmp_path / "inv.sqlite3"
    a, b = dev("198.51.100.10", "00:40:8c:00:00:01"), dev("198.51.100.11", "00:40:8c:00:00:02")
    with Inventory(path) as inv:
        first = result(a, b)
        assert inv.diff_against_latest(first).previous_scan is None
        s1 = inv.store(first, note="legal")
    c = dev("198.51.100.12", "58:50:ed:00:00:03", verdict=Verdict.SANCTIONED, manufacturer="Hikvision")
    a2 = dev("198.51.100.20", "00:40:8c:00:00:01", firmware="2.0")
    with Inventory(path) as inv:
        second = result(a2, c)
        d = inv.diff_against_latest(second)
        kinds = {(ch.kind, ch.key) for ch in d.changes}
        assert (ChangeKind.NEW, c.key) in kinds and (ChangeKind.GONE, b.key) in kinds
        assert (ChangeKind.IP, a.key) in kinds and (ChangeKind.FIRMWARE, a.key) in kinds
        assert d.new_flagged == (c.key,) and d.changes[0].key == c.key  # new sanctioned finding leads
        s2 = inv.store(second, note="legal")
        assert [r.id for r in inv.scans()] == [s2, s1]
        stored_id, doc = inv.report()
        assert stored_id == s2 and doc["scan_id"] == s2 and doc["legal_note"] == "legal"
        assert doc == serialize.report_dict(replace(second, scan_id=s2), "legal")
        assert inv.sightings(s2) == {x.key: serialize.to_dict(x) for x in (a2, c)}
        assert inv.addresses(a.key) == ["198.51.100.10", "198.51.100.20"]
        assert [h[0] for h in inv.device_history(a.key)] == [s1, s2]


def test_failed_store_leaves_previous_scan_intact(tmp_path, monkeypatch):
    path = tmp_path / "inv.sqlite3"
    with Inventory(path) as inv:
        inv.store(result(dev("198.51.100.10", "00:40:8c:00:00:01")))

    def boom(_result, _note=""):
        raise RuntimeError("killed mid-scan")

    with Inventory(path) as inv, pytest.raises(RuntimeError):
        monkeypatch.setattr(serialize, "report_dict", boom)  # fails after the devices were written
        inv.store(result(dev("198.51.100.11", "00:40:8c:00:00:02")))
    with Inventory(path) as inv:
        assert len(inv.scans()) == 1 and inv.report()[1]["scan_id"] == 1
        assert list(inv.sightings(1)) == ["mac:00:40:8c:00:00:01"]


def test_retention(tmp_path):
    with Inventory(tmp_path / "i.db") as inv:
        for _ in range(4):
            inv.store(result(dev("198.51.100.10", "00:40:8c:00:00:01")), keep=2)
        assert [r.id for r in inv.scans()] == [4, 3]


def test_corrupt_database_is_a_store_error(tmp_path):
    p = tmp_path / "bad.sqlite3"
    p.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="unusable"):
        Inventory(p)


def test_newer_schema_refused(tmp_path):
    p = tmp_path / "new.sqlite3"
    con = sqlite3.connect(p)
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(StoreError, match="upgrade camscan"):
        Inventory(p)


def test_diff_without_previous():
    d = diff({}, [dev("198.51.100.1", "00:40:8c:00:00:09")])
    assert [c.kind for c in d.changes] == ["new"]


@pytest.mark.parametrize(("before", "newly_flagged"), [
    (Verdict.REVIEW, False),  # flagged before, flagged now: not new
    (Verdict.CLEAR, True),
    ("a-word-from-a-later-version", True),  # an unreadable verdict never counted as flagged
])
def test_newly_flagged_reads_the_stored_verdict(before, newly_flagged):
    old = serialize.to_dict(dev("198.51.100.1", "00:40:8c:00:00:09", verdict=Verdict.CLEAR))
    old["verdict"] = str(before)
    now = dev("198.51.100.1", "00:40:8c:00:00:09", verdict=Verdict.SANCTIONED)
    d = diff({now.key: old}, [now])
    assert d.new_flagged == ((now.key,) if newly_flagged else ())
    assert [(c.kind, c.before, c.after) for c in d.changes] == [(ChangeKind.VERDICT, str(before), "sanctioned")]
