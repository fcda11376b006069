"""The fixture corpus: every fixtures/<device>/ through the codecs, fingerprint and policy, against the
identification it expects (fixtures/README.md describes the folder format).

ONVIF replies are served by a loopback HTTP server and read through the real OnvifProbe (zeep, our WSDL),
so the corpus exercises the same code a scan does. Evidence kinds whose codec is not in the tree yet make
the device skip with that reason rather than fail.
"""

from __future__ import annotations

import importlib
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from camscan import fingerprint, oui
from camscan.codec import xmlsafe
from camscan.discover import wsd
from camscan.discover.sweep import port_evidence
from camscan.models import Evidence, Host
from camscan.net import normalise_mac
from camscan.policy import load_policy
from camscan.probe.onvif import OnvifClientFactory, OnvifProbe

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEVICES = sorted(p.parent for p in FIXTURES.glob("*/device.toml"))

FAULT_NOT_SUPPORTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Receiver'
    b'</env:Value><env:Subcode><env:Value>ter:ActionNotSupported</env:Value></env:Subcode></env:Code>'
    b'<env:Reason><env:Text xml:lang="en">Optional Action Not Implemented</env:Text></env:Reason></env:Fault>'
    b'</env:Body></env:Envelope>')


class _OnvifFromFolder(BaseHTTPRequestHandler):
    """Answers ONVIF device-service POSTs from <device>/onvif/<Operation>.xml."""

    folder: Path | None = None

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        op = ""
        try:
            root = xmlsafe.parse(body)
            for child in root:
                if xmlsafe.local(child.tag) == "Body" and len(child):
                    op = xmlsafe.local(child[0].tag)
        except xmlsafe.UnsafeXML:
            pass
        path = (self.folder or Path("/nonexistent")) / "onvif" / f"{op}.xml"
        if path.is_file():
            status, data = 200, path.read_bytes()
            status_file = path.with_suffix(".status")
            if status_file.is_file():
                status = int(status_file.read_text().strip())
        else:
            status, data = 400, FAULT_NOT_SUPPORTED
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def onvif_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OnvifFromFolder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def factory():
    return OnvifClientFactory()


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _codec(module: str):
    return importlib.import_module(module)  # a renamed or missing codec fails the corpus, never skips it


def collect(folder: Path, spec: dict, server, factory) -> Host:
    """All evidence the corpus folder provides, as a scan would have collected it."""
    ip = spec.get("device", {}).get("ip", "198.51.100.10")
    evidence: list[Evidence] = []
    seen_by: list[str] = []
    xaddrs: tuple[str, ...] = ()
    endpoint = None
    if (folder / "wsd.xml").is_file():
        matches, reason = wsd.parse_message((folder / "wsd.xml").read_bytes())
        assert reason is None, f"wsd.xml does not parse: {reason}"
        for m in matches:
            evidence.extend(wsd.match_evidence(m))
            xaddrs += m.xaddrs
            endpoint = endpoint or m.endpoint
        seen_by.append("wsd")
    mac = normalise_mac(spec.get("device", {}).get("mac"))
    if (folder / "onvif").is_dir():
        _OnvifFromFolder.folder = folder
        url = f"http://127.0.0.1:{server.server_address[1]}/onvif/device_service"
        result = OnvifProbe(factory, timeout=5, max_bytes=1 << 20).probe(ip, url)
        evidence.extend(result.evidence)
        mac = mac or result.mac
        seen_by.append("onvif")
    for name, module, func in LOADERS:
        path = folder / name
        if path.exists():
            loader = getattr(_codec(module), func)
            evidence.extend(loader(path))
            seen_by.append(name.split(".")[0])
    evidence.extend(port_evidence(spec.get("device", {}).get("open_ports", [])))
    evidence.extend(oui.evidence(mac))
    return Host(ip=ip, mac=mac, seen_by=tuple(seen_by), evidence=tuple(evidence), xaddrs=xaddrs,
                endpoint=endpoint)


# (file or folder in the device folder, module, function(path) -> evidence) for codecs beyond WSD/ONVIF.
LOADERS: list[tuple[str, str, str]] = [
    ("sadp.xml", "camscan.discover.sadp", "fixture_evidence"),
    ("dhip.json", "camscan.discover.dhip", "fixture_evidence"),
    ("http", "camscan.probe.http", "fixture_evidence"),
    ("rtsp.txt", "camscan.probe.rtsp", "fixture_evidence"),
    ("tls.toml", "camscan.probe.tls", "fixture_evidence"),
]


@pytest.mark.parametrize("folder", DEVICES, ids=[d.name for d in DEVICES])
def test_device_identification(folder: Path, onvif_server, factory, policy):
    spec = tomllib.loads((folder / "device.toml").read_text(encoding="utf-8"))
    assert spec.get("provenance"), f"{folder.name}/device.toml needs a provenance line"
    expect = spec["expect"]
    host = collect(folder, spec, onvif_server, factory)
    device = policy.evaluate(fingerprint.identify(host))
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
