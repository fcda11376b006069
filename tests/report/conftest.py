"""A scan result with one device of every kind, and one whose strings are hostile, for the report tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from camscan.models import (
    Change,
    Coverage,
    Device,
    Diff,
    Evidence,
    Finding,
    ListCitation,
    RuleMatch,
    ScanResult,
    Skip,
    Verdict,
)

SCRIPT = "<script>alert(1)</script>"
FORMULA = "=cmd|' /C calc'!A0"
ESC = "\x1b[31m"
BIDI = "\u202e"
# every hostile pattern in one string: markup, formula, terminal escape, NUL, bidi override, a lone surrogate,
# a noncharacter, a zero-width joiner, a line separator and an attribute-breaking quote
HOSTILE = f"{SCRIPT}{ESC}red\x00{BIDI}gpj.exe\ud800\ufffe\u200d\u2028\" onmouseover=\"alert(2)"

FCC = ListCitation("fcc_covered", "FCC Covered List", "2021-03-12", "47 CFR 1.50002",
                   url="https://www.fcc.gov/supplychain/coveredlist", scope="public safety and security uses")
NDAA = ListCitation("ndaa_889", "NDAA FY2019 section 889", "2019-08-13", "FAR 52.204-25",
                    url="https://www.acquisition.gov/far/52.204-25")
BIS = ListCitation("entity_list", "US Commerce (BIS) Entity List", "2019-10-09", "84 FR 54002")
DOD = ListCitation("dod_1260h", "DoD 1260H list", "2021-06-03", "1260H")


def _device(ip: str, **kw) -> Device:
    base = dict(ip=ip, mac=None, manufacturer=None, brand=None, model=None, firmware=None, serial=None,
                hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("wsd",), evidence=())
    base.update(kw)
    return Device(**base)


def hikvision() -> Device:
    ev = Evidence("onvif.GetDeviceInformation", "FirmwareVersion", "V5.7.3 build 220112")
    m = RuleMatch("hikvision-firmware", "Hikvision", "firmware", ev, note="Hikvision firmware build string")
    oui = RuleMatch("hikvision-oui", "Hikvision", "hint", Evidence("oui", "mac", "44:19:b6"),
                    note="Hikvision OUI")
    finding = Finding(entity="hikvision", entity_name="Hangzhou Hikvision Digital Technology Co., Ltd.",
                      verdict=Verdict.SANCTIONED, lists=(FCC, NDAA, BIS), evidence=(m,),
                      summary="Hikvision hardware: Hikvision firmware build string. Hikvision is on: FCC "
                              "Covered List (2021-03-12), NDAA FY2019 section 889 (2019-08-13).",
                      context=(DOD,))
    return _device("192.168.1.10", mac="44:19:b6:12:34:56", manufacturer="Hikvision", brand="HIKVISION",
                   model="DS-2CD2043G2-I", firmware="V5.7.3 build 220112",
                   serial="DS-2CD2043G2-I20220101AAWR",
                   hardware_id="88", endpoint="urn:uuid:11111111-2222-3333-4444-555555555555",
                   xaddrs=("http://192.168.1.10/onvif/device_service",), seen_by=("wsd", "onvif", "sadp"),
                   evidence=(ev, oui.evidence), matches=(m, oui), confidence=0.97, verdict=Verdict.SANCTIONED,
                   findings=(finding,), device_class="camera")


def amcrest() -> Device:
    ev = Evidence("http.header", "Server", "Amcrest")
    m = RuleMatch("amcrest-dahua-oem", "Dahua", "hint", ev, note="Amcrest sells relabelled Dahua hardware")
    finding = Finding(entity="dahua", entity_name="Zhejiang Dahua Technology Co., Ltd.",
                      verdict=Verdict.REVIEW, lists=(FCC, NDAA), evidence=(m,),
                      summary="Weak hints point at Dahua sold as 'Amcrest': Amcrest sells relabelled Dahua "
                              "hardware. Dahua is on: FCC Covered List (2021-03-12).",
                      check="Confirm the maker: run with ONVIF credentials, or inspect the label for Dahua "
                            "firmware.")
    return _device("192.168.1.20", mac="9c:8e:cd:00:11:22", manufacturer="Dahua", brand="Amcrest",
                   device_class="recorder", model="IP8M-2496EB", firmware="V2.800.0000000.3.R", seen_by=("wsd", "http"),
                   evidence=(ev,), matches=(m,), confidence=0.45, verdict=Verdict.REVIEW, findings=(finding,))


def axis() -> Device:
    ev = Evidence("onvif.GetDeviceInformation", "Manufacturer", "AXIS")
    m = RuleMatch("axis-onvif", "Axis", "identity", ev, note="ONVIF manufacturer AXIS")
    return _device("192.168.1.30", mac="00:40:8c:aa:bb:cc", manufacturer="Axis", brand="AXIS",
                   model="P3245-LVE", firmware="10.12.114", serial="ACCC8E000001", seen_by=("wsd", "onvif"),
                   evidence=(ev,), matches=(m,), confidence=0.9, verdict=Verdict.CLEAR)


def unknown() -> Device:
    return _device("192.168.1.40", seen_by=("sweep",), confidence=0.0, verdict=Verdict.UNKNOWN)


def hostile() -> Device:
    ev = Evidence("onvif.GetDeviceInformation", "Model", HOSTILE)
    m = RuleMatch("hikvision-firmware", "Hikvision", "hint", ev, note=f"note {SCRIPT}")
    finding = Finding(entity="hikvision", entity_name="Hangzhou Hikvision Digital Technology Co., Ltd.",
                      verdict=Verdict.REVIEW, lists=(FCC,), evidence=(m,),
                      summary=f"Weak hints point at Hikvision sold as {HOSTILE!r}.", check=f"check {HOSTILE}")
    return _device("192.168.1.66", mac=None, manufacturer=FORMULA, brand=HOSTILE, model=SCRIPT,
                   firmware=f"{ESC}1.0\x00", serial=FORMULA, hardware_id=BIDI, hostname=HOSTILE,
                   endpoint=f"urn:uuid:{SCRIPT}", seen_by=("wsd", FORMULA), evidence=(ev,), matches=(m,),
                   confidence=0.3, verdict=Verdict.REVIEW, findings=(finding,))


def diff_for(devices: list[Device]) -> Diff:
    by_ip = {d.ip: d for d in devices}
    changes = [
        Change("firmware", by_ip["192.168.1.20"].key, "192.168.1.20", "V2.700", "V2.800.0000000.3.R",
               "Dahua (as Amcrest) IP8M-2496EB"),
        Change("ip", by_ip["192.168.1.30"].key, "192.168.1.30", "192.168.1.31", "192.168.1.30",
               "Axis P3245-LVE"),
        Change("gone", "mac:00:11:22:33:44:55", "192.168.1.50", device="Uniview IPC322LB"),
        Change("new", by_ip["192.168.1.10"].key, "192.168.1.10", device="Hikvision DS-2CD2043G2-I"),
        Change("verdict", by_ip["192.168.1.20"].key, "192.168.1.20", "clear", "review",
               "Dahua (as Amcrest) IP8M-2496EB"),
    ]
    new_flagged = [by_ip["192.168.1.20"].key, by_ip["192.168.1.10"].key]
    if "192.168.1.66" in by_ip:
        changes.append(Change("new", by_ip["192.168.1.66"].key, "192.168.1.66", None, HOSTILE, HOSTILE))
        new_flagged.append(by_ip["192.168.1.66"].key)
    return Diff(previous_scan=41, previous_started="2024-05-01T10:00:00.000000Z", changes=tuple(changes),
                new_flagged=tuple(new_flagged))


def make_result(*, with_hostile: bool = True, with_diff: bool = True) -> ScanResult:
    """A scan of five devices (sanctioned Hikvision, review Amcrest, clear Axis, unknown, hostile), a diff."""
    devices = [amcrest(), axis(), hikvision(), unknown()] + ([hostile()] if with_hostile else [])
    skips = [Skip("192.168.1.77", "onvif", "auth failed: 401 Unauthorized")]
    notes = ["deadline hit after 118 s: 3 hosts not probed"]
    coverage = [Coverage("192.168.1.0/24", "wsd", "done", tried=1, answered=4),
                Coverage("192.168.1.0/24", "sweep", "partial", tried=254, answered=5, note="rate limited")]
    if with_hostile:
        skips.append(Skip(HOSTILE, "http", f"bad XML {HOSTILE}"))
        notes.append(f"device said {HOSTILE}")
        coverage.append(Coverage(FORMULA, HOSTILE, "done", note=HOSTILE))
    return ScanResult(
        started=datetime(2024, 5, 2, 10, 0, 0, 123456, tzinfo=UTC),
        finished=datetime(2024, 5, 2, 10, 1, 58, 654321, tzinfo=UTC),
        targets=("192.168.1.0/24",), interfaces=("eth0",), methods=("wsd", "onvif", "http", "sadp", "sweep"),
        devices=tuple(devices), skips=tuple(skips), coverage=tuple(coverage), notes=tuple(notes),
        diff=diff_for(devices) if with_diff else None, scan_id=42,
    )


@pytest.fixture
def result() -> ScanResult:
    """The full result, hostile device included."""
    return make_result()


@pytest.fixture
def normal_result() -> ScanResult:
    """The result without the hostile device (for layout checks on ordinary values)."""
    return make_result(with_hostile=False)


@pytest.fixture
def no_diff_result() -> ScanResult:
    """A result with no inventory comparison."""
    return replace(make_result(), diff=None, scan_id=None)
