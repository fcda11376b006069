"""Reading ONVIF replies through the schema: the same reply reads the same, whatever was parsed before.

The children of each schema element are cached by the element's id. That cache was once one dict for the whole
process, while every scan (every ``camscan replay``) parses the WSDL afresh: once an earlier scan's schema was
garbage collected, a new element could get a freed one's id and be read with the old element's children, and a
call came back empty (no skip, just missing evidence: a model, a hostname, the scopes). How often depended on
when the collector ran, so replays of one folder differed, more so on a loaded machine. The cache is now each
operation's own and holds every element it has a key for, so a key's id cannot be reused while it is cached.
"""

from __future__ import annotations

import gc
import re
from pathlib import Path
from types import SimpleNamespace

from camscan.probe.onvif import OnvifClientFactory
from camscan.replay import replay

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEVICE = FIXTURES / "hikvision-ds-2cd2385g1-i"


def _reply(op: str) -> SimpleNamespace:
    body = (DEVICE / "onvif" / f"{op}.xml").read_bytes()
    return SimpleNamespace(status_code=200, headers={}, content=body, encoding="utf-8")


def _nics(factory: OnvifClientFactory) -> list[tuple[str | None, str | None]]:
    got = factory.operation("GetNetworkInterfaces").read(_reply("GetNetworkInterfaces"))
    return [(nic.Info.Name, nic.Info.HwAddress) for nic in got.NetworkInterfaces]


def test_every_cached_layout_key_is_an_element_the_cache_keeps_alive():
    """The invariant that makes an id-keyed cache safe: each key is the id of an object the cache's owner
    holds (the operation's response element, or a child element held in another entry)."""
    op = OnvifClientFactory().operation("GetNetworkInterfaces")
    assert op.read(_reply("GetNetworkInterfaces")).NetworkInterfaces[0].Info.HwAddress
    assert len(op.layouts) >= 3  # the response, NetworkInterface, its Info: nested layouts were cached
    held = {id(op.response)} | {id(child) for kids in op.layouts.values() for _q, child, _m, _c in kids.values()}
    assert set(op.layouts) <= held


def test_a_layout_cached_by_another_schema_is_never_used():
    """An earlier scan's cache, even one with an entry at this schema's element's id (what a reused id looked
    like), does not change how a later factory's operation reads a reply."""
    first = OnvifClientFactory()
    expected = _nics(first)
    assert expected and expected[0][1]
    stale = first.operation("GetHostname")
    stale.read(_reply("GetHostname"))
    later = OnvifClientFactory()
    target = later.operation("GetNetworkInterfaces")
    # what the old process-wide cache held after a reuse: another element's children under this element's id
    stale.layouts[id(target.response)] = stale.layouts[id(stale.response)]
    assert _nics(later) == expected
    assert target.layouts is not stale.layouts


def _onvif_evidence(result) -> list[tuple[str, str, str]]:
    return sorted((e.source, e.field, re.sub(r"-?\d{5,}", "N", str(e.value)))  # the clock offset moves with now
                  for d in result.devices for e in d.evidence if e.source.startswith("onvif"))


def test_replaying_one_folder_gives_the_same_evidence_after_earlier_scans_are_collected():
    """Each replay parses its own schema; collecting the earlier ones between replays (freeing their element
    ids for the next parse) changes nothing."""
    first = replay([DEVICE])
    assert any(e[:2] == ("onvif.GetHostname", "hostname") for e in _onvif_evidence(first))
    for _ in range(4):
        gc.collect()
        assert _onvif_evidence(replay([DEVICE])) == _onvif_evidence(first)
