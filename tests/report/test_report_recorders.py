"""Cameras behind a recorder and known-exploited firmware in every report format: the rows sit under their
recorder, the KEV risks show with their source, and the JSON round-trips both."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from conftest import HOSTILE, _device

from camscan.models import Risk, ScanResult, Verdict, Via
from camscan.report import csv as csv_report
from camscan.report import html as html_report
from camscan.report import table as table_report
from camscan.serialize import report_dict, report_from_dict, to_dict

RISK = Risk(cve="CVE-2021-33044", kev_date_added="2024-08-21", advisory="DHCC-SA-202106-001",
            advisory_url="https://www.dahuasecurity.com/support/cybersecurity/details/957", match="exact",
            why="model IPC-HDW3849H is in the IPC-HX3XXX family; firmware built 2020-04-30", title="Dahua bypass")


def recorder_result() -> ScanResult:
    nvr = _device("198.51.100.30", mac="3c:ef:8c:00:00:30", manufacturer="Dahua", model="NVR4108HS-8P-4KS2",
                  verdict=Verdict.SANCTIONED)
    via1 = Via("198.51.100.30", nvr.key, "1", "192.168.254.2", "Private", "dahua.RemoteDevice")
    via2 = Via("198.51.100.30", nvr.key, "2", "192.168.254.3", "ONVIF", "dahua.RemoteDevice")
    cam1 = _device("192.168.254.2", manufacturer="Dahua", model="IPC-HDW3849H", firmware="2.800 2020-04-30",
                   serial="7J0A1B2C", verdict=Verdict.SANCTIONED, seen_by=("recorder",), via=via1, risks=(RISK,))
    cam2 = _device("192.168.254.3", manufacturer=None, model=HOSTILE, seen_by=("recorder",), via=via2)
    other = _device("198.51.100.40", manufacturer="Axis", model="M1065-L", verdict=Verdict.CLEAR)
    now = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    # scan order puts the cameras first: the reports must still show them under the recorder
    return ScanResult(started=now, finished=now, targets=("198.51.100.0/24",), interfaces=("eth0",),
                      methods=("wsd",), devices=(cam2, other, cam1, nvr), skips=())


@pytest.fixture
def result() -> ScanResult:
    return recorder_result()


def test_keys_of_cameras_behind_a_recorder(result):
    cam2, _, cam1, nvr = result.devices
    assert cam1.key == "serial:7J0A1B2C"
    assert cam2.key == f"via:{nvr.key}/2"


def test_json_carries_risks_and_via_and_round_trips(result):
    doc = report_dict(result)
    assert doc["summary"]["kev_risks"] == 1
    cams = [d for d in doc["devices"] if d["via"]]
    assert {d["via"]["channel"] for d in cams} == {"1", "2"}
    risky = next(d for d in doc["devices"] if d["risks"])
    assert risky["risks"][0] == to_dict(RISK) and risky["risks"][0]["match"] == "exact"
    assert report_dict(report_from_dict(json.loads(json.dumps(doc)))) == doc


def test_table_lists_cameras_under_their_recorder_with_a_kev_column(result):
    text = table_report.render(result)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("IP"))
    assert "KEV" in lines[header]
    # long cells wrap onto continuation lines (which start blank): the device rows are the others
    rows = [line for line in lines[header + 2:] if line and not line.startswith(" ")][:4]
    assert rows[0].startswith("198.51.100.30")  # the recorder (sanctioned), then its channels in order
    assert "`-192.168.254.2" in rows[1] and rows[1].rstrip().endswith(" 1")  # one KEV vulnerability, exact
    assert "`-192.168.254.3" in rows[2]
    assert rows[3].startswith("198.51.100.40")
    assert "1 with known-exploited firmware" in lines[0]
    assert "      advisory DHCC-SA-202106-001 https://www.dahuasecurity.com/support/cybersecurity/details/957\n" in text
    assert "\x1b" not in text


def test_csv_has_kev_and_via_columns(result):
    rows = list(csv.DictReader(io.StringIO(csv_report.render(result))))
    cam = next(r for r in rows if r["ip"] == "192.168.254.2")
    assert cam["kev"] == "CVE-2021-33044 (exact) DHCC-SA-202106-001"
    assert cam["via"] == "198.51.100.30 channel 1 192.168.254.2 Private"
    assert next(r for r in rows if r["ip"] == "198.51.100.40")["via"] == ""


def test_html_rows_under_the_recorder_and_risk_table(result):
    page = html_report.render(result)
    table = page[page.index('<section id="devices">'):]
    nvr = table.index(">198.51.100.30<")
    ch1 = table.index("channel 1")
    ch2 = table.index("channel 2")
    axis = table.index(">198.51.100.40<")
    assert nvr < ch1 < ch2 < axis
    assert "Known-exploited vulnerabilities (CISA KEV)" in page and "DHCC-SA-202106-001" in page
    assert "KEV risks" in page
    assert "<script>alert(1)" not in page


def test_cyclonedx_vulnerabilities_and_via(result):
    validation = pytest.importorskip("cyclonedx.validation.json")
    from cyclonedx.schema import SchemaVersion

    from camscan.report import OutputFormat, render

    text = render(result, OutputFormat.CYCLONEDX)
    errors = validation.JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    doc = json.loads(text)
    (vuln,) = doc["vulnerabilities"]
    cam = next(c for c in doc["components"] if c["bom-ref"] == "serial:7J0A1B2C")
    assert vuln["id"] == "CVE-2021-33044" and vuln["affects"] == [{"ref": cam["bom-ref"]}]
    assert vuln["advisories"][0]["url"] == RISK.advisory_url and "IPC-HDW3849H" in vuln["detail"]
    assert {p["name"]: p["value"] for p in vuln["properties"]} == {"camscan:match": "exact",
                                                                    "camscan:kev_date_added": "2024-08-21"}
    via = {p["name"]: p["value"] for p in cam["properties"] if p["name"].startswith("camscan:via.")}
    assert via["camscan:via.channel"] == "1" and via["camscan:via.recorder_ip"] == "198.51.100.30"


def onvif_recorder_result() -> ScanResult:
    """An ONVIF recorder whose video sources carry no address (its channels are tokens), and a camera behind a
    recorder that has a KEV risk and a warning: every section names the recorder and channel, not a bare IP."""
    nvr = _device("198.51.100.32", mac="48:ea:63:33:64:20", manufacturer="Uniview", model="NVR301-04S3",
                  verdict=Verdict.CLEAR, device_class="recorder")
    sources = [_device("", seen_by=("recorder",), device_class="camera",
                       via=Via("198.51.100.32", nvr.key, f"VideoSource_{n}", None, "ONVIF", "onvif.media"))
               for n in range(1, 4)]
    dahua = _device("198.51.100.31", mac="08:ed:ed:33:64:1f", manufacturer="Dahua", model="NVR4108HS-8P-4KS2",
                    verdict=Verdict.SANCTIONED, device_class="recorder")
    slot = _device("192.168.1.110", seen_by=("recorder",), device_class="camera", risks=(RISK,),
                   warnings=("a test warning",),
                   via=Via("198.51.100.31", dahua.key, "3", "192.168.1.110", "Onvif", "dahua.RemoteDevice"))
    now = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    return ScanResult(started=now, finished=now, targets=("198.51.100.0/24",), interfaces=("eth0",),
                      methods=("wsd",), devices=(nvr, *sources, dahua, slot), skips=())


def test_table_tells_video_sources_apart_and_names_the_recorder_of_every_camera():
    text = table_report.render(onvif_recorder_result())
    for n in range(1, 4):  # each source its own readable cell (was "`-ch VideoSour..." for all of them)
        assert f"`-ch VideoSource_{n} " in text
    # the sections below the table name where a camera behind a recorder is, not a bare (or empty) address
    flat = " ".join(text.split())
    assert ("behind recorder 198.51.100.32 channel VideoSource_2 unknown maker: listed by recorder 198.51.100.32 as "
            "ONVIF video source VideoSource_2 (never contacted)") in flat
    assert "ONVIF recorder lists its inputs without the cameras' maker, model or serial" in flat
    assert "192.168.1.110 behind recorder 198.51.100.31 channel 3" in flat
    assert "listed by recorder 198.51.100.31 on channel 3 over Onvif (never contacted); the recorder reported no " \
           "model, serial or MAC for it" in flat
    assert "no ONVIF device information" not in flat  # nothing asked the camera: no such thing was missing
    kev = flat[flat.index("Known-exploited vulnerabilities"):]
    assert kev.startswith("Known-exploited vulnerabilities (CISA KEV; information only, the verdict is unchanged): "
                          "192.168.1.110 behind recorder 198.51.100.31 channel 3")
    assert "192.168.1.110 behind recorder 198.51.100.31 channel 3 unknown maker: a test warning" in flat


def test_html_names_the_recorder_of_unknown_and_kev_cameras():
    page = html_report.render(onvif_recorder_result())
    why = page[page.index("Why these are unknown"):]
    assert "<code>behind recorder 198.51.100.32 channel VideoSource_1</code>" in why
    assert "<code>192.168.1.110 behind recorder 198.51.100.31 channel 3</code>" in page[page.index('id="kev"'):]
