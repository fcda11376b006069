"""HTML: self-contained, strict CSP, every device string escaped, summary and changes first."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from html.parser import HTMLParser

from camscan.models import Diff
from camscan.report import NOTE
from camscan.report import html as report_html


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text of script elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
        else:
            self.text.append(data)


CITATION_URLS = {"https://www.fcc.gov/supplychain/coveredlist", "https://www.acquisition.gov/far/52.204-25"}


def _parse(page: str) -> _Elements:
    p = _Elements()
    p.feed(page)
    p.close()
    return p


def test_device_strings_are_escaped(result):
    page = report_html.render(result, note=NOTE)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "onmouseover=&quot;alert(2)" in page
    for raw in ("\x1b", "\x00", "\u202e", "\u2028", "\u200d", "\ufffe"):
        assert raw not in page
    assert "\\x1b[31m" in page and "\\u202e" in page  # shown, visibly
    page.encode("utf-8")  # the lone surrogate was escaped too

    parsed = _parse(page)
    scripts = [a for t, a in parsed.tags if t == "script"]
    assert len(scripts) == 1 and not scripts[0]  # our one inline script, no src
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        # in-page anchors (generated ids), and the policy data's citation URLs as plain links (not device data)
        assert href is None or re.fullmatch(r"#[a-z][a-z0-9-]*", href) or href in CITATION_URLS, href
        if href in CITATION_URLS:
            assert tag == "a" and attrs.get("rel") == "noopener noreferrer"
    assert "alert(1)" not in "".join(parsed.scripts)


def test_self_contained_with_a_strict_csp(result):
    page = report_html.render(result)
    assert page.startswith("<!DOCTYPE html>")
    # nothing loads: no source, action or data URL anywhere; the only absolute URLs are citation links (<a>),
    # which navigate only when clicked
    assert not re.search(r"""(src|action|poster|data)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    for href in re.findall(r"""href\s*=\s*["']?([^"' >]*)""", page, re.I):
        assert href.startswith("#") or href in CITATION_URLS, href
    assert "@import" not in page and "url(" not in page and "<link" not in page and "<img" not in page
    parsed = _parse(page)
    csp = [a["content"] for t, a in parsed.tags
           if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert csp == [report_html.CSP]
    policy = dict(part.strip().split(" ", 1) for part in report_html.CSP.split(";"))
    assert policy["default-src"] == "'none'" and policy["style-src"] == "'unsafe-inline'"
    digest = base64.b64encode(hashlib.sha256(parsed.scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"  # only our own script, by hash
    # the CSP meta comes before anything it must govern
    assert page.index("Content-Security-Policy") < page.index("<style>") < page.index("<script>")


def test_sections_in_order_and_flagged_highlighted(result):
    page = report_html.render(result)
    # what a reader needs first: summary and changes, then the inventory, then the findings, the appendix last
    order = ['class="toc"', 'id="summary"', 'id="changes"', 'id="devices"', 'id="flagged"', 'id="skips"',
             'id="coverage"', 'id="notes"', 'id="lists"', 'id="legal"']
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)
    changes = page[page.index('id="changes"'):page.index('id="devices"')]
    assert "Changes since the previous scan" in changes
    assert changes.index("Newly flagged") < changes.index("All changes")
    assert changes.index("192.168.1.10") < changes.index("192.168.1.20")  # sanctioned first
    flagged = page[page.index('id="flagged"'):page.index('id="skips"')]
    sanctioned, review = '<article class="device sanctioned"', '<article class="device review"'
    assert flagged.index(sanctioned) < flagged.index(review)
    for text in ("FCC Covered List", "2021-03-12", "What to check:",
                 "onvif.GetDeviceInformation:FirmwareVersion=V5.7.3 build 220112"):
        assert text in flagged
    # the legal detail of each list once, in the appendix the findings link to
    assert '<a class="list" href="#list-0">FCC Covered List</a>' in flagged and "47 CFR 1.50002" not in flagged
    lists = page[page.index('id="lists"'):page.index('id="legal"')]
    assert lists.count("47 CFR 1.50002") == 1 and page.count("47 CFR 1.50002") == 1
    assert '<tr id="list-0"><td>FCC Covered List' in lists
    assert '<a class="url" href="https://www.fcc.gov/supplychain/coveredlist" rel="noopener noreferrer">' in lists
    devices = page[page.index('id="devices"'):page.index('id="flagged"')]
    groups = [devices.index(f"<h3>{title} (") for title in ("Sanctioned", "Review", "Clear", "Unknown")]
    assert groups == sorted(groups)
    assert "not a ban on owning or operating a camera" in page[page.index('id="legal"'):]


def test_summary_counts_and_scan_facts(result):
    page = report_html.render(result)
    summary = page[:page.index('id="changes"')]
    assert '<div class="card sanctioned"' in summary and "<b>1</b><span>Sanctioned</span>" in summary
    assert "<b>2</b><span>Review</span>" in summary
    for fact in ("192.168.1.0/24", "eth0", "wsd, onvif, http, sadp, sweep", "2024-05-02 10:00:00 UTC"):
        assert fact in summary
    assert "3 device(s) newly flagged" in summary


def test_without_diff_and_with_an_unchanged_diff(no_diff_result):
    page = report_html.render(no_diff_result)
    assert 'id="changes"' not in page
    assert "not a ban on owning or operating a camera" in page  # the legal note is always there
    same = replace(no_diff_result, diff=Diff(previous_scan=3, previous_started=None))
    assert "Nothing changed." in report_html.render(same)
    first = replace(no_diff_result, diff=Diff(previous_scan=None, previous_started=None))
    assert "First scan in the inventory" in report_html.render(first)
    # an inventory shared by sites: the site's own first scan, named (other sites have scans)
    assert "First scan of site north in the inventory" in report_html.render(replace(first, site="north"))


def test_tables_lay_out_automatically_and_scroll_on_narrow_screens(normal_result):
    """Review: fixed layout made MAC run into Class at 1280 px and headers break mid-word at 700 px. Every
    table sits in an overflow-x: auto box, the layout is automatic, headers and short fields do not wrap
    (checked by eye in headless Chromium at 1280 and 700 px)."""
    import re

    page = report_html.render(normal_result)
    assert "table-layout: fixed" not in page and "table.fixed { table-layout: auto; }" in page
    assert re.search(r"\.scroll \{ overflow-x: auto;", page)
    assert re.search(r"th \{[^}]*white-space: nowrap", page)
    assert page.count("<table") == page.count('<div class="scroll"><table')
    assert '<td class="nw">camera</td>' in page  # the class cell stays on one line
