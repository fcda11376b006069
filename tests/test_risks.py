"""Known-exploited firmware (camscan/data/risks.toml): loading, validation, firmware parsing, and matching on
the edges of the advisories' ranges (first/last build, the day a fix was built, no model, no build date)."""

from __future__ import annotations

from datetime import date

import pytest

from camscan.errors import DataError
from camscan.models import Device, Verdict
from camscan.risks import RISKS_FILE, load_risks, match_device, parse_firmware


def dev(manufacturer="Hikvision", model=None, firmware=None, verdict=Verdict.SANCTIONED) -> Device:
    return Device(ip="198.51.100.9", mac=None, manufacturer=manufacturer, brand=None, model=model,
                  firmware=firmware, serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(),
                  seen_by=(), evidence=(), verdict=verdict)


def risks(**kw) -> dict[str, str]:
    return {r.cve: r.match for r in match_device(dev(**kw))}


def r7921(**kw) -> str | None:
    """The CVE-2017-7921 match (the old cameras these tests use are also 'possible' for CVE-2021-36260, whose
    range has no verified lower bound)."""
    return risks(**kw).get("CVE-2017-7921")


# ------------------------------------------------------------------------------------------ the data file
def test_packaged_file_loads_with_sources_and_dates():
    vulns = load_risks()
    assert {v.cve for v in vulns} == {"CVE-2017-7921", "CVE-2021-36260", "CVE-2021-33044", "CVE-2021-33045"}
    for v in vulns:
        assert v.advisory and v.advisory_url.startswith("http") and v.read and v.kev_date_added
        assert v.ranges
    by = {v.cve: v for v in vulns}
    assert by["CVE-2021-33044"].advisory == by["CVE-2021-33045"].advisory == "DHCC-SA-202106-001"
    assert by["CVE-2021-36260"].advisory == "HSRC-202109-01"
    # 36260: verified only where the advisory's (pre-release) table and NVD's list of the published one agree
    r36 = by["CVE-2021-36260"].ranges
    assert any(r.verified for r in r36) and any(not r.verified for r in r36)
    assert {r.built_before for r in r36 if r.built_before} == {date(2021, 6, 25), date(2021, 7, 2)}
    # ICSA-17-124-01 names the first fixed build of each series it lists
    assert all(r.verified and r.fixed is not None for r in by["CVE-2017-7921"].ranges)
    # the recorders the table lists for 36260 are there, with their dated spans
    nvr = [r for r in r36 if r.first is not None]
    assert {r.first_text for r in nvr} == {"V4.30.210 build 201224", "V4.30.300 build 210221"}
    for v in vulns:
        assert v.kev_note and v.source_note


@pytest.mark.parametrize("body, message", [
    ("", "no \\[\\[vulnerability"),
    ('[[vulnerability]]\ncve = "CVE-2021-1"\n', "needs maker"),
    ('[[vulnerability]]\ncve = "2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'built_before = "2021-06-01"\nverified = true\n', "not a CVE id"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "soon"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'built_before = "2021-06-01"\nverified = true\n', "kev_date_added must be a date"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'first = "V5.4.0 build 160530"\nlast = "V5.2.0 build 140721"\nverified = true\n', "last firmware is before first"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'first = "V5.2.0"\nlast = "V5.4.0 build 160530"\nverified = true\n', "both carry a build date"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'first = "build 160530"\nlast = "V5.4.0 build 160530"\nverified = true\n', "needs a version"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'first = "V5.2.0 build 140721"\nlast = "V5.4.0 build 160530"\nfixed = "V5.4.0 build 160530"\n'
     'verified = true\n', "fixed firmware must come after last"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'first = "V4.30.210"\nlast = "V4.31.000"\nfixed = "V4.31.005 build 210701"\nverified = true\n',
     "fixed must be written like first and last"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'built_before = "2021-06-01"\nfixed = "V5.4.5 build 170123"\nverified = true\n', "fixed goes with first and last"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'built_before = "2021-06-01"\nmodels = ["("]\nverified = true\n', "bad model pattern"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n[[vulnerability.range]]\nfamily = "f"\n'
     'built_before = "2021-06-01"\n', "needs verified"),
    ('[[vulnerability]]\ncve = "CVE-2021-1234"\nmaker = "X"\ntitle = "t"\nadvisory = "A"\nadvisory_url = "https://a"\n'
     'kev_date_added = "2022-01-10"\nread = "2026-12-02"\n', "at least one"),
])
def test_invalid_files_are_refused(tmp_path, body, message):
    path = tmp_path / "risks.toml"
    path.write_text(body)
    with pytest.raises(DataError, match=message):
        load_risks(path)


