"""Issue 6, done-when: on a site of healthy devices mixed with every fault (camscan/lab/sites/faults.toml) the
real CLI finishes within its deadline, reports every healthy device with the right identity, lists each faulty
one with a skip that names the fault, sends no request to the trap outside the scope (least of all a
credentialed one), fetches no external entity, prints no raw control character and leaks the password
nowhere: not in the output, the debug log, the inventory, the rendered reports or the process list.

One scan (at -vv, into an inventory in a temporary directory) serves every test; the reports are then
re-rendered from that inventory without the network.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import re
import threading
import time
import unicodedata
from pathlib import Path

import pytest
from siteutil import BASE_ENV, CAMSCAN, cli_env

from camscan.lab import LabUnavailable, cleanup_stale, load_site
from camscan.lab.netns import check_available

pytestmark = pytest.mark.netns

SCOPE = "198.51.100.0/25"  # the trap (198.51.100.250) shares the segment but lies outside
DEADLINE = 20.0
TIMEOUT = 2.0
HANG_GUARD = DEADLINE + 60  # the scan is killed after this long: only a hang gets there

# Healthy devices: full identity expected (each may still carry the skip of its own fault below).
HEALTHY = ("hik-liar", "dahua-liar", "axis-ok", "slow-ok", "twin-a", "twin-b", "wsd-flood", "wsd-oversize",
           "wsd-bomb", "wsd-xxe")
# Every device with a fault: (stage prefix, pattern the reason must match).
FAULTS = {
    "hang": ("onvif", r"timed out after 2 s"),
    "trickle": ("onvif", r"too slow"),
    "reset": ("onvif", r"connection reset by the device|closed the connection without a reply"),
    "huge": ("onvif", r"larger than \d+ bytes"),
    "malformed": ("onvif", r"malformed XML"),
    "entity-bomb": ("onvif", r"DTD.*refused"),
    "xxe": ("onvif", r"DTD.*refused"),
    "soap-fault": ("onvif", r"SOAP fault"),
    "redirect": ("onvif", r"redirect to 'http://198\.51\.100\.250/.*not followed"),
    "wsd-flood": ("wsd", r"^flood: \d+ wsd datagrams"),
    "wsd-oversize": ("wsd", r"too large"),
    "wsd-bomb": ("wsd", r"DTD.*refused"),
    "wsd-xxe": ("wsd", r"DTD.*refused"),
    "twin-a": ("wsd", r"also claimed by 198\.51\.100\.15"),
    "twin-b": ("wsd", r"also claimed by 198\.51\.100\.14"),
}


@pytest.fixture(scope="module")
def site():
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()
    with load_site("faults") as s:
        yield s


class FaultScan:
    def __init__(self, returncode, stdout: bytes, stderr: bytes, ended: bool, cmdlines: list[bytes],
                 saw_camscan: bool, db: Path):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.ended, self.cmdlines, self.saw_camscan, self.db = ended, cmdlines, saw_camscan, db
        self.data = json.loads(stdout)
        self.devices = {d["ip"]: d for d in self.data["devices"]}
        self.skips = self.data["skips"]

    def skips_for(self, ip: str) -> list[dict]:
        return [s for s in self.skips if s["ip"] == ip]


def _cmdlines() -> list[bytes]:
    """Every process's command line (what `ps` shows), as raw bytes."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                continue  # gone meanwhile
    return out


@pytest.fixture(scope="module")
def scan(site, tmp_path_factory) -> FaultScan:
    db = tmp_path_factory.mktemp("faults") / "inventory.sqlite3"
    argv = [*CAMSCAN, "-vv", "scan", SCOPE, "--format", "json", "--timeout", str(TIMEOUT), "--deadline",
            str(DEADLINE), "--db", str(db)]
    t0 = time.monotonic()
    proc = site.popen(argv, env=cli_env(site), text=False)
    output: dict[str, bytes] = {}
    # The pipes are drained while the process list is sampled (a full pipe would stall the scan).
    def drain() -> None:
        output["out"], output["err"] = proc.communicate()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    cmdlines: list[bytes] = []
    saw = False
    try:
        while reader.is_alive() and time.monotonic() - t0 < HANG_GUARD:
            lines = _cmdlines()
            saw = saw or any(b"camscan.cli" in c and str(DEADLINE).encode() in c for c in lines)
            cmdlines += lines
            reader.join(0.2)
        ended = not reader.is_alive()
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(10)
    return FaultScan(proc.returncode, output["out"], output["err"], ended, cmdlines, saw, db)


