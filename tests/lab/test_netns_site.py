"""End-to-end checks of the lab itself: namespaces, WS-Discovery, ONVIF, WS-Security, Digest, teardown.

Every packet is sent by tests/lab/lab_client.py running inside the scanner namespace.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import etree

from camscan.lab import LabError, Site, cleanup_stale, load_site
from camscan.lab.netns import MARKER_DIR, _list_netns

pytestmark = pytest.mark.netns

PASSWORD = "camscan-lab-pw"
ClientFn = Callable[..., dict[str, Any]]
MakeSite = Callable[[dict[str, Any]], Site]

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
}
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def xml(text: str) -> etree._Element:
    return etree.fromstring(text.encode(), parser=SAFE)


def texts(root: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in root.iterfind(path, NS)]


# --- WS-Discovery ------------------------------------------------------------------------------


def test_multicast_untyped_probe_reaches_every_device(three_site: Site, client: ClientFn) -> None:
    res = client(three_site, "probe", wait=1.0)
    by_src = {r["src"]: xml(r["xml"]) for r in res["replies"]}
    assert set(by_src) == {d.ip for d in three_site.devices}
    for dev in three_site.devices:
        root = by_src[dev.ip]
        xaddrs = " ".join(texts(root, ".//d:ProbeMatch/d:XAddrs")).split()
        # Compare host, port and path: the IPCAM board writes the default port out (":80").
        parts = {(u.hostname, u.port or 80, u.path) for u in map(urlsplit, xaddrs)}
        assert (dev.ip, dev.port, "/onvif/device_service") in parts
        assert texts(root, ".//a:EndpointReference/a:Address")
    # RelatesTo echoes our MessageID, except on the IPCAM board, which echoes a constant (quirk).
    assert texts(by_src["198.51.100.10"], ".//a:RelatesTo") == [res["message_id"]]
    assert texts(by_src["198.51.100.11"], ".//a:RelatesTo") == ["uuid:NetworkVideoTransmitter"]
    log = [e for e in three_site.request_log() if e.get("message_id") == res["message_id"]]
    assert {e["device"] for e in log} == {"hik", "ipcam", "hanwha"}
    assert all(e["mcast"] and e["answered"] for e in log)


def test_typed_probe_is_and_over_types(three_site: Site, client: ClientFn) -> None:
    # The IPCAM advertises only a bare UUID type, so a typed probe misses it.
    answer = ["198.51.100.10", "198.51.100.12"]  # waited for (a 20 s hang guard), then 0.5 s for any other
    nvt = client(three_site, "probe", types="dn:NetworkVideoTransmitter", wait=20, until=answer)
    assert {r["src"] for r in nvt["replies"]} == set(answer)
    both = client(three_site, "probe", types="dn:NetworkVideoTransmitter tds:Device", wait=20, until=answer)
    assert {r["src"] for r in both["replies"]} == set(answer)
    unknown = client(three_site, "probe", types="tds:Device dn:NoSuchType", wait=0.6)
    assert unknown["replies"] == []


def test_unicast_probe_and_repeats_answered_once(three_site: Site, client: ClientFn) -> None:
    res = client(three_site, "probe", dest="198.51.100.12", repeat=2, wait=0.8)
    assert [r["src"] for r in res["replies"]] == ["198.51.100.12"]
    log = [e for e in three_site.request_log("hanwha") if e.get("message_id") == res["message_id"]]
    assert [e["mcast"] for e in log] == [False, False, False]
    assert [e["answered"] for e in log] == [True, False, False]  # SOAP-over-UDP copies de-duplicated


def test_ipv6_link_local_probe(three_site: Site, client: ClientFn) -> None:
    res = client(three_site, "probe", dest="ff02::c", wait=0.8)
    # The IPCAM board has no IPv6; the others answer from their EUI-64 link-local addresses.
    expected = {d.ipv6_ll for d in three_site.devices if d.profile["ipv6"]}
    assert {r["src"].split("%")[0] for r in res["replies"]} == expected


# --- ONVIF -------------------------------------------------------------------------------------


def _utc_of(body: str) -> dt.datetime:
    root = xml(body)
    utc = root.find(".//tt:UTCDateTime", NS)
    assert utc is not None
    vals = {e.tag.split("}")[1]: int(e.text or 0) for e in utc.iter() if len(e) == 0}
    return dt.datetime(
        vals["Year"],
        vals["Month"],
        vals["Day"],
        vals["Hour"],
        vals["Minute"],
        vals["Second"],
        tzinfo=dt.UTC,
    )


def test_get_system_date_and_time_is_pre_auth_and_skewed(three_site: Site, client: ClientFn) -> None:
    hik = three_site.device("hik")
    res = client(three_site, "soap", url=hik.xaddr, op="GetSystemDateAndTime")
    assert res["status"] == 200
    assert res["headers"]["Server"] == "App-webs/"
    offset = (_utc_of(res["body"]) - dt.datetime.now(dt.UTC)).total_seconds()
    assert abs(offset - 10800) < 5


def test_ws_security_digest(three_site: Site, client: ClientFn) -> None:
    hik = three_site.device("hik")
    ok = client(
        three_site,
        "soap",
        url=hik.xaddr,
        op="GetDeviceInformation",
        username="admin",
        password=PASSWORD,
        offset_s=10800,
    )
    assert ok["status"] == 200
    assert texts(xml(ok["body"]), ".//tds:Manufacturer") == ["HIKVISION"]

    def rejected(**kw: object) -> None:
        res = client(three_site, "soap", url=hik.xaddr, op="GetDeviceInformation", **kw)
        assert res["status"] == 400
        root = xml(res["body"])
        assert root.findtext(".//s:Code/s:Value", namespaces=NS).endswith(":Sender")
        sub = root.findtext(".//s:Subcode/s:Value", namespaces=NS)
        assert sub.endswith(":NotAuthorized")
        assert "Sender not Authorized" in root.findtext(".//s:Text", namespaces=NS)

    rejected(username="admin", password="wrong", offset_s=10800)  # wrong password
    rejected(username="admin", password=PASSWORD)  # right password, clock offset not applied
    rejected(username="admin", password=PASSWORD, offset_s=10800, ptype="PasswordText")
    rejected(username="root", password=PASSWORD, offset_s=10800)  # unknown user
    rejected()  # no credentials on a READ_SYSTEM operation

    log = [e for e in three_site.request_log("hik") if e.get("op") == "GetDeviceInformation"]
    assert [(e["credentialed"], e["auth_ok"]) for e in log[-6:]] == [
        (True, True),
        (True, False),
        (True, False),
        (True, False),
        (True, False),
        (False, None),
    ]
    assert {e["username"] for e in log[-6:-1]} == {"admin", "root"}
    # Passwords never reach the log, in any form.
    assert PASSWORD not in three_site.log_path.read_text()


def test_http_digest_device(three_site: Site, client: ClientFn) -> None:
    hanwha = three_site.device("hanwha")
    res = client(three_site, "soap", url=hanwha.xaddr, op="GetDeviceInformation")
    assert res["status"] == 401
    assert res["headers"]["WWW-Authenticate"].startswith('Digest realm="iPolis"')
    ok = client(three_site, "soap", url=hanwha.xaddr, op="GetDeviceInformation", digest=["admin", PASSWORD])
    assert ok["status"] == 200
    assert texts(xml(ok["body"]), ".//tds:Model") == ["XNV-6080R"]
    bad = client(three_site, "soap", url=hanwha.xaddr, op="GetDeviceInformation", digest=["admin", "nope"])
    assert bad["status"] == 401


def test_unknown_operation_and_network_interfaces(three_site: Site, client: ClientFn) -> None:
    ipcam = three_site.device("ipcam")  # auth = "none"
    res = client(three_site, "soap", url=ipcam.xaddr, op="SetSystemFactoryDefault")
    assert res["status"] == 500
    assert xml(res["body"]).findtext(".//s:Subcode/s:Value", namespaces=NS).endswith(":ActionNotSupported")
    res = client(three_site, "soap", url=ipcam.xaddr, op="GetNetworkInterfaces")
    assert texts(xml(res["body"]), ".//tt:HwAddress") == [ipcam.mac]
    assert client(three_site, "http", url=f"http://{ipcam.ip}/nothing-here")["status"] == 404


# --- lifecycle ---------------------------------------------------------------------------------


def test_teardown_leaves_no_namespace(make_site: MakeSite) -> None:
    site = make_site({"device": [{"profile": "axis-m1065-l", "ip": "198.51.100.30"}]})
    names = set(site.namespaces)
    assert names <= set(_list_netns())
    server = site.server
    assert server is not None and server.poll() is None
    site.close()
    assert not names & set(_list_netns())
    assert server.poll() is not None
    assert not (MARKER_DIR / f"{site.prefix}.pid").exists()


def test_teardown_on_exception(make_site: MakeSite) -> None:
    site = make_site({"device": [{"profile": "tapo-c200", "ip": "198.51.100.31"}]})
    with pytest.raises(RuntimeError, match="boom"):
        with site:
            raise RuntimeError("boom")
    assert not set(site.namespaces) & set(_list_netns())


def test_sigterm_tears_down(lab_available: None, tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(
        textwrap.dedent("""
        import time
        from camscan.lab import load_site
        from camscan.lab.sitefile import build_site
        doc = {"device": [{"profile": "bosch-flexidome-indoor-5100i-ir", "ip": "198.51.100.32"}]}
        site = load_site(build_site(doc))
        with site:
            print(" ".join(site.namespaces), flush=True)
            time.sleep(60)
    """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        names = proc.stdout.readline().split()
        assert names and set(names) <= set(_list_netns())
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM
    assert not set(names) & set(_list_netns())


def test_cleanup_stale_spares_live_runs(three_site: Site) -> None:
    dead = "cs" + format(os.getpid() % 0xFFFF ^ 0xBEEF, "04x")
    subprocess.run(["ip", "netns", "add", f"{dead}-d1"], check=True)
    MARKER_DIR.mkdir(parents=True, exist_ok=True)
    (MARKER_DIR / f"{dead}.pid").write_text("999999999\n")  # no such process
    try:
        removed = cleanup_stale()
        assert f"{dead}-d1" in removed
        assert set(three_site.namespaces) <= set(_list_netns())
    finally:
        subprocess.run(["ip", "netns", "del", f"{dead}-d1"], capture_output=True)
        (MARKER_DIR / f"{dead}.pid").unlink(missing_ok=True)



def test_prefix_in_use_is_refused(three_site: Site) -> None:
    clash = load_site(three_site.spec, prefix=three_site.prefix)
    with pytest.raises(LabError, match="in use"):
        clash.start()
    assert set(three_site.namespaces) <= set(_list_netns())  # the live site is untouched