def test_every_range_in_the_packaged_file_is_dated_and_bounded():
    text = RISKS_FILE.read_text()
    assert text.count("\n[[vulnerability]]") == 4
    for v in load_risks():
        for r in v.ranges:
            assert r.built_before is not None or (r.first is not None and r.last is not None)


# -------------------------------------------------------------------------------------- firmware strings
@pytest.mark.parametrize("text, version, built", [
    ("V5.5.800 build 210628", (5, 5, 800), date(2021, 6, 28)),
    ("V5.6.2build 190701", (5, 6, 2), date(2019, 7, 1)),
    ("V5.4.0 Build 160530", (5, 4, 0), date(2016, 5, 30)),
    ("2.800.0000000.25.R, Build Date: 2021-01-28", (2, 800, 0, 25), date(2021, 1, 28)),
    ("V2.620.0000002.0.R.170830", (2, 620, 2, 0), date(2017, 8, 30)),
    ("V2.840.0000000.8.R, build: 2022-08-26", (2, 840, 0, 8), date(2022, 8, 26)),
    ("V5.4.0", (5, 4, 0), None),
    ("build 991399", None, None),  # no such date, no version
    ("", None, None),
    (None, None, None),
])
def test_parse_firmware(text, version, built):
    fw = parse_firmware(text)
    assert fw.version == version and fw.built == built


# ------------------------------------------------------------------------------- CVE-2017-7921 (per series)
def test_7921_first_and_last_build_of_a_series_are_exact():
    assert r7921(model="DS-2CD2032F-I", firmware="V5.2.0 build 140721") == "exact"
    assert r7921(model="DS-2CD2032F-I", firmware="V5.4.0 build 160530") == "exact"


def test_7921_before_the_first_build_and_from_the_fixed_build_on_there_is_no_risk():
    assert r7921(model="DS-2CD2032F-I", firmware="V5.2.0 build 140720") is None
    # ICSA-17-124-01: DS-2CD2xx2F-I fixed in V5.4.5 build 170123 and later
    assert r7921(model="DS-2CD2032F-I", firmware="V5.4.5 build 170123") is None
    assert r7921(model="DS-2CD2032F-I", firmware="V5.5.0 build 170725") is None


def test_7921_builds_between_the_last_affected_and_the_fixed_one_are_possible():
    # the advisory lists the 2xx2F-I series as affected to 160530 and fixed from 170123: it says nothing of
    # the builds between
    (r,) = [x for x in match_device(dev(model="DS-2CD2032F-I", firmware="V5.4.0 build 160531"))
            if x.cve == "CVE-2017-7921"]
    assert r.match == "possible" and "before the first fixed one" in r.why and "V5.4.5 build 170123" in r.why
    assert r7921(model="DS-2CD2032F-I", firmware="V5.4.5 build 170122") == "possible"


@pytest.mark.parametrize("model, last, gap, fixed", [
    ("DS-2CD2030F-I", "V5.4.0 build 160401", "V5.4.0 build 160402", "V5.4.5 build 170123"),
    ("DS-2CD2142FWD-IS", "V5.4.4 build 161125", "V5.4.4 build 161126", "V5.4.5 build 170124"),
    ("DS-2CD4026FWD-A", "V5.4.0 build 160414", "V5.4.0 build 160415", "V5.4.5 build 170228"),
    ("DS-2CD4035FWD", "V5.4.0 build 160421", "V5.4.1 build 160601", "V5.4.5 build 170302"),
    ("DS-2DF8236IV-AEL", "V5.4.5 build 160928", "V5.4.5 build 161010", "V5.4.9 build 170123"),
    ("DS-2CD6362F-IV", "V5.3.5 build 160106", "V5.3.5 build 160107", "V5.4.5 build 170206"),
])
def test_7921_each_series_has_its_own_last_and_fixed_build(model, last, gap, fixed):
    assert r7921(model=model, firmware=last) == "exact"
    assert r7921(model=model, firmware=gap) == "possible"
    assert r7921(model=model, firmware=fixed) is None


