"""JSON: the schema_version 1 contract, the diff, and report_from_dict as the exact inverse of report_dict."""

from __future__ import annotations

import io
import json as jsonlib
from dataclasses import replace

import pytest

from camscan import cli, serialize
from camscan.models import Device, Diff, Evidence
from camscan.report import OutputFormat
from camscan.report import json as report_json

# schema_version 1 as first published: these keys must never be renamed or removed
V1_TOP = ["schema_version", "scan", "summary", "devices", "skips", "coverage", "notes", "legal_note"]
V1_SCAN = ["start", "end", "targets", "interfaces", "methods"]
V1_SUMMARY = ["devices", "sanctioned", "review", "clear", "unknown", "skips"]
V1_DEVICE = ["key", "ip", "mac", "manufacturer", "brand", "model", "firmware", "serial", "hardware_id",
             "hostname", "endpoint", "xaddrs", "verdict", "confidence", "findings", "matches", "evidence",
             "seen_by"]


def test_ascii_valid_json_with_the_v1_fields_and_the_diff(result):
    text = report_json.render(result, note="legal")
    assert text.isascii()
    doc = jsonlib.loads(text)
    assert doc["schema_version"] == 1
    assert all(k in doc for k in V1_TOP)
    assert all(k in doc["scan"] for k in V1_SCAN)
    assert all(k in doc["summary"] for k in V1_SUMMARY)
    assert all(k in dev for dev in doc["devices"] for k in V1_DEVICE)
    assert doc["scan_id"] == 42
    assert doc["diff"]["previous_scan"] == 41
    assert doc["summary"]["new_flagged"] == 3
    assert {c["kind"] for c in doc["diff"]["changes"]} == {"new", "gone", "ip", "firmware", "verdict"}
    assert list(doc).index("diff") < list(doc).index("devices")  # the changes lead
    hostile = next(d for d in doc["devices"] if d["ip"] == "192.168.1.66")
    assert hostile["model"] == "<script>alert(1)</script>"  # data kept exact; escaping is the reader's job


def test_diff_is_null_without_a_previous_scan(no_diff_result):
    doc = jsonlib.loads(report_json.render(no_diff_result))
    assert doc["diff"] is None and doc["scan_id"] is None and doc["summary"]["new_flagged"] is None


@pytest.mark.parametrize("variant", ["full", "no_diff", "first_scan", "empty"])
def test_from_dict_is_the_exact_inverse(result, variant):
    r = {
        "full": result,
        "no_diff": replace(result, diff=None, scan_id=None),
        "first_scan": replace(result, diff=Diff(previous_scan=None, previous_started=None)),
        "empty": replace(result, devices=(), skips=(), coverage=(), notes=(), diff=None),
    }[variant]
    d = serialize.report_dict(r, note="legal")
    back = serialize.report_from_dict(d)
    assert serialize.report_dict(back, note="legal") == d
    # and through the text form, hostile strings (lone surrogates included) and all
    assert serialize.report_dict(report_json.loads(report_json.render(r, note="legal")), note="legal") == d


def test_from_dict_restores_the_objects(result):
    back = serialize.report_from_dict(serialize.report_dict(result))
    assert back.devices == result.devices
    assert back.diff == result.diff and back.skips == result.skips and back.coverage == result.coverage
    assert back.started == result.started and back.finished == result.finished


def test_from_dict_accepts_a_document_from_before_diff_was_added(result):
    d = serialize.report_dict(replace(result, diff=None, scan_id=None))
    del d["diff"], d["scan_id"], d["summary"]["new_flagged"]
    assert serialize.report_from_dict(d).diff is None


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(schema_version=2),
    lambda d: d.pop("devices"),
    lambda d: d["scan"].update(start="yesterday"),
    lambda d: d["devices"][0].update(verdict="dangerous"),
    lambda d: d["devices"][0].update(ip=17),
    lambda d: d.update(devices=[1]),
    lambda d: d["diff"].update(changes="x"),
])
def test_from_dict_rejects_malformed_documents_with_valueerror(result, mutate):
    d = serialize.report_dict(result)
    mutate(d)
    with pytest.raises(ValueError):
        serialize.report_from_dict(d)


@pytest.mark.parametrize("text", ["", "[]", "{", '"x"', "null"])
def test_loads_rejects_non_reports(text):
    with pytest.raises(ValueError):
        report_json.loads(text)


# ------------------------------------------------------------------------------------------------ streaming

def _many_evidence(result):
    """The result with every device carrying 80 evidence items like a real scan's (odd strings among them)."""
    odd = ["line\nbreak", "tab\there", 'quote " and \\ backslash', "caf\u00e9 \u2028 \ud800", "", " " * 3]
    return replace(result, devices=tuple(
        replace(d, evidence=d.evidence + tuple(Evidence(f"http.header{i % 7}", f"field{i}", odd[i % len(odd)] * i)
                                               for i in range(80)))
        for d in result.devices))


def _variants(result):
    return {
        "full": result,
        "many_evidence": _many_evidence(result),
        "no_diff": replace(result, diff=None, scan_id=None),
        "first_scan": replace(result, diff=Diff(previous_scan=None, previous_started=None)),
        "empty": replace(result, devices=(), skips=(), coverage=(), notes=(), diff=None),
    }


@pytest.mark.parametrize("variant", ["full", "many_evidence", "no_diff", "first_scan", "empty"])
def test_streamed_report_is_byte_identical_to_one_json_dumps(result, variant):
    r = _variants(result)[variant]
    expected = jsonlib.dumps(serialize.report_dict(r, note="legal \u00a7"), indent=2, ensure_ascii=True) + "\n"
    assert "".join(report_json.iterencode(r, note="legal \u00a7")) == expected
    assert report_json.render(r, note="legal \u00a7") == expected
    out = io.StringIO()
    report_json.write(r, out, note="legal \u00a7")
    assert out.getvalue() == expected


def test_streamed_report_builds_one_device_dict_at_a_time(result, monkeypatch):
    chunks = report_json.iterencode(result)
    built = []
    original = serialize._WRITERS[Device]
    monkeypatch.setitem(serialize._WRITERS, Device, lambda d: built.append(d.ip) or original(d))
    text = ""
    while not text.endswith(',\n  "devices": '):
        text += next(chunks)
    assert built == []  # nothing built before the devices' turn
    next(chunks)
    assert built == [result.devices[0].ip]
    "".join(chunks)
    assert built == [d.ip for d in result.devices]


@pytest.mark.parametrize("to_file", [True, False])
def test_cli_writes_the_streamed_json_report(result, tmp_path, capsys, to_file):
    path = tmp_path / "report.json" if to_file else None
    cli.write_report(path, result, OutputFormat.JSON, note="legal")
    written = path.read_bytes() if to_file else capsys.readouterr().out.encode("ascii")
    expected = jsonlib.dumps(serialize.report_dict(result, note="legal"), indent=2, ensure_ascii=True) + "\n"
    assert written == expected.encode("ascii")


def test_a_report_failing_half_way_leaves_the_previous_one_and_no_temporary_file(result, tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    cli.write_report(path, result, OutputFormat.JSON, note="legal")
    before = path.read_bytes()

    def broken(result, note=""):
        yield '{\n  "schema_version": 1'
        raise RuntimeError("boom")
    monkeypatch.setattr(report_json, "iterencode", broken)
    with pytest.raises(RuntimeError):
        cli.write_report(path, replace(result, devices=()), OutputFormat.JSON, note="legal")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
