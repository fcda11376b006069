"""Issue 14, reports people read: hints shown as hints, unknown devices explained, table cells wrap instead of
being cut, legal text once, CSV columns for asset systems (scan time, first/last seen, reason, citation URL),
gone rows with their last known details."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

from conftest import make_result

from camscan.models import ScanHistory, ScanSummary
from camscan.report import OutputFormat, render
from camscan.report import table as table_report

GONE_KEY = "mac:00:11:22:33:44:55"


def with_history(result):
    seen = {d.key: ("2024-01-01T00:00:00Z", "2024-05-02T10:00:00Z") for d in result.devices}
    seen[GONE_KEY] = ("2023-06-01T00:00:00Z", "2024-05-01T10:00:00Z")
    last = {GONE_KEY: {"mac": "00:11:22:33:44:55", "manufacturer": "Uniview", "brand": "Uniview",
                       "model": "IPC322LB", "firmware": "V1.2", "verdict": "clear"}}
    scans = tuple(ScanSummary(i, f"2024-05-0{i}T10:00:00Z", 4 + i % 2, i % 3) for i in range(1, 5))
    return replace(result, history=ScanHistory(scans=scans, seen=seen, last_known=last))


def test_a_weak_hint_is_not_shown_as_the_manufacturer(normal_result):
    amcrest = next(d for d in normal_result.devices if d.ip == "192.168.1.20")
    assert amcrest.manufacturer_basis == "hint"
    table = table_report.render(normal_result)
    assert "Amcrest (hint: Dahua?)" in table
    page = render(normal_result, OutputFormat.HTML)
    assert '<td class="hint"' in page and "hint: Dahua?" in page
    doc = json.loads(render(normal_result, OutputFormat.JSON))
    dev = next(d for d in doc["devices"] if d["ip"] == "192.168.1.20")
    assert dev["manufacturer"] == "Dahua" and dev["manufacturer_basis"] == "hint"  # JSON value kept as is
    assert {d["ip"]: d["manufacturer_basis"] for d in doc["devices"]}["192.168.1.10"] == "firmware"


def test_unknown_says_what_was_tried_and_what_is_missing(normal_result):
    table = table_report.render(normal_result)
    why = " ".join(table[table.index("Unknown devices"):].split())  # wrapped lines joined
    assert "192.168.1.40" in why and "answered: sweep" in why and "no ONVIF device information" in why
    assert "no fingerprint rule matched" in why
    page = render(normal_result, OutputFormat.HTML)
    assert "Why these are unknown" in page
    rows = list(csv.DictReader(io.StringIO(render(normal_result, OutputFormat.CSV))))
    assert "missing: " in next(r for r in rows if r["ip"] == "192.168.1.40")["verdict_reason"]


def test_table_cells_wrap_instead_of_cutting(normal_result):
    hik = next(d for d in normal_result.devices if d.ip == "192.168.1.10")
    long_fw = "V5.5.800 build 210628 with a long vendor suffix"
    result = replace(normal_result, devices=tuple(replace(d, firmware=long_fw) if d is hik else d
                                                  for d in normal_result.devices))
    out = table_report.render(result)
    assert "build 21..." not in out and "V5.5.800" in out and "suffix" in out
    assert max(len(line) for line in out.splitlines()) <= 120


def test_legal_text_once_per_list_in_the_table(normal_result):
    out = table_report.render(normal_result, note="Not legal advice.")
    assert out.count("47 CFR 1.50002") == 1 and out.count("Not legal advice.") == 1
    assert out.index("Findings") < out.index("Lists cited:")


def test_csv_columns_for_asset_systems_after_the_existing_ones(normal_result):
    rows = list(csv.DictReader(io.StringIO(render(with_history(normal_result), OutputFormat.CSV))))
    header = next(csv.reader(io.StringIO(render(normal_result, OutputFormat.CSV))))
    assert header[:3] == ["ip", "mac", "manufacturer"]
    assert header[-7:] == ["scan_time", "site", "hostname", "first_seen", "last_seen", "verdict_reason",
                           "citation_urls"]
    hik = next(r for r in rows if r["ip"] == "192.168.1.10")
    assert hik["scan_time"].startswith("2024-05-02T10:00:00")
    assert hik["first_seen"] == "2024-01-01T00:00:00Z" and hik["last_seen"] == "2024-05-02T10:00:00Z"
    assert "Hikvision hardware" in hik["verdict_reason"]
    assert "https://www.fcc.gov/supplychain/coveredlist" in hik["citation_urls"].split()


def test_gone_rows_keep_their_last_known_details(normal_result):
    rows = list(csv.DictReader(io.StringIO(render(with_history(normal_result), OutputFormat.CSV))))
    gone = next(r for r in rows if r["change"] == "gone")
    assert gone["mac"] == "00:11:22:33:44:55" and gone["model"] == "IPC322LB" and gone["firmware"] == "V1.2"
    assert gone["manufacturer"] == "Uniview" and gone["last_seen"] == "2024-05-01T10:00:00Z"


def test_html_has_contents_anchors_and_a_trend_chart(normal_result):
    page = render(with_history(normal_result), OutputFormat.HTML)
    toc = page[page.index('class="toc"'):page.index("</nav>")]
    for anchor in ("#summary", "#changes", "#devices", "#flagged", "#lists", "#legal"):
        assert f'href="{anchor}"' in toc and f'id="{anchor[1:]}"' in page
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert chart.count("<polyline") == 2 and "scans #1 to #4" in page
    assert page.index("<svg") < page.index('id="devices"')
    # one scan stored: nothing to chart
    assert "<svg" not in render(make_result(with_hostile=False), OutputFormat.HTML)
