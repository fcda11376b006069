"""The HTML report in a real browser: headless Chromium renders it, our script runs under the CSP, the hostile
``<script>`` device string stays text, and a script that escaped escaping would be blocked by the CSP.

Needs Debian's ``chromium`` package (CI installs it); skipped with a reason when no Chromium is installed,
unless ``CI_REQUIRE_CHROMIUM`` is set, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from camscan.report import NOTE
from camscan.report import html as report_html

BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

TIMEOUT = 20  # seconds per browser run; both runs go in parallel


class _Elements(HTMLParser):
    """Every start tag of a document with its attribute names."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, [name for name, _ in attrs]))


def _chromium(url: str, *args: str) -> subprocess.Popen:
    profile = tempfile.mkdtemp(prefix="camscan-chromium-")
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args, url]
    env = {**os.environ, "HOME": profile}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc.profile = profile  # type: ignore[attr-defined]
    return proc


def _wait(proc: subprocess.Popen) -> str:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"chromium did not finish in {TIMEOUT} s")
    finally:
        shutil.rmtree(proc.profile, ignore_errors=True)  # type: ignore[attr-defined]
    assert proc.returncode == 0, err[-2000:]
    return out


def test_renders_in_headless_chromium(result, tmp_path: Path):
    if BROWSER is None:
        if os.environ.get("CI_REQUIRE_CHROMIUM"):
            pytest.fail("CI_REQUIRE_CHROMIUM is set but no chromium is installed (apt-get install chromium)")
        pytest.skip("no chromium installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text(report_html.render(result, note=NOTE), encoding="utf-8")
    # the same page with a script injected raw, as if escaping had failed: the CSP must block it
    injected = tmp_path / "injected.html"
    hacked = report_html.render(result, note=NOTE).replace(
        "</main>", '<script>document.body.setAttribute("data-pwned", "yes")</script></main>')
    injected.write_text(hacked, encoding="utf-8")
    # control: without the CSP meta the injected script does run (so the check above can fail)
    control = tmp_path / "control.html"
    unguarded = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", hacked)
    control.write_text(unguarded, encoding="utf-8")
    png = tmp_path / "report.png"

    shot = _chromium(page.as_uri(), f"--screenshot={png}", "--window-size=1400,1800")
    dom = _chromium(page.as_uri(), "--dump-dom")
    blocked = _chromium(injected.as_uri(), "--dump-dom")
    unprotected = _chromium(control.as_uri(), "--dump-dom")
    _wait(shot)
    dom_text = _wait(dom)
    blocked_text = _wait(blocked)
    control_text = _wait(unprotected)

    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1400, 1800)
    assert png.stat().st_size > 20_000  # a blank page compresses to a few kilobytes

    # the device's <script> is text, not an element: the only script element is our own, and no element
    # carries an event handler attribute
    elements = _Elements()
    elements.feed(dom_text)
    assert [tag for tag, _ in elements.tags].count("script") == 1
    assert not [(tag, attrs) for tag, attrs in elements.tags if any(a.startswith("on") for a in attrs)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom_text
    # our hashed script ran under the CSP (it makes the sortable headers focusable)
    assert 'tabindex="0"' in dom_text
    # and an injected inline script did not, though it runs once the CSP is removed
    assert 'data-pwned="yes"' not in blocked_text and 'tabindex="0"' in blocked_text
    assert 'data-pwned="yes"' in control_text
