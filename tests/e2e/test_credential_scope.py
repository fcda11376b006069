"""Issue 12, done when: on an emulated site, a scan with credentials presents them to the devices on the
credential ports that ask, and to no other device or port, as the fake devices' request logs show. Devices:

* ``asks-wsse`` (port 80) and ``asks-digest`` (port 8080, HTTP Digest with qop): they ask, they get them;
* ``never-asks`` (port 80, no authentication at all): identified, never sees them;
* ``rogue-port``: asks on ONVIF port 31337, which is no credential port: probed without them, and the report's
  skip says they were withheld and how to allow the port;
* ``outside``: asks, but lies outside the config's narrower ``[credentials] scope``.
"""

from __future__ import annotations

import json

import pytest
from siteutil import CAMSCAN, cli_env, emulated_site

pytestmark = pytest.mark.netns

DEVICES = [
    {"name": "asks-wsse", "profile": "axis-m1065-l", "ip": "198.51.100.10", "auth": "read_system"},
    {"name": "asks-digest", "profile": "hikvision-ds-2cd2385g1-i", "ip": "198.51.100.11", "auth": "read_system",
     "auth_scheme": "http_digest", "port": 8080},
    {"name": "never-asks", "profile": "uniview-ipc2122lb-sf28-a", "ip": "198.51.100.12", "auth": "none"},
    {"name": "rogue-port", "profile": "generic-ipcam-631ga", "ip": "198.51.100.13", "auth": "read_system",
     "port": 31337},
    {"name": "outside", "profile": "tapo-c200", "ip": "198.51.100.200", "auth": "read_system"},
]


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("credscope")
    config = tmp / "camscan.toml"
    config.write_text('[credentials]\nscope = ["198.51.100.0/25"]\n')
    for site in emulated_site(DEVICES, "<credential scope>"):
        proc = site.exec([*CAMSCAN, "scan", "--no-db", "--format", "json", "--timeout", "2", "--config", str(config),
                          "198.51.100.0/24"], env=cli_env(site), timeout=120)
        assert proc.returncode in (0, 1), proc.stderr
        yield site, json.loads(proc.stdout), site.request_log()


def credentialed(log, device: str) -> list[dict]:
    return [e for e in log if e.get("device") == device and e.get("credentialed")]


def test_the_devices_that_ask_on_credential_ports_get_them_and_accept_them(scan):
    _site, data, log = scan
    devices = {d["ip"]: d for d in data["devices"]}
    for name, ip in (("asks-wsse", "198.51.100.10"), ("asks-digest", "198.51.100.11")):
        sent = credentialed(log, name)
        assert sent and all(e.get("auth_ok") for e in sent), (name, sent)
        assert devices[ip]["model"], devices[ip]  # identified with the credentials it asked for
    assert {e.get("auth_scheme") for e in credentialed(log, "asks-digest")} == {"http_digest"}


def test_a_device_that_never_asks_never_sees_them(scan):
    _site, data, log = scan
    assert [e for e in log if e.get("device") == "never-asks" and e.get("proto") == "http"]  # it was probed
    assert not credentialed(log, "never-asks")
    assert {d["ip"]: d for d in data["devices"]}["198.51.100.12"]["model"]


def test_no_credentials_to_a_rogue_port_and_the_report_says_how_to_allow_it(scan):
    _site, data, log = scan
    asked = [e for e in log if e.get("device") == "rogue-port" and e.get("port") in (31337, "31337")]
    assert asked  # the XAddr's port was probed
    assert not credentialed(log, "rogue-port")
    reasons = [s["reason"] for s in data["skips"] if s["ip"] == "198.51.100.13"]
    assert any("credentials withheld from port 31337" in r and "[credentials] ports" in r for r in reasons), reasons


def test_no_credentials_outside_the_narrower_credential_scope(scan):
    _site, data, log = scan
    assert [e for e in log if e.get("device") == "outside" and e.get("proto") == "http"]
    assert not credentialed(log, "outside")
    assert any("[credentials] scope" in s["reason"] for s in data["skips"] if s["ip"] == "198.51.100.200")


def test_credentials_went_nowhere_else(scan):
    site, _data, log = scan
    allowed = {("asks-wsse", 80), ("asks-digest", 8080)}
    for e in log:
        if e.get("credentialed"):
            assert (e.get("device"), int(e.get("port") or 0)) in allowed, e
    assert site.password not in json.dumps(log)
