"""Recorded device folders: replay through the real probes and parsers (no network), recording from live
answers (never the requests, credentials or password fields), and the CLI's ``camscan replay``."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from camscan.models import Credentials, Evidence
from camscan.probe.http import HttpProbe
from camscan.probe.onvif import OnvifClientFactory, OnvifProbe
from camscan.replay import FolderError, RecordingTransport, replay, scrub, scrub_http
from camscan.transport import CredentialPolicy, Transport

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SECRET = "camscan-test-secret-pw"
ACTIVATE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ActivateStatus version="2.0" '
            b'xmlns="http://www.isapi.org/ver20/XMLSchema">\n<Activated>false</Activated>\n</ActivateStatus>\n')


def device_folder(tmp_path: Path) -> Path:
    """A hand-made folder with every kind of recorded answer but ONVIF."""
    d = tmp_path / "dev"
    (d / "http").mkdir(parents=True)
    (d / "device.toml").write_text('provenance = "test"\n[device]\nip = "203.0.113.9"\nmac = "c0:56:e3:00:00:09"\n')
    (d / "http" / "requests.toml").write_text(
        '[[response]]\npath = "/"\nfile = "root.http"\n[[response]]\npath = "/SDK/activateStatus"\n'
        'file = "act.http"\n')
    (d / "http" / "root.http").write_bytes(
        b"HTTP/1.1 302 Found\r\nServer: App-webs/\r\nLocation: /doc/page/login.asp\r\nContent-Length: 0\r\n\r\n")
    # chunked: the second HTTP parser the fixtures had could not read it; the probe's client does
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ACTIVATE), ACTIVATE)
    (d / "http" / "act.http").write_bytes(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                                          b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    (d / "rtsp.txt").write_bytes(b'RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic realm="device"\r\n'
                                 b"Server: Dahua Rtsp Server\r\n\r\n")
    (d / "sadp.xml").write_bytes(b"<ProbeMatch><MAC>c0-56-e3-00-00-09</MAC><DeviceDescription>DS-2CD1043G0-I"
                                 b"</DeviceDescription></ProbeMatch>")
    (d / "dhip.json").write_text('{"mac":"3c:ef:8c:00:00:09","params":{"deviceInfo":{"Vendor":"V"}}}')
    shutil.copytree(FIXTURES / "hikvision-ds-2cd2043g2-i-full" / "tls", d / "tls")
    return d


def test_every_recorded_answer_goes_through_its_real_parser(tmp_path):
    result = replay([device_folder(tmp_path)])
    (dev,) = result.devices
    ev = set(dev.evidence)
    assert Evidence("http.redirect", "/", "/doc/page/login.asp") in ev
    assert Evidence("http.path", "/SDK/activateStatus", "ActivateStatus Activated=false") in ev
    assert Evidence("rtsp", "server", "Dahua Rtsp Server") in ev and Evidence("rtsp.realm", "basic", "device") in ev
    assert Evidence("sadp", "mac", "c0:56:e3:00:00:09") in ev and Evidence("dhip", "vendor", "V") in ev
    assert any(e.source == "tls" and e.field == "subject" and "O=HIKVISION" in e.value for e in ev)
    assert result.methods[:1] == ("replay",)


def test_a_certificate_summary_is_refused_with_the_converter_named(tmp_path):
    d = tmp_path / "dev"
    d.mkdir()
    (d / "device.toml").write_text('provenance = "t"\n[device]\nip = "203.0.113.9"\n')
    (d / "tls.toml").write_text('subject = "CN=x"\nissuer = "CN=x"\n')
    with pytest.raises(FolderError, match="make_certs.py"):
        replay([d])


def test_scrub_blanks_password_fields_and_auth_headers():
    data = (b"HTTP/1.1 200 OK\r\nSet-Cookie: s=abc\r\nAuthorization: Digest x\r\n\r\n"
            b'<tt:Password>%s</tt:Password>{"password": "%s"}' % (SECRET.encode(), SECRET.encode()))
    out = scrub(data)
    assert SECRET.encode() not in out and b"s=abc" not in out and b"Digest x" not in out
    assert b"<tt:Password></tt:Password>" in out


def test_scrub_blanks_a_dahua_recorders_camera_passwords():
    """configManager.cgi's key=value lines: a Dahua recorder's RemoteDevice answer carries each camera's
    password; the recording keeps the key (so the answer still parses) and drops the value."""
    data = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Address=192.168.1.108\r\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Password=%s\r\n"
            b"table.RemoteDevice[1].password=%s\n"
            b"table.Network.eth0.Token = %s\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.UserName=admin\r\n") % ((SECRET.encode(),) * 3)
    out = scrub(data)
    assert SECRET.encode() not in out
    assert b"INFO_0.Password=\r\n" in out and b"table.RemoteDevice[1].password=\n" in out
    assert b"INFO_0.Address=192.168.1.108\r\n" in out and b"INFO_0.UserName=admin" in out


def test_a_scrubbed_http_answer_keeps_a_content_length_that_matches_its_body():
    """A blanked password shortens the body: the recorded Content-Length must follow, or the replayed answer
    promises bytes it no longer has (a replay then read a recorder's camera list as a connection cut short)."""
    body = b"<InputProxyChannelList><password>%s</password><id>1</id></InputProxyChannelList>" % SECRET.encode()
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    out = scrub_http(reply)
    head, _, new_body = out.partition(b"\r\n\r\n")
    assert SECRET.encode() not in out and b"<password></password><id>1</id>" in new_body
    assert b"Content-Length: %d" % len(new_body) in head and b"Content-Length: %d" % len(body) not in head
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    head, _, new_body = scrub_http(chunked).partition(b"\r\n\r\n")
    assert b"chunked" not in head and b"Content-Length: %d" % len(new_body) in head
    assert new_body.startswith(b"<InputProxyChannelList><password></password>")


# ------------------------------------------------------------------------------------------ recording
NOT_AUTHORIZED = (
    b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Sender'
    b'</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>'
    b'<env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault>'
    b'</env:Body></env:Envelope>')


class _Device(BaseHTTPRequestHandler):
    """An ONVIF camera (answers from an Axis fixture) that wants credentials for its identity, and a web page
    that hands a password back."""

    protocol_version = "HTTP/1.1"
    seen: list[bytes] = []

    def _send(self, status: int, body: bytes, ctype: str = "application/soap+xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", f"session={SECRET}")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server API
        self._send(200, b'<html><title>Cam</title>{"password": "%s"}</html>' % SECRET.encode(), "text/html")

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append(bytes(self.requestline, "latin-1") + b"\n" + str(self.headers).encode() + body)
        op = next((o for o in ("GetDeviceInformation", "GetSystemDateAndTime", "GetHostname", "GetServices")
                   if f"<{o}".encode() in body or f":{o}".encode() in body), "")
        if op == "GetDeviceInformation" and b"UsernameToken" not in body:
            return self._send(400, NOT_AUTHORIZED)
        f = FIXTURES / "axis-m1065-l" / "onvif" / f"{op}.xml"
        if not op or not f.is_file():
            return self._send(400, NOT_AUTHORIZED.replace(b"NotAuthorized", b"ActionNotSupported"))
        reply = f.read_bytes()
        if op == "GetHostname":  # a device handing a password back in an answer
            reply = reply.replace(b"</tds:GetHostnameResponse>",
                                  b"<tt:Password>%s</tt:Password></tds:GetHostnameResponse>" % SECRET.encode())
        self._send(200, reply)

    def log_message(self, *args):
        pass


def test_a_recording_keeps_answers_never_credentials_and_replays_to_the_same_identity(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Device)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    creds = Credentials("auditor", SECRET)
    live = Transport(credentials=CredentialPolicy(creds, [ipaddress.ip_network("127.0.0.0/8")], ports=[port]))
    recorder = RecordingTransport(live)
    try:
        onvif = OnvifProbe(OnvifClientFactory(), timeout=3, max_bytes=1 << 20, transport=recorder).probe(
            "127.0.0.1", f"http://127.0.0.1:{port}/onvif/device_service")
        web = HttpProbe(timeout=3, transport=recorder).probe("127.0.0.1", [("http", port)])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert any(b"UsernameToken" in r for r in _Device.seen), "the probe did log in (else the test proves nothing)"
    model = next(e.value for e in onvif.evidence if e.field == "model")
    evidence = tuple(onvif.evidence + web.evidence)
    device = SimpleNamespace(ip="127.0.0.1", mac=None, via=None, evidence=evidence)
    out = tmp_path / "rec" / "127.0.0.1"
    out.mkdir(parents=True)
    recorder._write_device(out, device)
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for secret in (SECRET.encode(), b"UsernameToken", b"PasswordDigest", b"Authorization", b"auditor"):
        assert secret not in written, secret
    assert (out / "onvif" / "GetDeviceInformation.xml").is_file() and (out / "http" / "requests.toml").is_file()
    replayed = replay([out])
    (dev,) = replayed.devices
    assert dev.model == model and dev.manufacturer == "Axis"


# ------------------------------------------------------------------------------------------ the CLI
def camscan(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camscan", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)


@pytest.mark.parametrize("folder, code", [("hikvision-ds-2cd2043g2-i-full", 1), ("axis-m1065-l", 0)])
def test_cli_replay_exits_like_scan_and_stores_nothing_without_db(tmp_path, folder, code):
    env = {**os.environ, "CAMSCAN_DB": str(tmp_path / "inv.sqlite3"), "HOME": str(tmp_path)}
    proc = camscan("replay", str(FIXTURES / folder), "--format", "json", env=env)
    assert proc.returncode == code, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema_version"] == 1 and len(data["devices"]) == 1
    assert not (tmp_path / "inv.sqlite3").exists() and not (tmp_path / ".local").exists()


def test_cli_replay_every_format_and_db(tmp_path):
    folder = str(FIXTURES / "dahua-nvr4108hs-4ks2")
    for fmt in ("table", "json", "csv", "html"):
        out = tmp_path / f"r.{fmt}"
        proc = camscan("replay", folder, "--format", fmt, "-o", str(out))
        assert proc.returncode == 1 and out.stat().st_size > 0, proc.stderr
    db = tmp_path / "inv.sqlite3"
    proc = camscan("replay", folder, "--db", str(db), "--format", "csv")
    assert proc.returncode == 1 and db.is_file(), proc.stderr


def test_cli_replay_of_a_non_folder_is_a_usage_error(tmp_path):
    proc = camscan("replay", str(tmp_path))
    assert proc.returncode == 2 and "not a device folder" in proc.stderr


def test_cli_replay_quiet_summarises_on_stderr_like_scan(tmp_path):
    """-q: the report still goes to stdout (no -o), the short alert summary to stderr, as scan does."""
    db = tmp_path / "inv.sqlite3"
    proc = camscan("replay", "-q", str(FIXTURES / "hikvision-ds-2cd2043g2-i-full"), "--db", str(db),
                   "--fail-on", "new", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["devices"]
    assert "Hikvision" in proc.stderr and "device(s)," not in proc.stderr


def test_cli_replay_summary_says_why_nothing_was_stored():
    proc = camscan("replay", str(FIXTURES / "axis-m1065-l"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "not stored (replay writes no inventory without --db)" in proc.stderr and "--no-db" not in proc.stderr


def test_cli_replay_has_lock_wait(tmp_path):
    proc = camscan("replay", str(FIXTURES / "axis-m1065-l"), "--db", str(tmp_path / "i.sqlite3"),
                   "--lock-wait", "5", "--format", "json")
    assert proc.returncode == 0, proc.stderr


def test_cli_format_follows_the_output_suffix_unless_given(tmp_path):
    """-o x.html without --format writes HTML (not the table), .cdx.json CycloneDX, .csv CSV; --format wins."""
    folder = str(FIXTURES / "axis-m1065-l")
    for name, check in (("r.html", lambda t: t.lstrip().lower().startswith("<!doctype html")),
                        ("r.cdx.json", lambda t: json.loads(t)["bomFormat"] == "CycloneDX"),
                        ("r.json", lambda t: json.loads(t)["schema_version"] == 1),
                        ("r.csv", lambda t: t.startswith('"ip","mac"'))):
        out = tmp_path / name
        proc = camscan("replay", folder, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert check(out.read_text()), name
    out = tmp_path / "explicit.html"
    assert camscan("replay", folder, "--format", "json", "-o", str(out)).returncode == 0
    assert json.loads(out.read_text())["schema_version"] == 1
    db = tmp_path / "inv.sqlite3"
    assert camscan("replay", folder, "--db", str(db), "--format", "json").returncode == 0
    out = tmp_path / "again.html"
    assert camscan("report", "--db", str(db), "-o", str(out)).returncode == 0
    assert out.read_text().lstrip().lower().startswith("<!doctype html")


def test_cli_report_of_an_unknown_scan_id_is_a_usage_error(tmp_path):
    db = tmp_path / "inv.sqlite3"
    assert camscan("replay", str(FIXTURES / "axis-m1065-l"), "--db", str(db), "--format", "json").returncode == 0
    proc = camscan("report", "--db", str(db), "--scan", "99")
    assert proc.returncode == 2 and "no scan 99" in proc.stderr, proc.stderr
    assert camscan("diff", "--db", str(db), "99").returncode == 2


def test_cli_replay_of_a_missing_folder_says_so(tmp_path):
    proc = camscan("replay", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "nowhere: does not exist" in proc.stderr, proc.stderr


def test_cli_diff_without_arguments_compares_the_latest_scan_with_its_own_sites_predecessor(tmp_path):
    """Review 10: on a shared inventory, `camscan diff` takes the newest scan and compares it with the scan of
    the same site before it, never with another site's scan in between."""
    db = str(tmp_path / "inv.sqlite3")
    for folder, site in (("axis-m1065-l", "alpha"), ("hikvision-ds-2cd2043g2-i-full", "bravo"),
                         ("axis-m1065-l", "alpha")):
        proc = camscan("replay", str(FIXTURES / folder), "--db", db, "--site", site, "--format", "json")
        assert proc.returncode in (0, 1), proc.stderr
    proc = camscan("diff", "--db", db, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["scan_id"] == 3 and data["diff"]["previous_scan"] == 1 and data["diff"]["changes"] == []
