"""Issue 14, done-when, on the demo site: a CycloneDX file validates against the CycloneDX 1.6 schema, and the
HTML report shows the inventory near the top of the page in headless Chromium."""

from __future__ import annotations

import json
import subprocess
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
        proc = site.exec([*CAMSCAN, "scan", "--db", str(db), "--format", "cyclonedx", "-o", str(tmp / "bom.json"),
                          *targets], env=cli_env(site), timeout=300)
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