def test_7921_ranges_differ_per_series():
    # V5.4.0 build 160415: inside the 2xx2F-I series range (to 160530), past 2xx0F-I's (to 160401)
    assert r7921(model="DS-2CD2032F-I", firmware="V5.4.0 build 160415") == "exact"
    assert r7921(model="DS-2CD2030F-I", firmware="V5.4.0 build 160415") == "possible"
    # the FWD series starts later (V5.3.1 build 150410) and reaches into V5.4.4
    assert r7921(model="DS-2CD2142FWD-IS", firmware="V5.3.0 build 150327") is None
    assert r7921(model="DS-2CD2142FWD-IS", firmware="V5.4.4 build 161125") == "exact"
    assert r7921(model="DS-2CD2142FWD-IS", firmware="V5.4.5 build 170124") is None


def test_7921_without_build_date_is_decided_only_strictly_inside_or_outside():
    assert r7921(model="DS-2CD2032F-I", firmware="V5.3.0") == "exact"
    assert r7921(model="DS-2CD2032F-I", firmware="V5.5.0") is None
    assert r7921(model="DS-2CD2032F-I", firmware="V5.1.6") is None
    # the boundary version, or one between the last affected and the fixed version: cannot tell
    assert r7921(model="DS-2CD2032F-I", firmware="V5.4.0") == "possible"
    assert r7921(model="DS-2CD2032F-I", firmware="V5.4.3") == "possible"


def test_7921_no_model_is_possible_and_says_why():
    r = next(r for r in match_device(dev(model=None, firmware="V5.3.0 build 150513")) if r.cve == "CVE-2017-7921")
    assert r.cve == "CVE-2017-7921" and r.match == "possible"
    assert "no model" in r.why and "V5.3.0 build 150513" in r.why
    assert r.advisory == "ICSA-17-124-01" and r.kev_date_added == "2026-03-05"


def test_7921_models_the_advisory_does_not_name_get_no_risk():
    # ICSA-17-124-01 names seven series; other models (here a white-labelled one) are not in it
    assert r7921(model="IPC-T2342", firmware="V5.3.0 build 150513") is None
    assert r7921(model="DS-2CD2385G1-I", firmware="V5.4.0 build 160530") is None


def test_nothing_checkable_gives_no_risk():
    assert risks(model=None, firmware=None) == {}
    assert risks(model="DS-2CD2032F-I", firmware=None) == {"CVE-2017-7921": "possible",
                                                           "CVE-2021-36260": "possible"}


# ------------------------------------------------------------------------------------------ CVE-2021-36260
def r36260(**kw) -> str | None:
    return risks(**kw).get("CVE-2021-36260")


@pytest.mark.parametrize("model", ["DS-2CD2043G2-I", "DS-2CD2346G2-ISU/SL", "DS-2CD2087G2-LU", "DS-2CD3156G2-IS",
                                   "DS-2CD3347G2-LS(U)", "DS-2CD3023G2-IU", "DS-2CD2121G0-IWS",
                                   "DS-2DF8425IX-AELW(T5)", "DS-2DY9236IX-A(T3)", "DS-2DYH2A0IXS-D(T2)",
                                   "PTZ-N4215I-DE", "iDS-2SK718MXS-D", "iDS-2VS435-F840-EY"])
def test_36260_camera_families_in_the_table_and_nvds_list_are_exact_before_210625(model):
    assert r36260(model=model, firmware="V5.5.800 build 210624") == "exact"
    assert r36260(model=model, firmware="V5.5.800 build 210625") is None  # "Build time before 210625"
    assert r36260(model=model, firmware="V5.7.1 build 211009") is None