@pytest.fixture(scope="module")
def reports(site, scan) -> dict[str, bytes]:
    """The stored scan re-rendered in every format (no network)."""
    out = {}
    for fmt in ("table", "csv", "html", "json"):
        proc = site.exec([*CAMSCAN, "report", "--db", str(scan.db), "--format", fmt], env=BASE_ENV, timeout=60,
                         text=False)
        assert proc.returncode == 0, proc.stderr
        out[fmt] = proc.stdout
    return out


# ------------------------------------------------------------------------------------------- run time
def test_scan_ends_by_itself(scan):
    assert scan.ended, f"the scan was still running {HANG_GUARD} s after it started (its deadline: {DEADLINE} s)"
    assert scan.returncode == 1, scan.stderr.decode(errors="replace")[-2000:]  # Hikvision and Dahua present
    assert b"Traceback" not in scan.stderr


def test_no_deadline_skip_the_faults_each_cost_at_most_their_timeout(scan):
    assert not [s for s in scan.skips if "deadline" in s["reason"]], scan.skips


# ------------------------------------------------------------------------------------------- identity
@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_device_fully_identified(site, scan, name):
    dev = site.device(name)
    got = scan.devices.get(dev.ip)
    assert got is not None, f"{name} not reported"
    assert got["mac"] == dev.mac
    assert "onvif" in got["seen_by"]
    assert (got["model"], got["brand"], got["firmware"]) == (dev.model, dev.manufacturer.strip(),
                                                             dev.profile["firmware"])
    expected = FAULTS.get(name)
    unexpected = [s for s in scan.skips_for(dev.ip)
                  if not (expected and s["stage"].startswith(expected[0]) and re.search(expected[1], s["reason"]))]
    assert not unexpected, unexpected


def test_hostile_strings_are_kept_exactly_in_json(site, scan):
    dev = site.device("evil-strings")
    got = scan.devices[dev.ip]
    assert got["model"] == dev.model  # '=HYPERLINK(..)<script>..': data, escaped per format, not altered


def test_devices_pointing_elsewhere_are_identified_as_themselves(site, scan):
    hik, dahua = scan.devices[site.device("hik-liar").ip], scan.devices[site.device("dahua-liar").ip]
    assert hik["verdict"] == dahua["verdict"] == "sanctioned"
    trap = site.device("trap").ip
    # what they said about the trap is kept as evidence, never used as an address to contact
    assert any(e["source"] == "sadp" and e["value"] == trap for e in hik["evidence"])
    assert any(e["source"] == "dhip" and e["value"] == trap for e in dahua["evidence"])
    assert any(e["source"].startswith("onvif.Get") and trap in e["value"] for e in hik["evidence"])
    assert trap not in scan.devices


# ---------------------------------------------------------------------------------------------- skips
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_faulty_device_listed_with_a_skip_naming_the_fault(site, scan, name):
    dev = site.device(name)
    stage, pattern = FAULTS[name]
    assert dev.ip in scan.devices, f"{name} ({dev.ip}) not listed"
    reasons = [s["reason"] for s in scan.skips_for(dev.ip) if s["stage"].startswith(stage)]
    assert any(re.search(pattern, r) for r in reasons), (name, scan.skips_for(dev.ip))


def test_device_hostile_on_every_channel_is_still_listed(site, scan):
    dev = site.device("all-hostile")
    assert dev.ip in scan.devices
    assert any(s["stage"] == "wsd" and re.search(r"DTD.*refused", s["reason"]) for s in scan.skips_for(dev.ip))


def test_shared_endpoint_id_never_mixes_two_devices_evidence(site, scan):
    for name in ("twin-a", "twin-b"):
        dev = site.device(name)
        got = scan.devices[dev.ip]
        # an IPv6 reply is folded into an IPv4 row by endpoint id only when the id is unambiguous
        assert {e["value"] for e in got["evidence"] if e["source"] == "wsd6"} <= {f"{dev.ipv6_ll}%eth0"}, name


def test_address_conflict_is_two_rows_each_naming_the_other_mac(site, scan):
    """Issue 15: one address answered by two MACs is two rows keyed by MAC (not a skip), never probed over IP."""
    a, b = site.device("conflict-a"), next(d for d in site.devices if d.name == "conflict-b")
    rows = {d["mac"]: d for d in scan.data["devices"] if d["ip"] == a.ip}
    assert set(rows) == {a.mac, b.mac}
    for mine, other in ((a, b), (b, a)):
        assert any("shares the address" in w and other.mac in w for w in rows[mine.mac]["warnings"])
    assert not scan.skips_for(a.ip)


# ------------------------------------------------------------------------------------ credential safety
def test_trap_outside_the_scope_received_nothing(site, scan):
    log = site.request_log("trap")
    assert not [e for e in log if e.get("credentialed")]
    # only the link-wide discovery probes every host on the segment hears; nothing sent to the trap itself
    assert all(e["proto"] in ("wsd", "wsd6", "sadp", "dhip") and e.get("mcast") for e in log), log


