"""Issue 14, done-when, on the demo site: a CycloneDX file validates against the CycloneDX 1.6 schema, and the
HTML report shows the inventory near the top of the page in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from siteutil import BASE_ENV, CAMSCAN, cli_env

from camscan.lab import LabUnavailable, Site, cleanup_stale, load_site
from camscan.lab.netns import check_available

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Iterator[tuple[Site, Path]]:
    """The demo site scanned once into an inventory (JSON report kept too)."""
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()
    tmp = tmp_path_factory.mktemp("demo")
    db = tmp / "inv.sqlite3"
    with load_site("demo") as site:
        targets = [site.spec.subnet, *(s.cidr for s in site.spec.subnets)]
        for _ in range(2):  # two stored scans: the HTML report's trend chart has something to draw
            proc = site.exec([*CAMSCAN, "scan", "--db", str(db), "--format", "cyclonedx", "-o",
                              str(tmp / "bom.json"), *targets], env=cli_env(site), timeout=300)
            assert proc.returncode == 1, proc.stderr
    yield tmp, db


def rendered(db: Path, fmt: str) -> str:
    proc = subprocess.run([*CAMSCAN, "report", "--db", str(db), "--format", fmt], capture_output=True, text=True,
                          env=BASE_ENV, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cyclonedx_from_the_demo_validates(demo_db):
    validation = pytest.importorskip("cyclonedx.validation.json")
    from cyclonedx.schema import SchemaVersion

    tmp, db = demo_db
    text = (tmp / "bom.json").read_text()
    assert validation.JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    stored = json.loads(rendered(db, "json"))
    assert len(doc["components"]) == len(stored["devices"]) >= 10
    makers = {c.get("manufacturer", {}).get("name") for c in doc["components"]}
    assert {"Hikvision", "Dahua", "Axis"} <= makers
    flagged = [c for c in doc["components"] for p in c["properties"]
               if p["name"] == "camscan:verdict" and p["value"] == "sanctioned"]
    assert flagged and all(c["type"] == "device" for c in doc["components"])
    # the camera on the NVR's channel 1 runs a build the CVE-2017-7921 advisory names: an exact KEV match, its
    # source in the BOM; the LAN camera from before the CVE-2021-36260 fix is a possible one
    cam = next(d for d in stored["devices"] if d["via"] and d["via"]["channel"] == "1")
    assert {r["cve"]: r["match"] for r in cam["risks"]}["CVE-2017-7921"] == "exact"
    vulns = {(v["id"], v["affects"][0]["ref"]): v for v in doc["vulnerabilities"]}
    exact = vulns["CVE-2017-7921", cam["key"]]
    assert exact["advisories"][0]["title"] == "ICSA-17-124-01" and exact["source"]["url"].startswith("https://")
    assert {p["name"]: p["value"] for p in exact["properties"]}["camscan:match"] == "exact"
    assert stored["summary"]["kev_risks"] == 2


BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
SCREEN = 2000  # px: the inventory must start within the first screen of this height
# measures where the inventory starts, in the real layout; written into the DOM for --dump-dom to show
PROBE = ('document.body.setAttribute("data-inventory-top", String(Math.round('
         'document.getElementById("devices").getBoundingClientRect().top + window.scrollY)));')


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="camscan-chromium-")
    try:
        return subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage",
                               f"--user-data-dir={profile}", f"--window-size=1400,{SCREEN}", *args, page.as_uri()],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": profile})
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_html_report_shows_the_inventory_within_the_first_screen(demo_db):
    if BROWSER is None:
        if os.environ.get("CI_REQUIRE_CHROMIUM"):
            pytest.fail("CI_REQUIRE_CHROMIUM is set but no chromium is installed (apt-get install chromium)")
        pytest.skip("no chromium installed (apt-get install chromium)")
    tmp, db = demo_db
    page = rendered(db, "html")
    assert 'class="toc"' in page and "<svg" in page  # contents, and the flagged/total chart of the two scans
    report = tmp / "report.html"
    report.write_text(page, encoding="utf-8")
    shot = tmp / "report.png"
    proc = chromium(report, f"--screenshot={shot}")
    assert proc.returncode == 0 and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    # the same page with one measuring script, allowed by its hash next to the report's own
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    assert page.count("script-src ") == 1  # in the CSP meta, its quotes escaped as &#x27;
    measured = page.replace("script-src ", f"script-src &#x27;sha256-{digest}&#x27; ")
    measured = measured.replace("</body>", f"<script>{PROBE}</script></body>")
    probe = tmp / "measure.html"
    probe.write_text(measured, encoding="utf-8")
    dom = chromium(probe, "--dump-dom").stdout
    top = re.search(r'data-inventory-top="(\d+)"', dom)
    assert top, dom[:2000]
    assert int(top.group(1)) < SCREEN - 200, f"the inventory starts at {top.group(1)} px"
    # and the findings link to the list appendix, whose citation URLs are links
    assert re.search(r'<a class="list" href="#list-\d+">', dom) and 'rel="noopener noreferrer"' in dom


def test_table_tells_each_list_once_and_cuts_nothing(demo_db):
    """The table report of the demo: each list's legal text once (not once per flagged device), firmware and
    models whole (wrapped, not cut), and the unknown device explained."""
    _tmp, db = demo_db
    table = rendered(db, "table")
    assert table.count("84 FR 54002") == 1 and table.count("Not legal advice") == 1
    # eight sanctioned devices (three of them the NVR and two cameras behind it), each naming its lists by reference
    assert table.count("on lists [") == 8
    # a wrapped cell continues on the next line of its column
    assert "V5.5.800 build" in table and "210628" in table and "build 21..." not in table
    assert "Unknown devices (what was tried, what is missing):" in table and "missing:" in table
    # about 120 columns: 127 at most with a recorder in the table (its class "recorder", and its cameras'
    # addresses indented "`-192.168.254.2" make those two columns as wide as they get)
    # (a long advisory URL has a line of its own and is never broken: a reader copies it)
    assert max(len(line) for line in table.splitlines()
               if not line.startswith("scan #") and not line.lstrip().startswith("https://")) <= 127
    assert ("\n        https://www.hikvision.com/en/support/cybersecurity/security-advisory/security-notification-"
            "command-injection-vulnerability-in-some-hikvision-products/\n") in table
    # the NVR's cameras follow it, indented; the one reached over ONVIF keeps its own maker
    assert table.index("198.51.100.23") < table.index("`-192.168.254.2") < table.index("`-192.168.254.4")
