"""The fixture corpus: every fixtures/<device>/ replayed through the real pipeline (camscan.replay: the
discovery codecs on the recorded datagrams, the real ONVIF/HTTP/RTSP/TLS probers and parsers over the
replay transport, fingerprint, policy), against the identification it expects (fixtures/README.md).

Nothing is skipped: a codec renamed or missing fails the import of camscan.replay, and with it this module.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from camscan import fingerprint
from camscan.policy import load_policy
from camscan.replay import replay

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEVICES = sorted(p.parent for p in FIXTURES.glob("*/device.toml"))


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def rules():
    return fingerprint.default_rules()


@pytest.mark.parametrize("folder", DEVICES, ids=[d.name for d in DEVICES])
def test_device_identification(folder: Path, policy, rules):
    spec = tomllib.loads((folder / "device.toml").read_text(encoding="utf-8"))
    assert spec.get("provenance"), f"{folder.name}/device.toml needs a provenance line"
    expect = spec["expect"]
    result = replay([folder], policy=policy, rules=rules)
    behind = expect.get("behind", [])  # a recorder's recorded camera list: a row per camera after its own
    assert len(result.devices) == 1 + len(behind), (f"{len(result.devices)} devices from one folder; "
                                                    f"notes: {result.notes}")
    device = result.devices[0]
    _check(device, expect)
    rows = {d.via.channel: d for d in result.devices[1:] if d.via is not None}
    assert sorted(rows) == sorted(b["channel"] for b in behind), sorted(rows)
    for b in behind:
        assert rows[b["channel"]].via.recorder_key == device.key
        _check(rows[b["channel"]], b)
    # every recorded file was read by a prober: nothing in the folder is left unused
    unparsable = [s for s in result.skips if s.reason.startswith("unparsable")]
    assert not unparsable, unparsable


def _check(device, expect: dict) -> None:
    why = "; ".join(f"{m.rule}({m.strength})" for m in device.matches) or "no rule matched"
    for key in ("manufacturer", "brand", "model", "firmware", "serial", "mac", "device_class"):
        if key in expect:
            assert getattr(device, key) == expect[key], f"{key}: got {getattr(device, key)!r}; rules: {why}"
    assert str(device.verdict) == expect["verdict"], f"verdict {device.verdict}; rules: {why}"
    for rule in expect.get("rules", []):
        assert rule in {m.rule for m in device.matches}, f"rule {rule} did not match; matched: {why}"
    for rule in expect.get("not_rules", []):
        assert rule not in {m.rule for m in device.matches}, f"rule {rule} matched but must not"
    if "warning" in expect:
        assert any(expect["warning"] in w for w in device.warnings), device.warnings
    else:
        assert not device.warnings, device.warnings
    if device.verdict.flagged:
        assert device.findings and all(f.lists for f in device.findings), "a flagged device cites its lists"


def test_corpus_size():
    """Issue 3: at least 30 modelled devices, both families, their relabels and the look-alikes."""
    assert len(DEVICES) >= 30, f"only {len(DEVICES)} devices in fixtures/"
