"""Issue 2, done-when: on an emulated site of 12+ devices (several vendors, one needing credentials with a
3-hour clock skew, one with another password, one sending malformed XML) `camscan scan` inside the scanner
namespace reports every reachable device with its ONVIF identity, in JSON and as a table."""

from __future__ import annotations

import pytest
from siteutil import BASE_ENV, cli_env, run_scan

pytestmark = pytest.mark.netns

BROKEN = {"noname-broken"}  # fault = malformed_xml: identity cannot be read, must be a skip


@pytest.fixture(scope="module")
def scan(test_site):
    return run_scan(test_site, "--no-db", "--format", "json", "--timeout", "2")


def test_every_device_reported_with_its_onvif_identity(test_site, scan):
    assert scan.proc.returncode == 1, scan.proc.stderr  # Hikvision and Dahua units are on the site
    assert scan.data["schema_version"] == 1
    assert len(test_site.devices) >= 12
    for dev in test_site.devices:
        got = scan.devices.get(dev.ip)
        assert got is not None, f"{dev.name} ({dev.ip}) not reported"
        assert got["mac"] == dev.mac, dev.name
        if dev.name in BROKEN:
            continue
        if dev.password == test_site.password or dev.profile.get("auth") == "none":
            assert got["model"] == dev.model, (dev.name, got["model"])
            assert got["brand"] == dev.manufacturer.strip(), (dev.name, got["brand"])
            assert "onvif" in got["seen_by"]


def test_clock_skewed_device_accepts_credentials_after_offset(test_site, scan):
    dev = test_site.device("hiwatch-skewed")
    got = scan.devices[dev.ip]
    assert got["model"] == dev.model and got["firmware"]
    assert not scan.skips_for(dev.ip), scan.skips_for(dev.ip)
    skew = [e for e in got["evidence"] if e["field"] == "clock_offset_s"]
    assert skew and abs(int(skew[0]["value"]) - 10800) <= 5


def test_other_password_is_a_bad_credentials_skip(test_site, scan):
    dev = test_site.device("amcrest-otherpw")
    reasons = [s["reason"] for s in scan.skips_for(dev.ip)]
    assert any(r.startswith("bad credentials") for r in reasons), reasons
    assert dev.ip in scan.devices  # still in the inventory, from discovery


def test_malformed_xml_is_a_skip_and_the_rest_is_reported(test_site, scan):
    dev = test_site.device("noname-broken")
    reasons = [s["reason"] for s in scan.skips_for(dev.ip)]
    assert any("malformed XML" in r for r in reasons), reasons


def test_credentials_are_never_printed(test_site, scan):
    for text in (scan.proc.stdout, scan.proc.stderr):
        assert test_site.password not in text


def test_digest_only_and_pre_auth_devices_are_read(test_site, scan):
    # every device answered with credentials in scope: no 'authentication required' skip remains
    assert not [s for s in scan.skips if s["stage"] == "onvif.auth"], scan.skips


def test_table_output(test_site):
    result = test_site.exec(["/usr/bin/env"], env=BASE_ENV)  # the namespace runs commands at all
    assert result.returncode == 0
    table = run_scan(test_site, "--no-db", "--timeout", "2")
    assert table.proc.returncode == 1
    for dev in test_site.devices:
        assert dev.ip in table.proc.stdout
    assert "SANCTIONED" in table.proc.stdout and "bad credentials" in table.proc.stdout


def test_without_credentials_identity_given_freely_is_still_collected(test_site):
    env = dict(BASE_ENV)
    anon = run_scan(test_site, "--no-db", "--format", "json", "--timeout", "2", env=env)
    assert anon.proc.returncode == 1
    assert len(anon.devices) == len(test_site.devices)
    assert any(s["stage"] == "onvif.auth" and "no credentials given" in s["reason"] for s in anon.skips)


def test_targets_outside_the_site_scope_get_no_credentials(test_site):
    # scope is the single target: the other devices are neither reported nor sent credentials
    dev = test_site.device("hik-lobby")
    one = run_scan(test_site, "--no-db", "--format", "json", "--timeout", "2", dev.ip,
                   env=cli_env(test_site))
    assert list(one.devices) == [dev.ip]


def test_ipv6_discovery_merges_into_the_ipv4_rows(test_site, scan):
    """WS-Discovery on FF02::C finds the dual-stack devices; each stays one row, keyed by its IPv4 address."""
    assert not [ip for ip in scan.devices if ":" in ip]
    dual = [d for d in test_site.devices if d.profile.get("ipv6") and d.profile.get("wsd", True)]
    assert dual
    for dev in dual:
        got = scan.devices[dev.ip]
        assert "wsd6" in got["seen_by"], dev.name
        assert any(e["source"] == "wsd6" and e["value"].startswith("fe80::") for e in got["evidence"])


def test_a_sweep_that_outruns_the_deadline_leaves_time_to_identify_what_it_found(test_site):
    """ARP at 20 frames/s needs 13 s for the /24; with --deadline 8 the sweeps stop 2 s early (a quarter of
    the deadline kept for probing), and the hosts found by then still get their ONVIF identity."""
    cut = run_scan(test_site, "--no-db", "--format", "json", "--timeout", "2", "--deadline", "8", "--rate", "20",
                   test_site.spec.subnet)
    assert cut.data is not None, cut.proc.stderr
    assert any("discovery stopped 6 s into the scan" in n for n in cut.data["notes"]), cut.data["notes"]
    assert any(s["stage"] == "arp" and "deadline" in s["reason"] for s in cut.skips), cut.skips
    assert cut.devices, "multicast discovery found devices before the cut"
    identified = [d for d in cut.devices.values() if "onvif" in d["seen_by"] and d.get("model")]
    assert len(identified) >= len(cut.devices) - 2, [(d["ip"], d["seen_by"]) for d in cut.devices.values()]
    assert not [s for s in cut.skips if s["stage"] in ("onvif", "probe") and "deadline" in s["reason"]]


def test_ctrl_c_during_a_long_sweep_ends_the_scan_at_once(test_site):
    """The ARP sweep and the port check run in threads of their own: an interrupt must stop them too, not
    leave the process waiting for the sweep (at 4 frames/s the /24 takes over a minute, longer than the wait
    below, which only guards against a hang)."""
    import signal

    from siteutil import CAMSCAN, reached, wait_for

    test_site.clear_request_log()
    proc = test_site.popen([*CAMSCAN, "scan", "--no-db", "--format", "json", "--rate", "4", test_site.spec.subnet],
                           env=cli_env(test_site))
    try:
        wait_for(reached(test_site, None, "wsd"), "the scan to start discovery")
        assert proc.poll() is None, "the sweep should still be running"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert proc.returncode == 3 and "interrupted" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
