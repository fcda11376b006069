"""camscan.serialize: every core value to JSON types and back, the report document, the StrEnums."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camscan import serialize
from camscan.models import (
    Change,
    ChangeKind,
    Coverage,
    CoverageStatus,
    Device,
    Diff,
    Evidence,
    Finding,
    ListCitation,
    RuleMatch,
    RuleStrength,
    ScanResult,
    Skip,
    Verdict,
)
from camscan.report import json as report_json

# The JSON report of conftest.make_result() as camscan wrote it before serialisation moved into one module
# (note "legal \u00a7"): the text must stay byte for byte what it was.
GOLDEN = Path(__file__).parent / "golden" / "report-v1.json"


def test_the_report_text_is_byte_identical_to_the_published_one(result):
    assert report_json.render(result, note="legal \u00a7").encode("ascii") == GOLDEN.read_bytes()


def _values(result: ScanResult) -> list:
    """One of every kind of value in the result, nested ones included."""
    out: list = [*result.devices, *result.skips, *result.coverage, result.diff, *result.diff.changes]
    for d in result.devices:
        out += [*d.evidence, *d.matches, *d.findings]
        for f in d.findings:
            out += [*f.lists, *f.context, *f.evidence]
    return out


def test_every_core_type_round_trips(result):
    values = _values(result)
    assert {type(v) for v in values} == {Device, Skip, Coverage, Diff, Change, Evidence, RuleMatch, Finding,
                                         ListCitation}
    for v in values:
        d = serialize.to_dict(v)
        json.dumps(d)  # plain JSON types only
        back = serialize.from_dict(type(v), d)
        assert back == v, type(v).__name__
        assert serialize.to_dict(back) == d


def test_the_report_document_round_trips_and_counts_verdicts_from_the_enum(result):
    doc = serialize.report_dict(result, note="legal")
    back = serialize.report_from_dict(json.loads(json.dumps(doc)))
    assert serialize.report_dict(back, note="legal") == doc
    assert back.devices == result.devices and back.diff == result.diff and back.coverage == result.coverage
    assert {k: doc["summary"][k] for k in Verdict} == {v: sum(d.verdict is v for d in result.devices)
                                                       for v in Verdict}


def test_read_values_carry_their_enums(result):
    back = serialize.report_from_dict(json.loads(report_json.render(result)))
    assert all(type(d.verdict) is Verdict for d in back.devices)
    assert all(type(m.strength) is RuleStrength for d in back.devices for m in d.matches)
    assert all(type(f.verdict) is Verdict for d in back.devices for f in d.findings)
    assert all(type(c.status) is CoverageStatus for c in back.coverage)
    assert all(type(c.kind) is ChangeKind for c in back.diff.changes)


def test_enum_fields_take_their_words_and_refuse_others():
    ev = Evidence("oui", "mac", "44:19:b6")
    assert RuleMatch("r", "Hikvision", "hint", ev).strength is RuleStrength.HINT
    assert Coverage("198.51.100.0/24", "arp", "partial").status is CoverageStatus.PARTIAL
    assert Change("gone", "ip:198.51.100.1", "198.51.100.1").kind is ChangeKind.GONE
    assert str(ChangeKind.GONE) == "gone" and ChangeKind.GONE == "gone"  # compares and prints as its word
    with pytest.raises(ValueError):
        RuleMatch("r", "Hikvision", "strong-ish", ev)
    with pytest.raises(ValueError):
        Coverage("198.51.100.0/24", "arp", "half")
    with pytest.raises(ValueError):
        Change("moved", "ip:198.51.100.1", "198.51.100.1")
    with pytest.raises(ValueError):
        replace(Device(ip="198.51.100.1", mac=None, manufacturer=None, brand=None, model=None, firmware=None,
                       serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=(),
                       evidence=()), verdict="fine")


@pytest.mark.parametrize(("cls", "data", "field"), [
    (Evidence, {"source": "oui", "field": "mac"}, "value"),
    (RuleMatch, {"rule": "r", "manufacturer": "m", "strength": "sometimes",
                 "evidence": {"source": "s", "field": "f", "value": "v"}}, "sometimes"),
    (Coverage, {"subnet": "s", "method": "m", "status": "done", "tried": "3", "answered": 0}, "integer"),
    (Change, {"kind": "new", "key": 7, "ip": None, "before": None, "after": None}, "string"),
])
def test_malformed_values_are_valueerrors_that_say_what(cls, data, field):
    with pytest.raises(ValueError, match=field):
        serialize.from_dict(cls, data)


def test_unknown_types_are_typeerrors():
    with pytest.raises(TypeError):
        serialize.to_dict(object())
    with pytest.raises(TypeError):
        serialize.from_dict(ScanResult, {})


_text = st.text(max_size=20)  # any code points, lone surrogates included
_opt_text = st.none() | _text
_evidence = st.builds(Evidence, _text, _text, _text)
_match = st.builds(RuleMatch, _text, _text, st.sampled_from(RuleStrength), _evidence, _text)
_citation = st.builds(ListCitation, _text, _text, _text, _text, _text, _text)
_finding = st.builds(Finding, _text, _text, st.sampled_from(Verdict), st.tuples(_citation),
                     st.lists(_match, max_size=2).map(tuple), _text, _text, st.lists(_citation, max_size=2).map(tuple))
_device = st.builds(
    Device, ip=_text, mac=_opt_text, manufacturer=_opt_text, brand=_opt_text, model=_opt_text,
    firmware=_opt_text, serial=_opt_text, hardware_id=_opt_text, hostname=_opt_text, endpoint=_opt_text,
    xaddrs=st.lists(_text, max_size=2).map(tuple), seen_by=st.lists(_text, max_size=2).map(tuple),
    evidence=st.lists(_evidence, max_size=3).map(tuple), matches=st.lists(_match, max_size=2).map(tuple),
    confidence=st.floats(0, 1).map(lambda x: round(x, 2)), verdict=st.sampled_from(Verdict),
    findings=st.lists(_finding, max_size=2).map(tuple), warnings=st.lists(_text, max_size=2).map(tuple))


@given(_device)
def test_any_device_survives_the_json_text(device):
    text = json.dumps(serialize.to_dict(device), ensure_ascii=True)
    assert serialize.from_dict(Device, json.loads(text)) == device
