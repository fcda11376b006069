"""CSV: one row per device, formula-like cells neutralised (OWASP CSV injection), no control characters."""

from __future__ import annotations

import csv
import io

import pytest

from camscan.report import csv as report_csv

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_one_row_per_device_plus_gone_devices(result):
    text = report_csv.render(result)
    rows = _rows(text)
    assert list(rows[0]) == list(report_csv.COLUMNS)
    assert len(rows) == len(result.devices) + 1  # the device gone since the previous scan
    assert [r["verdict"] for r in rows[:5]] == ["sanctioned", "review", "review", "clear", "unknown"]
    hik = rows[0]
    assert hik["ip"] == "192.168.1.10" and hik["confidence"] == "0.97"
    assert hik["entities"] == "Hangzhou Hikvision Digital Technology Co., Ltd."
    assert "FCC Covered List (since 2021-03-12)" in hik["lists"]
    assert "onvif.GetDeviceInformation:FirmwareVersion=V5.7.3 build 220112" in hik["evidence"]
    assert hik["change"] == "new; newly flagged"
    assert hik["seen_by"] == "wsd, onvif, sadp" and hik["key"] == "mac:44:19:b6:12:34:56"
    by_ip = {r["ip"]: r for r in rows}
    assert by_ip["192.168.1.20"]["change"] == "changed: verdict, firmware; newly flagged"
    assert by_ip["192.168.1.30"]["change"] == "changed: ip"
    assert by_ip["192.168.1.50"]["change"] == "gone"


def test_no_diff_leaves_change_empty(no_diff_result):
    rows = _rows(report_csv.render(no_diff_result))
    assert len(rows) == len(no_diff_result.devices) and all(r["change"] == "" for r in rows)


def test_hostile_cells_are_neutralised(result):
    text = report_csv.render(result)
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell
            assert not any(ch in cell for ch in "\x00\x1b\u202e\ud800"), cell
    by_ip = {r["ip"]: r for r in _rows(text)}
    assert by_ip["192.168.1.66"]["manufacturer"] == "'=cmd|' /C calc'!A0"
    assert by_ip["192.168.1.66"]["serial"] == "'=cmd|' /C calc'!A0"
    text.encode("utf-8")


@pytest.mark.parametrize(("raw", "cell"), [
    ("=1+1", "'=1+1"),
    ("+1", "'+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("\uff1d1+1", "'\uff1d1+1"),
    ("\t=1", "\\x09=1"),  # control characters are escaped first: the cell no longer starts with a tab
    ("\r=1", "\\x0d=1"),
    (" =1+1", "' =1+1"),  # issue 12: a formula after leading blanks is still a formula to a spreadsheet
    ("\xa0=1+1", "'\xa0=1+1"),
    ("  \u3000+1", "'  \u3000+1"),
    (" Hikvision", " Hikvision"),
    ("Hikvision", "Hikvision"),
    ("a=b", "a=b"),
    ("", ""),
    (None, ""),
])
def test_neutralise(raw, cell):
    assert report_csv.neutralise(raw) == cell


def test_every_cell_is_quoted_and_lines_end_in_crlf(normal_result):
    text = report_csv.render(normal_result)
    assert text.startswith('"ip","mac",') and text.endswith("\r\n")


def test_cross_site_csv_has_one_site_column_and_first_scans_count_flagged_as_new(normal_result):
    """Two sites, one on its first scan (no previous scan: every flagged device is new), one with a diff:
    the device header has exactly one ``site`` column (the first), and the summary's new_flagged is a count
    for both sites, never ``-``."""
    from dataclasses import replace

    from camscan.models import Diff
    from camscan.report import sites

    first = replace(normal_result, diff=Diff(previous_scan=None, previous_started=None), scan_id=1)
    combined = sites.combine([("north", first), ("south", replace(normal_result, scan_id=2))])
    text = report_csv.render(combined)
    summary_part, devices_part = text.split("\r\n\r\n", 1)
    header = next(csv.reader(io.StringIO(devices_part)))
    assert header.count("site") == 1 and header[0] == "site"
    assert header[1:] == [c for c in report_csv.COLUMNS if c != "site"]
    rows = list(csv.DictReader(io.StringIO(devices_part)))
    assert {r["site"] for r in rows} == {"north", "south"}
    assert all(r["device_class"] for r in rows if r["verdict"] != "unknown")
    summary = {r["site"]: r for r in csv.DictReader(io.StringIO(summary_part))}
    assert summary["north"]["new_flagged"] == str(len(normal_result.flagged))
    assert summary["south"]["new_flagged"] == str(len(normal_result.diff.new_flagged))