def test_no_external_entity_was_fetched(site, scan):
    fetched = [e for e in site.request_log() if "xxe" in str(e.get("path", ""))]
    assert not fetched
    assert not [e for e in site.request_log("trap") if e["proto"] in ("http", "tcp")]


def test_credentials_only_to_in_scope_addresses_that_answered(site, scan):
    scope = ipaddress.ip_network(SCOPE)
    credentialed = [e for e in site.request_log() if e.get("credentialed")]
    assert credentialed  # the scan did log in (the test would prove nothing otherwise)
    for e in credentialed:
        assert ipaddress.ip_address(e["ip"]) in scope, e
        assert e["src"].startswith(site.scanner_ip + ":"), e


def test_ws_security_is_digest_never_password_text(site, scan):
    tokens = [e for e in site.request_log() if e.get("auth_scheme") == "ws_security"]
    assert tokens
    assert {e.get("password_type") for e in tokens} == {"digest"}
    assert not [e for e in site.request_log() if "PasswordText" in str(e.get("auth_reason", ""))]


def test_password_appears_nowhere(site, scan, reports):
    secret = site.password.encode()
    assert scan.saw_camscan, "the scan's process was never seen in the process list"
    # every camscan process seen while the scan ran (other tests may run their own helpers meanwhile)
    assert not [c for c in scan.cmdlines if secret in c and b"camscan.cli" in c]
    assert secret not in scan.stdout
    assert secret not in scan.stderr  # at -vv: debug logging included
    for path in scan.db.parent.iterdir():  # the database and any journal or lock beside it
        assert secret not in path.read_bytes(), path
    for fmt, text in reports.items():
        assert secret not in text, fmt


# ---------------------------------------------------------------------------------------- output safety
def _raw_controls(data: bytes, allow_crlf: bool = False) -> list[str]:
    text = data.decode("utf-8")  # also proves the output is valid UTF-8
    bad = []
    for i, ch in enumerate(text):
        if ch in "\n\t" or (allow_crlf and ch == "\r" and text[i + 1:i + 2] == "\n"):
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            bad.append(f"{ch!r} at {i}: {text[max(0, i - 30):i + 10]!r}")
    return bad


def test_no_raw_control_character_in_the_scan_output(scan):
    assert scan.stdout.isascii()  # JSON escapes every non-ASCII character a device sent
    assert not _raw_controls(scan.stdout)
    assert b"\x1b" not in scan.stderr
    assert not _raw_controls(scan.stderr)


@pytest.mark.parametrize("fmt", ["table", "csv", "html", "json"])
def test_no_raw_control_character_in_any_report(reports, fmt):
    assert b"\x1b" not in reports[fmt]
    assert not _raw_controls(reports[fmt], allow_crlf=fmt == "csv")


def test_each_format_escapes_for_its_medium(site, scan, reports):
    evil = site.device("evil-strings")
    assert json.loads(reports["json"])["devices"] == scan.data["devices"]  # the stored scan round-trips
    row = next(r for r in csv.DictReader(io.StringIO(reports["csv"].decode())) if r["ip"] == evil.ip)
    assert row["model"].startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it
    html = reports["html"].decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    table = reports["table"].decode()
    assert "\\u202e" in table  # the bidi override shown as an escape, not obeyed


# ------------------------------------------------------------------------------------------ the deadline
def test_process_ends_at_the_deadline_even_when_a_device_answers_every_call_slowly(site):
    """A device answering each call just inside the timeout (1.5 s of 2) would hold its worker for the
    ~8 ONVIF calls of an identity read: the scan must still end, process and all, at its deadline."""
    from camscan.lab.sitefile import build_site

    doc = {"site": {"username": site.username, "password": site.password},
           "defaults": {"wsd_max_delay_ms": 100},
           "device": [{"name": "slow", "profile": "axis-m1065-l", "ip": "198.51.100.30", "latency_ms": 1500},
                      {"name": "quick", "profile": "tapo-c200", "ip": "198.51.100.31"}]}
    deadline = 5.0
    with load_site(build_site(doc, source="<deadline>")) as small:
        # the exec timeout only guards against a hang; what the deadline cut shows in the skips below
        proc = small.exec([*CAMSCAN, "scan", "198.51.100.0/25", "--no-db", "--format", "json", "--timeout", "2",
                           "--deadline", str(deadline)], env=cli_env(small), timeout=60)
    data = json.loads(proc.stdout)
    quick = next(d for d in data["devices"] if d["ip"] == "198.51.100.31")
    assert quick["model"] == "C200"
    assert any("deadline" in s["reason"] for s in data["skips"] if s["ip"] == "198.51.100.30")
