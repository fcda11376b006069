"""--format cyclonedx: CycloneDX 1.6 JSON validated against the schema cyclonedx-python-lib ships (no network);
each device a component of type device with manufacturer, model, firmware as version, and the rest as
properties."""

from __future__ import annotations

import json

import pytest

from camscan.report import NOTE, OutputFormat, render

validation = pytest.importorskip("cyclonedx.validation.json")
from cyclonedx.schema import SchemaVersion  # noqa: E402


def validate(text: str) -> None:
    errors = validation.JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors


def props(component: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in component.get("properties", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


def test_validates_against_the_cyclonedx_1_6_schema(result):
    text = render(result, OutputFormat.CYCLONEDX, note=NOTE)
    validate(text)
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert len(doc["components"]) == len(result.devices)
    assert all(c["type"] == "device" for c in doc["components"])


def test_device_component_fields(normal_result):
    doc = json.loads(render(normal_result, OutputFormat.CYCLONEDX))
    hik = next(c for c in doc["components"] if props(c)["camscan:ip"] == ["192.168.1.10"])
    assert hik["manufacturer"]["name"] == "Hikvision"
    assert hik["name"] == "DS-2CD2043G2-I" and hik["version"] == "V5.7.3 build 220112"
    assert hik["bom-ref"] == "mac:44:19:b6:12:34:56"
    p = props(hik)
    assert p["camscan:mac"] == ["44:19:b6:12:34:56"] and p["camscan:serial"] == ["DS-2CD2043G2-I20220101AAWR"]
    assert p["camscan:verdict"] == ["sanctioned"] and p["camscan:manufacturer_basis"] == ["firmware"]
    assert p["camscan:finding.entity"] == ["Hangzhou Hikvision Digital Technology Co., Ltd."]
    assert "FCC Covered List (since 2021-03-12)" in p["camscan:finding.lists"][0]
    assert "https://www.fcc.gov/supplychain/coveredlist" in p["camscan:finding.citation_url"]


def test_hostile_strings_are_escaped_and_still_valid(result):
    text = render(result, OutputFormat.CYCLONEDX)
    validate(text)
    assert "\x1b" not in text and "\u202e" not in json.loads(text).__repr__()


def test_empty_scan_is_a_valid_bom(result):
    from dataclasses import replace

    validate(render(replace(result, devices=(), diff=None), OutputFormat.CYCLONEDX))


def test_cross_site_vulnerability_affects_the_site_prefixed_component(normal_result):
    """In a report covering several sites each component's bom-ref carries its site; a vulnerability's
    affects.ref must name that same bom-ref, or the BOM has a dangling reference."""
    from dataclasses import replace

    from camscan.models import Risk

    risk = Risk("CVE-2021-36260", "2022-01-10", "HSRC-202109-01", "https://www.hikvision.com/en/support/",
                "exact", "firmware in range")
    devices = tuple(replace(d, site="north", risks=(risk,)) for d in normal_result.devices)
    text = render(replace(normal_result, devices=devices), OutputFormat.CYCLONEDX)
    validate(text)
    doc = json.loads(text)
    refs = {c["bom-ref"] for c in doc["components"]}
    assert all(r.startswith("north/") for r in refs)
    affected = [a["ref"] for v in doc["vulnerabilities"] for a in v["affects"]]
    assert affected and set(affected) <= refs
