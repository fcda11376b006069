"""Issue 16, done-when: on the emulated site with recorders of both families, a scan with credentials reports
every camera behind each recorder as its own row under its recorder, with verdicts; the password values the
recorders return appear nowhere camscan writes (stdout, -vv logs, the inventory, every report format);
affected firmware shows its CVEs with their sources and patched firmware none; a later scan with a camera
swapped behind a recorder shows it in the diff."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import tomllib
from pathlib import Path

import pytest
from siteutil import BASE_ENV, CAMSCAN, cli_env, run_scan

from camscan.lab import load_site
from camscan.lab.sitefile import load_profile
from camscan.replay import replay

pytestmark = pytest.mark.netns

# the camera passwords the recorders' channel lists carry (lab profiles)
RECORDER_SECRETS = ("Rec0rder-Cam-Pw-91f3", "Dh-NVR-Cam-Pw-5c2e")
SITE = Path(__file__).resolve().parents[2] / "camscan" / "lab" / "sites" / "recorders.toml"
REMOTE = "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice"

# channel -> (address, model, {cve: match}) as the recorders report them
HIK = {"1": ("192.168.254.2", "DS-2CD2032F-I", {"CVE-2017-7921": "exact", "CVE-2021-36260": "possible"}),
       "2": ("192.168.254.3", "DS-2CD2385G1-I", {}),
       "3": ("192.168.254.4", None, {})}
DAHUA = {"1": ("192.168.1.108", "IPC-HDW3849H-AS-PV", {"CVE-2021-33044": "exact", "CVE-2021-33045": "exact"}),
         "2": ("192.168.1.109", "IPC-HFW5442E-ZE", {}),
         "3": ("192.168.1.110", "DS-2CD2143G0-I", {"CVE-2021-36260": "possible"})}


@pytest.fixture(scope="module")
def scanned(recorders_site, tmp_path_factory):
    work = tmp_path_factory.mktemp("recorders")
    db = work / "inventory.sqlite3"
    scan = run_scan(recorders_site, "--db", str(db), "--format", "json", "--timeout", "2", "-vv")
    return recorders_site, scan, db, work


def _camera_rows(scan, recorder_ip):
    return {d["via"]["channel"]: d for d in scan.data["devices"]
            if d["via"] and d["via"]["recorder_ip"] == recorder_ip}


def test_every_camera_behind_each_recorder_is_its_own_row(scanned):
    site, scan, _db, _work = scanned
    assert scan.proc.returncode == 1, scan.proc.stderr[-2000:]
    for name, expected in (("hik-nvr", HIK), ("dahua-nvr", DAHUA)):
        rec = site.device(name)
        recorder = scan.devices[rec.ip]
        assert recorder["device_class"] == "recorder"
        rows = _camera_rows(scan, rec.ip)
        assert set(rows) == set(expected), (name, sorted(rows))
        for channel, (address, model, risks) in expected.items():
            row = rows[channel]
            assert row["ip"] == address and row["via"]["address"] == address
            assert row["via"]["recorder_key"] == recorder["key"]
            assert row["model"] == model
            assert row["verdict"] in ("sanctioned", "review", "clear", "unknown")
            assert row["key"].startswith(("mac:", "serial:")) or row["key"] == f"via:{recorder['key']}/{channel}"
            got = {r["cve"]: r["match"] for r in row["risks"]}
            assert got == risks, (name, channel, got)
            for r in row["risks"]:
                assert r["advisory"] and r["advisory_url"].startswith("http") and r["kev_date_added"]
        # makers from the model number; a Hikvision camera behind a Dahua recorder is still flagged
    assert _camera_rows(scan, site.device("dahua-nvr").ip)["3"]["manufacturer"] == "Hikvision"
    assert _camera_rows(scan, site.device("dahua-nvr").ip)["3"]["verdict"] in ("review", "sanctioned")
    assert _camera_rows(scan, site.device("hik-nvr").ip)["3"]["verdict"] == "unknown"


def test_a_recorder_reaching_a_camera_over_its_makers_private_protocol_identifies_it(scanned):
    """A Hikvision recorder reaching an online camera over Hikvision's protocol, or a Dahua recorder reaching one
    over Dahua's Private protocol (with the serial it read), is firmware-level evidence: sanctioned. A camera
    reached over ONVIF keeps its maker from the model number, a hint: review."""
    site, scan, _db, _work = scanned
    for name, private, onvif, rule in (("hik-nvr", ("1", "2"), "3", "hikvision.recorder.proxy-protocol"),
                                       ("dahua-nvr", ("1", "2"), "3", "dahua.recorder.private-protocol"),
                                       ("hik-nvr-tls", ("1", "2"), "3", "hikvision.recorder.proxy-protocol")):
        rows = _camera_rows(scan, site.device(name).ip)
        for channel in private:
            row = rows[channel]
            assert row["verdict"] == "sanctioned", (name, channel, row["matches"])
            assert rule in {m["rule"] for m in row["matches"]}, (name, channel)
        assert rule not in {m["rule"] for m in rows[onvif]["matches"]}
        assert rows[onvif]["verdict"] in ("review", "unknown"), (name, rows[onvif]["verdict"])
    dahua_onvif = _camera_rows(scan, site.device("dahua-nvr").ip)["3"]
    assert dahua_onvif["manufacturer"] == "Hikvision" and dahua_onvif["verdict"] == "review"


def test_an_onvif_recorder_lists_its_video_sources(scanned):
    site, scan, _db, _work = scanned
    rec = scan.devices[site.device("unv-nvr").ip]
    assert rec["device_class"] == "recorder" and rec["manufacturer"] == "Uniview"
    rows = _camera_rows(scan, rec["ip"])
    assert sorted(rows) == [f"VideoSource_{n}" for n in range(1, 5)]
    for channel, row in rows.items():
        assert row["via"]["protocol"] == "ONVIF" and row["via"]["source"] == "onvif.media"
        assert row["key"] == f"via:{rec['key']}/{channel}" and row["verdict"] == "unknown" and row["ip"] == ""
        assert {"source": "recorder.onvif.media", "field": "resolution", "value": "1920x1080"} in row["evidence"]
    asked = [e for e in site.request_log("unv-nvr") if e.get("op") == "GetVideoSources"]
    assert asked and all(e.get("auth_ok") for e in asked if e.get("credentialed"))
    assert any(e.get("credentialed") and e.get("auth_scheme") == "ws_security" for e in asked)


def test_lan_cameras_affected_and_patched(scanned):
    site, scan, _db, _work = scanned
    old = scan.devices[site.device("hik-old").ip]
    assert {r["cve"]: r["match"] for r in old["risks"]} == {"CVE-2021-36260": "possible"}
    assert old["risks"][0]["advisory"] == "HSRC-202109-01"
    assert scan.devices[site.device("hik-patched").ip]["risks"] == []
    assert scan.devices[site.device("axis-entrance").ip]["risks"] == []
    assert scan.data["summary"]["kev_risks"] == 4


def test_recorders_were_asked_read_only_with_digest_after_a_challenge(scanned):
    site, _scan, _db, _work = scanned
    for name, paths in (("hik-nvr", {"/ISAPI/ContentMgmt/InputProxy/channels",
                                      "/ISAPI/ContentMgmt/InputProxy/channels/status"}),
                        ("dahua-nvr", {REMOTE})):
        log = [e for e in site.request_log(name) if e.get("proto") == "http" and e.get("path") in paths]
        assert {e["path"] for e in log} == paths
        assert all(e.get("method") == "GET" for e in log)
        assert all(e.get("auth_ok") for e in log if e.get("credentialed")), log
        assert not [e for e in log if e.get("credentialed") and e.get("auth_scheme") != "http_digest"]


def test_no_recorder_password_anywhere_camscan_writes(scanned):
    site, scan, db, work = scanned
    outputs = [scan.proc.stdout, scan.proc.stderr]
    assert f"recorder {site.device('hik-nvr').ip} lists 3 camera(s)" in scan.proc.stderr  # -vv logs written
    for fmt in ("table", "json", "csv", "html", "cyclonedx"):
        out = work / f"report.{fmt}"
        r = site.exec([*CAMSCAN, "report", "--db", str(db), "--format", fmt, "-o", str(out)], env=cli_env(site))
        assert r.returncode == 0, r.stderr
        outputs += [out.read_text(), r.stdout, r.stderr]
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for secret in (*RECORDER_SECRETS, site.password):
        assert not any(secret in text for text in outputs), secret
        assert secret.encode() not in stored, secret
    # the reports show the cameras under their recorder
    table = (work / "report.table").read_text()
    hik_nvr = table.index(site.device("hik-nvr").ip)
    assert hik_nvr < table.index("`-192.168.254.2") < table.index("`-192.168.254.3") < table.index("`-192.168.254.4")
    rows = list(csv.DictReader(io.StringIO((work / "report.csv").read_text())))
    cam = next(r for r in rows if r["ip"] == "192.168.1.108")
    assert "CVE-2021-33044 (exact) DHCC-SA-202106-001" in cam["kev"] and cam["via"].startswith(
        site.device("dahua-nvr").ip)
    page = (work / "report.html").read_text()
    assert "channel 1" in page and "CVE-2017-7921" in page and "ICSA-17-124-01" in page


def _swapped_site(tmp_path: Path) -> Path:
    """The recorders site with channel 2 of the Dahua recorder now another camera (new MAC, serial, model)."""
    body = load_profile("dahua-nvr-nvr4108hs-8p-4ks2")["http"]["paths"][REMOTE]["body"]
    body = (body.replace("3c:ef:8c:71:00:02", "3c:ef:8c:71:00:09").replace("8F0B2C3DPAZ0002", "9A0C3D4EPAZ0009")
            .replace("IPC-HFW5442E-ZE", "IPC-HDW2431T-AS"))
    assert "'''" not in body
    override = (f'[device.http.paths."{REMOTE}"]\nauth = "digest"\nstatus = 200\ncontent_type = "text/plain"\n'
                f"body = '''{body}'''\n")
    text = SITE.read_text().replace('ip = "198.51.100.31"\n', 'ip = "198.51.100.31"\n' + override, 1)
    tomllib.loads(text)
    path = tmp_path / "recorders-swapped.toml"
    path.write_text(text)
    return path


def test_a_camera_swapped_behind_a_recorder_shows_in_the_diff(scanned, tmp_path):
    _site, _scan, db, _work = scanned
    with load_site(_swapped_site(tmp_path)) as site:
        second = run_scan(site, "--db", str(db), "--format", "json", "--timeout", "2")
    assert second.proc.returncode == 1, second.proc.stderr[-2000:]
    changes = second.data["diff"]["changes"]
    new = [c for c in changes if c["kind"] == "new"]
    gone = [c for c in changes if c["kind"] == "gone"]
    assert [c["key"] for c in new] == ["mac:3c:ef:8c:71:00:09"], changes
    assert [c["key"] for c in gone] == ["mac:3c:ef:8c:71:00:02"], changes
    where = f"behind recorder {site.device('dahua-nvr').ip} channel 2"
    assert new[0]["device"].endswith(where) and gone[0]["device"].endswith(where)
    row = next(d for d in second.data["devices"] if d["key"] == "mac:3c:ef:8c:71:00:09")
    assert row["via"]["channel"] == "2" and row["model"] == "IPC-HDW2431T-AS"
    assert json.dumps(second.data).count("Dh-NVR-Cam-Pw-5c2e") == 0


def test_an_https_only_recorder_is_asked_over_tls(scanned):
    """A recorder whose only web port is 443: its camera list is read over TLS, Digest after the challenge."""
    site, scan, _db, _work = scanned
    rec = scan.devices[site.device("hik-nvr-tls").ip]
    assert rec["device_class"] == "recorder" and rec["manufacturer"] == "Hikvision"
    assert scan.skips_for(rec["ip"]) == []  # its web server asked over HTTPS only (SADP names no plain HTTP port)
    rows = _camera_rows(scan, rec["ip"])
    assert sorted(rows) == ["1", "2", "3"]
    assert rows["1"]["key"] == "mac:c0:56:e3:54:01:02" and rows["2"]["key"] == "mac:c0:56:e3:54:01:03"
    assert rows["3"]["key"] == f"via:{rec['key']}/3"
    assert all(rows[c]["model"] == "DS-2CD2385G1-I" and rows[c]["risks"] == [] for c in ("1", "2"))
    paths = {"/ISAPI/ContentMgmt/InputProxy/channels", "/ISAPI/ContentMgmt/InputProxy/channels/status"}
    log = [e for e in site.request_log("hik-nvr-tls") if e.get("proto") == "http" and e.get("path") in paths]
    assert {e["path"] for e in log} == paths and all(e.get("tls") and e.get("port") == 443 for e in log)
    assert all(e.get("method") == "GET" for e in log)
    assert [e for e in log if e.get("credentialed")] and all(
        e.get("auth_ok") and e.get("auth_scheme") == "http_digest" for e in log if e.get("credentialed"))
    assert not [e for e in log if e.get("credentialed") and not e.get("auth_ok")]


def test_without_credentials_recorders_are_skipped_saying_why_and_no_camera_behind_them_is_gone(scanned):
    """A scan without credentials cannot ask the recorders: each is a skip saying so, and the diff against the
    credentialed scan retires none of the cameras behind them (they were not looked for, not found missing)."""
    site, _scan, db, work = scanned
    copy = work / "nocreds" / db.name  # the swap test compares with the credentialed scan: leave its inventory be
    copy.parent.mkdir()
    for f in db.parent.glob(db.name + "*"):
        shutil.copy(f, copy.parent / f.name)
    scan = run_scan(site, "--db", str(copy), "--format", "json", "--timeout", "2", env=dict(BASE_ENV))
    assert scan.proc.returncode == 1, scan.proc.stderr[-2000:]
    assert not [d for d in scan.data["devices"] if d["via"]]
    for name in ("hik-nvr", "dahua-nvr", "unv-nvr", "hik-nvr-tls"):
        reasons = [s["reason"] for s in scan.skips_for(site.device(name).ip) if s["stage"] == "recorder"]
        assert len(reasons) == 1 and "not listed" in reasons[0] and "needs credentials" in reasons[0], (name, reasons)
    changes = scan.data["diff"]["changes"]
    assert not [c for c in changes if c["kind"] == "gone"], changes
    # SADP alone gives the LAN cameras' firmware: the patched build has no KEV risk, the old one its possible one
    patched, old = scan.devices[site.device("hik-patched").ip], scan.devices[site.device("hik-old").ip]
    assert patched["risks"] == [] and "220112" in patched["firmware"]
    assert [r["cve"] for r in old["risks"]] == ["CVE-2021-36260"]


def test_a_recording_keeps_no_camera_password_and_replays_the_cameras_behind_each_recorder(recorders_site):
    """``scan --record``: the recorders' answers are kept with the cameras' passwords blanked (Hikvision XML and
    Dahua key=value lines alike), and each recorder's folder replays to the same cameras behind it."""
    site = recorders_site
    base = Path(tempfile.mkdtemp(prefix="camscan-rec-"))
    base.chmod(0o711)  # the unprivileged prober reaches the recording directory camscan creates inside
    try:
        live = run_scan(site, "--no-db", "--format", "json", "--timeout", "2", "--record", str(base / "rec"))
        assert live.proc.returncode == 1, live.proc.stderr[-2000:]
        recorded = b"".join(p.read_bytes() for p in (base / "rec").rglob("*") if p.is_file())
        for secret in (*RECORDER_SECRETS, site.password):
            assert secret.encode() not in recorded, secret
        for name in ("hik-nvr", "dahua-nvr", "hik-nvr-tls"):
            ip = site.device(name).ip
            again = replay([base / "rec" / ip])
            assert not [s for s in again.skips if s.stage == "recorder"], (name, again.skips)
            want = {(d["via"]["channel"], d["key"], d["model"]) for d in live.data["devices"]
                    if d["via"] and d["via"]["recorder_ip"] == ip}
            got = {(d.via.channel, d.key, d.model) for d in again.devices if d.via is not None}
            assert got == want and len(want) == 3, name
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_wrong_password_is_a_skip_saying_so_and_is_sent_once_per_recorder(recorders_site):
    site = recorders_site
    site.clear_request_log()
    scan = run_scan(site, "--no-db", "--format", "json", "--timeout", "2",
                    env=cli_env(site, CAMSCAN_PASSWORD="not-the-lab-password"))
    assert scan.proc.returncode == 1, scan.proc.stderr[-2000:]
    assert not [d for d in scan.data["devices"] if d["via"]]
    for name in ("hik-nvr", "dahua-nvr", "hik-nvr-tls", "unv-nvr"):
        ip = site.device(name).ip
        reasons = [s["reason"] for s in scan.skips_for(ip) if s["stage"] == "recorder"]
        assert len(reasons) == 1 and "bad credentials: the recorder rejected the username/password" in reasons[0], (
            name, reasons)
    for name, paths in (("hik-nvr", {"/ISAPI/ContentMgmt/InputProxy/channels"}), ("dahua-nvr", {REMOTE})):
        refused = [e for e in site.request_log(name) if e.get("proto") == "http" and e.get("path") in paths
                   and e.get("credentialed") and e.get("auth_ok") is False]
        assert len(refused) == 1, (name, refused)  # one failed login per recorder, never retried