@pytest.mark.parametrize("model", ["DS-2TD1217B-3/PA", "DS-2TD1117-2/PA", "DS-2TD6267-75C4L/W",
                                   "DS-2TD8166-100C2F/V2", "DS-2TD4167-50/W"])
def test_36260_thermal_families_have_their_own_bound_210702(model):
    assert r36260(model=model, firmware="V5.5.60 build 210701") == "exact"
    assert r36260(model=model, firmware="V5.5.60 build 210702") is None


def test_36260_families_only_in_the_pre_release_table_or_only_in_nvd_are_possible():
    for model in ("DS-2CD1023G0E-I", "DS-2CD2142WD-I", "DS-2XE6242F-IS/316L(B)", "DS-2DE4425IW-DE", "HWI-B121H",
                  "DS-2CD2021G1-I"):
        (r,) = match_device(dev(model=model, firmware="V5.5.800 build 210624"))
        assert r.match == "possible" and "not verified" in r.why, model
        assert r36260(model=model, firmware="V5.5.800 build 210625") is None
    assert r36260(model="DS-2TB21", firmware="V5.5.5 build 210701") == "possible"


def test_36260_unlisted_camera_before_the_bound_is_possible_from_it_none():
    (r,) = match_device(dev(model="DS-2CD2385G1-I", firmware="V5.6.2 build 190701"))
    assert r.match == "possible" and "not verified" in r.why and r.advisory == "HSRC-202109-01"
    assert "other Hikvision cameras" in r.why
    assert risks(model="DS-2CD2385G1-I", firmware="V5.5.800 build 210624") == {"CVE-2021-36260": "possible"}
    assert risks(model="DS-2CD2385G1-I", firmware="V5.5.800 build 210625") == {}
    assert risks(model="DS-2CD2385G1-I", firmware="V5.5.800 build 210628") == {}
    # an unlisted thermal camera gets the thermal bound
    assert r36260(model="DS-2TD4136T-9", firmware="V5.5.60 build 210630") == "possible"


@pytest.mark.parametrize("model, firmware, expected", [
    ("DS-7608NI-K1", "V4.30.210 build 201224", "exact"),  # first build of the span
    ("DS-7608NI-K1/8P", "V4.31.000 build 210511", "exact"),  # last
    ("DS-7616NI-Q2/16P", "V4.30.216", "exact"),  # a version strictly inside, without a build date
    ("DS-7608NI-K1", "V4.30.210 build 201223", None),  # the day before the first
    ("DS-7608NI-K1", "V4.31.000 build 210512", None),  # the day after the last
    ("DS-7608NI-K1", "V4.31.005 build 210701", None),  # a later release
    ("DS-7604NI-Q1/4P", "V4.22.005 build 200401", None),  # an older one
    ("DS-7608NI-Q2", "V4.30.210", "possible"),  # the boundary version without a build date
    ("DS-7108NI-Q1/8P", "V4.31.100 build 210511", "exact"),  # the 71xx span ends later...
    ("DS-7104NI-Q1", "V4.30.210 build 201224", None),  # ... and starts later
    ("DS-7104NI-Q1/M", "V4.30.300 build 210221", "exact"),
    ("HWN-4108MH-8P", "V4.30.210 build 201224", "possible"),  # HiWatch: the pre-release table only
    ("DS-7608NI-K2", "V4.30.210 build 201224", None),  # K2 is not in the list
    ("DS-7608NI-K1", "build 201224", "possible"),  # no version: only the model could be checked
])
def test_36260_recorders_the_advisory_lists(model, firmware, expected):
    assert r36260(model=model, firmware=firmware) == expected


def test_36260_recorder_without_firmware_is_possible():
    (r,) = match_device(dev(model="DS-7608NI-Q2", firmware=None))
    assert r.match == "possible" and "no firmware reported" in r.why and "V4.30.210 build 201224" in r.why


