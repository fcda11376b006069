"""Every report format shows what kind of device each row is (issue 15: device_class)."""

from __future__ import annotations

import csv
import io
import json

from camscan import serialize
from camscan.report import OutputFormat, render


def test_every_format_shows_the_device_class(normal_result):
    doc = json.loads(render(normal_result, OutputFormat.JSON))
    classes = {d["ip"]: d["device_class"] for d in doc["devices"]}
    assert classes["192.168.1.10"] == "camera" and classes["192.168.1.20"] == "recorder"
    assert classes["192.168.1.40"] == "unknown"
    rows = list(csv.DictReader(io.StringIO(render(normal_result, OutputFormat.CSV))))
    assert {r["ip"]: r["device_class"] for r in rows if r["change"] != "gone"}["192.168.1.20"] == "recorder"
    table = render(normal_result, OutputFormat.TABLE)
    assert "Class" in table and "recorder" in table
    page = render(normal_result, OutputFormat.HTML)
    assert "<th" in page and ">Class<" in page and '<td class="nw">recorder</td>' in page


def test_a_report_from_before_device_class_reads_as_unknown(normal_result):
    doc = serialize.report_dict(normal_result)
    for d in doc["devices"]:
        del d["device_class"]
    assert {d.device_class for d in serialize.report_from_dict(doc).devices} == {"unknown"}
