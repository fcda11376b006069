"""Verdict logic and site policy files, on hand-made evidence (the corpus test covers real-shaped devices)."""

from __future__ import annotations

import pytest

from camscan import fingerprint
from camscan.errors import ConfigError, DataError
from camscan.models import Evidence, Host, Verdict
from camscan.policy import load_policy

GDI = "onvif.GetDeviceInformation"


def verdict_of(*evidence, policy=None, mac=None):
    host = Host(ip="198.51.100.9", mac=mac, evidence=tuple(Evidence(*e) for e in evidence))
    return (policy or load_policy()).evaluate(fingerprint.identify(host))


def test_hikvision_identity_is_sanctioned_with_citations():
    d = verdict_of((GDI, "manufacturer", "HIKVISION"), (GDI, "model", "DS-2CD2385G1-I"))
    assert d.verdict is Verdict.SANCTIONED and d.manufacturer == "Hikvision"
    (f,) = d.findings
    lists = {c.list_id for c in f.lists}
    assert {"entity_list", "ndaa_889", "fcc_covered"} <= lists
    assert any(c.date == "2019-10-09" for c in f.lists if c.list_id == "entity_list")


def test_unknown_brand_on_hikvision_firmware_is_sanctioned():
    d = verdict_of((GDI, "manufacturer", "Acme Vision"), (GDI, "firmware", "V5.6.2 build 190701"))
    assert d.verdict is Verdict.SANCTIONED and d.brand == "Acme Vision" and d.manufacturer == "Hikvision"


def test_oem_brand_alone_is_review_with_what_to_check():
    d = verdict_of((GDI, "manufacturer", "Amcrest"), (GDI, "model", "IP2M-841B"))
    assert d.verdict is Verdict.REVIEW
    assert d.findings[0].check


def test_hikvision_compatible_string_on_other_firmware_is_not_flagged():
    d = verdict_of((GDI, "manufacturer", "TP-Link"), (GDI, "model", "Tapo C200 (Hikvision-compatible)"),
                   ("wsd", "namespace", "http://www.hikvision.com/some/ns"))
    assert d.verdict is Verdict.CLEAR and d.manufacturer == "TP-Link"


def test_nothing_known_is_unknown():
    d = verdict_of((GDI, "manufacturer", "IPCAM"))
    assert d.verdict is Verdict.UNKNOWN and d.manufacturer == "IPCAM"


def test_site_policy_flags_uniview_and_enables_opt_in_lists(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('''
enable = ["dod_1260h"]
[lists.site_no_uniview]
name = "Site rule: Uniview not allowed"
default = true
[[entities]]
id = "uniview"
name = "Zhejiang Uniview Technologies Co., Ltd."
short = "Uniview"
aliases = ["UNV"]
[[entities.listings]]
list = "site_no_uniview"
date = "2026-01-01"
citation = "Site security standard 4.2"
''')
    base = load_policy()
    assert verdict_of((GDI, "manufacturer", "Uniview"), policy=base).verdict is Verdict.CLEAR
    site_policy = load_policy([site])
    d = verdict_of((GDI, "manufacturer", "Uniview"), policy=site_policy)
    assert d.verdict is Verdict.SANCTIONED and d.findings[0].lists[0].citation == "Site security standard 4.2"
    hik = verdict_of((GDI, "manufacturer", "HIKVISION"), policy=site_policy)
    assert "dod_1260h" in {c.list_id for c in hik.findings[0].lists}


@pytest.mark.parametrize("text, msg", [
    ('enable = ["nope"]', "unknown list 'nope'"),
    ('[[entities]]\nid = "x"\nname = "X"\n[[entities.listings]]\nlist = "nope"\ndate = "2020-01-01"',
     "unknown list 'nope'"),
    ("[[entities]]\nname = 'x'", "needs an id"),
    ("not toml [", "not valid TOML"),
])
def test_bad_site_policy_is_a_config_error(tmp_path, text, msg):
    p = tmp_path / "p.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load_policy([p])


def test_rules_load_and_validate():
    rules = fingerprint.load_rules()
    assert len({r.id for r in rules}) == len(rules)


def test_rule_class_must_be_a_known_device_class(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('[[rule]]\nid = "x"\nevidence = "http.header:server"\npattern = "x"\nstrength = "hint"\n'
                 'manufacturer = "X"\nsource = "test"\nclass = "toaster"\n')
    with pytest.raises(DataError, match="class must be one of"):
        fingerprint.load_rules([p])


def test_device_class_from_the_makers_rule_before_maker_less_classifiers():
    # A Hikvision NVR says video_encoder in its WS-Discovery scopes like a camera; its Server header says recorder.
    d = verdict_of(("wsd", "scope", "onvif://www.onvif.org/type/video_encoder"),
                   ("http.header", "server", "DNVRS-Webs"))
    assert d.manufacturer == "Hikvision" and d.device_class == "recorder"
    # Maker-less classifiers name no maker and add nothing to a confidence.
    d = verdict_of(("wsd", "scope", "onvif://www.onvif.org/type/video_encoder"), ("wsd", "scope.name", "NVR"))
    assert d.device_class == "recorder" and d.manufacturer is None and not d.matches
    assert d.verdict is Verdict.UNKNOWN
    d = verdict_of(("wsd", "scope", "onvif://www.onvif.org/type/video_encoder"))
    assert d.device_class == "camera"
    assert verdict_of((GDI, "manufacturer", "Acme")).device_class == "unknown"


def test_model_number_names_an_unlisted_maker_and_only_hints_at_a_listed_one():
    """Issue 15: a camera a recorder lists by model only. A model pattern unique to an unlisted maker names it
    at medium strength (clear); a listed maker's model pattern stays a hint (review)."""
    d = verdict_of(("recorder.isapi", "model", "XNO-6080R"))
    assert d.manufacturer == "Hanwha Vision" and d.verdict is Verdict.CLEAR and d.device_class == "camera"
    d = verdict_of(("recorder.isapi", "model", "DS-2CD2143G0-I"))
    assert d.manufacturer == "Hikvision" and d.verdict is Verdict.REVIEW
    d = verdict_of(("recorder.dahua", "model", "IPC-HFW2431S-S-S2"))
    assert d.manufacturer == "Dahua" and d.verdict is Verdict.REVIEW