def test_36260_recorders_outside_the_list_and_other_device_kinds_are_not_matched():
    assert risks(model="DS-7608NI-K2", firmware="V4.22.005 build 200401") == {}
    assert risks(model="DS-K1T341AMF", firmware="V3.2.30 build 200101") == {}


# ---------------------------------------------------------------------------------- Dahua CVE-2021-33044/5
def dahua(model: str, firmware: str) -> dict[str, str]:
    return risks(manufacturer="Dahua", model=model, firmware=firmware)


def test_dahua_ipc_before_may_2020_has_both():
    got = dahua("IPC-HDW3849H-AS-PV", "2.800.0000000.8.R, Build Date: 2020-04-30")
    assert got == {"CVE-2021-33044": "exact", "CVE-2021-33045": "exact"}


def test_dahua_ipc_between_may_2020_and_june_2021_has_33044_only():
    got = dahua("DH-IPC-HFW5442E-ZE", "V2.800.0000000.8.R, Build Date: 2020-05-01")
    assert got == {"CVE-2021-33044": "exact"}
    got = dahua("IPC-HFW5442E-ZE", "V2.800.0000000.8.R, build: 2021-05-31")
    assert got == {"CVE-2021-33044": "exact"}


def test_dahua_ipc_built_june_2021_is_patched():
    assert dahua("IPC-HFW5442E-ZE", "V2.820.0000000.5.R, Build Date: 2021-06-01") == {}


def test_dahua_family_outside_the_advisory_is_not_matched():
    # HX1XXX is not in the advisory's families
    assert dahua("IPC-HDW1431T1-S4", "2.800.0000000.8.R, Build Date: 2019-01-01") == {}


def test_dahua_nvr_is_33045_before_december_2019():
    assert dahua("NVR4108HS-8P-4KS2", "4.001.0000000.0.R, Build Date: 2019-11-30") == {}
    assert dahua("NVR2108HS-8P-4KS2", "4.001.0000000.0.R, Build Date: 2019-11-30") == {"CVE-2021-33045": "exact"}
    assert dahua("NVR2108HS-8P-4KS2", "4.001.0000000.0.R, Build Date: 2019-12-01") == {}


def test_dahua_firmware_without_build_date_is_possible():
    got = dahua("IPC-HDW3849H-AS-PV", "V2.800.0000000.8.R")
    assert got == {"CVE-2021-33044": "possible", "CVE-2021-33045": "possible"}


def test_other_makers_and_relabels():
    assert risks(manufacturer="Axis", model="DS-2CD2032F-I", firmware="V5.3.0 build 150513") == {}
    assert risks(manufacturer=None, model="DS-2CD2032F-I", firmware="V5.3.0 build 150513") == {}
    # matching is on the maker camscan identified, case-insensitive
    assert risks(manufacturer="HIKVISION", model="ds-2cd2032f-i", firmware="V5.3.0 build 150513") \
        == {"CVE-2017-7921": "exact", "CVE-2021-36260": "possible"}


def test_risks_do_not_touch_the_verdict():
    d = dev(model="DS-2CD2032F-I", firmware="V5.3.0 build 150513", verdict=Verdict.CLEAR)
    (r, _) = match_device(d)
    assert d.verdict is Verdict.CLEAR and r.cve == "CVE-2017-7921"


def test_exit_code_ignores_risks_unless_fail_on_kev():
    from dataclasses import replace
    from datetime import UTC, datetime

    from camscan.cli import FailOn, exit_code
    from camscan.models import ScanResult

    d = dev(model="DS-2CD2032F-I", firmware="V5.3.0 build 150513", verdict=Verdict.CLEAR)
    d = replace(d, risks=match_device(d))
    now = datetime.now(UTC)
    result = ScanResult(started=now, finished=now, targets=(), interfaces=(), methods=(), devices=(d,), skips=())
    assert exit_code(result, FailOn.ANY) == 0
    assert exit_code(result, FailOn.NEW) == 0
    assert exit_code(result, FailOn.KEV) == 1
    clean = replace(d, risks=())
    assert exit_code(replace(result, devices=(clean,)), FailOn.KEV) == 0
