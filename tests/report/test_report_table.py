"""Terminal table: leads with what changed, no raw control characters, fits a terminal."""

from __future__ import annotations

import re
import unicodedata

from camscan.report import table

_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")


def test_no_control_characters_from_device_strings(result):
    out = table.render(result, note="note")
    assert not _RAW.search(out)
    for ch in set(out) - {"\n"}:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"), repr(ch)
    out.encode("utf-8")
    assert "\\x1b[31m" in out  # shown as a visible escape instead


def test_fits_a_terminal_for_ordinary_values(normal_result):
    out = table.render(normal_result, note="a legal note " * 20)
    assert max(len(line) for line in out.splitlines()) <= 120


def test_hostile_values_do_not_blow_up_the_width(result):
    out = table.render(result, note="note")
    assert max(len(line) for line in out.splitlines()) <= 160


def test_leads_with_new_findings_then_changes(result):
    out = table.render(result)
    newly = out.index("NEWLY FLAGGED since scan #41")
    changes = out.index("Changes since scan #41")
    devices = out.index("Manufacturer")
    assert newly < changes < devices
    block = out[newly:changes]
    assert block.index("SANCTIONED") < block.index("REVIEW")
    assert "192.168.1.10" in block and "192.168.1.20" in block
    kinds = [line.split()[0] for line in out[changes:devices].splitlines()[3:] if line.strip()]
    assert kinds[:2] == ["new", "new"] and kinds.index("gone") < kinds.index("ip") < kinds.index("firmware")


def test_no_diff_and_first_and_unchanged_scan(no_diff_result):
    from dataclasses import replace

    from camscan.models import Diff

    assert "since scan" not in table.render(no_diff_result)
    first = replace(no_diff_result, diff=Diff(previous_scan=None, previous_started=None))
    assert "First scan in the inventory" in table.render(first)
    assert "First scan of site north in the inventory" in table.render(replace(first, site="north"))
    same = replace(no_diff_result, diff=Diff(previous_scan=7, previous_started="2024-01-01T00:00:00.000000Z"))
    assert "No changes since scan #7" in table.render(same)


def test_findings_show_lists_with_dates_and_what_to_check(normal_result):
    out = table.render(normal_result)
    findings = out[out.index("Findings"):]
    assert findings.index("SANCTIONED 192.168.1.10") < findings.index("REVIEW 192.168.1.20")
    # each finding names its lists; the dates and citations are said once, in the appendix
    assert "on lists [1] since 2021-03-12, [2] since 2019-08-13, [3] since 2019-10-09" in findings
    appendix = out[out.index("Lists cited:"):]
    assert "[1] FCC Covered List: since 2021-03-12" in appendix and appendix.count("FCC Covered List") == 1
    assert "check: Confirm the maker" in findings


def test_list_dates_are_the_same_in_table_and_html(normal_result):
    """A list that added two makers on different dates: each finding shows its own date, in the table as in
    the HTML, and the appendix of both gives every date (it showed only the first cited in the table)."""
    from dataclasses import replace

    from camscan.models import ListCitation
    from camscan.report import html as report_html

    def with_fcc_date(d, date):
        fs = tuple(replace(f, lists=tuple(replace(c, date=date) if c.list_id == "fcc_covered" else c
                                          for c in f.lists)) for f in d.findings)
        return replace(d, findings=fs)

    devices = tuple(with_fcc_date(d, "2025-12-26") if d.ip == "192.168.1.20" else d
                    for d in normal_result.devices)
    result = replace(normal_result, devices=devices)
    text, page = table.render(result), report_html.render(result)
    assert isinstance(devices[0].findings[0].lists[0], ListCitation)
    for out in (text, page):
        assert "2021-03-12, 2025-12-26" in out  # the appendix: both dates
    assert "since 2025-12-26" in text and "since 2021-03-12" in text  # each finding its own
    assert "(since 2025-12-26)" in page and "(since 2021-03-12)" in page


def test_previous_scan_time_to_the_second_and_no_cross_site_duration(normal_result):
    """Review 17: diff timestamps had microseconds where reports do not; a cross-site report showed a made-up
    duration (first site's start to last site's end)."""
    from dataclasses import replace

    from camscan.report import html as report_html
    from camscan.report import sites

    for out in (table.render(normal_result), report_html.render(normal_result)):
        assert "2024-05-01 10:00:00 UTC" in out and "10:00:00.000000" not in out
    combined = sites.combine([("north", normal_result), ("south", replace(normal_result, scan_id=43))])
    assert " s) - targets" not in table.render(combined)
    assert "(118.5 s)" in table.render(normal_result)
    assert " s)</dd>" not in report_html.render(combined)
